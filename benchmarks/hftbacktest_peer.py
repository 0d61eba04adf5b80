"""The peer side of ``bench_backtest.py``: hftbacktest 2.4.4 replaying the same stream.

Runs inside its own virtual environment (``benchmarks/.work/hbt-venv``, made by
``bench_backtest.py``), reads ``events.npz`` (hftbacktest's event dtype) and a JSON
job, prints one JSON line of results. The AS quoter is written for hftbacktest's
API with the same formula and fixed parameters as ours (``docs/backtest.md``):
relative units, tick rounding bid down / ask up, spread clamps.

    <venv>/bin/python benchmarks/hftbacktest_peer.py events.npz job.json
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from hftbacktest import (  # type: ignore[import-not-found]  # lives in its own venv
    GTX,
    LIMIT,
    BacktestAsset,
    HashMapMarketDepthBacktest,
)
from numba import njit


@njit
def as_quoter(hbt: Any, every_event: bool, step_ns: int, p: np.ndarray) -> int:
    """Requote on every feed event (``every_event``) or every ``step_ns``; return requotes."""
    sigma, kb, ka, gamma, horizon = p[0], p[1], p[2], p[3], p[4]
    size, max_inv, min_bps, max_bps, tick = p[5], p[6], p[7], p[8], p[9]
    next_id = 1
    bid_id = 0
    ask_id = 0
    bid_tick = 0
    ask_tick = 0
    quotes = 0
    while True:
        if every_event:
            r = hbt.wait_next_feed(False, 3_600_000_000_000)
            if r not in (0, 2):
                break
        else:
            r = hbt.elapse(step_ns)
            if r != 0:
                break
        hbt.clear_inactive_orders(0)
        depth = hbt.depth(0)
        b1 = depth.best_bid
        a1 = depth.best_ask
        if not (b1 > 0 and a1 > b1 and a1 < 1e300):
            continue
        mid = 0.5 * (b1 + a1)
        inv = hbt.position(0)
        s = sigma / mid
        var = gamma * s * s * horizon
        shift = (inv / size) * var
        lo = min_bps * 0.5e-4
        hi = max_bps * 0.5e-4
        bid_rel = min(
            max(shift + 0.5 * (var + (2.0 / gamma) * math.log1p(gamma / (kb * mid))), lo), hi
        )
        ask_rel = min(
            max(-shift + 0.5 * (var + (2.0 / gamma) * math.log1p(gamma / (ka * mid))), lo), hi
        )
        nb_tick = math.floor(mid * (1.0 - bid_rel) / tick + 1e-9)
        na_tick = math.ceil(mid * (1.0 + ask_rel) / tick - 1e-9)
        if na_tick <= nb_tick:
            na_tick = nb_tick + 1
        quotes += 1
        orders = hbt.orders(0)
        qb = min(size, max_inv - inv)
        qa = min(size, max_inv + inv)
        # bid: keep the order at the same price, else cancel and replace
        live = bid_id != 0 and bid_id in orders
        busy = False
        if live:
            o = orders.get(bid_id)
            busy = not o.cancellable  # a request in flight: leave the side alone this step
            if not busy and (bid_tick != nb_tick or qb <= 1e-12):
                hbt.cancel(0, bid_id, False)
                busy = True
        if not live and not busy and qb > 1e-12:
            bid_id = next_id
            next_id += 1
            bid_tick = nb_tick
            hbt.submit_buy_order(0, bid_id, nb_tick * tick, qb, GTX, LIMIT, False)
        live = ask_id != 0 and ask_id in orders
        busy = False
        if live:
            o = orders.get(ask_id)
            busy = not o.cancellable
            if not busy and (ask_tick != na_tick or qa <= 1e-12):
                hbt.cancel(0, ask_id, False)
                busy = True
        if not live and not busy and qa > 1e-12:
            ask_id = next_id
            next_id += 1
            ask_tick = na_tick
            hbt.submit_sell_order(0, ask_id, na_tick * tick, qa, GTX, LIMIT, False)
    return quotes


def backtest(events: np.ndarray, tick: float, fee: tuple[float, float]) -> Any:
    asset = (
        BacktestAsset()
        .data([events])
        .linear_asset(1.0)
        .constant_order_latency(0, 0)
        .risk_adverse_queue_model()
        .no_partial_fill_exchange()  # 2.4.4: partial_fill_exchange() stops with error 14 here
        .trading_value_fee_model(fee[0], fee[1])
        .tick_size(tick)
        .lot_size(0.001)
    )
    return HashMapMarketDepthBacktest([asset])


def run_once(
    events: np.ndarray, job: dict[str, Any], every_event: bool, p: np.ndarray
) -> dict[str, Any]:
    hbt = backtest(events, job["tick"], (job["maker"], job["taker"]))
    t = time.perf_counter()
    quotes = as_quoter(hbt, every_event, job["step_ns"], p)
    wall = time.perf_counter() - t
    sv = hbt.state_values(0)
    out = {
        "wall_s": wall,
        "quotes": int(quotes),
        "fills": int(sv.num_trades),
        "position": float(sv.position),
    }
    hbt.close()
    return out


def main() -> None:
    events = np.load(sys.argv[1])["events"]
    job = json.loads(Path(sys.argv[2]).read_text())
    base = np.array(job["params"], np.float64)
    res: dict[str, Any] = {"events": len(events)}
    if job.get("grid_only"):  # the whole process is timed from outside: import, compile, 25 runs
        for horizon, gamma in job["grid"]:
            p = base.copy()
            p[3], p[4] = gamma, horizon
            run_once(events, job, False, p)
        print(json.dumps(res))
        return
    t = time.perf_counter()
    tiny = events[: min(len(events), 2000)]
    run_once(tiny, job, False, base)
    res["first_call_s"] = time.perf_counter() - t
    t = time.perf_counter()
    run_once(tiny, job, False, base)
    res["second_call_s"] = time.perf_counter() - t
    res["compile_s"] = res["first_call_s"] - res["second_call_s"]
    for mode in job["modes"]:
        res[mode] = run_once(events, job, mode == "every_event", base)
    if job.get("grid"):
        t = time.perf_counter()
        grid = []
        for horizon, gamma in job["grid"]:
            p = base.copy()
            p[3], p[4] = gamma, horizon
            grid.append(run_once(events, job, False, p)["fills"])
        res["grid_s"] = time.perf_counter() - t
        res["grid_fills"] = grid
    print(json.dumps(res))


if __name__ == "__main__":
    main()
