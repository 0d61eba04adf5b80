"""Fixtures of the universe-job tests: generated Binance archives on the local mirror, a real
Dask cluster (``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1).

The archives are generated (deterministic per symbol and day) in the documented spot aggTrades
layout and served, with an ``exchangeInfo`` and a 24h ticker, by the real HTTP mirror of
``tests/conftest.py`` on 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

#: The venv's ``dask`` command (the one installed beside this interpreter).
DASK = str(Path(sys.executable).with_name("dask"))
#: Symbols the generated exchange lists (with their 24h quote volume).
LISTED = {"BTCUSDT": 9e9, "ETHUSDT": 5e9, "SOLUSDT": 1e9, "XRPUSDT": 7e8, "DOGEUSDT": 3e8}
#: Generated days: 2024-02-01 .. 2024-02-03 (so a range of 3 days).
DAYS = [dt.date(2024, 2, 1) + dt.timedelta(days=i) for i in range(3)]


def agg_csv(symbol: str, day: dt.date, rows: int) -> str:
    """A deterministic day of spot aggTrades (no header, documented column order)."""
    rng = np.random.default_rng(zlib.crc32(f"{symbol}{day}".encode()))
    t0 = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)
    ts = np.sort(rng.integers(0, 86_400_000, rows)) + t0
    price = 100.0 * np.exp(np.cumsum(rng.normal(0, 1e-4, rows)))
    qty = rng.integers(1, 1000, rows) / 100
    maker = rng.random(rows) < 0.5
    first = int(day.toordinal()) * 10_000_000
    return "".join(
        f"{first + i},{p:.2f},{q:.2f},{first + i},{first + i},{t},{'true' if m else 'false'},true\n"
        for i, (p, q, t, m) in enumerate(zip(price, qty, ts, maker, strict=True))
    )


def rel(symbol: str, day: dt.date) -> str:
    return f"data/spot/daily/aggTrades/{symbol}/{symbol}-aggTrades-{day.isoformat()}.zip"


@dataclass
class Universe:
    """The mirror with the generated archives, and the options every universe run shares."""

    mirror: object
    url: str
    symbols: list[str]

    def span(self) -> list[str]:
        return ["--from", DAYS[0].isoformat(), "--to", (DAYS[-1] + dt.timedelta(1)).isoformat()]


@pytest.fixture
def universe(mirror, monkeypatch: pytest.MonkeyPatch) -> Universe:
    """Three symbols x three days on the mirror; the data and API URLs point at it."""
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    for symbol in symbols:
        for day in DAYS:
            mirror.add_archive(mirror.roots[0], rel(symbol, day), agg_csv(symbol, day, 400))
    info = {
        "symbols": [
            {"symbol": s, "status": "TRADING", "baseAsset": s[:-4], "quoteAsset": "USDT"}
            for s in LISTED
        ]
        + [{"symbol": "ETHBTC", "status": "TRADING", "baseAsset": "ETH", "quoteAsset": "BTC"}]
    }
    ticker = [{"symbol": s, "quoteVolume": str(v)} for s, v in LISTED.items()]
    ticker.append({"symbol": "ETHBTC", "quoteVolume": "1e12"})  # another quote: never ranked
    mirror.routes["/api/v3/exchangeInfo"] = json.dumps(info).encode()
    mirror.routes["/api/v3/ticker/24hr"] = json.dumps(ticker).encode()
    monkeypatch.setenv("SERIESFACTORY_BINANCE_DATA_URL", mirror.url)
    monkeypatch.setenv("SERIESFACTORY_BINANCE_SPOT_API_URL", mirror.url)
    monkeypatch.delenv("SERIESFACTORY_SCHEDULER", raising=False)
    return Universe(mirror, mirror.url, symbols)


# -- a real Dask cluster --------------------------------------------------------------------------
@dataclass
class Cluster:
    address: str
    scheduler: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def start_cluster(folder: Path, workers: int = 2, lifetime_s: int = 900) -> Cluster:
    """``dask scheduler`` and ``workers`` ``dask worker`` processes on 127.0.0.1, random ports.

    Bounded lifetime: the workers stop after ``lifetime_s``, the scheduler when idle that long.
    Workers run without a nanny, so a worker killed stays dead.
    """
    if not Path(DASK).exists():
        pytest.skip(f"{DASK} is absent (install dask[distributed])")
    folder.mkdir(parents=True, exist_ok=True)
    sched_file = folder / "scheduler.json"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    with open(folder / "scheduler.log", "wb") as log:  # the child keeps its own descriptor
        scheduler = subprocess.Popen(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address",
             "127.0.0.1:0", "--scheduler-file", str(sched_file),
             "--idle-timeout", f"{lifetime_s}s"],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    address = None
    while address is None:  # the file appears before the scheduler has finished writing it
        try:
            address = str(json.loads(sched_file.read_text())["address"])
        except (FileNotFoundError, ValueError, KeyError):
            if scheduler.poll() is not None or time.monotonic() > deadline:
                _stop(scheduler)
                text = (folder / "scheduler.log").read_text()
                pytest.fail(f"dask scheduler did not start: {text}")
            time.sleep(0.1)
    procs = []
    for i in range(workers):
        with open(folder / f"worker{i}.log", "wb") as wlog:
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
                        "--no-nanny",
                        "--no-dashboard",
                        "--lifetime",
                        f"{lifetime_s}s",
                        "--name",
                        f"w{i}",
                        "--local-directory",
                        str(folder / f"w{i}"),
                    ],
                    stdout=wlog,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
            )
    cluster = Cluster(address, scheduler, procs)
    try:
        _wait_for_workers(address, workers, folder)
    except BaseException:
        stop_cluster(cluster)
        raise
    return cluster


def _wait_for_workers(address: str, n: int, folder: Path) -> None:
    code = (
        "import sys; from distributed import Client\n"
        f"c = Client({address!r}, timeout='20s'); c.wait_for_workers({n}, timeout=90); c.close()\n"
    )
    argv = [sys.executable, "-c", code]
    done = subprocess.run(argv, capture_output=True, timeout=150, check=False)
    if done.returncode != 0:
        logs = "".join(p.read_text()[-800:] for p in sorted(folder.glob("*.log")))
        pytest.fail(f"{n} dask workers did not join: {done.stderr.decode()[-800:]}\n{logs}")


def stop_cluster(cluster: Cluster) -> None:
    for proc in [*cluster.workers, cluster.scheduler]:
        _stop(proc)


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One cluster for the session (two workers), torn down at the end."""
    folder = tmp_path_factory.mktemp("dask")
    cluster = start_cluster(folder)
    try:
        yield cluster
    finally:
        stop_cluster(cluster)
        shutil.rmtree(folder, ignore_errors=True)
