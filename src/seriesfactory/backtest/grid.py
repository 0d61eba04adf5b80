"""Grid search: every combination of a few config parameters, in parallel.

Each worker process receives the market once (its initializer) and compiles (or
loads from numba's cache) the kernel once; combinations are then dealt out by
index. Calibration depends only on the calibration keys (:data:`CAL_KEYS`), so each
distinct set of them is fitted once per process. A combination's result depends
only on its config, so a parallel run equals a sequential one, row for row.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing as mp
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from seriesfactory.backtest.calibration import Calibration, rolling
from seriesfactory.backtest.config import BacktestConfig, make_config
from seriesfactory.backtest.data import Market
from seriesfactory.backtest.engine import run_backtest
from seriesfactory.core import progress as progress_
from seriesfactory.errors import ConfigError

__all__ = ["CAL_KEYS", "METRICS", "best_per_metric", "combinations", "run_grid"]

#: Config keys the calibration depends on.
CAL_KEYS = (
    "calibration_window_seconds",
    "recalibration_interval_seconds",
    "gap_threshold_seconds",
    "warmup_period_seconds",
    "min_trades_per_side",
    "default_kappa_per_bps",
    "default_a_per_s",
    "default_sigma_rel",
)
#: Summary fields reported per combination, and whether larger is better.
METRICS = {
    "pnl": True,
    "sharpe": True,
    "pnl_per_fill": True,
    "max_drawdown": False,
    "fills_bid": True,
    "fills_ask": True,
    "fees": False,
    "final_inventory": None,
    "time_quoting": None,
}

_WORKER: dict[str, Market] = {}
_CALS: dict[tuple[Any, ...], list[Calibration]] = {}


def combinations(
    base: BacktestConfig, grid: Mapping[str, Sequence[Any]], origin: Mapping[str, str]
) -> list[BacktestConfig]:
    """Every combination (the last parameter varies fastest), each validated.

    A value out of range is a :class:`ConfigError` naming its option.
    """
    for key in grid:
        if key not in BacktestConfig.model_fields:
            raise ConfigError(
                f"{origin.get(key, '--grid')}: unknown config key {key!r}; known keys: "
                f"{', '.join(BacktestConfig.model_fields)}"
            )
    out = []
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        fields = {**base.model_dump(), **dict(zip(keys, values, strict=True))}
        where = {
            k: f"{origin.get(k, '--grid')} value {v!r}" for k, v in zip(keys, values, strict=True)
        }
        out.append(make_config(fields, where))
    return out


def _cal_key(cfg: BacktestConfig) -> tuple[Any, ...]:
    return tuple(getattr(cfg, k) for k in CAL_KEYS)


def _calibrations(mk: Market, cfg: BacktestConfig) -> list[Calibration]:
    key = _cal_key(cfg)
    if key not in _CALS:
        _CALS[key] = rolling(
            mk, cfg, cfg.calibration_window_seconds, cfg.recalibration_interval_seconds
        )
    return _CALS[key]


def _one(mk: Market, cfg: BacktestConfig) -> dict[str, Any]:
    s = run_backtest(mk, cfg, calibrations=_calibrations(mk, cfg)).summary
    return {k: s[k] for k in METRICS}


def _worker_init(mk: Market, cals: dict[tuple[Any, ...], list[Calibration]]) -> None:
    """A worker process reports nothing: the parent's reporter draws the one grid bar."""
    progress_.install(progress_.NULL)
    _init(mk, cals)


def _init(mk: Market, cals: dict[tuple[Any, ...], list[Calibration]]) -> None:
    _WORKER["market"] = mk
    _CALS.update(cals)
    # compile or load the kernel now, not inside the first combination's timing
    warm = Market(
        mk.ts[:2],
        mk.valid[:2],
        mk.bid_px[:2],
        mk.bid_sz[:2],
        mk.ask_px[:2],
        mk.ask_sz[:2],
        mk.tr_ts[:1],
        mk.tr_px[:1],
        mk.tr_qty[:1],
        mk.tr_side[:1],
        mk.tick,
    )
    run_backtest(warm, BacktestConfig(), calibrations=[])


def _task(cfg: BacktestConfig) -> dict[str, Any]:
    return _one(_WORKER["market"], cfg)


def run_grid(
    mk: Market,
    configs: list[BacktestConfig],
    *,
    jobs: int = 0,
    progress: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Summaries of every config, in order; ``jobs`` processes (0 = the machine's cores, 1 =
    here, sequentially)."""
    jobs = jobs or os.cpu_count() or 1
    base = {}
    for cfg in configs:  # fit each distinct calibration once, before forking
        key = _cal_key(cfg)
        if key not in base:
            base[key] = _calibrations(mk, cfg)
    if jobs <= 1 or len(configs) <= 1:
        out = []
        for k, cfg in enumerate(configs):
            out.append(_one(mk, cfg))
            if progress:
                progress(k + 1)
        return out
    # compile (or load) the kernel here: forked workers inherit it instead of loading it again
    _init(mk, base)
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    with ProcessPoolExecutor(
        max_workers=min(jobs, len(configs)),
        mp_context=ctx,
        initializer=_worker_init,
        initargs=(mk, base),
    ) as pool:
        results = []
        for k, res in enumerate(pool.map(_task, configs, chunksize=1)):
            results.append(res)
            if progress:
                progress(k + 1)
        return results


def best_per_metric(rows: list[dict[str, Any]], keys: list[str]) -> dict[str, dict[str, Any]]:
    """For each metric with a direction, the row that does best (NaN never wins)."""
    best: dict[str, dict[str, Any]] = {}
    for metric, larger in METRICS.items():
        if larger is None:
            continue
        cand = [r for r in rows if isinstance(r[metric], (int, float)) and math.isfinite(r[metric])]
        if not cand:
            continue
        pick = max(cand, key=lambda r: r[metric]) if larger else min(cand, key=lambda r: r[metric])
        best[metric] = {**{k: pick[k] for k in keys}, metric: pick[metric]}
    return best
