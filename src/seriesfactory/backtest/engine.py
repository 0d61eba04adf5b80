"""Run a backtest: calibrate on rolling windows, replay through the kernel, summarise.

:func:`run_backtest` is the only caller of :func:`seriesfactory.backtest.nb.run`.
The calibration in force at a book row ``t`` is the latest refit whose window
ended at or before ``t`` (windows ``[t_k - window, t_k)``, refits every
``recalibration_interval_seconds`` from the first valid row plus the warm-up), so
nothing after ``t`` reaches a quote at ``t``. Output tables and the summary:
``docs/backtest.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from seriesfactory.backtest import nb
from seriesfactory.backtest.calibration import Calibration, rolling
from seriesfactory.backtest.config import BacktestConfig
from seriesfactory.backtest.data import Market
from seriesfactory.backtest.quoting import GAMMA_MODES
from seriesfactory.schema import TS_TYPE

__all__ = ["BacktestResult", "CalArrays", "cal_arrays", "params", "run_backtest", "summarise"]

TIMELINE_NAMES = (
    "ts",
    "mid",
    "bid",
    "ask",
    "reservation",
    "inventory",
    "sigma",
    "kappa_bid",
    "kappa_ask",
    "gamma",
    "cash",
    "fees",
    "equity",
)
#: Equity is sampled once a minute (the last timeline row of each minute) for the Sharpe ratio.
SHARPE_STEP_NS = 60_000_000_000
MINUTES_PER_YEAR = 525_960.0


@dataclass(slots=True)
class CalArrays:
    ts: npt.NDArray[np.int64]
    sigma: npt.NDArray[np.float64]
    kappa_bid: npt.NDArray[np.float64]
    kappa_ask: npt.NDArray[np.float64]


def cal_arrays(cals: list[Calibration]) -> CalArrays:
    return CalArrays(
        np.array([c.window_end for c in cals], np.int64),
        np.array([c.sigma for c in cals], np.float64),
        np.array([c.kappa_bid for c in cals], np.float64),
        np.array([c.kappa_ask for c in cals], np.float64),
    )


def params(cfg: BacktestConfig, tick: float) -> npt.NDArray[np.float64]:
    """The kernel's parameter vector (``nb.P_*``)."""
    p = np.zeros(nb.N_PARAMS, np.float64)
    p[nb.P_ORDER_SIZE] = cfg.order_size
    p[nb.P_MAX_INV] = cfg.max_inventory
    p[nb.P_MAKER] = cfg.maker_fee_bps * 1e-4
    p[nb.P_COOLDOWN_NS] = round(cfg.fill_cooldown_seconds * 1e9)
    p[nb.P_VALIDITY_NS] = round(cfg.quote_validity_seconds * 1e9)
    p[nb.P_LATENCY_NS] = round(cfg.latency_seconds * 1e9)
    p[nb.P_GAP_NS] = round(cfg.gap_threshold_seconds * 1e9)
    p[nb.P_WARMUP_NS] = round(cfg.warmup_period_seconds * 1e9)
    p[nb.P_REQUOTE_NS] = round(cfg.requote_interval_seconds * 1e9)
    p[nb.P_HORIZON_S] = cfg.inventory_horizon_seconds
    p[nb.P_GAMMA] = cfg.risk_aversion_gamma
    p[nb.P_GAMMA_MODE] = GAMMA_MODES[cfg.gamma_mode]
    p[nb.P_GAMMA_SCALE] = cfg.gamma_inventory_scale
    p[nb.P_MAX_SHIFT_BPS] = cfg.max_shift_bps
    p[nb.P_MIN_SPREAD_BPS] = cfg.min_spread_bps
    p[nb.P_MAX_SPREAD_BPS] = cfg.max_spread_bps
    p[nb.P_TICK] = tick
    p[nb.P_FILL_AT] = 1.0 if cfg.fill_model == "at" else 0.0
    p[nb.P_ROLLING] = 1.0 if cfg.horizon_mode == "rolling" else 0.0
    p[nb.P_CASH_LIMIT] = 1.0
    p[nb.P_REQUOTE_TRADES] = 1.0 if cfg.requote_on_trades else 0.0
    return p


