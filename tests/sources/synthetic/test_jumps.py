"""Jump models: Poisson counts, exponential gaps, size laws, compensated drift, the jump log."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from seriesfactory.sources.synthetic import DEJDM, EPOCHS_PER_YEAR, NJDM
from seriesfactory.sources.synthetic.jumps import BLOCK

N = 1 << 20
DT = 1.0 / EPOCHS_PER_YEAR
LAM = EPOCHS_PER_YEAR / 100.0  # one jump per 100 ticks on average: about 10,500 in 2^20 ticks
RATE = LAM * DT


def check_arrivals(tick: np.ndarray, time_ticks: np.ndarray) -> None:
    # Count against Poisson(lambda T) over (0, N - 1] tick intervals.
    expected = RATE * (N - 1)
    assert abs((tick.size - expected) / math.sqrt(expected)) < 4
    gaps = np.diff(time_ticks, prepend=0.0)
    ks = stats.kstest(gaps, "expon", args=(0.0, 1.0 / RATE))
    assert ks.pvalue > 1e-3, ks
    # Each jump lands on the first tick at or after it.
    np.testing.assert_array_equal(tick, np.ceil(time_ticks).astype(np.int64))
    assert tick.min() >= 1 and tick.max() <= N - 1


@pytest.mark.slow
def test_merton_jumps() -> None:
    mu_jump, sigma_jump = -0.002, 0.004
    log = NJDM(0.1, 0.5, LAM, mu_jump, sigma_jump, 100.0).jump_log(N, seed=31)
    check_arrivals(log.tick, log.time_ticks)
    ks = stats.kstest(log.size, "norm", args=(mu_jump, sigma_jump))
    assert ks.pvalue > 1e-3, ks


@pytest.mark.slow
def test_kou_jumps() -> None:
    up, down, p = 0.003, -0.005, 0.35
    log = DEJDM(0.1, 0.5, LAM, up, down, p, 100.0).jump_log(N, seed=32)
    check_arrivals(log.tick, log.time_ticks)
    neg = log.size < 0
    share_z = (neg.mean() - p) / math.sqrt(p * (1 - p) / neg.size)
    assert abs(share_z) < 4, share_z
    assert stats.kstest(-log.size[neg], "expon", args=(0.0, -down)).pvalue > 1e-3
    assert stats.kstest(log.size[~neg], "expon", args=(0.0, up)).pvalue > 1e-3


def test_compensators_by_hand() -> None:
    # Merton: k = exp(0.01 + 0.02^2 / 2) - 1 = e^0.0102 - 1
    assert NJDM(0, 0, 1, 0.01, 0.02, 1).compensator() == pytest.approx(0.010252197319935034)
    # Kou: k = 0.75 * 0.1 / 0.9 - 0.25 * 0.2 / 1.2 = 1/12 - 1/24 = 1/24
    kou = DEJDM(0.05, 0.4, 10, 0.1, -0.2, 0.25, 1)
    assert kou.compensator() == pytest.approx(1 / 24)
    assert kou.log_drift() == pytest.approx(0.05 - 0.08 - 10 / 24)


@pytest.mark.parametrize(
    "model",
    [NJDM(0.4, 0.0, LAM, 0.001, 0.003, 50.0), DEJDM(0.4, 0.0, LAM, 0.002, -0.003, 0.5, 50.0)],
    ids=["njdm", "dejdm"],
)
def test_path_is_drift_plus_exactly_the_logged_jumps(model: NJDM | DEJDM) -> None:
    n = 20_000
    x = model.log_path(n, seed=5, chunk_ticks=977)
    log = model.jump_log(n, seed=5)
    per_tick = np.zeros(n)
    np.add.at(per_tick, log.tick, log.size)
    expected = np.diff(x) - model.log_drift() * DT
    np.testing.assert_allclose(expected, per_tick[1:], atol=1e-15)
    assert log.tick.size > 100


@pytest.mark.slow
@pytest.mark.parametrize(
    "model",
    [NJDM(30.0, 2.0, LAM, 0.001, 0.002, 1.0), DEJDM(30.0, 2.0, LAM, 0.002, -0.001, 0.3, 1.0)],
    ids=["njdm", "dejdm"],
)
def test_mean_log_return_carries_compensator(model: NJDM | DEJDM) -> None:
    # E[dX] = (mu - s^2/2 - lambda k) dt + rate E[Y]; Var[dX] = s^2 dt + rate E[Y^2].
    log = model.jump_log(N, seed=8)
    r = np.diff(model.log_path(N, seed=8))
    ey = log.size.mean()
    mean = model.log_drift() * DT + RATE * ey
    var = model.values["sigma"] ** 2 * DT + RATE * np.mean(log.size**2)
    assert abs((r.mean() - mean) / math.sqrt(var / r.size)) < 4


def test_no_jumps_when_lambda_is_zero() -> None:
    log = NJDM(0.1, 0.5, 0.0, 0.1, 0.1, 1.0).jump_log(10_000, seed=1)
    assert log.tick.size == 0


def test_jump_blocks_do_not_depend_on_the_horizon() -> None:
    m = DEJDM(0.0, 0.1, LAM, 0.01, -0.01, 0.5, 1.0)
    short, long = m.jump_log(3 * BLOCK, seed=4), m.jump_log(400 * BLOCK, seed=4)
    k = short.tick.size
    np.testing.assert_array_equal(short.size, long.size[:k])
    np.testing.assert_array_equal(short.time_ticks, long.time_ticks[:k])
