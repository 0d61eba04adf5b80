"""Calibration: hand-made samples, the discrete likelihood, fallbacks, truth on mm(...)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest
from scipy.optimize import minimize

from seriesfactory.backtest.calibration import (
    SideSample,
    _robust_cov,
    calibrate,
    fit_side,
    side_sample,
    sigma_fit,
)
from seriesfactory.backtest.config import BacktestConfig
from seriesfactory.backtest.data import Market
from seriesfactory.sources.synthetic.mm import MMModel

from .conftest import T0, hand_market


def _loglik(a: float, k: float, s: SideSample) -> float:
    e = float(np.dot(s.w, np.exp(-k * s.lo) - np.exp(-k * s.hp)))
    n = len(s.depths)
    return n * math.log(a) + n * math.log(1 - math.exp(-k)) - k * float(s.depths.sum()) - a * e


def test_fit_is_the_maximum_of_the_discrete_likelihood() -> None:
    """Two exposure groups, eight trades: the root and closed form maximise ℓ(A, κ)."""
    s = SideSample(
        lo=np.array([0.5, 1.5]),
        hp=np.array([5.5, 4.5]),
        w=np.array([10.0, 5.0]),
        depths=np.array([0.5, 0.5, 0.5, 1.5, 1.5, 2.5, 1.5, 3.5]),
        outside=0,
    )
    fit = fit_side(s)
    assert fit is not None and fit.n == 8
    best = minimize(
        lambda x: -_loglik(math.exp(x[0]), math.exp(x[1]), s),
        [0.0, 0.0],
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-12},
    )
    assert fit.a == pytest.approx(math.exp(best.x[0]), rel=1e-5)
    assert fit.kappa == pytest.approx(math.exp(best.x[1]), rel=1e-5)
    # Â = N / E(κ̂)
    e = float(np.dot(s.w, np.exp(-fit.kappa * s.lo) - np.exp(-fit.kappa * s.hp)))
    assert fit.a == pytest.approx(8 / e, rel=1e-12)
    assert fit.kappa_lo < fit.kappa < fit.kappa_hi and fit.a_lo < fit.a < fit.a_hi


def test_all_depths_equal_has_no_maximum() -> None:
    s = SideSample(np.array([0.5]), np.array([5.5]), np.array([10.0]), np.full(50, 0.5), 0)
    assert fit_side(s) is None  # κ -> ∞: no finite root


def test_sigma_is_the_realised_variance_of_mid_changes() -> None:
    # mids 100, 100.02, 99.99, 99.99 one second apart: (0.02² + 0.03² + 0) / 3 s
    mk = hand_market([0, 1, 2, 3], [], bid=99.99, ask=100.01)
    step = np.array([0, 0.02, -0.01, -0.01])
    mk = replace(mk, bid_px=mk.bid_px + step[:, None], ask_px=mk.ask_px + step[:, None])
    sigma, n = sigma_fit(mk, 0, 4, 10**12)
    assert n == 3
    assert sigma == pytest.approx(math.sqrt((0.02**2 + 0.03**2) / 3), rel=1e-9)


def test_trades_map_to_the_latest_row_strictly_before_them() -> None:
    # rows at 0 and 1 s; the bid book 99.99 / 99.98 / 99.97 (mid 100.00 then 100.01)
    mk = hand_market(
        [0, 1],
        [
            (0.5, 99.98, 1, -1),
            (1.0, 99.98, 1, -1),
            (1.5, 99.99, 1, -1),
            (1.6, 100.01, 1, -1),
            (1.7, 99.90, 1, -1),
        ],
        levels=[(99.98, 1.0), (99.97, 1.0)],
    )
    up = np.array([[0.0], [0.01]])
    mk = replace(mk, bid_px=mk.bid_px + up, ask_px=mk.ask_px + up)
    c = calibrate(mk, T0, T0 + 2_000_000_000, BacktestConfig(min_trades_per_side=2))
    # row 1 moved up a tick: bids 100.00 / 99.99 / 99.98 around a mid of 100.01.
    # 0.5 s and 1.0 s map to row 0 (mid 100.00, 99.98: 2 ticks deep); 1.5 s to row 1 (99.99:
    # 2 ticks); 1.6 s sells above row 1's best bid and 1.7 s beyond its furthest level:
    # both outside
    assert (c.n_bid, c.n_outside_bid) == (3, 2)


def test_fallbacks_reuse_the_other_side_then_defaults() -> None:
    rows = [0.1 * k for k in range(100)]
    rng = np.random.default_rng(1)
    sells = [(0.05 + 0.1 * k, 99.99 - 0.01 * int(rng.integers(0, 3)), 1.0, -1) for k in range(99)]
    mk = hand_market(rows, sells, levels=[(99.98, 1.0), (99.97, 1.0), (99.96, 1.0)])
    cfg = BacktestConfig()
    c = calibrate(mk, T0, T0 + 10**10, cfg)
    assert c.n_ask == 0 and c.kappa_ask == c.kappa_bid and c.a_ask == c.a_bid
    assert any("ask: reusing the bid fit" in n for n in c.fallback)
    none = hand_market(rows, [(0.05, 99.99, 1.0, -1)])
    c = calibrate(none, T0, T0 + 10**10, cfg)
    assert any("neither side fits" in n for n in c.fallback)
    assert c.kappa_bid == pytest.approx(0.5 * 1e4 / 100.0)  # 0.5 per bps at a mid of 100
    assert c.a_bid == 1.0


def _mm(kappa: float, seed: int, seconds: float = 3600.0) -> tuple[Market, dict[str, float]]:
    model = MMModel(kappa, 15.0, kappa, 15.0, 1.0, 0.1, 60000.0)
    g = model.generate(start_ns=T0, seconds=seconds, seed=seed)
    t = g.trades
    mk = Market(
        g.ts,
        np.ones(len(g.ts), bool),
        g.bid_px,
        g.bid_sz,
        g.ask_px,
        g.ask_sz,
        t["ts"],
        t["price"],
        t["qty"],
        t["side"],
        g.tick,
    )
    return mk, model.truth()


@pytest.mark.parametrize("kappa", [0.25, 0.5, 1.0])
def test_recovers_the_truth_of_mm(kappa: float) -> None:
    mk, truth = _mm(kappa, seed=7)
    c = calibrate(mk, int(mk.ts[0]), int(mk.ts[-1]) + 1, BacktestConfig())
    assert c.n_bid > 50_000 and c.fallback == []
    for side in ("bid", "ask"):
        assert getattr(c, f"kappa_{side}") == pytest.approx(truth[f"kappa_{side}"], rel=0.05)
        assert getattr(c, f"a_{side}") == pytest.approx(truth[f"a_{side}"], rel=0.10)
    assert c.sigma == pytest.approx(truth["sigma"], rel=0.05)


@pytest.mark.slow
def test_intervals_cover_the_truth_over_seeds() -> None:
    """95 % intervals of κ and A cover the truth in at least 90 % of 40 seeds (κ = 0.5)."""
    hits = {"kappa": 0, "a": 0}
    seeds = range(40)
    for seed in seeds:
        mk, truth = _mm(0.5, seed=100 + seed, seconds=900.0)
        c = calibrate(mk, int(mk.ts[0]), int(mk.ts[-1]) + 1, BacktestConfig())
        hits["kappa"] += c.kappa_bid_lo <= truth["kappa_bid"] <= c.kappa_bid_hi
        hits["a"] += c.a_bid_lo <= truth["a_bid"] <= c.a_bid_hi
    assert hits["kappa"] >= 0.9 * len(seeds) and hits["a"] >= 0.9 * len(seeds)


def test_a_continuous_fit_on_tick_depths_would_be_biased(make_mm: Callable[..., Market]) -> None:
    """Why the grid matters: the continuous truncated MLE on the same depths is off by ~30 %."""
    mk, truth = _mm(1.0, seed=3, seconds=900.0)
    c = calibrate(mk, int(mk.ts[0]), int(mk.ts[-1]) + 1, BacktestConfig())
    # continuous exponential from the touch: κ = 1 / mean(depth - 0.5 tick), per tick
    t = mk.tr_side < 0
    r = np.searchsorted(mk.ts, mk.tr_ts[t], "left") - 1
    depth = (mk.mid[r] - mk.tr_px[t]) / mk.tick - 0.5
    continuous = 1.0 / depth.mean() / mk.tick
    assert abs(continuous / truth["kappa_bid"] - 1) > 0.25
    assert c.kappa_bid == pytest.approx(truth["kappa_bid"], rel=0.05)


def _row_loglik(a: float, k: float, s: SideSample, r: int) -> float:
    """Book row r's term of ℓ(A, κ), from the per-row structure."""
    assert s.row_group is not None and s.row_w is not None and s.trade_row is not None
    g = s.row_group[r]
    d = s.depths[s.trade_row == r]
    expo = s.row_w[r] * (math.exp(-k * s.lo[g]) - math.exp(-k * s.hp[g]))
    return len(d) * (math.log(a) + math.log(1 - math.exp(-k))) - k * float(d.sum()) - a * expo


