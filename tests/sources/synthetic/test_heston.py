"""Heston: variance mean reversion, the exact CIR transition (KS), price/variance correlation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from seriesfactory.sources.synthetic import EPOCHS_PER_YEAR, Heston, spawn_generator

DT = 1.0 / EPOCHS_PER_YEAR
# kappa dt * 4096 = 2: the mean visibly reverts within 4096 ticks. Feller: 2 kappa theta^2 > xi^2.
KAPPA = 2.0 * EPOCHS_PER_YEAR / 4096
SIGMA, THETA, XI, RHO = 0.2, 0.5, 50.0, -0.7


def model() -> Heston:
    return Heston(0.1, SIGMA, KAPPA, THETA, XI, RHO, 100.0)


def cir_transition(v_from: np.ndarray, ticks: int) -> tuple[float, float, np.ndarray]:
    """``v_{t+h} = c * ncx2(df, nc)`` with ``c = xi^2 (1 - e^{-kh}) / (4k)``: (c, df, nc)."""
    h = ticks * DT
    decay = math.exp(-KAPPA * h)
    c = XI**2 * (1 - decay) / (4 * KAPPA)
    df = 4 * KAPPA * THETA**2 / XI**2
    return c, df, v_from * decay / c


@pytest.mark.slow
def test_mean_variance_reverts_like_theory_and_terminal_law() -> None:
    paths, n = 256, 4096
    v = np.stack([model().paths(n, seed=1000 + s)[1] for s in range(paths)])
    assert v[:, 0] == pytest.approx(SIGMA**2)
    for t in (256, 1024, 2048, n - 1):
        theory = THETA**2 + (SIGMA**2 - THETA**2) * math.exp(-KAPPA * t * DT)
        col = v[:, t]
        z = (col.mean() - theory) / (col.std(ddof=1) / math.sqrt(paths))
        assert abs(z) < 4, (t, z)
    # v_T across independent paths against the exact non-central chi-square law from v0.
    c, df, nc = cir_transition(np.array(SIGMA**2), n - 1)
    ks = stats.kstest(v[:, -1] / c, stats.ncx2(df, float(nc)).cdf)
    assert ks.pvalue > 1e-3, ks


@pytest.mark.slow
def test_transitions_follow_the_noncentral_chi_square_and_correlation() -> None:
    n, h = 1 << 20, 512
    x, v = model().paths(n, seed=7)
    assert np.all(v >= 0) and np.all(np.isfinite(x))
    # Markov property: PIT of each v_{(k+1)h} given v_{kh} is iid uniform (Rosenblatt).
    start, end = v[0:-h:h], v[h::h]
    c, df, nc = cir_transition(start, h)
    u = stats.ncx2.cdf(end / c, df, nc)
    ks = stats.kstest(u, "uniform")
    assert ks.pvalue > 1e-3, ks
    # Conditional means: residuals of v_{t+h} - E[v_{t+h} | v_t] average zero.
    resid = end - (THETA**2 + (start - THETA**2) * math.exp(-KAPPA * h * DT))
    assert abs(resid.mean() / (resid.std(ddof=1) / math.sqrt(resid.size))) < 4
    corr = np.corrcoef(np.diff(x), np.diff(v))[0, 1]
    assert corr == pytest.approx(RHO, abs=0.01)


def test_first_steps_by_hand() -> None:
    mu, sigma, kappa, theta, xi, rho = 0.1, 0.3, 4.0, 0.5, 0.9, -0.5
    z1 = spawn_generator(3, "diffusion").standard_normal(2)
    z2 = spawn_generator(3, "variance").standard_normal(2)
    x, v = Heston(mu, sigma, kappa, theta, xi, rho, 50.0).paths(3, seed=3)
    xs, vs = 0.0, sigma**2
    want_x, want_v = [xs], [vs]
    for i in range(2):
        vp = max(vs, 0.0)
        xs += mu * DT - 0.5 * vp * DT + math.sqrt(vp * DT) * z1[i]
        shock = rho * z1[i] + math.sqrt(1 - rho**2) * z2[i]
        vs += kappa * (theta**2 - vp) * DT + xi * math.sqrt(vp * DT) * shock
        want_x.append(xs)
        want_v.append(max(vs, 0.0))
    np.testing.assert_allclose(x, want_x, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(v, want_v, rtol=1e-13)


def test_variance_never_negative_even_far_from_feller() -> None:
    # 2 kappa theta^2 = 0.02 << xi^2 = 1e6: the variance hits zero often.
    x, v = Heston(0.0, 0.1, 1.0, 0.1, 1000.0, 0.3, 10.0).paths(50_000, seed=2)
    assert np.all(v >= 0.0) and (v == 0.0).any()
    assert np.all(np.isfinite(x))


def test_stream_matches_paths() -> None:
    start = 1_735_689_600_000_000_000
    m = model()
    ticks = list(
        m.stream(start_ns=start, end_ns=start + 5_000 * 500_000_000, seed=9, chunk_ticks=333)
    )
    mid = np.concatenate([(t.bid + t.ask) / 2 for t in ticks])
    x, _ = m.paths(5_000, seed=9)
    np.testing.assert_allclose(mid, 100.0 * np.exp(x), rtol=1e-14)
    # ... and both equal the scheme written out here, step by step (no model code).
    z1 = spawn_generator(9, "diffusion").standard_normal(4_999)
    z2 = spawn_generator(9, "variance").standard_normal(4_999)
    xs, vs, want = 0.0, SIGMA**2, [0.0]
    for i in range(4_999):
        vp = max(vs, 0.0)
        xs += 0.1 * DT - 0.5 * vp * DT + math.sqrt(vp * DT) * z1[i]
        shock = RHO * z1[i] + math.sqrt(1 - RHO**2) * z2[i]
        vs += KAPPA * (THETA**2 - vp) * DT + XI * math.sqrt(vp * DT) * shock
        want.append(xs)
    np.testing.assert_allclose(mid, 100.0 * np.exp(want), rtol=1e-12)
