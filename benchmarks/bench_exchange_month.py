"""Benchmark: a warm month of Binance spot ticks through ``seriesfactory series``.

The foundation's target (issue 4): with the ticks tier warm, one month of ticks
through ``series`` in under 60 s and under 2 GB.

1. Generates ``--days`` (default 31: 2024-01-01 .. 2024-01-31) Binance spot
   aggTrades daily archives in the documented format (no header, 8 columns
   ``id, price, qty, first_id, last_id, time_ms, is_buyer_maker, is_best_match``,
   prices and quantities with 8 decimals, millisecond times) with
   ``--rows-per-day`` rows each (default 2,000,000: 62 M trades, ~60 M ticks),
   plus their ``.CHECKSUM`` files (``sha256  NAME``, as Binance writes them),
   laid out as a ``data.binance.vision`` mirror under ``{work}/mirror``. There
   is no monthly file, so the client gets a 404 for it and falls back to the
   daily files, as it does for a month Binance has not packed yet. Generation
   is numpy + pyarrow CSV + zip level 1, on two processes; the archives are
   kept and reused by later runs with the same sizes.
2. Serves the mirror over HTTP on 127.0.0.1 (``ThreadingHTTPServer`` with the
   standard library's file handler, in a thread; the tests' ``Mirror`` in
   ``tests/conftest.py`` is a pytest fixture that reads each file whole, so it
   is not reused for gigabytes) and points ``SERIESFACTORY_BINANCE_DATA_URL``
   at it.
3. Cold: ``seriesfactory series --sources binance --from 2024-01-01 --to
   2024-02-01 --agg-step 60000`` on an empty cache (download, verify, raw
   files parsed into the ticks tier, 1-minute candles). Its wall time is printed.
4. Warm: the same command with other steps (5 min, 15 min, 1 h, ...), so the
   aggregates tier cannot serve them and the ticks tier must: each in its own
   subprocess, timed from spawn to exit, with that child's own peak RSS
   (``os.wait4``), against the target; prints the ratios to 60 s and 2 GB.
5. Where a warm run's time goes, in this process: the ticks stage
   (``build_ticks``: the cached archives are checked against their
   checksums, by their remembered hashes while unchanged, and the tick set is
   found by its key), then the tick set streamed
   through the aggregation (decode on threads overlapped with the numba
   kernel), with the time spent inside the kernel calls summed (the kernel
   share). The rest of a child's wall time is interpreter start, imports and
   writing the output.

Usage::

    .venv/bin/python benchmarks/bench_exchange_month.py                # 31 days x 2 M rows
    .venv/bin/python benchmarks/bench_exchange_month.py --rows-per-day 3000000 --warm-runs 3

Disk (measured): at 3 M rows a day the mirror takes 1.9 GB and the cache 4.1 GB
more (the raw tier's copy of the archives 1.9 GB, the ticks tier 2.2 GB). Both live under
``benchmarks/.work/month`` (``--work-dir``). The cache is deleted after the run
unless ``--keep-cache`` (then ``--warm-only`` repeats the warm runs on it
without the cold run); the mirror is kept for the next run (``rm -r`` it to
free the space). Wall time at the default size on 2 cores: ~1 min generating
(first run only), ~0.5 min cold, ~5 s per warm run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

WORK = Path(__file__).resolve().parent / ".work" / "month"
SYMBOL = "BTCUSDT"
DAILY = f"data/spot/daily/aggTrades/{SYMBOL}"
FIRST_DAY = dt.date(2024, 1, 1)
MS_PER_DAY = 86_400_000
TARGET_S = 60.0
TARGET_BYTES = 2 * 1024**3
WARM_STEPS_MS = (300_000, 900_000, 3_600_000, 180_000, 120_000)


# -- the archives ---------------------------------------------------------------------------------
def day_table(day: dt.date, rows: int, open_price: float, seed: int) -> pa.Table:
    """One day of aggTrades: sorted ms times, a 0.01-tick random walk, exponential quantities.

    The per-trade price step has standard deviation ``open · 2.5 % / sqrt(rows)`` (about a
    2.5 % daily move whatever the row count); 1-3 trades per aggregate trade.
    """
    rng = np.random.default_rng([seed, day.toordinal()])
    start_ms = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) * 1000
    time_ms = start_ms + np.sort(rng.integers(0, MS_PER_DAY, rows))
    sigma = open_price * 0.025 / np.sqrt(rows)
    price = np.maximum(np.round(open_price + np.cumsum(rng.normal(0.0, sigma, rows)), 2), 0.01)
    qty = np.round(rng.exponential(0.05, rows), 5) + 0.00001
    trades = rng.integers(1, 4, rows)
    last_id = np.cumsum(trades) + day.toordinal() * 10**8
    dec = pa.decimal128(18, 8)  # Binance writes 8 decimals: 42283.58000000
    return pa.table(
        {
            "a": np.arange(rows, dtype=np.int64) + day.toordinal() * 10**8,
            "p": pa.array(price).cast(dec),
            "q": pa.array(qty).cast(dec),
            "f": last_id - trades + 1,
            "l": last_id,
            "T": time_ms,
            "m": rng.random(rows) < 0.5,
            "M": np.ones(rows, dtype=bool),
        }
    )


def write_day(root: Path, day: dt.date, rows: int, open_price: float, seed: int) -> int:
    """Write ``{SYMBOL}-aggTrades-{day}.zip`` and its ``.CHECKSUM``; return the zip's size."""
    name = f"{SYMBOL}-aggTrades-{day.isoformat()}"
    buf = io.BytesIO()
    pacsv.write_csv(
        day_table(day, rows, open_price, seed), buf, pacsv.WriteOptions(include_header=False)
    )
    path = root / DAILY / f"{name}.zip"
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr(f"{name}.csv", buf.getbuffer())
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    path.with_name(path.name + ".CHECKSUM").write_text(f"{digest}  {path.name}\n")
    tmp.replace(path)
    return path.stat().st_size


