"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

#: Recorded real exchange data shared by the project (read-only; see its PROVENANCE.md).
SHARED_REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


@pytest.fixture
def shared_real() -> Path:
    """The shared real-data folder; skips (saying why) where ``../shared`` is absent."""
    if not SHARED_REAL.is_dir():
        pytest.skip(f"{SHARED_REAL} is absent: the recorded real data lives only in ../shared")
    return SHARED_REAL


# -- a local archive mirror (exchange-history tests) ----------------------------------------------
import hashlib  # noqa: E402
import io  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import zipfile  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402

#: The recorded data.binance.vision mirror root.
BINANCE_VISION = SHARED_REAL / "binance" / "vision"


@dataclass
class Mirror:
    """A real HTTP server on 127.0.0.1 serving files from ``roots`` (first match wins).

    ``faults[path]`` is a queue of misbehaviours consumed one per request of that
    path: ``"500"``, ``"429"``, ``"truncate"`` (half the body, then close),
    ``"slow"`` (0.3 s before the body), ``"corrupt"`` (one byte flipped).
    ``requests`` logs ``(path, range header)`` of every request.
    """

    roots: list[Path]
    url: str = ""
    faults: dict[str, list[str]] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    routes: dict[str, bytes] = field(default_factory=dict)
    #: Dynamic routes: path -> function of the query parameters returning the body.
    handlers: dict[str, Callable[[dict[str, str]], bytes]] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)

    def body(self, path: str) -> bytes | None:
        if path in self.routes:
            return self.routes[path]
        for root in self.roots:
            f = (root / path.lstrip("/")).resolve()
            if f.is_file() and root.resolve() in f.parents:
                return f.read_bytes()
        return None

    def add_archive(self, root: Path, rel: str, csv_text: str, member: str | None = None) -> bytes:
        """Write ``rel`` (a zip holding ``csv_text``) and ``rel.CHECKSUM`` under ``root``."""
        buf = io.BytesIO()
        name = member if member is not None else Path(rel).name.replace(".zip", ".csv")
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(name, csv_text)
        data = buf.getvalue()
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        path.with_name(path.name + ".CHECKSUM").write_text(f"{digest}  {path.name}\n")
        return data

    def add_bybit_day(self, day: str, rows: int, *, sides: str = "alternate") -> None:
        """Bybit's gzipped trades file of BTCUSDT on ``day`` (YYYY-MM-DD; no checksum: Bybit
        publishes none): ``rows`` trades one second apart from 00:00:00.5, 0.01 each at
        42000 + i, side Buy/Sell alternating (``sides="buy"``: all Buy)."""
        import gzip

        from seriesfactory.core.time import parse_date

        start_s = parse_date(day, option="d") // 10**9
        side = (lambda i: "Buy") if sides == "buy" else (lambda i: "Buy" if i % 2 else "Sell")
        body = "timestamp,symbol,side,size,price\n" + "".join(
            f"{start_s + i}.5,BTCUSDT,{side(i)},0.01,{42000 + i}.0\n" for i in range(rows)
        )
        path = self.roots[0] / "trading" / "BTCUSDT" / f"BTCUSDT{day}.csv.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(body.encode()))