@dataclass(slots=True)
class BacktestResult:
    fills: npt.NDArray[np.float64]  # [n, nb.FILL_COLS]
    timeline: npt.NDArray[np.float64]  # [n, nb.TL_COLS]
    calibrations: list[Calibration]
    summary: dict[str, Any]

    def fills_table(self) -> pa.Table:
        f = self.fills
        return pa.table(
            {
                "ts": pa.array(f[:, 0].astype(np.int64), pa.int64()).cast(TS_TYPE),
                "side": pa.array(np.where(f[:, 1] > 0, "buy", "sell").astype(str)),
                "price": pa.array(f[:, 2]),
                "qty": pa.array(f[:, 3]),
                "fee": pa.array(f[:, 4]),
                "inventory": pa.array(f[:, 5]),
                "cash": pa.array(f[:, 6]),
            }
        )

    def timeline_table(self) -> pa.Table:
        t = self.timeline
        cols: dict[str, pa.Array] = {
            "ts": pa.array(t[:, 0].astype(np.int64), pa.int64()).cast(TS_TYPE)
        }
        for k, name in enumerate(TIMELINE_NAMES[1:], start=1):
            cols[name] = pa.array(t[:, k], pa.float64())
        return pa.table(cols)


def run_kernel(
    mk: Market,
    cals: CalArrays,
    p: npt.NDArray[np.float64],
    starting_cash: float,
    *,
    split_ns: list[int] | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Fills and timeline of the kernel over ``mk``; ``split_ns`` feeds it in chunks
    cut at those times (events ``<= cut`` in the earlier chunk): the same output."""
    si, sf = nb.new_state(starting_cash)
    lr = nb.new_levels(mk.bid_px.shape[1])
    on_trades = p[nb.P_REQUOTE_TRADES] > 0.5
    tr_tick = mk.tick_index(mk.tr_px)
    cuts = [*(split_ns or []), int(max(mk.ts[-1], mk.tr_ts[-1] if len(mk.tr_ts) else 0))]
    fills_parts, tl_parts = [], []
    r0 = t0 = 0
    for cut in cuts:
        r1 = int(np.searchsorted(mk.ts, cut, "right"))
        t1 = int(np.searchsorted(mk.tr_ts, cut, "right"))
        fills = np.empty((t1 - t0, nb.FILL_COLS))
        tl = np.empty((r1 - r0 + (t1 - t0 if on_trades else 0), nb.TL_COLS))
        nf, nt = nb.run(
            mk.ts[r0:r1],
            mk.valid[r0:r1],
            mk.bid_px[r0:r1],
            mk.bid_sz[r0:r1],
            mk.ask_px[r0:r1],
            mk.ask_sz[r0:r1],
            mk.tr_ts[t0:t1],
            tr_tick[t0:t1],
            mk.tr_qty[t0:t1],
            mk.tr_side[t0:t1],
            cals.ts,
            cals.sigma,
            cals.kappa_bid,
            cals.kappa_ask,
            p,
            si,
            sf,
            lr,
            fills,
            tl,
        )
        fills_parts.append(fills[:nf])
        tl_parts.append(tl[:nt])
        r0, t0 = r1, t1
    return np.concatenate(fills_parts), np.concatenate(tl_parts)


def summarise(
    fills: npt.NDArray[np.float64],
    timeline: npt.NDArray[np.float64],
    cfg: BacktestConfig,
    *,
    last_mid: float,
) -> dict[str, Any]:
    """PnL, fills, fees, drawdown, Sharpe, inventory distribution and time quoting."""
    n_bid = int((fills[:, 1] > 0).sum()) if len(fills) else 0
    n_ask = int((fills[:, 1] < 0).sum()) if len(fills) else 0
    fees = float(fills[:, 4].sum()) if len(fills) else 0.0
    inv = float(fills[-1, 5]) if len(fills) else 0.0
    cash = float(fills[-1, 6]) if len(fills) else cfg.starting_cash
    taker = 0.0
    final_inv = inv
    if cfg.flatten_at_end and inv != 0 and math.isfinite(last_mid):
        taker = abs(inv) * last_mid * cfg.taker_fee_bps * 1e-4
        cash += inv * last_mid
        final_inv = 0.0
    equity_end = cash + final_inv * (last_mid if math.isfinite(last_mid) else 0.0) - fees - taker
    pnl = equity_end - cfg.starting_cash
    eq = timeline[:, 12] if len(timeline) else np.empty(0)
    max_dd = float(np.max(np.maximum.accumulate(eq) - eq)) if len(eq) else 0.0
    sharpe = math.nan
    if len(timeline) > 1:
        minute = timeline[:, 0].astype(np.int64) // SHARPE_STEP_NS
        last_of = np.flatnonzero(np.append(np.diff(minute) != 0, True))
        r = np.diff(eq[last_of])
        if len(r) > 1 and float(np.std(r, ddof=1)) > 0:
            sharpe = float(np.mean(r) / np.std(r, ddof=1) * math.sqrt(MINUTES_PER_YEAR))
    quoting = 0.0
    dist: dict[str, float] = {}
    if len(timeline) > 1:
        dt = np.diff(timeline[:, 0])
        q = ~np.isnan(timeline[:-1, 2]) | ~np.isnan(timeline[:-1, 3])
        total = float(dt.sum())
        quoting = float(dt[q].sum()) / total if total > 0 else 0.0
        invs = timeline[:-1, 5]
        order = np.argsort(invs, kind="stable")
        cw = np.cumsum(dt[order]) / total if total > 0 else np.zeros(len(order))
        for name, level in (("p05", 0.05), ("p50", 0.5), ("p95", 0.95)):
            k = min(int(np.searchsorted(cw, level)), len(order) - 1)
            dist[name] = float(invs[order][k])
        dist["min"] = float(invs.min())
        dist["max"] = float(invs.max())
        dist["mean_abs"] = float(np.dot(np.abs(invs), dt) / total) if total > 0 else 0.0
    return {
        "pnl": pnl,
        "pnl_per_fill": pnl / (n_bid + n_ask) if n_bid + n_ask else math.nan,
        "fills_bid": n_bid,
        "fills_ask": n_ask,
        "fees": fees + taker,
        "maker_fees": fees,
        "taker_fees": taker,
        "final_inventory": final_inv,
        "inventory_before_flatten": inv,
        "max_drawdown": max_dd,
        "sharpe": sharpe,
        "sharpe_sampling": "equity at the last quote update of each minute; x sqrt(525960)",
        "time_quoting": quoting,
        "inventory_distribution": dist,
        "quote_updates": len(timeline),
        "config": cfg.model_dump(),
    }


def run_backtest(
    mk: Market, cfg: BacktestConfig, *, calibrations: list[Calibration] | None = None
) -> BacktestResult:
    """Calibrate (unless given), replay, summarise."""
    cals = (
        calibrations
        if calibrations is not None
        else rolling(mk, cfg, cfg.calibration_window_seconds, cfg.recalibration_interval_seconds)
    )
    fills, tl = run_kernel(mk, cal_arrays(cals), params(cfg, mk.tick), cfg.starting_cash)
    use = np.flatnonzero(mk.usable)
    last_mid = float(mk.mid[use[-1]]) if len(use) else math.nan
    summary = summarise(fills, tl, cfg, last_mid=last_mid)
    summary["calibrations"] = len(cals)
    summary["unsided_trades"] = mk.unsided_trades
    summary["tick"] = mk.tick
    return BacktestResult(fills, tl, cals, summary)
