"""Invariants: kernel == twin, any chunking gives the same bars, save/restore == uninterrupted."""

from __future__ import annotations

import itertools
import json

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st

from seriesfactory.transforms.bars import BAR_TYPES, BarArrays, BarBuilder, BarSpec
from seriesfactory.transforms.bars.reference import reference_bars

Trades = tuple[
    npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int8]
]


@st.composite
def trade_streams(draw: st.DrawFn) -> Trades:
    n = draw(st.integers(0, 120))
    gaps = draw(st.lists(st.integers(0, 3_000_000_000), min_size=n, max_size=n))
    ticks = draw(st.lists(st.integers(-2, 2), min_size=n, max_size=n))  # ties are common
    qtys = draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.25, 7.0]), min_size=n, max_size=n))
    sides = draw(st.lists(st.sampled_from([0, 0, 1, -1]), min_size=n, max_size=n))
    ts = 1_700_000_000_000_000_000 + np.cumsum(np.array(gaps, np.int64))
    price = 100.0 + 0.25 * np.cumsum(np.array(ticks, np.float64))
    return ts, price, np.array(qtys), np.array(sides, np.int8)


@st.composite
def specs(draw: st.DrawFn) -> BarSpec:
    kind = draw(st.sampled_from(BAR_TYPES))
    sign = draw(st.sampled_from(["auto", "tick-rule"]))
    if kind == "time":
        return BarSpec(type="time", interval=draw(st.sampled_from(["1s", "2s", "5s"])))
    if kind in ("tick", "volume", "dollar"):
        top = {"tick": 6, "volume": 12, "dollar": 1200}[kind]
        return BarSpec(type=kind, threshold=draw(st.integers(1, top)), sign=sign)  # type: ignore[arg-type]
    e0 = draw(st.integers(1, 12))
    return BarSpec(
        type=kind,  # type: ignore[arg-type]
        expected_ticks=e0,
        ewma_window=draw(st.sampled_from([1, 3, 5, 15, 30, 60])),
        min_ticks=draw(st.sampled_from([1.0, e0 / 2 if e0 >= 2 else 1.0])),
        max_ticks=draw(st.sampled_from([float(e0), 4.0 * e0, 1e9])),
        sign=sign,  # type: ignore[arg-type]
    )


def cut(trades: Trades, a: int, b: int | None) -> Trades:
    ts, price, qty, side = trades
    return ts[a:b], price[a:b], qty[a:b], side[a:b]


def same(a: BarArrays, b: BarArrays) -> None:
    np.testing.assert_array_equal(a.ints, b.ints)
    np.testing.assert_array_equal(a.floats, b.floats)  # NaN == NaN here; exact otherwise
    np.testing.assert_array_equal(a.partial, b.partial)


def whole(spec: BarSpec, trades: Trades) -> BarArrays:
    builder = BarBuilder(spec)
    return BarArrays.concat([builder.update(*trades), builder.partial()])


@settings(max_examples=150, deadline=None)
@given(trade_streams(), specs())
def test_kernel_equals_reference(trades: Trades, spec: BarSpec) -> None:
    got = whole(spec, trades)
    rows = list(zip(*(x.tolist() for x in trades), strict=True))
    ref = reference_bars(rows, spec, emit_partial=True)
    assert got.rows == len(ref)
    for j, r in enumerate(ref):
        assert got.ints[:, j].tolist() == [r["time_start"], r["time_end"], r["tick_count"]]
        want = [r[k] for k in ("open", "high", "low", "close", "volume")]
        want += [r["dollar_volume"], r["buy_volume"], r["threshold"]]
        np.testing.assert_array_equal(got.floats[:, j], np.array(want, dtype=np.float64))
        assert bool(got.partial[j]) == r["is_partial"]


@settings(max_examples=150, deadline=None)
@given(trade_streams(), specs(), st.lists(st.integers(0, 120), max_size=6))
def test_any_chunking_gives_the_same_bars(trades: Trades, spec: BarSpec, cuts: list[int]) -> None:
    n = trades[0].shape[0]
    bounds = [0, *sorted(min(c, n) for c in cuts), n]
    builder = BarBuilder(spec)
    parts = [builder.update(*cut(trades, a, b)) for a, b in itertools.pairwise(bounds)]
    parts.append(builder.partial())
    same(BarArrays.concat(parts), whole(spec, trades))


@settings(max_examples=150, deadline=None)
@given(trade_streams(), specs(), st.integers(0, 120))
def test_save_restore_continues_exactly(trades: Trades, spec: BarSpec, at: int) -> None:
    at = min(at, trades[0].shape[0])
    first = BarBuilder(spec)
    head = first.update(*cut(trades, 0, at))
    saved = json.loads(json.dumps(first.state()))  # through real JSON text
    second = BarBuilder.from_state(saved)
    tail = second.update(*cut(trades, at, None))
    same(BarArrays.concat([head, tail, second.partial()]), whole(spec, trades))
    assert second.rows_seen == trades[0].shape[0]
