"""Test helpers that users need too: hypothesis strategies for valid event streams.

Requires ``hypothesis`` (a development dependency)::

    from hypothesis import given
    from seriesfactory.testing import tick_streams

    @given(tick_streams())
    def test_my_transform(ticks): ...
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from seriesfactory.schema import TickArrays

__all__ = ["split_points", "tick_streams"]


@st.composite
def tick_streams(
    draw: st.DrawFn,
    *,
    min_size: int = 1,
    max_size: int = 300,
    start_ns: int = 1_735_689_600_000_000_000,
    max_gap_ns: int = 3_000_000_000,
) -> TickArrays:
    """Time-ordered ticks with positive prices (a random walk with jumps), ask >= bid,
    volumes >= 0 (some zero), repeated timestamps and gaps of several buckets."""
    n = draw(st.integers(min_size, max_size))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    gaps = rng.integers(0, max_gap_ns, n)
    gaps[rng.random(n) < 0.1] = 0  # simultaneous ticks
    ts = start_ns + np.cumsum(gaps).astype(np.int64)
    steps = rng.normal(0.0, draw(st.sampled_from([1e-4, 1e-3, 1e-2])), n)
    steps[rng.random(n) < 0.02] += rng.choice([-0.05, 0.05])  # occasional jumps
    mid = 100.0 * np.exp(np.cumsum(steps))
    half = mid * rng.uniform(0.0, 5e-4, n)
    vol: Any = np.where(rng.random(n) < 0.2, 0.0, rng.exponential(10.0, n))
    buy = rng.random(n) < 0.5
    return TickArrays(
        ts,
        mid - half,
        mid + half,
        np.where(buy, 0.0, vol).astype(np.float64),
        np.where(buy, vol, 0.0).astype(np.float64),
    )


def split_points(n: int) -> st.SearchStrategy[list[int]]:
    """Sorted cut positions in ``[0, n]`` that split a stream of ``n`` events into chunks."""
    return st.lists(st.integers(0, n), max_size=8).map(sorted)