def _handler(mirror: Mirror) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            with mirror.lock:
                mirror.in_flight += 1
                mirror.max_in_flight = max(mirror.max_in_flight, mirror.in_flight)
            try:
                self._get()
            finally:
                with mirror.lock:
                    mirror.in_flight -= 1

        def _get(self) -> None:
            path, _, query = self.path.partition("?")
            rng = self.headers.get("Range")
            mirror.requests.append((path, rng))
            queue = mirror.faults.get(path, [])
            fault = queue.pop(0) if queue else ""
            if fault in ("500", "429"):
                self.send_response(int(fault))
                self.send_header("Content-Length", "0")
                if fault == "429":
                    self.send_header("Retry-After", "0")
                self.end_headers()
                return
            if path in mirror.handlers:
                params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
                body: bytes | None = mirror.handlers[path](params)
            else:
                body = mirror.body(path)
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if fault == "corrupt":
                body = bytes([body[0] ^ 0xFF]) + body[1:]
            start = 0
            if rng and rng.startswith("bytes=") and fault != "truncate":
                start = int(rng[6:].split("-")[0])
            if start >= len(body) > 0:
                self.send_response(416)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206 if start else 200)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            if fault == "slow":
                time.sleep(0.3)
            if fault == "truncate":
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body[start:])

    return Handler


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    """A :class:`Mirror` over a fresh generated root (``mirror.roots[0]``), real mirror second."""
    gen = tmp_path / "mirror"
    gen.mkdir()
    m = Mirror(roots=[gen, BINANCE_VISION])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(m))
    server.daemon_threads = True
    m.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield m
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def hash_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the raw files read in full for their SHA-256 (``raw/hashes.hash_file``)."""
    from seriesfactory.raw import download, hashes

    seen: list[str] = []
    real = hashes.hash_file

    def counted(path: Path) -> str:
        seen.append(path.name)
        return real(path)

    monkeypatch.setattr(hashes, "hash_file", counted)
    monkeypatch.setattr(download, "hash_file", counted)
    return seen


# -- ML and report tests: a 1 s trade-feature table from real trades ------------------------------
# A small feature table independent of seriesfactory.features (so the ML tests check the ML code
# alone, fast): 1 s close-stamped buckets with OHLCV, taker volumes, VWAP and a few trailing
# features; an empty second carries the last close. tests/ml/test_baselines.py also runs the real
# trade features (through the trades tier) into a dataset.
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import pyarrow as pa  # noqa: E402

REAL_COINM = (
    SHARED_REAL
    / "binance/vision/data/futures/cm/daily/aggTrades/BTCUSD_PERP"
    / "BTCUSD_PERP-aggTrades-2026-05-08.zip"
)

_SECOND_NS = 1_000_000_000


def real_coinm_trades(path: Path = REAL_COINM) -> pa.Table:
    """The recorded COIN-M aggTrades day as a trade table (ts, price, qty, side, ...)."""
    from seriesfactory.raw.archives import iter_member_pieces
    from seriesfactory.sources.binance.history import parse_pieces

    pieces = iter_member_pieces(path, max_bytes=10**9)
    parts = [
        p.table
        for p in parse_pieces(
            pieces, source=str(path), market="coinm", kind="aggTrades", contract_size=100.0
        )
    ]
    return pa.concat_tables(parts)


def trade_feature_table(trades: pa.Table, step_ns: int = _SECOND_NS) -> pa.Table:
    """1 s trade features (close-stamped buckets) over the span of ``trades``."""
    df = pl.from_arrow(trades.select(["ts", "price", "qty", "side"]))
    assert isinstance(df, pl.DataFrame)
    df = df.with_columns(pl.col("ts").cast(pl.Int64).alias("t"))
    df = df.with_columns(((pl.col("t") // step_ns + 1) * step_ns).alias("bucket"))
    agg = (
        df.group_by("bucket", maintain_order=True)
        .agg(
            pl.col("price").first().alias("open"),
            pl.col("price").max().alias("high"),
            pl.col("price").min().alias("low"),
            pl.col("price").last().alias("close"),
            pl.col("qty").sum().alias("volume"),
            pl.col("qty").filter(pl.col("side") == 1).sum().alias("buy_volume"),
            pl.col("qty").filter(pl.col("side") == -1).sum().alias("sell_volume"),
            pl.len().alias("trade_count"),
            ((pl.col("price") * pl.col("qty")).sum() / pl.col("qty").sum()).alias("vwap"),
        )
        .sort("bucket")
    )
    lo, hi = int(agg["bucket"][0]), int(agg["bucket"][-1])
    grid = pl.DataFrame({"bucket": np.arange(lo, hi + step_ns, step_ns, dtype=np.int64)})
    out = grid.join(agg, on="bucket", how="left").sort("bucket")
    out = out.with_columns(pl.col("close").forward_fill())
    out = out.with_columns(
        pl.col("open").fill_null(pl.col("close")),
        pl.col("high").fill_null(pl.col("close")),
        pl.col("low").fill_null(pl.col("close")),
        pl.col("volume").fill_null(0.0),
        pl.col("buy_volume").fill_null(0.0),
        pl.col("sell_volume").fill_null(0.0),
        pl.col("trade_count").fill_null(0).cast(pl.Int64),
    )
    out = out.with_columns(
        pl.col("close").log().diff().alias("log_return"),
        (pl.col("buy_volume") - pl.col("sell_volume")).alias("signed_volume"),
        pl.when(pl.col("volume") > 0)
        .then((pl.col("buy_volume") - pl.col("sell_volume")) / pl.col("volume"))
        .otherwise(None)
        .alias("volume_imbalance"),
    )
    out = out.with_columns(
        pl.col("log_return").rolling_std(30).alias("realized_vol_30"),
        pl.col("log_return").rolling_sum(10).alias("momentum_10"),
        pl.col("signed_volume").rolling_sum(30).alias("signed_volume_30"),
        pl.col("volume").rolling_mean(30).alias("volume_mean_30"),
        pl.col("log_return").shift(1).alias("log_return_lag_1"),
    )
    out = out.with_columns(pl.col("bucket").cast(pl.Datetime("ns", "UTC")).alias("ts")).drop(
        "bucket"
    )
    table = out.select(["ts", *[c for c in out.columns if c != "ts"]]).to_arrow()
    return table.cast(
        pa.schema([pa.field("ts", pa.timestamp("ns", tz="UTC")), *list(table.schema)[1:]])
    )


@pytest.fixture(scope="session")
def real_trade_features(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1 s trade-feature table of the real COIN-M day, as Parquet."""
    if not REAL_COINM.is_file():
        pytest.skip(f"{REAL_COINM} is absent: the recorded real data lives only in ../shared")
    import pyarrow.parquet as pq

    path = tmp_path_factory.mktemp("real") / "btcusd_perp_1s.parquet"
    pq.write_table(trade_feature_table(real_coinm_trades()), path)
    return path


