"""Property tests: kernel = plain-Python twin, any chunking = one call, no look-ahead."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seriesfactory.backtest.calibration import rolling
from seriesfactory.backtest.config import BacktestConfig
from seriesfactory.backtest.data import Market
from seriesfactory.backtest.engine import cal_arrays, params, run_backtest, run_kernel
from seriesfactory.backtest.reference import reference_run

configs = st.fixed_dictionaries(
    {
        "fill_model": st.sampled_from(["through", "at"]),
        "gamma_mode": st.sampled_from(["constant", "inventory_scaled", "max_shift"]),
        "horizon_mode": st.sampled_from(["fixed", "rolling"]),
        "risk_aversion_gamma": st.sampled_from([0.1, 100.0, 3000.0]),
        "inventory_horizon_seconds": st.sampled_from([5.0, 60.0, 1800.0]),
        "latency_seconds": st.sampled_from([0.0, 0.03, 0.25]),
        "fill_cooldown_seconds": st.sampled_from([0.0, 0.5, 5.0]),
        "quote_validity_seconds": st.sampled_from([0.15, 1.0, 60.0]),
        "requote_interval_seconds": st.sampled_from([0.0, 0.35, 2.0]),
        "requote_on_trades": st.booleans(),
        "min_spread_bps": st.sampled_from([0.0, 0.3]),
        "order_size": st.sampled_from([0.01, 0.05]),
        "max_inventory": st.sampled_from([0.03, 0.1]),
        "gap_threshold_seconds": st.sampled_from([1.0, 1800.0]),
        "warmup_period_seconds": st.sampled_from([0.0, 20.0]),
        "calibration_window_seconds": st.just(40.0),
        "recalibration_interval_seconds": st.just(15.0),
    }
)


def _holes(mk: Market, seed: int) -> Market:
    """Invalid rows and a 3 s hole in the rows, from ``seed``."""
    rng = np.random.default_rng(seed)
    valid = mk.valid.copy()
    valid[rng.integers(0, len(valid), 5)] = False
    keep = np.ones(len(mk.ts), bool)
    a = int(rng.integers(100, len(mk.ts) - 100))
    keep[a : a + 30] = False
    return Market(
        mk.ts[keep],
        valid[keep],
        mk.bid_px[keep],
        mk.bid_sz[keep],
        mk.ask_px[keep],
        mk.ask_sz[keep],
        mk.tr_ts,
        mk.tr_px,
        mk.tr_qty,
        mk.tr_side,
        mk.tick,
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cfg=configs, seed=st.integers(0, 1000), cuts=st.lists(st.floats(0, 1), max_size=3))
def test_kernel_equals_twin_and_any_chunking(
    make_mm: Callable[..., Market], cfg: dict[str, object], seed: int, cuts: list[float]
) -> None:
    mk = _holes(make_mm(seconds=120.0, seed=seed), seed)
    c = BacktestConfig(**cfg)
    cals = cal_arrays(rolling(mk, c, 40.0, 15.0))
    p = params(c, mk.tick)
    fills, tl = run_kernel(mk, cals, p, c.starting_cash)
    span = int(mk.ts[-1] - mk.ts[0])
    split = sorted(int(mk.ts[0] + f * span) for f in cuts)
    f2, t2 = run_kernel(mk, cals, p, c.starting_cash, split_ns=split)
    np.testing.assert_array_equal(fills, f2)
    np.testing.assert_array_equal(tl, t2)
    rf, rt = reference_run(
        mk.ts,
        mk.valid,
        mk.bid_px,
        mk.bid_sz,
        mk.ask_px,
        mk.ask_sz,
        mk.tr_ts,
        mk.tick_index(mk.tr_px),
        mk.tr_qty,
        mk.tr_side,
        cals.ts,
        cals.sigma,
        cals.kappa_bid,
        cals.kappa_ask,
        p,
        c.starting_cash,
    )
    np.testing.assert_array_equal(fills, np.array(rf).reshape(-1, 7))
    np.testing.assert_array_equal(tl, np.array(rt).reshape(-1, 13))


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cfg=configs,
    seed=st.integers(0, 1000),
    cut=st.floats(0.2, 0.9),
    how=st.sampled_from(["drop", "prices", "sizes", "mids"]),
)
def test_perturbing_the_future_leaves_the_past_identical(
    make_mm: Callable[..., Market], cfg: dict[str, object], seed: int, cut: float, how: str
) -> None:
    mk = make_mm(seconds=120.0, seed=seed)
    t_cut = int(mk.ts[0] + cut * (mk.ts[-1] - mk.ts[0]))
    rng = np.random.default_rng(seed + 1)
    fut = mk.tr_ts > t_cut
    rfut = mk.ts > t_cut
    px, qty = mk.tr_px.copy(), mk.tr_qty.copy()
    bp, ap = mk.bid_px.copy(), mk.ask_px.copy()
    tts, side = mk.tr_ts, mk.tr_side
    if how == "drop":
        tts, px, qty, side = tts[~fut], px[~fut], qty[~fut], side[~fut]
    elif how == "prices":
        px[fut] += mk.tick * rng.integers(-3, 4, int(fut.sum()))
    elif how == "sizes":
        qty[fut] *= 10.0
    else:
        shift = mk.tick * 7
        bp[rfut] += shift
        ap[rfut] += shift
    other = Market(mk.ts, mk.valid, bp, mk.bid_sz, ap, mk.ask_sz, tts, px, qty, side, mk.tick)
    c = BacktestConfig(**cfg)
    a = run_backtest(mk, c)
    b = run_backtest(other, c)
    past_a = a.timeline[a.timeline[:, 0] <= t_cut]
    past_b = b.timeline[b.timeline[:, 0] <= t_cut]
    np.testing.assert_array_equal(past_a, past_b)
    np.testing.assert_array_equal(a.fills[a.fills[:, 0] <= t_cut], b.fills[b.fills[:, 0] <= t_cut])
    done_a = [x.to_dict() for x in a.calibrations if x.window_end <= t_cut]
    done_b = [x.to_dict() for x in b.calibrations if x.window_end <= t_cut]
    assert done_a == done_b
