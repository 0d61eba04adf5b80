"""Backtest benchmarks: calibration accuracy, engine speed, a 5x5 grid, fill counts — beside
hftbacktest 2.4.4.

1. **Calibration accuracy** on ``mm(κ, 15, κ, 15, 1, 0.1, 60000)`` streams (one hour,
   about 54k trades per side) for κ ∈ {0.25, 0.5, 1.0} per tick over ``--seeds`` seeds:
   our exposure-aware truncated MLE (share of seeds with κ̂ within ±5 % and Â within
   ±10 %, coverage of the 95 % intervals) beside hftbacktest's example recipe (the GLFT
   tutorial's: the deepest trade per 100 ms, the share of intervals reaching each depth,
   a log-linear least-squares fit), written here from its description.
2. **Engine speed** on one hour of ``mm(0.5, 15, 0.5, 15, 1, 0.1, 60000)``: our kernel
   (requote on every book row = every 100 ms) vs hftbacktest replaying the same
   stream (the same rows as depth events, the same trades) with an AS quoter of the
   same formula and fixed parameters (``hftbacktest_peer.py``), requoting on every
   feed event and every 100 ms. Compile time is measured apart (a fresh numba cache).
3. **Grid 5x5** (horizons x gammas): our ``backtest grid --jobs 2`` as a whole process
   (start-up, loading, calibration, both cores) vs the peer's 25 runs in sequence.
4. **Fill count**: ours with zero latency, strict-through fills and no cooldown vs the
   peer's risk-averse queue model on the same quotes.

hftbacktest is installed in its own virtual environment,
``benchmarks/.work/hbt-venv`` (``pip install hftbacktest==2.4.4``); if that fails the
pip error is printed and the peer columns are skipped.

Run::

    .venv/bin/python benchmarks/bench_backtest.py [--minutes 60] [--seeds 50]
        [--coverage-seeds 1000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from seriesfactory.backtest.calibration import calibrate
from seriesfactory.backtest.config import BacktestConfig
from seriesfactory.backtest.data import Market
from seriesfactory.backtest.engine import CalArrays, params, run_kernel
from seriesfactory.core.atomic import atomic_write_parquet
from seriesfactory.sources.synthetic.mm import MMMarket, MMModel, snapshot_table, trades_table

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
VENV = WORK / "hbt-venv"
T0 = 1_700_000_000_000_000_000
Z = 1.959963984540054


def market(g: MMMarket) -> Market:
    t = g.trades
    return Market(
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


def recipe_kappa(mk: Market, side: int = 1, step_ns: int = 100_000_000) -> tuple[float, float]:
    """hftbacktest's example recipe: deepest trade per 100 ms from the mid at the interval's
    start, λ(d) = share of intervals reaching depth d / 0.1 s, ln λ = ln A - κ d by least
    squares over the depths reached at least 10 times. Returns (κ per tick, A)."""
    want = -1 if side > 0 else 1
    sel = mk.tr_side == want
    tts, tpx = mk.tr_ts[sel], mk.tr_px[sel]
    start = int(mk.ts[0])
    k = (tts - start) // step_ns
    n_int = int((int(mk.ts[-1]) - start) // step_ns) + 1
    row = np.searchsorted(mk.ts, start + k * step_ns, "right") - 1
    depth = (mk.mid[row] - tpx) * side / mk.tick
    deepest = np.full(n_int, -np.inf)
    np.maximum.at(deepest, k, depth)
    grid = np.arange(0.5, 60.5, 1.0)
    reach = np.array([(deepest >= d - 1e-9).sum() for d in grid], float)
    ok = reach >= 10
    lam = reach[ok] / (n_int * step_ns / 1e9)
    slope, intercept = np.polyfit(grid[ok], np.log(lam), 1)
    return float(-slope), float(math.exp(intercept))


def _covers(c: Any, truth: dict[str, float]) -> list[bool]:
    """Whether each of the four 95 % intervals (κ, A of bid and ask) covers the truth."""
    return [
        getattr(c, f"{p}_{s}_lo") <= truth[f"{p}_{s}"] <= getattr(c, f"{p}_{s}_hi")
        for s in ("bid", "ask")
        for p in ("kappa", "a")
    ]


def calibration_accuracy(
    seeds: int, minutes: float, coverage_seeds: int = 0
) -> list[dict[str, Any]]:
    """The issue's table over ``seeds`` seeds (bid side), then the interval coverage of both
    sides over ``coverage_seeds`` seeds (the first ``seeds`` included): 50 seeds resolve a
    coverage of 95 % to about ±3 points only."""
    rows = []
    cfg = BacktestConfig()
    for kappa in (0.25, 0.5, 1.0):
        model = MMModel(kappa, 15.0, kappa, 15.0, 1.0, 0.1, 60000.0)
        truth = model.truth()
        k_ok = a_ok = k_cov = a_cov = 0
        errs, rec, n, zk, za = [], [], [], [], []
        t = time.perf_counter()
        fit_s = 0.0
        many: list[list[bool]] = []
        for seed in range(seeds, coverage_seeds):
            mk = market(model.generate(start_ns=T0, seconds=minutes * 60, seed=1000 + seed))
            many.append(_covers(calibrate(mk, int(mk.ts[0]), int(mk.ts[-1]) + 1, cfg), truth))
        for seed in range(seeds):
            mk = market(model.generate(start_ns=T0, seconds=minutes * 60, seed=1000 + seed))
            f0 = time.perf_counter()
            c = calibrate(mk, int(mk.ts[0]), int(mk.ts[-1]) + 1, cfg)
            fit_s += time.perf_counter() - f0
            many.append(_covers(c, truth))
            k_err = c.kappa_bid / truth["kappa_bid"] - 1
            a_err = c.a_bid / truth["a_bid"] - 1
            k_ok += abs(k_err) <= 0.05
            a_ok += abs(a_err) <= 0.10
            k_cov += c.kappa_bid_lo <= truth["kappa_bid"] <= c.kappa_bid_hi
            a_cov += c.a_bid_lo <= truth["a_bid"] <= c.a_bid_hi
            errs.append(k_err)
            # z-scores of the log estimates: their spread shows whether the intervals are honest
            zk.append(
                math.log(c.kappa_bid / truth["kappa_bid"])
                * Z
                / math.log(c.kappa_bid_hi / c.kappa_bid)
            )
            za.append(math.log(c.a_bid / truth["a_bid"]) * Z / math.log(c.a_bid_hi / c.a_bid))
            rec.append(recipe_kappa(mk)[0] / kappa - 1)
            n.append(c.n_bid)
        rows.append(
            {
                "kappa_per_tick": kappa,
                "trades_per_side": float(np.mean(n)),
                "kappa_within_5pct": k_ok / seeds,
                "a_within_10pct": a_ok / seeds,
                "kappa_coverage": k_cov / seeds,
                "a_coverage": a_cov / seeds,
                "kappa_z_sd": float(np.std(zk)),
                "a_z_sd": float(np.std(za)),
                "kappa_mean_err": float(np.mean(errs)),
                "kappa_max_abs_err": float(np.max(np.abs(errs))),
                "recipe_mean_err": float(np.mean(rec)),
                # [κ bid, A bid, κ ask, A ask] over max(seeds, coverage_seeds) seeds
                "coverage_seeds": len(many),
                "coverage_many": [round(float(x), 4) for x in np.mean(many, axis=0)],
                "fit_ms": 1000 * fit_s / seeds,
                "wall_s": time.perf_counter() - t,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def hbt_events(g: MMMarket) -> np.ndarray:
    """The rows as depth events (every level, deletions of levels that left) and the trades."""
    EXCH, LOCAL, BUY, SELL = 1 << 31, 1 << 30, 1 << 29, 1 << 28
    DEPTH, TRADE = 1, 2
    dt = np.dtype(
        [
            ("ev", "u8"),
            ("exch_ts", "i8"),
            ("local_ts", "i8"),
            ("px", "f8"),
            ("qty", "f8"),
            ("order_id", "u8"),
            ("ival", "i8"),
            ("fval", "f8"),
        ],
        align=True,
    )
    parts = []
    n, levels = g.bid_px.shape
    for px, sz, flag in ((g.bid_px, g.bid_sz, BUY), (g.ask_px, g.ask_sz, SELL)):
        e = np.zeros(n * levels, dt)
        e["ev"] = EXCH | LOCAL | flag | DEPTH
        e["exch_ts"] = np.repeat(g.ts, levels)
        e["px"] = px.ravel()
        e["qty"] = sz.ravel()
        parts.append(e)
        # a level that left the top (the mid moved): a deletion at the same time
        gone_rows, gone_px = [], []
        ticks = np.rint(px / g.tick).astype(np.int64)
        moved = np.flatnonzero(ticks[1:, 0] != ticks[:-1, 0]) + 1
        for r in moved:
            for p in np.setdiff1d(ticks[r - 1], ticks[r]):
                gone_rows.append(r)
                gone_px.append(p * g.tick)
        d = np.zeros(len(gone_rows), dt)
        d["ev"] = EXCH | LOCAL | flag | DEPTH
        d["exch_ts"] = g.ts[np.array(gone_rows, np.int64)] if gone_rows else []
        d["px"] = gone_px
        parts.append(d)
    t = g.trades
    e = np.zeros(len(t), dt)
    e["ev"] = EXCH | LOCAL | TRADE | np.where(t["side"] > 0, BUY, SELL).astype(np.uint64)
    e["exch_ts"] = t["ts"]
    e["px"] = t["price"]
    e["qty"] = t["qty"]
    parts.append(e)
    ev = np.concatenate(parts)
    ev["local_ts"] = ev["exch_ts"]
    return ev[np.argsort(ev["exch_ts"], kind="stable")]


def ensure_peer() -> str | None:
    py = VENV / "bin" / "python"
    if py.exists():
        ok = subprocess.run([str(py), "-c", "import hftbacktest"], capture_output=True, check=False)
        if ok.returncode == 0:
            return str(py)
    WORK.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = subprocess.run(
        [str(VENV / "bin" / "pip"), "install", "hftbacktest==2.4.4"],
        capture_output=True,
        text=True,
        check=False,
    )
    if pip.returncode != 0:
        print("hftbacktest==2.4.4 did not install:\n" + pip.stderr[-2000:])
        return None
    return str(py)


def our_compile_s() -> float:
    code = (
        "import time,numpy as np;t=time.perf_counter();"
        "from seriesfactory.backtest import nb;"
        "from seriesfactory.backtest.engine import params;"
        "from seriesfactory.backtest.config import BacktestConfig;"
        "si,sf=nb.new_state(1e5);z=np.zeros(1,np.int64);f=np.full((1,1),np.nan);"
        "nb.run(z,np.ones(1,bool),f,f,f,f,z,z,np.ones(1),np.ones(1,np.int8),z,np.ones(1),"
        "np.ones(1),np.ones(1),params(BacktestConfig(),0.1),si,sf,nb.new_levels(1),np.empty((1,7)),"
        "np.empty((1,13)));print(time.perf_counter()-t)"
    )
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        first = float(
            subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
            ).stdout
        )
        second = float(
            subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
            ).stdout
        )
    return first - second


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument(
        "--coverage-seeds",
        type=int,
        default=1000,
        help="seeds for the interval coverage of both sides (beyond --seeds; 0: only --seeds)",
    )
    ap.add_argument("--skip-calibration", action="store_true")
    ap.add_argument("--skip-peer", action="store_true")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    if not args.skip_calibration:
        calibration_accuracy(args.seeds, args.minutes, args.coverage_seeds)

    model = MMModel(0.5, 15.0, 0.5, 15.0, 1.0, 0.1, 60000.0)
    g = model.generate(start_ns=T0, seconds=args.minutes * 60, seed=7)
    mk = market(g)
    truth = model.truth()
    cfg = BacktestConfig(
        min_spread_bps=0.0,
        fill_cooldown_seconds=0.0,
        warmup_period_seconds=0.0,
        quote_validity_seconds=3600.0,
        latency_seconds=0.0,
        fill_model="through",
    )
    cal = CalArrays(
        np.array([mk.ts[0]], np.int64),
        np.array([truth["sigma"]]),
        np.array([truth["kappa_bid"]]),
        np.array([truth["kappa_ask"]]),
    )
    p = params(cfg, mk.tick)
    run_kernel(mk, cal, p, cfg.starting_cash)  # load the compiled kernel
    best = math.inf
    for _ in range(3):
        t = time.perf_counter()
        fills, tl = run_kernel(mk, cal, p, cfg.starting_cash)
        best = min(best, time.perf_counter() - t)
    n_ev = len(mk.ts) + len(mk.tr_ts)
    ours: dict[str, Any] = {
        "events": n_ev,
        "wall_s": best,
        "events_per_s": n_ev / best,
        "fills": len(fills),
        "quotes": len(tl),
        "compile_s": our_compile_s(),
    }
    print("ours engine:", json.dumps(ours), flush=True)
    # every event: also requote right after every trade
    p_ev = params(cfg.model_copy(update={"requote_on_trades": True}), mk.tick)
    run_kernel(mk, cal, p_ev, cfg.starting_cash)
    best_ev = math.inf
    for _ in range(3):
        t = time.perf_counter()
        f_ev, tl_ev = run_kernel(mk, cal, p_ev, cfg.starting_cash)
        best_ev = min(best_ev, time.perf_counter() - t)
    ours["every_event"] = {
        "wall_s": best_ev,
        "events_per_s": n_ev / best_ev,
        "fills": len(f_ev),
        "quotes": len(tl_ev),
    }
    print("ours engine, every event:", json.dumps(ours["every_event"]), flush=True)

    horizons = [60.0, 300.0, 900.0, 1800.0, 3600.0]
    gammas = [0.01, 0.05, 0.1, 0.2, 1000.0]
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        atomic_write_parquet(d / "book.parquet", snapshot_table(g))
        atomic_write_parquet(d / "trades.parquet", trades_table(g))
        cli = [
            str(Path(sys.executable).with_name("seriesfactory")),
            "backtest",
            "grid",
            "--book",
            str(d / "book.parquet"),
            "--trades",
            str(d / "trades.parquet"),
            "--horizons",
            ",".join(map(str, horizons)),
            "--gammas",
            ",".join(map(str, gammas)),
            "--jobs",
            "2",
            "--quiet",
            "--output-dir",
            str(d / "grid"),
            "--set",
            "min_spread_bps=0",
            "--set",
            "fill_cooldown_seconds=0",
            "--set",
            "warmup_period_seconds=0",
            "--set",
            "calibration_window_seconds=600",
        ]
        t = time.perf_counter()
        subprocess.run(cli, check=True, capture_output=True)
        ours_grid = time.perf_counter() - t
        t = time.perf_counter()
        seq = list(cli)
        seq[seq.index("--jobs") + 1] = "1"
        seq[seq.index("--output-dir") + 1] = str(d / "grid_seq")
        subprocess.run(seq, check=True, capture_output=True)
        ours_grid_seq = time.perf_counter() - t
    print(
        f"ours grid 5x5: {ours_grid:.2f} s with 2 processes, {ours_grid_seq:.2f} s with 1 "
        "(whole process: start-up, load, calibration, 25 runs)",
        flush=True,
    )

    if args.skip_peer:
        return
    py = ensure_peer()
    if py is None:
        return
    with tempfile.TemporaryDirectory() as tmp:
        ev = hbt_events(g)
        np.savez(Path(tmp) / "events.npz", events=ev)
        job = {
            "tick": g.tick,
            "maker": 1.5e-4,
            "taker": 4.5e-4,
            "step_ns": 100_000_000,
            "params": [
                truth["sigma"],
                truth["kappa_bid"],
                truth["kappa_ask"],
                0.1,
                1800.0,
                cfg.order_size,
                cfg.max_inventory,
                0.0,
                200.0,
                g.tick,
            ],
            "modes": ["every_100ms", "every_event"],
            "grid": [[h, gm] for h in horizons for gm in gammas],
        }
        (Path(tmp) / "job.json").write_text(json.dumps(job))
        out = subprocess.run(
            [
                py,
                str(HERE / "hftbacktest_peer.py"),
                str(Path(tmp) / "events.npz"),
                str(Path(tmp) / "job.json"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            print("peer failed:", out.stderr[-3000:])
            return
        peer = json.loads(out.stdout.strip().splitlines()[-1])
        (Path(tmp) / "grid.json").write_text(json.dumps({**job, "grid_only": True}))
        t = time.perf_counter()
        subprocess.run(
            [
                py,
                str(HERE / "hftbacktest_peer.py"),
                str(Path(tmp) / "events.npz"),
                str(Path(tmp) / "grid.json"),
            ],
            check=True,
            capture_output=True,
        )
        peer["grid_process_s"] = time.perf_counter() - t
    for mode in ("every_100ms", "every_event"):
        r = peer[mode]
        r["events_per_s"] = peer["events"] / r["wall_s"]
        print(f"peer engine {mode}:", json.dumps(r))
    print(f"peer compile: {peer['compile_s']:.2f} s; ours {ours['compile_s']:.2f} s")
    print(
        f"same hour of market: ours {ours['wall_s']:.3f} s ({ours['events_per_s']:,.0f} "
        f"rows+trades/s), peer 100 ms {peer['every_100ms']['wall_s']:.3f} s "
        f"({peer['every_100ms']['events_per_s']:,.0f} events/s), peer every event "
        f"{peer['every_event']['wall_s']:.3f} s; ratio peer/ours (100 ms) "
        f"{peer['every_100ms']['wall_s'] / ours['wall_s']:.1f}x"
    )
    print(
        f"grid 5x5: ours {ours_grid:.2f} s on 2 processes (whole process) vs peer sequential "
        f"{peer['grid_s']:.2f} s (25 runs, compiled) = {peer['grid_s'] / ours_grid:.2f}x, or "
        f"{peer['grid_s'] + peer['compile_s']:.2f} s with its compile = "
        f"{(peer['grid_s'] + peer['compile_s']) / ours_grid:.2f}x; peer as a whole process "
        f"(start-up, numba cache, 25 runs) {peer['grid_process_s']:.2f} s = "
        f"{peer['grid_process_s'] / ours_grid:.2f}x"
    )
    print(
        f"every event: ours {best_ev:.3f} s vs peer {peer['every_event']['wall_s']:.3f} s: "
        f"{peer['every_event']['wall_s'] / best_ev:.1f}x"
    )
    fp = peer["every_100ms"]["fills"]
    print(
        f"fills: ours (through, zero latency) {ours['fills']} vs peer (risk-averse queue) {fp}: "
        f"{ours['fills'] / fp - 1:+.1%}"
    )


if __name__ == "__main__":
    main()