def make_mirror(root: Path, days: int, rows: int, seed: int, workers: int) -> int:
    """Generate the mirror under ``root`` unless it already holds these sizes; its bytes."""
    stamp = root / "sizes.json"
    want = {"days": days, "rows_per_day": rows, "seed": seed}
    if stamp.is_file() and json.loads(stamp.read_text()) == want:
        return sum(p.stat().st_size for p in (root / DAILY).glob("*.zip"))
    shutil.rmtree(root, ignore_errors=True)
    (root / DAILY).mkdir(parents=True)
    rng = np.random.default_rng(seed)
    opens = 42_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.025, days)))
    dates = [FIRST_DAY + dt.timedelta(days=i) for i in range(days)]
    jobs = [(root, d, rows, float(o), seed) for d, o in zip(dates, opens, strict=True)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        sizes = list(pool.map(_write_one, jobs))
    stamp.write_text(json.dumps(want))
    return sum(sizes)


def _write_one(job: tuple[Path, dt.date, int, float, int]) -> int:
    return write_day(*job)


@contextmanager
def serve(root: Path) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 (any missing file is a 404); yield the base URL."""

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kw: object) -> None:
            super().__init__(*args, directory=str(root), **kw)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# -- the runs -------------------------------------------------------------------------------------
def series_args(cache: Path, out: Path, days: int, step_ms: int) -> list[str]:
    end = FIRST_DAY + dt.timedelta(days=days)
    return ["series", "--sources", "binance", "--from", FIRST_DAY.isoformat(),
            "--to", end.isoformat(), "--agg-step", str(step_ms), "--cache-dir", str(cache),
            "--output-dir", str(out)]  # fmt: skip


def run_child(args: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Run ``seriesfactory ARGS`` in a subprocess: wall s, the child's peak RSS bytes, stdout."""
    code = "import sys; from seriesfactory.cli import main; sys.exit(main(sys.argv[1:]))"
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"seriesfactory {' '.join(args)} exited {proc.returncode}")
    return wall, usage.ru_maxrss * 1024, stdout


def kernel_share(
    cache: Path, days: int, step_ms: int, env_url: str
) -> tuple[int, float, float, float]:
    """Ticks; seconds of the warm ticks stage, of the aggregation stage, inside the kernel calls.

    The ticks stage is :func:`build_ticks` on a warm cache: the raw archives are checked
    against their checksums (by their remembered hashes: ``raw/hashes.py``) and the tick
    set is found by its key.
    """
    from seriesfactory.config import load_settings
    from seriesfactory.core.time import parse_date
    from seriesfactory.pipeline.series import TicksRequest, build_ticks
    from seriesfactory.transforms.aggregates import AggregationParams, Aggregator

    end = FIRST_DAY + dt.timedelta(days=days)
    request = TicksRequest(
        sources="binance",
        from_ns=parse_date(FIRST_DAY.isoformat(), option="--from"),
        to_ns=parse_date(end.isoformat(), option="--to"),
        cache_dir=cache,
        settings=load_settings(binance_data_url=env_url),
    )
    t0 = time.perf_counter()
    ticks = build_ticks(request)
    ticks_stage = time.perf_counter() - t0
    assert not ticks.generated, "the ticks tier should be warm"
    params = AggregationParams(mode="time", step=step_ms)
    c, age, _path, _first = next(iter(ticks.ticks.aged_chunks()))
    n = min(len(c.ts), 1000)  # load the compiled kernel before the timer
    Aggregator(params).update(
        c.ts[:n], c.bid[:n], c.ask[:n], c.vbid[:n], c.vask[:n], None if age is None else age[:n]
    )
    agg = Aggregator(params)
    in_kernel = 0.0
    t0 = time.perf_counter()
    for c, age, path, first in ticks.ticks.aged_chunks():
        k0 = time.perf_counter()
        agg.update(c.ts, c.bid, c.ask, c.vbid, c.vask, age, source=path, row_offset=first)
        in_kernel += time.perf_counter() - k0
    k0 = time.perf_counter()
    agg.finish(request.to_ns)
    in_kernel += time.perf_counter() - k0
    return ticks.ticks.rows, ticks_stage, time.perf_counter() - t0, in_kernel


