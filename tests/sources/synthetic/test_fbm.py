"""FBM: exact fGn covariance, increment variance, Hurst re-estimated by quadratic variations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seriesfactory.sources.synthetic import EPOCHS_PER_YEAR, FBM
from seriesfactory.sources.synthetic.davies_harte import fgn, fgn_autocovariance
from seriesfactory.sources.synthetic.fbm import expected_log_path

N = 1 << 20


def hurst_by_quadratic_variations(y: np.ndarray) -> float:
    """Istas–Lang: second differences at lags 1 and 2; E[V(2)] / E[V(1)] = 2^{2H}."""
    v1 = np.mean((y[2:] - 2 * y[1:-1] + y[:-2]) ** 2)
    v2 = np.mean((y[4:] - 2 * y[2:-2] + y[:-4]) ** 2)
    return 0.5 * math.log2(v2 / v1)


@pytest.mark.slow
@pytest.mark.parametrize("hurst", [0.3, 0.5, 0.75])
def test_increment_variance_and_hurst(hurst: float) -> None:
    mu, sigma = 0.5, 0.8
    model = FBM(mu, sigma, hurst, 100.0)
    x = model.log_path(N, seed=21)
    noise = x - expected_log_path(mu, sigma, hurst, N)
    inc = np.diff(noise)
    tick_sd = sigma * (1 / EPOCHS_PER_YEAR) ** hurst
    assert model.tick_sd == pytest.approx(tick_sd, rel=1e-15)
    assert np.mean(inc**2) / tick_sd**2 == pytest.approx(1.0, rel=0.02)
    assert hurst_by_quadratic_variations(noise) == pytest.approx(hurst, abs=0.01)


def test_tick_sd_is_not_sigma_over_sqrt_epochs() -> None:
    # Hand value: 0.8 * (1/63,115,200)^0.3 = 0.8 * exp(-0.3 ln 63,115,200)
    assert FBM(0, 0.8, 0.3, 1).tick_sd == pytest.approx(0.8 * math.exp(-0.3 * 17.9604722), rel=1e-7)
    assert FBM(0, 0.8, 0.5, 1).tick_sd == pytest.approx(0.8 / math.sqrt(EPOCHS_PER_YEAR))


def test_autocovariance_by_hand_and_far_lags() -> None:
    # gamma(1) = (2^{2H} - 2) / 2: H = 0.75 gives (2^1.5 - 2) / 2.
    assert fgn_autocovariance(np.array([0.0, 1.0]), 0.75) == pytest.approx([1.0, (2**1.5 - 2) / 2])
    assert fgn_autocovariance(np.array([5.0]), 0.5)[0] == 0.0
    # Across the switch to the series (lag 64) the two forms agree.
    k = np.arange(60.0, 70.0)
    direct = 0.5 * ((k + 1) ** 1.4 - 2 * k**1.4 + (k - 1) ** 1.4)
    np.testing.assert_allclose(fgn_autocovariance(k, 0.7), direct, rtol=1e-10)
    # Far lags follow gamma(k) ~ H(2H-1) k^{2H-2}.
    assert fgn_autocovariance(np.array([1e7]), 0.7)[0] == pytest.approx(
        0.7 * 0.4 * 1e7**-0.6, rel=1e-6
    )


def test_empirical_covariance_of_many_short_samples() -> None:
    # 2000 independent samples of 8 values: the covariance matrix is the Toeplitz fGn one.
    hurst = 0.3
    rng = np.random.default_rng(4)
    sample = np.stack([fgn(8, hurst, rng) for _ in range(2000)])
    cov = sample.T @ sample / sample.shape[0]
    gamma = fgn_autocovariance(np.arange(8.0), hurst)
    expected = gamma[np.abs(np.subtract.outer(np.arange(8), np.arange(8)))]
    # Standard error of each entry is about sqrt(2/2000) = 0.032.
    assert np.max(np.abs(cov - expected)) < 4 * math.sqrt(2 / 2000)


def test_horizon_dependence_is_recorded() -> None:
    info = FBM(0, 1, 0.7, 1).describe()
    assert info["horizon_dependent"] is True
    assert "depends on the whole horizon" in info["horizon_note"]


def test_float32_embedding_used_above_2_23_ticks_is_right() -> None:
    # The path a year takes (float32 transforms), forced at a test size.
    from seriesfactory.sources.synthetic.davies_harte import eigenvalues

    n, hurst = 1 << 16, 0.75
    lam32 = eigenvalues(n, hurst, "float32")
    lam64 = eigenvalues(n, hurst, "float64")
    assert lam32.dtype == np.float32
    np.testing.assert_allclose(lam32, lam64, atol=2e-5 * float(lam64.max()))
    g = fgn(n, hurst, np.random.default_rng(9), precision="float32").astype(np.float64)
    assert g.shape == (n,)
    se = math.sqrt(2 * 4 / n)  # long memory: sum of gamma(k)^2 is about 4 here
    assert abs(np.mean(g * g) - 1.0) < 4 * se
    lag1 = np.mean(g[1:] * g[:-1])
    assert lag1 == pytest.approx(fgn_autocovariance(np.array([1.0]), hurst)[0], abs=4 * se)
