"""Bounded blocks: update_blocks/finish_blocks give the same rows as update/finish, in blocks
of at most max_rows, for any chunking, step and gap (issue 17, item 0: memory)."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from seriesfactory.schema import TickArrays
from seriesfactory.testing import split_points, tick_streams
from seriesfactory.transforms.aggregates import (
    AggregateArrays,
    AggregateSummary,
    AggregationParams,
    Aggregator,
    aggregate,
)

PARAMS = st.one_of(
    st.builds(
        AggregationParams,
        mode=st.just("time"),
        step=st.sampled_from([500, 1000, 60_000]),
        tick_ttl_ms=st.sampled_from([0.0, 1e9]),
        tick_max_deviation=st.sampled_from([1e-3, 0.5]),
    ),
    st.builds(AggregationParams, mode=st.just("tick"), step=st.sampled_from([1e-4, 1e-3])),
)


def ages(t: TickArrays, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 300_000_000, len(t)).astype(np.int64)


def end_of(t: TickArrays) -> int:
    return int(t.ts[-1]) + 5_000_000_000


def rows(t: TickArrays, lo: int | None, hi: int | None) -> TickArrays:
    return TickArrays(t.ts[lo:hi], t.bid[lo:hi], t.ask[lo:hi], t.vbid[lo:hi], t.vask[lo:hi])


def assert_same(a: AggregateArrays, b: AggregateArrays) -> None:
    np.testing.assert_array_equal(a.timestamp_ns, b.timestamp_ns)
    np.testing.assert_array_equal(a.start_ns, b.start_ns)
    np.testing.assert_array_equal(a.tick_count, b.tick_count)
    np.testing.assert_array_equal(a.fields, b.fields)  # bit for bit


@settings(max_examples=100, deadline=None)
@given(t=tick_streams(), params=PARAMS, max_rows=st.integers(1, 7), data=st.data())
def test_blocks_equal_the_whole_and_are_bounded(
    t: TickArrays, params: AggregationParams, max_rows: int, data
) -> None:
    age = ages(t, 3)
    end = end_of(t) + data.draw(st.integers(0, 40)) * 1_000_000_000  # trailing empty buckets
    whole, counts = aggregate(*t, params=params, end_ns=end, age_ns=age)
    cuts = data.draw(split_points(len(t)))
    agg = Aggregator(params)
    blocks: list[AggregateArrays] = []
    for lo, hi in itertools.pairwise([0, *cuts, len(t)]):
        blocks += agg.update_blocks(*rows(t, lo, hi), age[lo:hi], max_rows=max_rows)
    blocks += agg.finish_blocks(end, max_rows=max_rows)
    assert all(0 < b.rows <= max_rows for b in blocks)
    assert_same(whole, AggregateArrays.concat(blocks))
    assert agg.counts == counts
    summary = AggregateSummary(keep=3)
    for b in blocks:
        summary.add(b)
    edge = summary.edge_rows()
    n = whole.rows
    picks = list(range(n)) if n <= 6 else [0, 1, 2, n - 3, n - 2, n - 1]
    np.testing.assert_array_equal(edge.timestamp_ns, whole.timestamp_ns[picks])
    assert summary.rows == n


def test_a_long_gap_at_one_ms_is_emitted_in_bounded_blocks() -> None:
    """Two ticks an hour apart at a 1 ms step: 3.6 M empty buckets, never more than 1000 a block."""
    ts = np.array([0, 3_600 * 10**9], np.int64)
    one = np.ones(2)
    params = AggregationParams(mode="time", step=1)
    agg = Aggregator(params)
    sizes = [b.rows for b in agg.update_blocks(ts, one, one, one, one, max_rows=1000)]
    sizes += [b.rows for b in agg.finish_blocks(3_600 * 10**9 + 10**6, max_rows=1000)]
    assert max(sizes) <= 1000 and sum(sizes) == 3_600_001
