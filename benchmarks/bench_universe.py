"""Benchmark: a universe job (8 symbols x 30 days) on Dask's schedulers and a local cluster.

Issue 15's speed target: ``download`` + ``series`` 1-minute candles for 8 symbols x 30 days of
generated Binance archives served by a local mirror, ``--scheduler sync`` vs ``processes`` vs a
2-worker cluster (``dask scheduler`` + two ``dask worker --nthreads 1 --no-nanny`` processes on
127.0.0.1, started and warmed before the clock runs, as a cluster a user points at is already
running). Aim: the cluster within 15 % of the process pool's wall time, both >= 1.3x faster than
``sync``.

1. Generates ``--days`` (default 30: 2024-04-01 .. 2024-04-30, a whole month, so each symbol's
   fetch unit is the month: the monthly file is a 404, then the daily files) daily aggTrades
   archives per symbol with ``--rows-per-day`` rows (default 50,000) in the documented spot
   layout (no header, 8 columns), with their ``.CHECKSUM`` files, an ``exchangeInfo`` and a 24h
   ticker, under ``benchmarks/.work/universe/mirror`` (kept and reused for the same sizes).
2. Serves it on 127.0.0.1 (the standard library's file handler in a thread).
3. Warms numba's on-disk kernel cache with a one-day run, so no configuration pays compiles.
4. For each scheduler, on an empty cache: ``seriesfactory download --symbols ... --scheduler X``
   then ``seriesfactory series --sources binance --agg-step 60000 --symbols ...``, each the
   ``seriesfactory`` console script in a child process, timed from spawn to exit; checks the
   outputs are byte-identical across schedulers. CPU seconds of each scheduler's runs: the
   commands, the ``processes`` pool's workers (forked by the command; a fork server when one
   runs: this process adopts them as a subreaper, so their CPU is counted once reaped) and,
   for the cluster, its scheduler's and workers' CPU over the run (from ``/proc``).
5. Per-task overheads, in this process: the wall time per no-op task on each scheduler (200
   tasks, minus one task's time: the marginal cost of scheduling one more task), and the
   serialisation of what travels per task (a ``SeriesJob`` + ``Pair`` out, a ``SymbolOutcome``
   back) with cloudpickle: bytes and microseconds.

Usage::

    .venv/bin/python benchmarks/bench_universe.py                     # 8 x 30 days x 50k rows
    .venv/bin/python benchmarks/bench_universe.py --days 3 --rows-per-day 5000   # quick check
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import resource
import shutil
import signal
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
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

WORK = Path(__file__).resolve().parent / ".work" / "universe"
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT", "ADAUSDT", "BNBUSDT", "LTCUSDT")
FIRST_DAY = dt.date(2024, 4, 1)
MS_PER_DAY = 86_400_000
DASK = str(Path(sys.executable).with_name("dask"))
SERIESFACTORY = str(Path(sys.executable).with_name("seriesfactory"))


# -- the archives ---------------------------------------------------------------------------------
def day_csv(symbol: str, day: dt.date, rows: int) -> bytes:
    """One day of aggTrades of ``symbol``: sorted ms times, a random walk, exponential sizes."""
    rng = np.random.default_rng([sum(symbol.encode()), day.toordinal()])
    start_ms = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) * 1000
    time_ms = start_ms + np.sort(rng.integers(0, MS_PER_DAY, rows))
    open_price = 10.0 + (sum(symbol.encode()) % 97) * 100.0
    sigma = open_price * 0.025 / np.sqrt(rows)
    price = np.maximum(np.round(open_price + np.cumsum(rng.normal(0.0, sigma, rows)), 2), 0.01)
    qty = np.round(rng.exponential(0.05, rows), 5) + 0.00001
    first = np.arange(rows, dtype=np.int64) + day.toordinal() * 10**8
    dec = pa.decimal128(18, 8)
    table = pa.table(
        {
            "a": first,
            "p": pa.array(price).cast(dec),
            "q": pa.array(qty).cast(dec),
            "f": first,
            "l": first,
            "T": time_ms,
            "m": rng.random(rows) < 0.5,
            "M": np.ones(rows, dtype=bool),
        }
    )
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False))
    return buf.getvalue()


def write_day(job: tuple[Path, str, dt.date, int]) -> int:
    root, symbol, day, rows = job
    name = f"{symbol}-aggTrades-{day.isoformat()}"
    path = root / "data/spot/daily/aggTrades" / symbol / f"{name}.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr(f"{name}.csv", day_csv(symbol, day, rows))
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    path.with_name(path.name + ".CHECKSUM").write_text(f"{digest}  {path.name}\n")
    tmp.replace(path)
    return path.stat().st_size


def make_mirror(root: Path, days: int, rows: int) -> int:
    """Generate the mirror unless it already holds these sizes; its archives' bytes."""
    stamp = root / "sizes.json"
    want = {"days": days, "rows_per_day": rows, "symbols": list(SYMBOLS)}
    if stamp.is_file() and json.loads(stamp.read_text()) == want:
        return sum(p.stat().st_size for p in root.rglob("*.zip"))
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    jobs = [(root, s, FIRST_DAY + dt.timedelta(days=i), rows) for s in SYMBOLS for i in range(days)]
    with ProcessPoolExecutor(max_workers=2) as pool:
        size = sum(pool.map(write_day, jobs))
    api = root / "api" / "v3"
    api.mkdir(parents=True)
    info = [{"symbol": s, "status": "TRADING", "quoteAsset": "USDT"} for s in SYMBOLS]
    (api / "exchangeInfo").write_text(json.dumps({"symbols": info}))
    (api / "ticker" / "24hr").parent.mkdir()
    volumes = [{"symbol": s, "quoteVolume": str(1e9 / (i + 1))} for i, s in enumerate(SYMBOLS)]
    (api / "ticker" / "24hr").write_text(json.dumps(volumes))
    stamp.write_text(json.dumps(want))
    return size


