"""Hand-computed bars for every bar type (worked by hand from docs/bars.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seriesfactory.transforms.bars import BarArrays, BarBuilder, BarSpec
from seriesfactory.transforms.bars.reference import reference_bars

S = 1_000_000_000
# seven trades, one per second; tick-rule signs 0, +1, -1, +1, +1, -1, -1
PRICES = [10.0, 11.0, 10.0, 12.0, 13.0, 12.0, 11.0]
QTYS = [1.0, 2.0, 1.0, 1.0, 3.0, 1.0, 2.0]
# eight trades for imbalance/run bars; tick-rule signs 0, +1, +1, -1, +1, +1, +1, -1
P8 = [10.0, 11.0, 12.0, 11.0, 12.0, 13.0, 14.0, 13.0]
Q8 = [1.0, 2.0, 1.0, 1.0, 3.0, 1.0, 2.0, 1.0]


def run(
    spec: BarSpec, prices: list[float], qtys: list[float], sides: list[int] | None = None
) -> tuple[BarArrays, BarArrays, BarBuilder]:
    ts = np.arange(1, len(prices) + 1, dtype=np.int64) * S
    side = None if sides is None else np.array(sides, np.int8)
    builder = BarBuilder(spec)
    closed = builder.update(ts, np.array(prices), np.array(qtys), side)
    # the twin agrees exactly, bar for bar
    trades = [
        (int(t), p, q, 0 if sides is None else sides[i])
        for i, (t, p, q) in enumerate(zip(ts, prices, qtys, strict=True))
    ]
    ref = reference_bars(trades, spec)
    assert [r["tick_count"] for r in ref] == closed.ints[2].tolist()
    return closed, builder.partial(), builder


def counts(bars: BarArrays) -> list[int]:
    return [int(x) for x in bars.ints[2]]


def test_tick_bars_fields() -> None:
    bars, partial, _ = run(BarSpec(type="tick", threshold=3), PRICES, QTYS)
    table = bars.to_arrow(BarSpec(type="tick", threshold=3)).to_pylist()
    assert len(table) == 2
    first, second = table
    assert first["open"] == 10 and first["high"] == 11 and first["low"] == 10
    assert first["close"] == 10 and first["volume"] == 4 and first["dollar_volume"] == 42
    assert first["vwap"] == 10.5 and first["buy_volume"] == 2 and first["tick_count"] == 3
    assert first["time_span"] == 2.0
    assert first["time_start"].timestamp() == 1 and first["time_end"].timestamp() == 3
    assert (second["open"], second["high"], second["low"], second["close"]) == (12, 13, 12, 12)
    assert second["volume"] == 5 and second["dollar_volume"] == 63 and second["buy_volume"] == 4
    assert "threshold" not in first
    assert counts(partial) == [1] and partial.partial.tolist() == [True]
    assert partial.floats[6, 0] == 0.0  # the last trade is a downtick: no buy volume


@pytest.mark.parametrize("threshold", [4.0, 3.5])
def test_volume_bars_crossing_trade_belongs_to_the_bar(threshold: float) -> None:
    # running volume 1, 3, 4 -> closes at the third trade for 4 (>=) and for 3.5 (crossing);
    # nothing carries over: the next bar starts from zero, 1, 4 -> closes at trade five
    bars, partial, _ = run(BarSpec(type="volume", threshold=threshold), PRICES, QTYS)
    assert counts(bars) == [3, 2]
    assert bars.floats[4].tolist() == [4.0, 4.0]
    assert counts(partial) == [2] and partial.floats[4, 0] == 3.0


def test_dollar_bars() -> None:
    # notional 10, 22, 10 | 12, 39 | 12, 22 (partial); threshold 40
    bars, partial, _ = run(BarSpec(type="dollar", threshold=40), PRICES, QTYS)
    assert counts(bars) == [3, 2]
    assert bars.floats[5].tolist() == [42.0, 51.0]
    assert partial.floats[5, 0] == 34.0


def test_time_bars_close_on_the_next_interval() -> None:
    # 2 s intervals: trades at 1 | 2, 3 | 4, 5 | 6, 7 (trailing, not emitted)
    bars, partial, _ = run(BarSpec(type="time", interval="2s"), PRICES, QTYS)
    assert counts(bars) == [1, 2, 2]
    assert bars.ints[0].tolist() == [1 * S, 2 * S, 4 * S]
    assert counts(partial) == [2]
    assert all(math.isnan(x) for x in bars.floats[7])


def test_tick_rule_ties_and_first_trade() -> None:
    # prices 10, 10, 11, 11, 10: signs 0 (first), 0 (no change yet), +1, +1 (tie keeps), -1
    spec = BarSpec(type="tick", threshold=1)
    bars, _, _ = run(spec, [10.0, 10.0, 11.0, 11.0, 10.0], [1.0, 2.0, 4.0, 8.0, 16.0])
    assert bars.floats[6].tolist() == [0.0, 0.0, 4.0, 8.0, 0.0]


def test_venue_side_wins_in_auto_mode_and_tick_rule_mode_ignores_it() -> None:
    prices, qtys, sides = [10.0, 10.0, 11.0], [1.0, 2.0, 4.0], [1, -1, 0]
    bars, _, _ = run(BarSpec(type="tick", threshold=1), prices, qtys, sides)
    assert bars.floats[6].tolist() == [1.0, 0.0, 4.0]  # side, side, then the tick rule (+1)
    spec = BarSpec(type="tick", threshold=1, sign="tick-rule")
    bars, _, _ = run(spec, prices, qtys, sides)
    assert bars.floats[6].tolist() == [0.0, 0.0, 4.0]


def sampled(kind: str, **kw: float) -> BarSpec:
    return BarSpec(type=kind, expected_ticks=2, ewma_window=3, min_ticks=1, **kw)  # type: ignore[arg-type]


def test_tick_imbalance_bars() -> None:
    # warm-up (2 trades): E[bv] = (0 + 1) / 2 = 0.5, E[T] = 2 -> threshold 1, theta = 1: close.
    # alpha = 0.5: E[bv] = 0.5, E[T] = 2 -> t2 closes alone (threshold 1);
    # E[bv] = 0.75, E[T] = 1.5 -> threshold 1.125, theta -1, 0, 1, 2: closes at t6.
    # E[bv] = 0.625, E[T] = 2.75 -> partial threshold 1.71875.
    bars, partial, builder = run(sampled("tib"), P8, [1.0] * 8)
    assert counts(bars) == [2, 1, 4]
    assert bars.floats[7].tolist() == [1.0, 1.0, 1.125]
    assert partial.floats[7, 0] == 1.71875
    assert builder.expected_ticks == 2.75


def test_expected_ticks_bound() -> None:
    bars, partial, builder = run(sampled("tib", max_ticks=2), P8, [1.0] * 8)
    assert counts(bars) == [2, 1, 4]
    assert builder.expected_ticks == 2.0  # 2.75 clamped
    assert partial.floats[7, 0] == 1.25


def test_volume_imbalance_bars() -> None:
    # b v = 0, 2, 1, -1, 3, 1, 2, -1. warm-up: E[bv] = 1, threshold 2: close at t1.
    # E[bv] = 1, E[T] = 2: theta 1, 0, 3 -> close at t4 (threshold 2).
    # E[bv] = 1, E[T] = 2.5: theta 1, 3 -> close at t6 (threshold 2.5).
    # E[bv] = 1.25, E[T] = 2.25: partial threshold 2.8125.
    bars, partial, _ = run(sampled("vib"), P8, Q8)
    assert counts(bars) == [2, 3, 2]
    assert bars.floats[7].tolist() == [2.0, 2.0, 2.5]
    assert partial.floats[7, 0] == 2.8125


def test_dollar_imbalance_bars() -> None:
    # b v = 0, 11, 12, -11, 12, 13, ... warm-up E[bv] = 5.5, threshold 11: close at t1;
    # t2 closes alone (12 >= 11); E[bv] = 8.75, E[T] = 1.5 -> threshold 13.125:
    # theta -11, 1, 14 -> close at t5.
    bars, _, _ = run(sampled("dib"), P8, [1.0] * 8)
    assert counts(bars)[:3] == [2, 1, 3]
    assert bars.floats[7].tolist()[:3] == [11.0, 11.0, 13.125]


def test_tick_run_bars() -> None:
    # warm-up: E[buy] = 0.5, E[sell] = 0 -> threshold 1; buys 1: close at t1.
    # t2 closes alone; E[buy] = 0.75, E[T] = 1.5 -> threshold 1.125;
    # sells 1, buys 1, buys 2 -> close at t5 (the runs are per side, not consecutive).
    bars, _, _ = run(sampled("trb"), P8, [1.0] * 8)
    assert counts(bars) == [2, 1, 3]
    assert bars.floats[7].tolist() == [1.0, 1.0, 1.125]


def test_volume_run_bars() -> None:
    # warm-up: E[buy] = 1 -> threshold 2, buys 2: close at t1. E[T] = 2: buys 1, sells 1,
    # buys 4 -> close at t4. E[buy] = 0.5 + 2/3, E[T] = 2.5: buys 1, 3 -> close at t6.
    bars, _, _ = run(sampled("vrb"), P8, Q8)
    assert counts(bars) == [2, 3, 2]
    assert bars.floats[7].tolist() == [2.0, 2.0, 2.5 * (0.5 + 0.5 * (4 / 3))]


def test_dollar_run_bars() -> None:
    bars, _, _ = run(sampled("drb"), P8, [1.0] * 8)
    assert counts(bars) == [2, 1, 3]
    assert bars.floats[7].tolist() == [11.0, 11.0, 13.125]


def test_no_bar_closes_on_zero_imbalance() -> None:
    # the first trades are unsigned (no price change): E[bv] = 0 after the warm-up, so the
    # threshold is 0; the bar still waits for the first signed trade
    prices = [10.0, 10.0, 10.0, 10.0, 11.0, 12.0]
    bars, _, _ = run(sampled("tib"), prices, [1.0] * 6)
    assert counts(bars)[0] == 5
    bars, _, _ = run(sampled("trb"), prices, [1.0] * 6)
    assert counts(bars)[0] == 5


def test_warm_up_holds_the_first_bar() -> None:
    # E0[T] = 5: nothing closes before the fifth trade even with a strong imbalance
    spec = BarSpec(type="tib", expected_ticks=5, ewma_window=3, min_ticks=1)
    bars, _, _ = run(spec, [1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10], [1.0] * 10)
    assert counts(bars)[0] == 5
