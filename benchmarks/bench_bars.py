"""Bars throughput: ours vs mlfinpy 0.1.2 on 500,000 real E-mini trades, per bar type, one run.

Usage::

    .venv/bin/python benchmarks/bench_bars.py [--peer-rows N] [--repeat R]

The peer runs in its own virtual environment, ``benchmarks/.work/mlfinpy-venv``
(created here with ``pip install "mlfinpy[optionals]==0.1.2"`` when missing; it pins
numpy < 1.27), through ``benchmarks/mlfinpy_peer.py`` in a subprocess that times only
its bar calls. Ours is timed on ``BarBuilder.update`` over the same trades, best of
``--repeat`` runs after one untimed call that compiles the kernel (the compile time is
printed apart). File reading is timed for neither side. Parameters are matched: the
same thresholds, E0[T] = 100, window 15 and E[T] bounds [25, 400] (mlfinpy's
``exp_num_ticks_constraints``); the bars differ in number because the two estimators
of the expected imbalance differ (``docs/bars.md``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from seriesfactory.transforms.bars import BAR_TYPES, BarBuilder, BarSpec, read_trades_file

ROOT = Path(__file__).resolve().parent
DATA = ROOT.parents[1] / "shared" / "data" / "real" / "prado" / "mlfinpy_dataset_tick_data.csv"
VENV = ROOT / ".work" / "mlfinpy-venv"
PEER = ROOT / "mlfinpy_peer.py"
PARAMS = {
    "e0": 100,
    "window": 15,
    "min_ticks": 25,
    "max_ticks": 400,
    "tick": 1000,
    "volume": 10000,
    "dollar": 15_000_000,
}


def peer_python() -> Path:
    """The peer venv's interpreter, creating the venv (and installing mlfinpy) if missing."""
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {VENV} and installing mlfinpy[optionals]==0.1.2 ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "mlfinpy[optionals]==0.1.2"],
            check=True,
        )
    return python


def spec_for(bar_type: str) -> BarSpec:
    if bar_type == "time":
        return BarSpec(type="time", interval="1m")
    if bar_type in ("tick", "volume", "dollar"):
        return BarSpec(type=bar_type, threshold=PARAMS[bar_type])  # type: ignore[arg-type]
    return BarSpec(
        type=bar_type,  # type: ignore[arg-type]
        expected_ticks=PARAMS["e0"],
        ewma_window=PARAMS["window"],
        min_ticks=PARAMS["min_ticks"],
        max_ticks=PARAMS["max_ticks"],
        sign="tick-rule",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-rows", type=int, default=500_000, help="rows given to mlfinpy")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of ours (best kept)")
    args = parser.parse_args()
    if not DATA.is_file():
        sys.exit(f"{DATA} is absent: the benchmark needs ../shared/data/real/prado")
    trades = read_trades_file(DATA)
    n = trades.rows
    cols = (trades.ts_ns, trades.price, trades.qty_base, trades.side)

    ours: dict[str, tuple[float, int]] = {}
    start = time.perf_counter()
    BarBuilder(spec_for("tib")).update(cols[0][:10], cols[1][:10], cols[2][:10], cols[3][:10])
    compile_s = time.perf_counter() - start
    for bar_type in BAR_TYPES:
        best, bars = float("inf"), 0
        for _ in range(args.repeat):
            builder = BarBuilder(spec_for(bar_type))
            t0 = time.perf_counter()
            bars = builder.update(*cols).rows
            best = min(best, time.perf_counter() - t0)
        ours[bar_type] = (best, bars)

    plan = {"params": PARAMS, "rows": {t: min(args.peer_rows, n) for t in BAR_TYPES}}
    out = subprocess.run(
        [str(peer_python()), str(PEER), str(DATA), json.dumps(plan)],
        check=True,
        capture_output=True,
        text=True,
    )
    peer = json.loads(out.stdout.strip().splitlines()[-1])

    print(f"trades: {n:,} ({DATA.name}); kernel compile/load: {compile_s:.2f} s (untimed)")
    print(
        "| type | ours rows/s | ours bars | mlfinpy rows/s | mlfinpy rows | mlfinpy bars | ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for bar_type in BAR_TYPES:
        seconds, bars = ours[bar_type]
        p = peer[bar_type]
        ours_rate = n / seconds
        peer_rate = p["rows"] / p["seconds"]
        print(
            f"| {bar_type} | {ours_rate:,.0f} | {bars:,} | {peer_rate:,.0f} | {p['rows']:,} "
            f"| {p['bars']:,} | {ours_rate / peer_rate:,.0f}x |"
        )


if __name__ == "__main__":
    main()