def _gb(n: float) -> str:
    return f"{n / 1024**3:.2f} GB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--rows-per-day", type=int, default=2_000_000)
    ap.add_argument("--days", type=int, default=31, help="days from 2024-01-01 (at most 31)")
    ap.add_argument("--warm-runs", type=int, default=3, help="warm runs, each with its own step")
    ap.add_argument("--work-dir", type=Path, default=WORK)
    ap.add_argument("--workers", type=int, default=2, help="processes generating archives")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep-cache", action="store_true", help="keep the cache after the run")
    ap.add_argument(
        "--warm-only",
        action="store_true",
        help="reuse the cache a --keep-cache run left (its aggregates tier emptied): no cold run",
    )
    args = ap.parse_args()
    if not 1 <= args.days <= 31 or not 1 <= args.warm_runs <= len(WARM_STEPS_MS):
        ap.error(f"--days must be 1..31 and --warm-runs 1..{len(WARM_STEPS_MS)}")
    mirror, cache, out = (args.work_dir / n for n in ("mirror", "cache", "output"))

    t0 = time.perf_counter()
    archive_bytes = make_mirror(mirror, args.days, args.rows_per_day, args.seed, args.workers)
    print(
        f"mirror: {args.days} daily archives x {args.rows_per_day:,} rows, "
        f"{_gb(archive_bytes)} zipped ({time.perf_counter() - t0:.1f} s; ~0 when reused)"
    )

    if args.warm_only and not (cache / "ticks").is_dir():
        ap.error(f"--warm-only: no ticks tier under {cache}; run once with --keep-cache")
    shutil.rmtree(cache / "aggregates" if args.warm_only else cache, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    with serve(mirror) as url:
        env = {**os.environ, "SERIESFACTORY_BINANCE_DATA_URL": url}
        if not args.warm_only:
            wall, rss, _ = run_child(series_args(cache, out, args.days, 60_000), env)
            tier = sum(p.stat().st_size for p in (cache / "ticks").rglob("*.parquet"))
            print(f"cold (download, raw + ticks tiers, 1 m candles): {wall:6.1f} s, "
                  f"peak RSS {_gb(rss)}; ticks tier {_gb(tier)} on disk")  # fmt: skip
        for step_ms in WARM_STEPS_MS[: args.warm_runs]:
            wall, rss, stdout = run_child(series_args(cache, out, args.days, step_ms), env)
            served = next((ln for ln in stdout.splitlines() if ln.startswith("from cache:")), "?")
            served = served.replace("from cache: ", "cache: ").replace("time:", "in-run")
            print(
                f"warm, step {step_ms // 60_000:>2} min: {wall:6.2f} s "
                f"({wall / TARGET_S:.2f} of 60 s), peak RSS {_gb(rss)} "
                f"({rss / TARGET_BYTES:.2f} of 2 GB)  [{served}]"
            )
        rows, ticks_s, stage, in_kernel = kernel_share(cache, args.days, WARM_STEPS_MS[0], url)
    print(f"in-process, warm: ticks stage (archives checked, tick set found) {ticks_s:.2f} s")
    print(f"ticks: {rows:,}; aggregation stage {stage:.2f} s "
          f"({rows / stage / 1e6:.1f} M ticks/s), inside the kernel {in_kernel:.2f} s "
          f"({in_kernel / stage:.0%} of the stage)")  # fmt: skip
    used = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file())
    print(f"disk: mirror {_gb(archive_bytes)}, cache {_gb(used)}")
    if not args.keep_cache:
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