def test_robust_variance_is_the_clustered_sandwich() -> None:
    """Four rows in two exposure groups: numerical row scores give H⁻¹ M H⁻¹ (each row a
    cluster, then two rows a cluster), and they sum to 0 at the maximum."""
    s = SideSample(
        lo=np.array([0.5, 1.5]),
        hp=np.array([5.5, 4.5]),
        w=np.array([10.0, 5.0]),
        depths=np.array([0.5, 0.5, 0.5, 1.5, 1.5, 2.5, 1.5, 3.5]),
        outside=0,
        row_group=np.array([0, 1, 0, 1]),
        row_w=np.array([4.0, 2.0, 6.0, 3.0]),
        trade_row=np.array([0, 0, 0, 1, 2, 2, 3, 3]),
    )
    fit = fit_side(s)
    assert fit is not None
    a, k = fit.a, fit.kappa
    h = 1e-6
    u = np.array(
        [
            [
                (_row_loglik(a + h, k, s, r) - _row_loglik(a - h, k, s, r)) / (2 * h),
                (_row_loglik(a, k + h, s, r) - _row_loglik(a, k - h, s, r)) / (2 * h),
            ]
            for r in range(4)
        ]
    )
    assert np.abs(u.sum(axis=0)).max() < 1e-6  # the maximum: the scores balance

    def ll(x: float, y: float) -> float:
        return sum(_row_loglik(x, y, s, r) for r in range(4))

    e = 1e-4  # observed information H by second differences of ℓ
    hess = np.empty((2, 2))
    hess[0, 0] = -(ll(a + e, k) - 2 * ll(a, k) + ll(a - e, k)) / e**2
    hess[1, 1] = -(ll(a, k + e) - 2 * ll(a, k) + ll(a, k - e)) / e**2
    hess[0, 1] = hess[1, 0] = -(
        ll(a + e, k + e) - ll(a + e, k - e) - ll(a - e, k + e) + ll(a - e, k - e)
    ) / (4 * e * e)
    bread = np.asarray(np.linalg.inv(hess), np.float64)
    want = bread @ (u.T @ u) @ bread
    got = _robust_cov(k, a, bread, s)
    assert got is not None
    np.testing.assert_allclose(got, want, rtol=1e-4)
    # rows 0-1 and 2-3 in one cluster each: the cluster's score is the sum of its rows'
    uc = np.array([u[0] + u[1], u[2] + u[3]])
    got_c = _robust_cov(k, a, bread, replace(s, row_cluster=np.array([0, 0, 1, 1])))
    assert got_c is not None
    np.testing.assert_allclose(got_c, bread @ (uc.T @ uc) @ bread, rtol=1e-4)
    # the reported interval uses the larger of the model-based and the robust variance
    se_k = math.sqrt(max(bread[1, 1], want[1, 1]))
    assert fit.kappa_hi == pytest.approx(k * math.exp(1.959963984540054 * se_k / k), rel=1e-4)


