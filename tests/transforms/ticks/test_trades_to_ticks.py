"""Trades to ticks: a hand-computed stream, the twin, any chunking, save/restore."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seriesfactory.errors import DataError
from seriesfactory.transforms.ticks import TickBuilder, trades_to_ticks
from seriesfactory.transforms.ticks.reference import reference_ticks


def _arrays(rows: list[tuple[int, float, float, int]]) -> tuple[np.ndarray, ...]:
    ts = np.array([r[0] for r in rows], np.int64)
    price = np.array([r[1] for r in rows], np.float64)
    notional = np.array([r[2] for r in rows], np.float64)
    side = np.array([r[3] for r in rows], np.int8)
    return ts, price, notional, side


def _rows(ticks, age) -> list[tuple[int, float, float, float, float, int]]:
    return [
        (int(t), float(b), float(a), float(vb), float(va), int(g))
        for t, b, a, vb, va, g in zip(*ticks, age, strict=True)
    ]


def test_hand_computed_stream() -> None:
    # (ts, price, notional, side): +1 taker buy, -1 taker sell
    trades = [
        (10, 100.0, 1000.0, -1),  # first: sell -> bid 100; ask unknown -> 100
        (10, 99.0, 500.0, -1),  # same ts and side: merged, price 99, notional 1500
        (20, 101.0, 202.0, 1),  # buy -> ask 101, bid 99 carried (set at 10): age 10
        (25, 102.0, 102.0, 1),  # buy -> ask 102, bid carried: age 15
        (30, 100.5, 201.0, -1),  # sell -> bid 100.5, ask 102 carried (set at 25): age 5
        (40, 103.0, 103.0, -1),  # sell above the ask: crossing guard lifts ask to 103: age 0
        (40, 104.0, 104.0, 1),  # same ts, other side: a new tick; ask 104, bid 103 (set 40)
    ]
    ticks, age = trades_to_ticks(*_arrays(trades))
    assert _rows(ticks, age) == [
        (10, 99.0, 99.0, 1500.0, 0.0, 0),
        (20, 99.0, 101.0, 0.0, 202.0, 10),
        (25, 99.0, 102.0, 0.0, 102.0, 15),
        (30, 100.5, 102.0, 201.0, 0.0, 5),
        (40, 103.0, 103.0, 103.0, 0.0, 0),
        (40, 103.0, 104.0, 0.0, 104.0, 0),
    ]
    assert _rows(ticks, age) == [
        tuple(r) for r in reference_ticks(*(list(a) for a in _arrays(trades)))
    ]


def test_unknown_side_and_backwards_time_are_errors() -> None:
    ts, price, notional, side = _arrays([(1, 1.0, 1.0, 1), (2, 1.0, 1.0, 0)])
    with pytest.raises(DataError, match="unknown taker side"):
        TickBuilder().update(ts, price, notional, side, source="f.parquet")
    b = TickBuilder()
    b.update(*_arrays([(5, 1.0, 1.0, 1)]))
    with pytest.raises(DataError, match="backwards"):
        b.update(*_arrays([(4, 1.0, 1.0, 1)]))


trade_streams = st.lists(
    st.tuples(
        st.integers(0, 3),  # time step (0 = same timestamp)
        st.sampled_from([99.0, 100.0, 100.5, 101.0]),
        st.floats(0.0, 1e4, allow_nan=False),
        st.sampled_from([-1, 1]),
    ),
    min_size=0,
    max_size=60,
)


@settings(max_examples=80, deadline=None)
@given(trade_streams, st.lists(st.integers(0, 60), max_size=5), st.booleans())
def test_any_chunking_and_restore_equal_the_twin(
    steps: list[tuple[int, float, float, int]], cuts: list[int], restore: bool
) -> None:
    t = 1_700_000_000_000_000_000
    rows = []
    for dt_ns, p, v, s in steps:
        t += dt_ns
        rows.append((t, p, v, s))
    ts, price, notional, side = _arrays(rows)
    bounds = sorted({0, len(rows), *(c for c in cuts if c <= len(rows))})
    b = TickBuilder()
    got = []
    for lo, hi in itertools.pairwise(bounds):
        ticks, age = b.update(ts[lo:hi], price[lo:hi], notional[lo:hi], side[lo:hi])
        got += _rows(ticks, age)
        if restore:
            b = TickBuilder.from_state(b.state())
    got += _rows(*b.finish())
    expected = [
        tuple(r) for r in reference_ticks(list(ts), list(price), list(notional), list(side))
    ]
    assert got == expected
    if got:
        bid = np.array([r[1] for r in got])
        ask = np.array([r[2] for r in got])
        assert (bid > 0).all() and (ask >= bid).all()
