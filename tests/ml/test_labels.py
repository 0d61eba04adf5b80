"""Labels by hand: fixed horizon with a dead band, triple barrier (each barrier, ties, vertical)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seriesfactory.errors import InputError
from seriesfactory.ml.labels import NO_HORIZON, NO_PRICE, LabelSpec, make_labels, trailing_vol
from seriesfactory.ml.nb import trailing_vol_kernel, triple_barrier_kernel
from seriesfactory.ml.reference import trailing_vol_ref, triple_barrier_ref


def test_fixed_horizon_absolute_dead_band() -> None:
    p = np.array([100.0, 101.0, 100.0, 99.0, 99.0])
    spec = LabelSpec(
        "fixed-horizon", horizon=1, threshold=0.005, threshold_units="return", vol_window=2
    )
    lab = make_labels(p, spec)
    # ln(101/100) = +0.00995 > 0.005; ln(100/101) = -0.00995; ln(99/100) = -0.01005; 0 inside.
    assert lab.label.tolist()[:4] == [1, -1, -1, 0]
    assert lab.end.tolist() == [1, 2, 3, 4, NO_HORIZON]
    assert lab.forward_return[0] == pytest.approx(math.log(1.01))
    # A return exactly on the band is neutral (strict inequality): threshold 0, return 0.
    flat = make_labels(
        np.array([5.0, 5.0, 6.0]), LabelSpec(horizon=1, threshold=0.0, threshold_units="return")
    )
    assert flat.label.tolist()[:2] == [0, 1]


def test_fixed_horizon_in_volatility_units() -> None:
    # log prices 0, .01, .03, .035, .055: returns .01, .02, .005, .02.
    logp = np.array([0.0, 0.01, 0.03, 0.035, 0.055])
    spec = LabelSpec("fixed-horizon", horizon=1, threshold=1.0, threshold_units="vol", vol_window=2)
    lab = make_labels(100 * np.exp(logp), spec)
    # σ_2 = std(.01, .02) = .01/√2 = .00707 > R = .005 -> 0;
    # σ_3 = std(.02, .005) = .0106 < R = .02 -> +1
    assert lab.sigma[2] == pytest.approx(0.01 / math.sqrt(2))
    assert lab.sigma[3] == pytest.approx(0.015 / math.sqrt(2))
    assert lab.label[2] == 0 and lab.label[3] == 1
    assert lab.end[0] == NO_PRICE and lab.end[1] == NO_PRICE  # σ still warming up
    assert lab.end[4] == NO_HORIZON
    # Width scales with √horizon.
    lab2 = make_labels(100 * np.exp(logp), LabelSpec(horizon=2, threshold=1.0, vol_window=2))
    assert lab2.width[2] == pytest.approx(0.01 / math.sqrt(2) * math.sqrt(2))


def _tb(path: list[float], k: float = 0.25, h: int = 3) -> tuple[int, int, float]:
    spec = LabelSpec(
        "triple-barrier", horizon=h, threshold=k, threshold_units="return", vol_window=2
    )
    lab = make_labels(np.array(path), spec)
    return int(lab.label[0]), int(lab.end[0]), float(lab.forward_return[0])


def test_triple_barrier_by_hand() -> None:
    # Powers of two keep every return exact. Barriers at ±25 % around 64: 80 and 48.
    assert _tb([64, 72, 81, 40])[:2] == (1, 2)  # upper first (81/64 - 1 = .2656), lower later
    assert _tb([64, 56, 47, 96])[:2] == (-1, 2)  # lower first
    assert _tb([64, 72, 56, 68])[:2] == (0, 3)  # vertical barrier: no touch in 3 rows
    # Ties: a return exactly on a barrier does not touch it (strict, as AFML).
    assert _tb([64, 80, 48, 72])[:2] == (0, 3)
    # A horizontal barrier crossed on the vertical barrier's row wins over the vertical one.
    label, end, fwd = _tb([64, 72, 56, 96])
    assert (label, end) == (1, 3) and fwd == pytest.approx(math.log(1.5))
    # NaN on the path touches nothing; the path goes on.
    assert _tb([64, math.nan, 100, 64])[:2] == (1, 2)
    # Width zero: any strict move touches; a flat path runs to the vertical barrier.
    assert _tb([64, 64, 64, 64], k=0.0)[:2] == (0, 3)
    assert _tb([64, 64, 63.9, 64], k=0.0)[:2] == (-1, 2)


def test_triple_barrier_forward_return_is_log_return_to_t1() -> None:
    label, end, fwd = _tb([64, 56, 47, 96])
    assert (label, end) == (-1, 2) and fwd == pytest.approx(math.log(47 / 64))


def test_label_spec_refuses_bad_values() -> None:
    with pytest.raises(InputError, match="--horizon"):
        LabelSpec(horizon=0)
    with pytest.raises(InputError, match="--threshold"):
        LabelSpec(threshold=-1)
    with pytest.raises(InputError, match="--label"):
        LabelSpec(kind="up-down")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="--vol-window"):
        LabelSpec(vol_window=1)


prices = st.lists(st.one_of(st.floats(50, 150), st.just(math.nan)), min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(prices, st.floats(0, 0.2), st.integers(1, 8))
def test_triple_barrier_kernel_equals_twin(p: list[float], w: float, h: int) -> None:
    width = [w if i % 5 else math.nan for i in range(len(p))]
    lab, end = triple_barrier_kernel(np.array(p), np.array(width), h)
    ref_lab, ref_end = triple_barrier_ref(p, width, h)
    assert lab.tolist() == ref_lab and end.tolist() == ref_end


@settings(max_examples=150, deadline=None)
@given(prices, st.integers(2, 10))
def test_trailing_vol_kernel_equals_twin(p: list[float], window: int) -> None:
    logp = np.log(np.array(p))
    got = trailing_vol_kernel(logp, window)
    want = trailing_vol_ref(logp.tolist(), window)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-15, equal_nan=True)


def test_trailing_vol_uses_only_the_past() -> None:
    rng = np.random.default_rng(1)
    p = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 300)))
    full = trailing_vol(p, 20)
    for cut in (25, 100, 299):
        changed = p.copy()
        changed[cut + 1 :] *= rng.uniform(0.5, 2.0, changed.size - cut - 1)
        np.testing.assert_array_equal(trailing_vol(changed, 20)[: cut + 1], full[: cut + 1])


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.sampled_from(["fixed-horizon", "triple-barrier"]),
    st.integers(1, 12),
)
def test_a_label_uses_no_price_after_its_t1(seed: int, kind: str, h: int) -> None:
    rng = np.random.default_rng(seed)
    p = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 120)))
    spec = LabelSpec(kind, horizon=h, threshold=0.5, vol_window=5)  # type: ignore[arg-type]
    lab = make_labels(p, spec)
    for i in rng.choice(np.flatnonzero(lab.end >= 0), size=5):
        t1 = int(lab.end[i])
        changed = p.copy()
        changed[t1 + 1 :] = rng.uniform(50, 200, changed.size - t1 - 1)  # scramble the future
        again = make_labels(changed, spec)
        assert again.label[i] == lab.label[i] and again.end[i] == t1
        assert again.forward_return[i] == lab.forward_return[i]
