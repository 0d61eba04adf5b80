"""Hand-computed aggregates: every field, both modes, empty buckets, multi-brick jumps, filters."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seriesfactory.errors import DataError, InputError
from seriesfactory.transforms.aggregates import AggregationParams, Aggregator, aggregate

MS = 1_000_000
LOOSE = 0.5  # a deviation filter wide enough to keep every tick


def ticks(rows: list[tuple[int, float, float, float, float]]) -> tuple[np.ndarray, ...]:
    ts, bid, ask, vbid, vask = zip(*rows, strict=True)
    return (
        np.array(ts, dtype=np.int64) * MS,
        np.array(bid, dtype=np.float64),
        np.array(ask, dtype=np.float64),
        np.array(vbid, dtype=np.float64),
        np.array(vask, dtype=np.float64),
    )


def row(arrays, i: int) -> dict[str, float]:
    from seriesfactory.schema import AGGREGATE_FIELDS

    return {name: float(arrays.column(name)[i]) for name in AGGREGATE_FIELDS}


def test_time_mode_every_field_and_empty_buckets() -> None:
    data = ticks(
        [
            (100, 99.0, 101.0, 0.0, 10.0),  # mid 100
            (400, 101.0, 103.0, 5.0, 5.0),  # mid 102
            (900, 100.0, 102.0, 10.0, 0.0),  # mid 101
            (3500, 102.0, 104.0, 1.0, 2.0),  # mid 103, after two empty buckets
        ]
    )
    params = AggregationParams(mode="time", step=1000, tick_max_deviation=LOOSE)
    out, counts = aggregate(*data, params=params, end_ns=5000 * MS)

    assert out.timestamp_ns.tolist() == [1000 * MS, 2000 * MS, 3000 * MS, 4000 * MS, 5000 * MS]
    assert out.start_ns.tolist() == [0, 1000 * MS, 2000 * MS, 3000 * MS, 4000 * MS]
    assert out.tick_count.tolist() == [3, 0, 0, 1, 0]
    first = row(out, 0)
    # t = 0, 0.3, 0.8 s; m = 100, 102, 101: Stt = 0.326667, Stm = 0.3, Smm = 2
    slope = 0.3 / (0.98 / 3)
    resid_var = (2 - 0.09 / (0.98 / 3)) / 3
    assert first == pytest.approx(
        {
            "open": 100.0,
            "high": 102.0,
            "low": 100.0,
            "close": 101.0,
            "mid": 101.0,  # weights 10, 10, 10
            "spread": (2 / 100 + 2 / 102 + 2 / 101) / 3,
            "vbid": 15.0,
            "vask": 15.0,
            "velocity": math.sqrt(3),
            "dispersion": math.sqrt(resid_var) / 101 * 100,  # 0.750668 %
            "drift": slope * 0.8 / 101 * 100,  # 0.727419 %
        },
        rel=1e-12,
    )
    assert first["dispersion"] == pytest.approx(0.750668, abs=1e-6)
    assert first["drift"] == pytest.approx(0.727419, abs=1e-6)
    for i in (1, 2):  # empty: flat at the last close, last spread, no volume or activity
        assert row(out, i) == {
            "open": 101.0, "high": 101.0, "low": 101.0, "close": 101.0, "mid": 101.0,
            "spread": 2 / 101, "vbid": 0.0, "vask": 0.0,
            "velocity": 0.0, "dispersion": 0.0, "drift": 0.0,
        }  # fmt: skip
    single = row(out, 3)
    assert single["open"] == single["close"] == single["mid"] == 103.0
    assert (single["velocity"], single["dispersion"], single["drift"]) == (1.0, 0.0, 0.0)
    assert (single["vbid"], single["vask"]) == (1.0, 2.0)
    assert row(out, 4)["close"] == 103.0  # trailing empty bucket up to end
    assert (counts.ticks, counts.deviation, counts.stale) == (4, 0, 0)


def test_mid_is_arithmetic_mean_without_volume() -> None:
    data = ticks([(0, 99.0, 101.0, 0.0, 0.0), (10, 101.0, 103.0, 0.0, 0.0)])
    params = AggregationParams(mode="time", step=1000, tick_max_deviation=LOOSE)
    out, _ = aggregate(*data, params=params, end_ns=1000 * MS)
    assert out.column("mid")[0] == 101.0


def test_vwap_weights_are_tick_volumes() -> None:
    data = ticks([(0, 99.0, 101.0, 3.0, 0.0), (10, 101.0, 103.0, 0.0, 1.0)])
    params = AggregationParams(mode="time", step=1000, tick_max_deviation=LOOSE)
    out, _ = aggregate(*data, params=params, end_ns=1000 * MS)
    assert out.column("mid")[0] == pytest.approx((3 * 100 + 1 * 102) / 4, rel=1e-15)


def test_tick_mode_bricks_wicks_and_multi_brick_jump() -> None:
    mids = [100.0, 100.5, 101.2, 100.9, 99.0, 110.0, 110.5]
    data = ticks([(i * 10, m - 0.01, m + 0.01, 1.0, 1.0) for i, m in enumerate(mids)])
    params = AggregationParams(mode="tick", step=0.01, tick_max_deviation=LOOSE)
    out, _ = aggregate(*data, params=params, end_ns=10_000 * MS)
    # brick 1 closes at 101.2 > 100 * 1.01; brick 2 at 99.0 < 101.2 * 0.99;
    # 110.0 jumps several 1% steps at once: one brick, its close the real price.
    assert out.timestamp_ns.tolist() == [20 * MS, 40 * MS, 50 * MS]
    assert out.start_ns.tolist() == [0, 30 * MS, 50 * MS]
    assert out.column("open").tolist() == pytest.approx([100.0, 100.9, 110.0])
    assert out.column("high").tolist() == pytest.approx([101.2, 100.9, 110.0])
    assert out.column("low").tolist() == pytest.approx([100.0, 99.0, 110.0])
    assert out.column("close").tolist() == pytest.approx([101.2, 99.0, 110.0])
    assert out.tick_count.tolist() == [3, 2, 1]
    assert out.column("vask").tolist() == [3.0, 2.0, 1.0]  # the 110.5 tick stays unfinished


def test_deviation_filter_removes_a_spike_and_counts_it() -> None:
    data = ticks(
        [
            (0, 99.99, 100.01, 1.0, 0.0),  # mid 100
            (10, 100.04, 100.06, 1.0, 0.0),  # mid 100.05, within 0.1 %
            (20, 104.99, 105.01, 7.0, 0.0),  # spike: 5 % off the running mid
            (30, 100.01, 100.03, 1.0, 0.0),  # mid 100.02, back: the spike was alone
        ]
    )
    params = AggregationParams(mode="time", step=1000, tick_max_deviation=0.001)
    out, counts = aggregate(*data, params=params, end_ns=1000 * MS)
    assert counts.deviation == 1
    assert out.tick_count.tolist() == [3]
    assert out.column("high")[0] == pytest.approx(100.05)
    assert out.column("vbid")[0] == 3.0  # the spike's volume is removed with it


def test_first_tick_of_a_bucket_is_checked_against_the_previous_close() -> None:
    data = ticks(
        [(0, 99.99, 100.01, 1, 0), (1500, 101.99, 102.01, 1, 0), (1600, 99.99, 100.01, 1, 0)]
    )
    params = AggregationParams(mode="time", step=1000, tick_max_deviation=0.001)
    out, counts = aggregate(*data, params=params, end_ns=2000 * MS)
    assert counts.deviation == 1
    assert out.column("open").tolist() == pytest.approx([100.0, 100.0])


def test_a_steady_trend_inside_a_bucket_is_not_filtered() -> None:
    # 100.24 is 0.16 % above the running mid (100.08) but only 0.08 % above the last tick.
    mids = [100.0, 100.08, 100.16, 100.24]
    data = ticks([(i * 10, m - 0.01, m + 0.01, 1, 0) for i, m in enumerate(mids)])
    params = AggregationParams(mode="time", step=1000, tick_max_deviation=0.001)
    out, counts = aggregate(*data, params=params, end_ns=1000 * MS)
    assert counts.deviation == 0
    assert out.column("close")[0] == pytest.approx(100.24)


def test_a_confirmed_level_shift_is_accepted_not_locked_out() -> None:
    # A real jump: the first tick at the new level is removed, the next one confirms it.
    data = ticks([(0, 99.99, 100.01, 1, 0), (10, 104.99, 105.01, 1, 0), (20, 105.0, 105.02, 1, 0)])
    params = AggregationParams(mode="time", step=1000, tick_max_deviation=0.001)
    out, counts = aggregate(*data, params=params, end_ns=1000 * MS)
    assert counts.deviation == 1
    assert out.column("close")[0] == pytest.approx(105.01)
    assert out.tick_count.tolist() == [2]


def test_stale_quotes_keep_their_volume_but_not_their_prices() -> None:
    data = ticks([(0, 99.0, 101.0, 1, 0), (10, 109.0, 111.0, 2, 0), (20, 100.0, 102.0, 3, 0)])
    age = np.array([0, 200 * MS, 50 * MS], dtype=np.int64)
    params = AggregationParams(mode="time", step=1000, tick_ttl_ms=100, tick_max_deviation=LOOSE)
    out, counts = aggregate(*data, params=params, end_ns=1000 * MS, age_ns=age)
    assert counts.stale == 1
    assert out.column("high")[0] == 101.0  # the stale 110 quote does not count
    assert out.column("vbid")[0] == 6.0
    assert out.tick_count.tolist() == [2]


def test_the_first_quote_is_used_even_when_stale() -> None:
    data = ticks([(0, 99.0, 101.0, 1, 0)])
    age = np.array([10_000 * MS], dtype=np.int64)
    params = AggregationParams(mode="time", step=1000)
    out, counts = aggregate(*data, params=params, end_ns=1000 * MS, age_ns=age)
    assert counts.stale == 0
    assert out.column("close")[0] == 100.0


def test_bucket_alignment_is_to_the_epoch() -> None:
    data = ticks([(1_700_000_000_123, 99.0, 101.0, 1, 0)])
    params = AggregationParams(mode="time", step=60_000)
    out, _ = aggregate(*data, params=params, end_ns=1_700_000_040_000 * MS)
    assert out.timestamp_ns.tolist() == [1_700_000_040_000 * MS]


@pytest.mark.parametrize(
    ("rows", "why"),
    [
        ([(10, 99.0, 101.0, 0, 0), (5, 99.0, 101.0, 0, 0)], "backwards"),
        ([(0, float("nan"), 101.0, 0, 0)], "positive finite"),
        ([(0, 0.0, 101.0, 0, 0)], "positive finite"),
        ([(0, 102.0, 101.0, 0, 0)], "ask is below bid"),
        ([(0, 99.0, 101.0, -1.0, 0)], "non-negative"),
    ],
)
def test_bad_ticks_name_the_row(
    rows: list[tuple[int, float, float, float, float]], why: str
) -> None:
    agg = Aggregator(AggregationParams(mode="time", step=1000))
    with pytest.raises(DataError, match=why) as info:
        agg.update(*ticks(rows), source="day.parquet", row_offset=100)
    assert str(info.value).startswith(f"day.parquet:{100 + len(rows)}:")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mode": "time", "step": 0},
        {"mode": "time", "step": -5},
        {"mode": "time", "step": 1.5},
        {"mode": "tick", "step": 1.5},
        {"mode": "bogus", "step": 1},
        {"mode": "time", "step": 1000, "tick_ttl_ms": -1},
        {"mode": "time", "step": 1000, "tick_max_deviation": 0},
    ],
)
def test_bad_parameters_are_input_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(InputError):
        AggregationParams(**kwargs)  # type: ignore[arg-type]