def synthetic_feature_table(n: int = 5_000, seed: int = 0, price: str = "close") -> pa.Table:
    """A random-walk price on a 1 s grid with three features (one with a 50-row warm-up)."""
    rng = np.random.default_rng(seed)
    p = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, n)))
    ts = np.arange(n, dtype=np.int64) * _SECOND_NS + 1_767_225_600 * _SECOND_NS  # 2026-01-01
    f2 = rng.normal(size=n)
    f2[:50] = np.nan
    return pa.table(
        {
            "ts": pa.array(ts).cast(pa.timestamp("ns", tz="UTC")),
            price: p,
            "f1": rng.normal(size=n),
            "f2": f2,
            "lagged_return": np.concatenate(([np.nan], np.diff(np.log(p)))),
        }
    )


@pytest.fixture
def make_features() -> Callable[..., pa.Table]:
    """:func:`synthetic_feature_table`: ``make_features(n=5_000, seed=0, price="close")``."""
    return synthetic_feature_table


# -- a real S3 API (moto in server mode), shared by the object-store and universe tests ----------
import logging  # noqa: E402
import uuid  # noqa: E402


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 (a random port) for the session."""
    moto_server = pytest.importorskip("moto.server", reason="moto[server] (dev extra) is missing")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def aws_env(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """The usual AWS_* variables, pointing at ``endpoint`` with test credentials."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)


@pytest.fixture
def bucket(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on moto; the AWS_* variables point at moto."""
    s3fs = pytest.importorskip("s3fs", reason="the [s3] extra (s3fs) is not installed")
    aws_env(monkeypatch, moto_url)
    name = f"lake-{uuid.uuid4().hex[:10]}"
    s3fs.S3FileSystem(skip_instance_cache=True).mkdir(name)
    return name