@contextmanager
def serve(root: Path) -> Iterator[str]:
    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kw: Any) -> None:
            super().__init__(*args, directory=str(root), **kw)

        def log_message(self, *args: object) -> None:
            pass

        def copyfile(self, source: Any, outputfile: Any) -> None:
            # the kernel copies the file to the socket (sendfile): the mirror stands for a
            # remote server, so its CPU should not compete with the job's for the 2 cores
            self.connection.sendfile(source)

    class Server(ThreadingHTTPServer):
        # the default backlog (5) drops connections when two workers download 4 files each at
        # once: each dropped SYN is retried a second later, a stall no real mirror has
        request_queue_size = 128

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# -- a local cluster ------------------------------------------------------------------------------
@contextmanager
def cluster(
    folder: Path, workers: int = 2, extra: tuple[str, ...] = ()
) -> Iterator[tuple[str, list[int]]]:
    """``dask scheduler`` + ``workers`` single-threaded ``dask worker`` processes: the address and
    the processes' ids."""
    folder.mkdir(parents=True, exist_ok=True)
    sched_file = folder / "scheduler.json"
    sched_file.unlink(missing_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    with open(folder / "scheduler.log", "wb") as log:
        procs.append(
            subprocess.Popen(
                [
                    DASK,
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--dashboard-address",
                    "127.0.0.1:0",
                    "--scheduler-file",
                    str(sched_file),
                    "--idle-timeout",
                    "3600s",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists():
            if time.monotonic() > deadline:
                raise SystemExit("dask scheduler did not start; see " + str(folder))
            time.sleep(0.1)
        address = json.loads(sched_file.read_text())["address"]
        for i in range(workers):
            with open(folder / f"worker{i}.log", "wb") as log:
                procs.append(
                    subprocess.Popen(
                        [
                            DASK,
                            "worker",
                            address,
                            "--host",
                            "127.0.0.1",
                            "--nthreads",
                            "1",
                            # no nanny: its default environment for the worker sets
                            # MALLOC_TRIM_THRESHOLD_=65536, which costs a symbol's pass 15-25 %
                            # more CPU here (docs/scale.md)
                            "--no-nanny",
                            "--no-dashboard",
                            "--lifetime",
                            "3600s",
                            "--name",
                            f"w{i}",
                            "--local-directory",
                            str(folder / f"w{i}"),
                            *extra,
                        ],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(workers, timeout=120)
        yield address, [p.pid for p in procs]
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)


# -- the runs -------------------------------------------------------------------------------------
#: CPU seconds (user + system) of every child run so far, with the pools it reaped, by command.
CHILD_CPU: list[float] = []


#: Processes of ours that are not a run's: the cluster's (never reaped by :func:`reap_orphans`).
KEEP: set[int] = set()


def _children_cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def become_subreaper() -> bool:
    """Adopt our orphaned descendants (Linux): a fork server a ``processes`` run starts outlives
    the command by a moment; reaped here, its CPU (and its workers') is counted."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(36, 1, 0, 0, 0) == 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _our_children() -> set[int]:
    pids: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            pids |= {int(p) for p in (task / "children").read_text().split()}
    return pids


def reap_orphans(timeout_s: float = 10.0) -> None:
    """Wait for the adopted descendants of the last run (not the cluster's processes)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        left = _our_children() - KEEP
        if not left:
            return
        for pid in left:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        time.sleep(0.02)


def tree_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) so far of ``pids`` and their live descendants."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo, seen = 0.0, list(pids), set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(p) for p in (task / "children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue
    return total


def run_child(args: list[str], env: dict[str, str]) -> float:
    """Run the ``seriesfactory`` console script, as a user does; its wall time."""
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    done = subprocess.run(
        [SERIESFACTORY, *args], env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - t0
    reap_orphans()
    CHILD_CPU.append(_children_cpu() - cpu0)
    if done.returncode != 0:
        raise SystemExit(f"seriesfactory {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return wall


def job_args(command: str, root: Path, days: int, symbols: list[str], scheduler: str) -> list[str]:
    span = ["--from", FIRST_DAY.isoformat(), "--to", (FIRST_DAY + dt.timedelta(days)).isoformat()]
    common = ["--symbols", ",".join(symbols), "--scheduler", scheduler,
              "--cache-dir", str(root / "cache"), "--quiet"]  # fmt: skip
    if command == "download":
        return ["download", *span, *common]
    return ["series", "--sources", "binance", "--agg-step", "60000", *span, *common,
            "--output-dir", str(root / "out")]  # fmt: skip


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*"))}


def _noop(i: int) -> int:
    return i


def per_task_overhead(scheduler: str, address: str | None, n: int = 200) -> float:
    """Marginal seconds per no-op task: (time of n tasks - time of 1 task) / (n - 1)."""
    from dask.base import compute
    from dask.delayed import delayed

    def timed(k: int) -> float:
        nodes = [delayed(_noop, pure=False)(i) for i in range(k)]
        t0 = time.perf_counter()
        if address is not None:
            from distributed import Client

            with Client(address, timeout="30s", set_as_default=False) as client:
                t0 = time.perf_counter()
                client.gather(client.compute(nodes))
                return time.perf_counter() - t0
        if scheduler == "processes":  # as a universe job runs it
            from seriesfactory.pipeline.pool import local_pool

            workers = os.cpu_count() or 1
            pool = local_pool(workers)
            try:
                t0 = time.perf_counter()
                compute(*nodes, scheduler=scheduler, num_workers=workers, chunksize=1, pool=pool)
                return time.perf_counter() - t0
            finally:
                if pool is not None:
                    pool.shutdown()
        compute(*nodes, scheduler=scheduler)
        return time.perf_counter() - t0

    timed(1)  # a first call pays pool start-up
    return (timed(n) - timed(1)) / (n - 1)


def serialisation() -> tuple[int, int, float]:
    """cloudpickle bytes of a task's arguments and of its result, microseconds per round trip."""
    import cloudpickle  # type: ignore[import-untyped]

    from seriesfactory.config import load_settings
    from seriesfactory.pipeline.universe import Pair, SeriesJob, SymbolOutcome
    from seriesfactory.transforms.aggregates import AggregationParams

    job = SeriesJob(
        venue="binance", from_ns=0, to_ns=86_400 * 10**9 * 30, cache_dir=WORK / "cache",
        settings=load_settings(), params=AggregationParams(mode="time", step=60000),
        output_dir=WORK / "out", fields=("open", "high", "low", "close"),
    )  # fmt: skip
    args = (job, Pair("BTCUSDT", "BTC", "USDT"))
    outcome = SymbolOutcome("BTCUSDT", 43_200, 1.5, [str(WORK / "out" / "x.parquet")])
    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        cloudpickle.loads(cloudpickle.dumps(args))
        cloudpickle.loads(cloudpickle.dumps(outcome))
    us = (time.perf_counter() - t0) / n * 1e6
    return len(cloudpickle.dumps(args)), len(cloudpickle.dumps(outcome)), us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rows-per-day", type=int, default=50_000)
    parser.add_argument("--symbols", type=int, default=len(SYMBOLS))
    parser.add_argument("--work-dir", type=Path, default=WORK)
    parser.add_argument("--repeat", type=int, default=1, help="Runs per scheduler; the best.")
    opts = parser.parse_args()
    if not become_subreaper():
        print("note: cannot adopt orphaned processes: a pool's CPU may be missed below")
    symbols = list(SYMBOLS[: opts.symbols])
    work: Path = opts.work_dir
    t0 = time.perf_counter()
    size = make_mirror(work / "mirror", opts.days, opts.rows_per_day)
    print(
        f"mirror: {len(SYMBOLS)} symbols x {opts.days} days x {opts.rows_per_day:,} rows, "
        f"{size / 1e6:,.1f} MB of archives ({time.perf_counter() - t0:.1f} s)"
    )
    with serve(work / "mirror") as url:
        env = {
            **os.environ,
            "SERIESFACTORY_BINANCE_DATA_URL": url,
            "SERIESFACTORY_BINANCE_SPOT_API_URL": url,
        }
        os.environ.update(env)
        warm = work / "warm"
        shutil.rmtree(warm, ignore_errors=True)
        run_child(job_args("series", warm, 1, symbols[:1], "sync"), env)  # numba's cache
        with cluster(work / "dask") as (address, cluster_pids):
            KEEP.update(cluster_pids)
            walls: dict[str, tuple[float, float]] = {}
            outs: dict[str, dict[str, str]] = {}
            # a running cluster has imported the code: warm its workers as the one-day run did
            run_child(job_args("series", warm, 1, symbols[:2], address), env)
            for name, scheduler in (
                ("sync", "sync"), ("processes", "processes"), ("cluster", address)
            ):  # fmt: skip
                runs = []
                cpu_runs = []
                for _ in range(opts.repeat):
                    root = work / name
                    shutil.rmtree(root, ignore_errors=True)
                    # the previous run's files, still being written back and now freed, must not
                    # slow this run's writes: every run starts with the disk's queue empty
                    os.sync()
                    workers0 = tree_cpu(cluster_pids) if name == "cluster" else 0.0
                    down = run_child(job_args("download", root, opts.days, symbols, scheduler), env)
                    series = run_child(job_args("series", root, opts.days, symbols, scheduler), env)
                    workers = tree_cpu(cluster_pids) - workers0 if name == "cluster" else 0.0
                    runs.append((down, series))
                    cpu_runs.append(CHILD_CPU[-1] + CHILD_CPU[-2] + workers)
                    outs[name] = digests(root / "out")
                    shutil.rmtree(root / "cache", ignore_errors=True)
                best = min(range(len(runs)), key=lambda i: sum(runs[i]))
                down, series = runs[best]
                walls[name] = (down, series)
                # CPU of the command, the pool it started, the cluster's scheduler and workers
                cpu = (
                    f"  CPU {cpu_runs[best]:5.1f} s = {cpu_runs[best] / (down + series):.2f} "
                    "cores busy"
                )
                print(
                    f"{name:>9}: download {down:6.1f} s  series {series:6.1f} s  "
                    f"total {down + series:6.1f} s{cpu}  (best of {opts.repeat})"
                )
                if name == "sync":
                    busy = cpu_runs[best] / (down + series)
                    cores = os.cpu_count() or 1
                    print(
                        f"           sync keeps {busy:.2f} of {cores} cores busy: no scheduler "
                        f"can beat it by more than {cores / busy:.2f}x here (same CPU work)"
                    )
            identical = outs["sync"] == outs["processes"] == outs["cluster"]
            print(f"outputs byte-identical across schedulers: {identical} ({len(outs['sync'])})")
            total = {k: sum(v) for k, v in walls.items()}
            print(
                f"speed-up over sync: processes {total['sync'] / total['processes']:.2f}x, "
                f"cluster {total['sync'] / total['cluster']:.2f}x (target >= 1.3x)"
            )
            print(
                f"cluster / processes wall time: {total['cluster'] / total['processes']:.3f} "
                "(target <= 1.15)"
            )
            symbol_days = len(symbols) * opts.days
            print(
                f"sync cost per symbol-day: download {walls['sync'][0] / symbol_days * 1e3:.1f} ms,"
                f" series {walls['sync'][1] / symbol_days * 1e3:.1f} ms "
                f"({opts.rows_per_day:,} trades a day)"
            )
            for name, sched, addr in (
                ("sync", "sync", None), ("processes", "processes", None),
                ("cluster", "", address),
            ):  # fmt: skip
                per = per_task_overhead(sched, addr)
                print(f"per-task overhead {name:>9}: {per * 1e3:.2f} ms")
    args_bytes, out_bytes, us = serialisation()
    print(
        f"serialisation per task: arguments {args_bytes:,} B, result {out_bytes:,} B, "
        f"{us:.0f} us for both round trips (cloudpickle)"
    )
    if not identical:
        raise SystemExit("outputs differ across schedulers")


if __name__ == "__main__":
    main()
