"""GBM acceptance statistics on 2^20 ticks (fixed seed): moments, normality, no autocorrelation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from seriesfactory.sources.synthetic import EPOCHS_PER_YEAR, GBM

N = 1 << 20
DT = 1.0 / EPOCHS_PER_YEAR


@pytest.mark.slow
def test_log_returns_match_theory() -> None:
    # Strong drift so the mean is detectable: mean/sd per tick = (mu - s^2/2) sqrt(dt) / s.
    mu, sigma = 2_000.0, 1.0
    r = np.diff(GBM(mu, sigma, 100.0).log_path(N, seed=11))
    n = r.size
    mean, var = (mu - sigma**2 / 2) * DT, sigma**2 * DT
    z_mean = (r.mean() - mean) / math.sqrt(var / n)
    z_var = (r.var(ddof=1) - var) / (var * math.sqrt(2.0 / (n - 1)))
    assert abs(z_mean) < 4, z_mean
    assert abs(z_var) < 4, z_var
    # The drift is really there: the mean is many standard errors away from zero.
    assert r.mean() / math.sqrt(var / n) > 10
    ks = stats.kstest((r - mean) / math.sqrt(var), "norm")
    assert ks.pvalue > 1e-3, ks
    lag1 = np.corrcoef(r[1:], r[:-1])[0, 1]
    assert abs(lag1 * math.sqrt(n)) < 4, lag1


def test_first_steps_by_hand() -> None:
    # X_1 = (mu - s^2/2) dt + s sqrt(dt) Z_0 with Z_0 the first normal of the diffusion stream.
    from seriesfactory.sources.synthetic import spawn_generator

    z = spawn_generator(5, "diffusion").standard_normal(2)
    x = GBM(0.3, 0.6, 10.0).log_path(3, seed=5)
    step0 = (0.3 - 0.18) * DT + 0.6 * math.sqrt(DT) * z[0]
    step1 = (0.3 - 0.18) * DT + 0.6 * math.sqrt(DT) * z[1]
    assert x[0] == 0.0
    assert x[1] == pytest.approx(step0, rel=1e-12)
    assert x[2] == pytest.approx(step0 + step1, rel=1e-12)
