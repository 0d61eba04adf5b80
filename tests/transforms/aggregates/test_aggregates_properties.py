"""Invariants: any chunking gives identical output; save/restore; the kernel equals its twin."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seriesfactory.schema import AGGREGATE_FIELDS, TickArrays
from seriesfactory.testing import split_points, tick_streams
from seriesfactory.transforms.aggregates import (
    AggregateArrays,
    AggregationParams,
    Aggregator,
    aggregate,
)
from seriesfactory.transforms.aggregates.reference import reference_aggregate

PARAMS = st.one_of(
    st.builds(
        AggregationParams,
        mode=st.just("time"),
        step=st.sampled_from([500, 1000, 2500, 60_000]),
        tick_ttl_ms=st.sampled_from([0.0, 100.0, 1e9]),
        tick_max_deviation=st.sampled_from([1e-4, 1e-3, 0.5]),
    ),
    st.builds(
        AggregationParams,
        mode=st.just("tick"),
        step=st.sampled_from([1e-4, 1e-3, 1e-2]),
        tick_ttl_ms=st.sampled_from([0.0, 100.0]),
        tick_max_deviation=st.sampled_from([1e-3, 0.5]),
    ),
)


def ages(t: TickArrays, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 300_000_000, len(t)).astype(np.int64)


def end_of(t: TickArrays) -> int:
    return int(t.ts[-1]) + 5_000_000_000


def rows(t: TickArrays, lo: int | None, hi: int | None) -> TickArrays:
    return TickArrays(t.ts[lo:hi], t.bid[lo:hi], t.ask[lo:hi], t.vbid[lo:hi], t.vask[lo:hi])


def run_chunked(t: TickArrays, age: np.ndarray, params: AggregationParams, cuts: list[int]):
    agg = Aggregator(params)
    bounds = [0, *cuts, len(t)]
    parts = [agg.update(*rows(t, lo, hi), age[lo:hi]) for lo, hi in itertools.pairwise(bounds)]
    parts.append(agg.finish(end_of(t)))
    return AggregateArrays.concat(parts), agg.counts


def assert_same(a: AggregateArrays, b: AggregateArrays) -> None:
    np.testing.assert_array_equal(a.timestamp_ns, b.timestamp_ns)
    np.testing.assert_array_equal(a.start_ns, b.start_ns)
    np.testing.assert_array_equal(a.tick_count, b.tick_count)
    np.testing.assert_array_equal(a.fields, b.fields)  # bit for bit


@settings(max_examples=150, deadline=None)
@given(t=tick_streams(), params=PARAMS, data=st.data())
def test_any_chunking_gives_identical_output(
    t: TickArrays, params: AggregationParams, data
) -> None:
    age = ages(t, 1)
    whole, counts = aggregate(*t, params=params, end_ns=end_of(t), age_ns=age)
    cuts = data.draw(split_points(len(t)))
    chunked, chunked_counts = run_chunked(t, age, params, cuts)
    assert_same(whole, chunked)
    assert counts == chunked_counts


@settings(max_examples=80, deadline=None)
@given(t=tick_streams(), params=PARAMS, data=st.data())
def test_save_and_restore_continues_exactly(t: TickArrays, params: AggregationParams, data) -> None:
    age = ages(t, 2)
    whole, counts = aggregate(*t, params=params, end_ns=end_of(t), age_ns=age)
    cut = data.draw(st.integers(0, len(t)))
    first = Aggregator(params)
    head = first.update(*rows(t, None, cut), age[:cut])
    saved = json.loads(json.dumps(first.state()))  # through JSON, as a daemon would
    second = Aggregator.from_state(saved)
    tail = second.update(*rows(t, cut, None), age[cut:])
    out = AggregateArrays.concat([head, tail, second.finish(end_of(t))])
    assert_same(whole, out)
    assert second.counts == counts


@settings(max_examples=120, deadline=None)
@given(t=tick_streams(max_size=150), params=PARAMS)
def test_kernel_equals_plain_python_twin(t: TickArrays, params: AggregationParams) -> None:
    age = ages(t, 3)
    out, counts = aggregate(*t, params=params, end_ns=end_of(t), age_ns=age)
    rows, ref_counts = reference_aggregate(
        t.ts.tolist(), t.bid.tolist(), t.ask.tolist(), t.vbid.tolist(), t.vask.tolist(),
        mode=params.mode, step=params.step, end_ns=end_of(t),
        tick_ttl_ms=params.tick_ttl_ms, tick_max_deviation=params.tick_max_deviation,
        age_ns=age.tolist(),
    )  # fmt: skip
    assert (counts.deviation, counts.stale) == (ref_counts["deviation"], ref_counts["stale"])
    assert out.rows == len(rows)
    assert out.timestamp_ns.tolist() == [r.timestamp_ns for r in rows]
    assert out.start_ns.tolist() == [r.start_ns for r in rows]
    assert out.tick_count.tolist() == [r.tick_count for r in rows]
    for i, r in enumerate(rows):
        for k, name in enumerate(AGGREGATE_FIELDS):
            # Streaming co-moments vs two-pass sums: the residual variance loses ~1e-16 of the
            # price variance to cancellation, so dispersion/drift (in %) agree to 1e-6 points.
            tol = 1e-6 if name in ("dispersion", "drift") else 1e-12
            assert out.fields[k, i] == pytest.approx(r.values[name], rel=tol, abs=tol), name