def test_bursts_of_trades_widen_the_interval() -> None:
    """Each trade printed four times in its row (a sweep): the model-based information is 4x
    larger, the robust interval stays as wide as with single prints."""
    mk, _ = _mm(0.5, seed=11, seconds=900.0)
    gap = int(1800e9)
    end = int(mk.ts[-1]) + 1
    single = fit_side(side_sample(mk, 0, len(mk.ts), end, 1, gap))
    rep = np.repeat(np.arange(len(mk.tr_ts)), 4)
    burst = Market(
        mk.ts, mk.valid, mk.bid_px, mk.bid_sz, mk.ask_px, mk.ask_sz,
        mk.tr_ts[rep], mk.tr_px[rep], mk.tr_qty[rep], mk.tr_side[rep], mk.tick,
    )  # fmt: skip
    s4 = side_sample(burst, 0, len(mk.ts), end, 1, gap)
    assert s4.row_cluster is not None  # one-second clusters of 100 ms rows
    assert np.array_equal(s4.row_cluster, np.arange(len(mk.ts)) // 10)
    four = fit_side(s4)
    assert single is not None and four is not None
    assert four.kappa == pytest.approx(single.kappa, rel=1e-9)  # same depths, same maximum
    width1 = math.log(single.kappa_hi / single.kappa)
    width4 = math.log(four.kappa_hi / four.kappa)
    assert width4 == pytest.approx(width1, rel=0.1)
    model4 = fit_side(replace(s4, row_group=None, row_w=None, trade_row=None))
    assert model4 is not None
    assert math.log(model4.kappa_hi / model4.kappa) == pytest.approx(width1 / 2, rel=0.1)


@pytest.mark.parametrize("kappa", [0.05, 1.0, 3.0])
def test_kappa_root_equals_bisection(kappa: float) -> None:
    """The Newton root of the mean-depth equation equals 200 plain bisections (log scale)."""
    mk, _ = _mm(kappa, seed=5, seconds=120.0)
    s = side_sample(mk, 0, len(mk.ts), int(mk.ts[-1]) + 1, 1, int(1800e9))
    fit = fit_side(s)
    assert fit is not None
    mean = float(s.depths.mean())
    lo, hi = 1e-4, 200.0
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        x, y = np.exp(-mid * s.lo), np.exp(-mid * s.hp)
        e0 = float(np.dot(s.w, x - y))
        e1 = float(np.dot(s.w, s.hp * y - s.lo * x))
        if 1 / math.expm1(mid) - e1 / e0 > mean:
            lo = mid
        else:
            hi = mid
    assert fit.kappa == pytest.approx(math.sqrt(lo * hi), rel=1e-12)
