"""Average label uniqueness (AFML ch. 4) by hand and against a direct count."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seriesfactory.ml.weights import average_uniqueness, concurrency


def test_uniqueness_by_hand() -> None:
    # A [0,2], B [1,3], C [4,5]: c = 1 2 2 1 1 1.
    start, end = np.array([0, 1, 4]), np.array([2, 3, 5])
    assert concurrency(start, end, 6).tolist() == [1, 2, 2, 1, 1, 1]
    np.testing.assert_allclose(average_uniqueness(start, end, 6), [2 / 3, 2 / 3, 1.0])
    # A [0,3], B [1,1], C [1,2]: c = 1 3 2 1; ū_A = (1 + 1/3 + 1/2 + 1)/4, ū_B = 1/3,
    # ū_C = (1/3 + 1/2)/2.
    start, end = np.array([0, 1, 1]), np.array([3, 1, 2])
    assert concurrency(start, end, 4).tolist() == [1, 3, 2, 1]
    np.testing.assert_allclose(
        average_uniqueness(start, end, 4), [(1 + 1 / 3 + 1 / 2 + 1) / 4, 1 / 3, 5 / 12]
    )


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 6)), min_size=1, max_size=40))
def test_uniqueness_equals_direct_count(events: list[tuple[int, int]]) -> None:
    start = np.array([s for s, _ in events])
    end = np.array([s + d for s, d in events])
    n = int(end.max()) + 1
    c = [sum(1 for s, e in zip(start, end, strict=True) if s <= t <= e) for t in range(n)]
    want = [np.mean([1 / c[t] for t in range(s, e + 1)]) for s, e in zip(start, end, strict=True)]
    assert concurrency(start, end, n).tolist() == c
    assert average_uniqueness(start, end, n) == pytest.approx(want)
