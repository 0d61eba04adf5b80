"""Multi-source merge and re-basing: hand-computed examples, the twins, any chunking."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seriesfactory.transforms.merge import MergeParams, TickCrosser, TickMerger
from seriesfactory.transforms.merge.reference import reference_cross, reference_merge

Tick = tuple[int, int, float, float, float, float, int]


def _chunk(rows: list[Tick]) -> Any:
    cols = list(zip(*rows, strict=True)) if rows else [()] * 7
    types = [np.int64, np.int64, np.float64, np.float64, np.float64, np.float64, np.int64]
    return tuple(np.array(c, t) for c, t in zip(cols, types, strict=True))


def _rows(out) -> list[tuple[int, float, float, float, float, int]]:
    ticks, age = out
    return [
        (int(t), float(b), float(a), float(vb), float(va), int(g))
        for t, b, a, vb, va, g in zip(*ticks, age, strict=True)
    ]


def test_static_weights_and_ttl_by_hand() -> None:
    ttl = 100
    rows: list[Tick] = [
        (1000, 0, 100.0, 102.0, 5.0, 0.0, 0),  # only A known: A's quote
        (1050, 1, 110.0, 112.0, 0.0, 7.0, 0),  # A fresh (age 50): 0.75*A + 0.25*B
        (1200, 1, 111.0, 113.0, 0.0, 1.0, 30),  # A stale (200 > 100): B alone; age 30
        (1210, 0, 101.0, 103.0, 2.0, 0.0, 0),  # B quote time 1170: age 40 -> both
    ]
    m = TickMerger(MergeParams(weights=(3.0, 1.0), ttl_ns=ttl))
    got = _rows(m.update(_chunk(rows)))
    assert got == [
        (1000, 100.0, 102.0, 5.0, 0.0, 0),
        (1050, 0.75 * 100 + 0.25 * 110, 0.75 * 102 + 0.25 * 112, 0.0, 7.0, 50),
        (1200, 111.0, 113.0, 0.0, 1.0, 30),
        (1210, 0.75 * 101 + 0.25 * 111, 0.75 * 103 + 0.25 * 113, 2.0, 0.0, 40),
    ]


def test_volume_weights_by_hand() -> None:
    tau_ms = 1e-3  # tau = 1000 ns
    rows: list[Tick] = [(0, 0, 100.0, 100.0, 30.0, 0.0, 0), (1000, 1, 200.0, 200.0, 10.0, 0.0, 0)]
    m = TickMerger(MergeParams(weights=(1.0, 1.0), mode="volume", ttl_ns=10**6,
                               volume_tau_ms=tau_ms))  # fmt: skip
    got = _rows(m.update(_chunk(rows)))
    va, vb = 30.0 * math.exp(-1.0), 10.0  # A's volume has decayed for one tau
    assert got[1][1] == pytest.approx((va * 100 + vb * 200) / (va + vb), rel=1e-15)
    mixed = TickMerger(MergeParams(weights=(1.0, 3.0), mode="mixed", ttl_ns=10**6,
                                   volume_tau_ms=tau_ms))  # fmt: skip
    got = _rows(mixed.update(_chunk(rows)))
    wa, wb = 0.25 * va, 0.75 * vb
    assert got[1][1] == pytest.approx((wa * 100 + wb * 200) / (wa + wb), rel=1e-15)


def test_cross_by_hand() -> None:
    rows: list[Tick] = [
        (10, 0, 40000.0, 40010.0, 800.0, 0.0, 0),  # BTC-USDT only: no output yet
        (20, 1, 2000.0, 2001.0, 0.0, 600.0, 5),  # ETH-USDT market buy
        (30, 0, 40020.0, 40030.0, 0.0, 100.0, 0),
    ]
    got = _rows(TickCrosser().update(_chunk(rows)))
    assert got == [
        (20, 40000.0 / 2001.0, 40010.0 / 2000.0, 300.0, 0.0, 10),  # ETH buy = BTC/ETH sell
        (30, 40020.0 / 2001.0, 40030.0 / 2000.0, 0.0, 50.0, 15),
    ]
    assert got == reference_cross(rows)


streams = st.lists(
    st.tuples(
        st.integers(0, 80),
        st.integers(0, 2),
        st.sampled_from([99.0, 100.0, 101.5]),
        st.floats(0, 2, allow_nan=False),
        st.floats(0, 1e3, allow_nan=False),
        st.floats(0, 1e3, allow_nan=False),
        st.integers(0, 150),
    ),
    max_size=50,
)


@settings(max_examples=60, deadline=None)
@given(
    streams,
    st.sampled_from(["static", "volume", "mixed"]),
    st.lists(st.integers(0, 50), max_size=4),
)
def test_merge_and_cross_equal_their_twins_in_any_chunking(steps, mode, cuts) -> None:
    t = 10**15
    rows: list[Tick] = []
    for dt, s, b, spread, vb, va, age in steps:
        t += dt
        rows.append((t, s, b, b + spread, vb, va, min(age, t)))
    params = MergeParams(weights=(0.5, 0.3, 0.2), mode=mode, ttl_ns=100, volume_tau_ms=1e-4)
    bounds = sorted({0, len(rows), *(c for c in cuts if c <= len(rows))})
    merger, crosser = TickMerger(params), TickCrosser()
    got_m, got_c = [], []
    legs = [r for r in rows if r[1] < 2]
    for lo, hi in itertools.pairwise(bounds):
        got_m += _rows(merger.update(_chunk(rows[lo:hi])))
        state = merger.state()
        merger = TickMerger(params)
        merger.restore(state)
    for lo, hi in itertools.pairwise(sorted({0, len(legs), *(c for c in cuts if c <= len(legs))})):
        got_c += _rows(crosser.update(_chunk(legs[lo:hi])))
    want = reference_merge(rows, [0.5, 0.3, 0.2], mode, 100, 1e2)
    assert len(got_m) == len(want)
    for g, w in zip(got_m, want, strict=True):
        assert g[0] == w[0] and g[3:] == w[3:]
        assert g[1] == pytest.approx(w[1], rel=1e-12) and g[2] == pytest.approx(w[2], rel=1e-12)
    assert got_c == reference_cross(legs)
