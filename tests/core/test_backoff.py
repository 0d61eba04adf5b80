import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seriesfactory.core.backoff import backoff_delay_s


def test_hand_computed_delays() -> None:
    # base 5 s, cap 60 s: k=0 -> 5, k=2 -> 20, k=3 -> 40, k=4 -> min(60, 80) = 60;
    # each times the jitter 0.5 + 0.5 u.
    for k, full in [(0, 5.0), (2, 20.0), (3, 40.0), (4, 60.0), (9, 60.0)]:
        u = random.Random(7).random()
        got = backoff_delay_s(k, base_s=5.0, cap_s=60.0, rng=random.Random(7))
        assert got == pytest.approx(full * (0.5 + 0.5 * u))


def test_download_defaults() -> None:
    # The Settings defaults (0.5 s, cap 30 s): the bound doubles 0.5, 1, 2, ... and stops at 30.
    rng = random.Random(0)
    for k, full in [(0, 0.5), (1, 1.0), (2, 2.0), (5, 16.0), (6, 30.0), (10, 30.0)]:
        d = backoff_delay_s(k, base_s=0.5, cap_s=30.0, rng=rng)
        assert full / 2 <= d < full


@given(
    attempt=st.integers(0, 5000),
    base_s=st.floats(0.0, 100.0),
    cap_s=st.floats(0.0, 1000.0),
    seed=st.integers(0, 2**32),
)
def test_never_above_the_cap_nor_below_half_the_bound(
    attempt: int, base_s: float, cap_s: float, seed: int
) -> None:
    d = backoff_delay_s(attempt, base_s=base_s, cap_s=cap_s, rng=random.Random(seed))
    bound = min(cap_s, base_s * 2.0 ** min(attempt, 60))
    assert 0.0 <= d <= cap_s
    assert bound / 2 <= d <= bound


def test_negative_attempt_is_refused() -> None:
    with pytest.raises(ValueError, match="attempt must be >= 0"):
        backoff_delay_s(-1, base_s=1.0, cap_s=2.0, rng=random.Random(0))
