"""A real PostgreSQL cluster for the store tests: one per session, a fresh database per test.

The cluster is started by the project's own ``db up`` code (as the ``postgres``
user when running as root) in a temporary folder and removed at the end. When the
server binaries are missing the tests FAIL with the install instruction: the
database is never mocked and never silently skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg
import pytest

from seriesfactory.errors import SourceError
from seriesfactory.store import cluster

TICKER = "/api/v3/brokerage/market/products/{}/ticker"


@dataclass
class PG:
    """The session's cluster."""

    data_dir: Path
    url: str
    port: int

    def url_for(self, dbname: str) -> str:
        return self.url.rsplit("/", 1)[0] + "/" + dbname


def _start(root: Path) -> cluster.Cluster:
    try:
        return cluster.up(root / "pg", ephemeral=True)
    except SourceError as exc:
        pytest.fail(
            f"{exc} (the store tests need a real PostgreSQL server; 'make test' installs it)"
        )


@pytest.fixture(scope="session")
def pg() -> Iterator[PG]:
    root = Path(tempfile.mkdtemp(prefix="sf-pg-", dir="/tmp"))
    os.chmod(root, 0o755)  # the postgres user (when root) must reach the data folder
    got = _start(root)
    try:
        yield PG(got.data_dir, got.url, got.port)
    finally:
        cluster.down(got.data_dir)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def db_url(pg: PG) -> Iterator[str]:
    """A fresh, empty database of the session cluster (dropped afterwards)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg.url_for(name)
    finally:
        with psycopg.connect(pg.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    from seriesfactory.store.schema import migrate

    with psycopg.connect(db_url) as c:
        migrate(c)
        yield c


@dataclass
class CoinbaseTape:
    """Trades served by a local Coinbase ticker endpoint (newest first, ``limit`` at most)."""

    product: str
    times: np.ndarray  # float seconds, sorted
    ids: np.ndarray
    prices: list[str]
    sizes: list[str]
    sides: list[str]
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def generate(
        cls, product: str, start_s: float, end_s: float, n: int, seed: int
    ) -> CoinbaseTape:
        rng = np.random.default_rng(seed)
        times = np.sort(rng.uniform(start_s, end_s, n))
        times = np.round(times, 6)
        price = 2000 + np.cumsum(rng.normal(0, 0.5, n))
        return cls(
            product,
            times,
            np.arange(10_000, 10_000 + n, dtype=np.int64),
            [f"{p:.2f}" for p in price],
            [f"{s:.8f}" for s in rng.exponential(0.3, n)],
            ["BUY" if x else "SELL" for x in rng.random(n) < 0.5],
        )

    def add(self, t: float, price: str = "2100.00", size: str = "0.5", side: str = "SELL") -> int:
        with self.lock:
            tid = int(self.ids[-1]) + 1 if len(self.ids) else 1
            self.times = np.append(self.times, t)
            self.ids = np.append(self.ids, tid)
            self.prices.append(price)
            self.sizes.append(size)
            self.sides.append(side)
            return tid

    def handler(self, q: dict[str, str]) -> bytes:
        s, e, limit = float(q["start"]), float(q["end"]), int(q["limit"])
        with self.lock:
            lo, hi = np.searchsorted(self.times, [s, e], side="left")
            idx = list(range(int(hi) - 1, int(lo) - 1, -1))[:limit]
            trades = [
                {
                    "trade_id": str(int(self.ids[i])),
                    "product_id": self.product,
                    "price": self.prices[i],
                    "size": self.sizes[i],
                    "time": np.datetime_as_string(np.datetime64(round(self.times[i] * 1e6), "us"))
                    + "Z",
                    "side": self.sides[i],
                    "bid": "",
                    "ask": "",
                    "exchange": "coinbase",
                }
                for i in idx
            ]
        return json.dumps({"trades": trades}).encode()

    def expected(self) -> set[tuple[int, int]]:
        """``{(trade_id, ts µs)}`` of every trade served."""
        with self.lock:
            return {(int(i), round(t * 1e6)) for i, t in zip(self.ids, self.times, strict=True)}

    def serve(self, mirror) -> None:
        mirror.handlers[TICKER.format(self.product)] = self.handler


def stored(conn: psycopg.Connection, source: str, pair: str) -> set[tuple[int, int]]:
    rows = conn.execute(
        "SELECT trade_id, (extract(epoch FROM timestamp) * 1000000)::bigint FROM raw_trades"
        " WHERE source = %s AND pair = %s",
        (source, pair),
    ).fetchall()
    return {(int(a), int(b)) for a, b in rows}
