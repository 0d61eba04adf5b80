"""Aggregation over a warm ticks tier, beside a bare read, DuckDB and Polars, in one run.

Builds (once, reused) a GBM tick cache of at least ``--ticks`` ticks in the real ticks tier, then
times, each in its own subprocess so peak RSS is its own:

- ``ours``   : the series aggregation stage (decode overlapped with the numba kernel), every field
- ``read``   : a bare pyarrow read of the same five columns (the floor)
- ``duckdb`` : OHLC + VWAP of the mid per time bucket, SQL over the same Parquet files
- ``polars`` : the same OHLC + VWAP with a lazy scan and group-by

and prints ticks/s, the ratios to ours and peak RSS. Run::

    .venv/bin/python benchmarks/bench_aggregate.py --ticks 100000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

WORK = Path(__file__).resolve().parent / ".work" / "aggregate"
DAY_NS = 86_400_000_000_000
FROM_NS = 1_577_836_800_000_000_000  # 2020-01-01
TICKS_PER_DAY = 172_800
SPEC = "gbm(0.05,0.5,50000)"
STEP_MS = 60_000


def build_cache(ticks: int) -> tuple[Path, int]:
    """The tick set's root folder and its row count (generated on first use)."""
    from seriesfactory.pipeline.series import TicksRequest, build_ticks

    days = -(-ticks // TICKS_PER_DAY)
    req = TicksRequest(
        sources=SPEC, from_ns=FROM_NS, to_ns=FROM_NS + days * DAY_NS, cache_dir=WORK / "cache"
    )
    started = time.perf_counter()
    result = build_ticks(req)
    if result.generated:
        print(f"generated {result.ticks.rows:,} ticks in {time.perf_counter() - started:.1f} s")
    return result.ticks.root, result.ticks.rows


def _ours(root: Path, end_ns: int) -> int:
    from seriesfactory.lake.ticks import TickSet
    from seriesfactory.pipeline.series import aggregate_tick_set
    from seriesfactory.transforms.aggregates import AggregationParams

    ticks = TickSet.open(root)
    assert ticks is not None
    arrays, _ = aggregate_tick_set(ticks, AggregationParams(mode="time", step=STEP_MS), end_ns)
    return arrays.rows


def _read(root: Path, end_ns: int) -> int:
    import pyarrow.parquet as pq

    from seriesfactory.lake.ticks import TickSet

    ticks = TickSet.open(root)
    assert ticks is not None
    rows = 0
    for f in ticks.files:  # file by file, as ours does: memory stays bounded
        rows += pq.read_table(f.path, columns=["ts", "bid", "ask", "vbid", "vask"]).num_rows
    return rows


def _duckdb(root: Path, end_ns: int) -> int:
    import duckdb

    step_ns = STEP_MS * 1_000_000
    con = duckdb.connect()
    con.execute("SET threads = 2")
    sql = f"""
        SELECT epoch_ns(ts) // {step_ns} AS k,
               arg_min((bid + ask) / 2, ts) AS open, max((bid + ask) / 2) AS high,
               min((bid + ask) / 2) AS low, arg_max((bid + ask) / 2, ts) AS close,
               sum((bid + ask) / 2 * (vbid + vask)) / sum(vbid + vask) AS vwap
        FROM read_parquet('{root}/*/*/*.parquet') GROUP BY k ORDER BY k
    """
    return len(con.execute(sql).fetchall())


def _polars(root: Path, end_ns: int) -> int:
    import polars as pl

    mid = (pl.col("bid") + pl.col("ask")) / 2
    out = (
        pl.scan_parquet(f"{root}/*/*/*.parquet")
        .with_columns(mid=mid, w=pl.col("vbid") + pl.col("vask"))
        .with_columns(k=pl.col("ts").dt.epoch("ms") // STEP_MS)
        .group_by("k", maintain_order=True)
        .agg(
            open=pl.col("mid").first(),
            high=pl.col("mid").max(),
            low=pl.col("mid").min(),
            close=pl.col("mid").last(),
            vwap=(pl.col("mid") * pl.col("w")).sum() / pl.col("w").sum(),
        )
        .collect()
    )
    return out.height


CONTENDERS = {"ours": _ours, "read": _read, "duckdb": _duckdb, "polars": _polars}
PRELOAD = {
    "ours": ["seriesfactory.pipeline.series"],
    "read": ["pyarrow.parquet", "seriesfactory.lake.ticks"],
    "duckdb": ["duckdb"],
    "polars": ["polars"],
}


def child(name: str, root: Path, end_ns: int) -> None:
    """Run one contender; print JSON with seconds, rows and peak RSS.

    Imports and kernel compilation happen before the timer starts, for every contender.
    """
    import importlib

    for module in PRELOAD[name]:
        importlib.import_module(module)
    if name == "ours":
        import numpy as np

        from seriesfactory.transforms.aggregates import AggregationParams, aggregate

        one = np.array([FROM_NS], dtype=np.int64)
        p = np.array([1.0])
        params = AggregationParams(mode="time", step=1000)
        aggregate(one, p, p, p, p, params=params, end_ns=FROM_NS + 10**9)
    started = time.perf_counter()
    rows = CONTENDERS[name](root, end_ns)
    seconds = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"name": name, "seconds": seconds, "rows": rows, "rss_mb": rss_mb}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=100_000_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--end", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, Path(args.root), args.end)
        return
    root, rows = build_cache(args.ticks)
    end_ns = FROM_NS + (-(-rows // TICKS_PER_DAY)) * DAY_NS
    size_gb = sum(p.stat().st_size for p in root.rglob("*.parquet")) / 1e9
    print(f"tick cache: {rows:,} ticks, {size_gb:.2f} GB on disk, {root}")
    results = {}
    for name in CONTENDERS:
        out = subprocess.run(
            [sys.executable, __file__, "--child", name, "--root", str(root), "--end", str(end_ns)],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        results[name] = json.loads(out.stdout.strip().splitlines()[-1])
    ours = results["ours"]["seconds"]
    print(f"{'contender':<8} {'seconds':>8} {'Mticks/s':>9} {'vs ours':>8} {'peak RSS MB':>12}")
    for name, r in results.items():
        rate = rows / r["seconds"] / 1e6
        print(f"{name:<8} {r['seconds']:>8.2f} {rate:>9.1f} {r['seconds'] / ours:>7.2f}x "
              f"{r['rss_mb']:>12.0f}")  # fmt: skip
    print(
        f"ours / bare read = {ours / results['read']['seconds']:.2f} (target <= 1.5); "
        f"duckdb / ours = {results['duckdb']['seconds'] / ours:.2f} (target >= 2); "
        f"polars / ours = {results['polars']['seconds'] / ours:.2f}"
    )


if __name__ == "__main__":
    main()
