"""The lake and outputs on an object store: a real S3 API (moto in server mode) through s3fs.

One moto server on 127.0.0.1 (a random port) serves the whole session; each test gets
its own bucket. Faults come from a small HTTP proxy on 127.0.0.1 in front of moto that
answers some requests with a 500, holds them past the read timeout, or never answers.
Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("s3fs", reason="the [s3] extra (s3fs) is not installed")
pytest.importorskip("moto.server", reason="moto[server] (dev extra) is missing")

from tests.conftest import aws_env as _aws_env

from seriesfactory.cli import main
from seriesfactory.core import storage
from seriesfactory.core.storage import Remote, StorageOptions, parse_location
from seriesfactory.errors import CacheWarning, InputError, StorageError

GBM = "gbm(0.05,0.5,50000)"


# -- the servers ---------------------------------------------------------------------------------


@dataclass
class FaultProxy:
    """Forwards every request to moto; ``rule(method, path, headers)`` may instead answer
    ``"500"``, delay the answer (``"slow"``, ``slow_s``) or never answer (``"hang"``)."""

    upstream: str
    url: str = ""
    rule: Callable[[str, str, dict[str, str]], str | None] = lambda *_: None
    slow_s: float = 2.0
    seen: list[tuple[str, str, str]] = field(default_factory=list)
    hung: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


def _proxy_handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    host, port = proxy.upstream.removeprefix("http://").split(":")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k: v for k, v in self.headers.items() if k.lower() != "expect"}
            verdict = proxy.rule(self.command, self.path, headers)
            proxy.seen.append((self.command, self.path, verdict or ""))
            if verdict == "500":
                err = b"<Error><Code>InternalError</Code><Message>injected</Message></Error>"
                self.send_response(500)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(err)))
                self.end_headers()
                self.wfile.write(err)
                return
            if verdict == "hang":
                proxy.hung.set()
                proxy.release.wait(30)  # bounded: the test kills the client long before
                self.close_connection = True
                return
            if verdict == "slow":
                time.sleep(proxy.slow_s)
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            try:
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            finally:
                conn.close()
            with contextlib.suppress(OSError):
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

    return Handler


@pytest.fixture
def proxy(moto_url: str) -> Iterator[FaultProxy]:
    p = FaultProxy(upstream=moto_url)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _proxy_handler(p))
    server.daemon_threads = True
    p.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield p
    finally:
        p.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def proxied_bucket(proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch, bucket: str) -> str:
    """A fresh bucket on moto, reached through the fault proxy (the AWS_* variables point at it)."""
    _aws_env(monkeypatch, proxy.url)
    return bucket


def _keys(bucket: str) -> list[str]:
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True, use_listings_cache=False)
    return sorted(k.split("/", 1)[1] for k in fs.find(bucket))


# -- locations -----------------------------------------------------------------------------------


def test_locations_parse_paths_file_urls_and_object_stores(tmp_path: Path) -> None:
    assert parse_location("cache", option="--cache-dir") == Path("cache")
    assert parse_location(f"file://{tmp_path}/c", option="--cache-dir") == tmp_path / "c"
    assert parse_location("file:///a%20b/c", option="--cache-dir") == Path("/a b/c")
    s3 = parse_location("s3://bucket/pre/fix/", option="--output-dir")
    assert isinstance(s3, Remote) and s3.url == "s3://bucket/pre/fix" and s3.bucket == "bucket"
    assert (s3 / "x.csv").url == "s3://bucket/pre/fix/x.csv" and (s3 / "x").parent == s3
    mem = parse_location("memory://out", option="--output-dir")
    assert isinstance(mem, Remote) and mem.path == "/out" and mem.url == "memory://out"
    for bad, words in [
        ("gs://b/p", "unsupported URL scheme 'gs'"),
        ("s3://", "no bucket"),
        ("s3://b/../etc", "'..'"),
        ("file://host/x", "this machine's files"),
    ]:
        with pytest.raises(InputError, match=words) as info:
            parse_location(bad, option="--output-dir")
        assert str(info.value).startswith("--output-dir ") and "\n" not in str(info.value)


# -- publishing and reading (memory:// and s3://) -----------------------------------------------


def _table(n: int = 20_000) -> pa.Table:
    import numpy as np

    rng = np.random.default_rng(7)
    return pa.table(
        {
            "ts": pa.array(np.arange(n, dtype=np.int64) * 1_000_000),
            "price": pa.array(40_000 + rng.normal(0, 5, n).cumsum()),
            "qty": pa.array(rng.random(n)),
        }
    )


@pytest.mark.parametrize("where", ["memory", "s3"])
def test_publish_lists_files_in_the_manifest_and_reads_are_ranged(
    where: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if where == "s3":
        folder = parse_location(f"s3://{request.getfixturevalue('bucket')}/out", option="o")
    else:
        folder = parse_location(f"memory://t-{uuid.uuid4().hex[:8]}/out", option="o")
    assert isinstance(folder, Remote)
    local = tmp_path / "t.parquet"
    pq.write_table(_table(), local, row_group_size=5_000)
    side = tmp_path / "t.parquet.note"
    side.write_text("hello")
    storage.publish_files(folder, [local, side])
    listed = storage.published(folder)
    assert set(listed) == {"t.parquet", "t.parquet.note"}
    assert listed["t.parquet"].bytes == local.stat().st_size
    assert storage.read_published(folder / "t.parquet") == local.read_bytes()
    assert storage.list_names(folder) == ["_manifest", "t.parquet", "t.parquet.note"]
    # one column of one row group: a few small ranges, far less than the object
    before = (storage.stats.range_requests, storage.stats.range_bytes)
    with storage.open_input(folder / "t.parquet", size=listed["t.parquet"].bytes) as fh:
        got = pq.ParquetFile(fh).read_row_group(2, columns=["price"])
    assert got.column("price") == pq.read_table(local).column("price").slice(10_000, 5_000)
    fetched = storage.stats.range_bytes - before[1]
    assert 0 < fetched < local.stat().st_size / 3
    assert storage.stats.range_requests - before[0] <= 4
    with pytest.raises(FileNotFoundError, match="not published"):
        storage.read_published(folder / "absent.parquet")


def test_a_changed_object_fails_its_manifest_check(bucket: str, tmp_path: Path) -> None:
    folder = parse_location(f"s3://{bucket}/o", option="o")
    assert isinstance(folder, Remote)
    (tmp_path / "a.csv").write_text("x\n1\n")
    storage.publish_files(folder, [tmp_path / "a.csv"])
    storage.write_bytes_atomic(folder / "a.csv", b"x\n2\n")  # same size, other bytes
    with pytest.raises(StorageError, match="do not match its manifest entry"):
        storage.read_published(folder / "a.csv")


# -- the commands: local and s3 outputs are byte-identical ---------------------------------------


def _series(out: str, cache: Path, fmt: str) -> list[str]:
    return ["series", "--from", "2024-01-01", "--to", "2024-01-02", "--agg-step", "3600000",
            "--sources", GBM, "--cache-dir", str(cache), "--output-dir", out,
            "--out-format", fmt, "--quiet"]  # fmt: skip


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_series_to_s3_is_byte_identical_to_a_local_run(
    bucket: str, tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "cache"
    assert main(_series(str(tmp_path / "out"), cache, fmt)) == 0
    assert main(_series(f"s3://{bucket}/runs/a", cache, fmt)) == 0
    assert f"wrote s3://{bucket}/runs/a/" in capsys.readouterr().out
    local = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(local) == (2 if fmt == "csv" else 1)
    folder = parse_location(f"s3://{bucket}/runs/a", option="o")
    assert isinstance(folder, Remote)
    assert sorted(storage.published(folder)) == local
    for name in local:
        assert storage.read_published(folder / name) == (tmp_path / "out" / name).read_bytes()
    # nothing else was left: no temporary keys, one manifest entry
    assert _keys(bucket) == sorted(
        [*(f"runs/a/{n}" for n in local), f"runs/a/_manifest/{local[0]}.json"]
    )


def test_trades_and_bars_build_to_s3_equal_local(
    bucket: str,
    mirror,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    day = "2024-01-01"
    start_ms = 1704067200000
    rows = "".join(f"{i},{42000 + i % 7}.5,0.{i % 9 + 1},{i},{i},{start_ms + i * 9_000},"
                   f"{'true' if i % 3 else 'false'},true\n" for i in range(3000))  # fmt: skip
    rel = f"data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-{day}.zip"
    mirror.add_archive(mirror.roots[0], rel, rows)
    monkeypatch.setenv("SERIESFACTORY_BINANCE_DATA_URL", mirror.url)
    cache = str(tmp_path / "cache")
    span = ["--symbol", "BTCUSDT", "--from", day, "--to", "2024-01-02", "--cache-dir", cache]
    for out in (str(tmp_path / "o"), f"s3://{bucket}/t"):
        assert main(["trades", *span, "--out-format", "csv", "--output-dir", out, "--quiet"]) == 0
    names = sorted(p.name for p in (tmp_path / "o").iterdir())
    folder = Remote("s3", f"{bucket}/t")
    for name in names:
        assert storage.read_published(folder / name) == (tmp_path / "o" / name).read_bytes()
    exported = next(p for p in (tmp_path / "o").iterdir() if p.suffix == ".csv")
    bars = ["bars", "build", "--type", "tick", "--threshold", "100", "--input", str(exported)]
    assert main([*bars, "--output", str(tmp_path / "b.parquet"), "--quiet"]) == 0
    assert main([*bars, "--output", f"s3://{bucket}/b/b.parquet", "--quiet"]) == 0
    got = storage.read_published(Remote("s3", f"{bucket}/b/b.parquet"))
    assert got == (tmp_path / "b.parquet").read_bytes()
    # an existing output is refused without --overwrite, before any work
    assert main([*bars, "--output", f"s3://{bucket}/b/b.parquet", "--quiet"]) == 2
    # a saved state would run ahead of a failed publish: refused in one line
    state = ["--state", str(tmp_path / "s.json"), "--overwrite"]
    assert main([*bars, *state, "--output", f"s3://{bucket}/b/c.parquet"]) == 2
    assert "--state with an object-store --output" in capsys.readouterr().err
    assert not (tmp_path / "s.json").exists()


# -- faults ---------------------------------------------------------------------------------------


def test_500s_and_slow_replies_are_retried_and_the_output_is_whole(
    proxy: FaultProxy,
    proxied_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = proxied_bucket
    monkeypatch.setenv("SERIESFACTORY_STORAGE_READ_TIMEOUT_S", "0.5")
    counts = {"PUT": 0, "GET": 0}

    def rule(method: str, path: str, headers: dict[str, str]) -> str | None:
        if method in counts:
            counts[method] += 1
            n = counts[method]
            if method == "PUT" and n in (1, 3, 4):
                return "500"  # the first upload, and the first copy twice
            if method == "GET" and n == 2:
                return "slow"  # past the read timeout
        return None

    proxy.rule = rule
    proxy.slow_s = 1.5
    retries = storage.stats.retries
    cache = tmp_path / "cache"
    assert main(_series(str(tmp_path / "out"), cache, "csv")) == 0
    assert main(_series(f"s3://{bucket}/f", cache, "csv")) == 0
    assert storage.stats.retries - retries >= 4
    assert [v for *_, v in proxy.seen].count("500") == 3
    assert "slow" in [v for *_, v in proxy.seen]
    folder = Remote("s3", f"{bucket}/f")
    for p in (tmp_path / "out").iterdir():
        assert storage.read_published(folder / p.name) == p.read_bytes()


def test_a_store_that_keeps_failing_publishes_nothing(
    proxy: FaultProxy,
    proxied_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bucket = proxied_bucket
    monkeypatch.setenv("SERIESFACTORY_STORAGE_RETRIES", "2")
    # every server-side copy (the publish step) fails: uploads to temporary keys succeed
    proxy.rule = lambda m, p, h: "500" if m == "PUT" and "x-amz-copy-source" in h else None
    assert main(_series(f"s3://{bucket}/g", tmp_path / "cache", "csv")) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: cannot publish s3://{bucket}/g/") and "\n" not in err
    assert "HTTP 500" in err and "after 3 tries" in err
    assert _keys(bucket) == []  # no final key, no manifest entry, no temporary key left


def test_unreachable_store_fails_fast_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _aws_env(monkeypatch, f"http://127.0.0.1:{port}")
    assert main(_series("s3://lake/out", tmp_path / "cache", "parquet")) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: cannot reach s3://lake/out (endpoint http://127.0.0.1:{port})")
    assert "\n" not in err
    assert not (tmp_path / "cache").exists()  # failed before any work


_WRITER = """
import sys
from pathlib import Path
from seriesfactory.core import storage
folder = storage.parse_location(sys.argv[1], option="o")
storage.publish_files(folder, [Path(sys.argv[2])])
"""


def test_a_writer_killed_mid_publish_leaves_nothing_visible(
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    bucket = request.getfixturevalue("bucket")
    big = tmp_path / "big.parquet"
    pq.write_table(_table(200_000), big)
    # the upload to the temporary key goes through; the copy to the final key never answers
    proxy.rule = lambda m, p, h: "hang" if m == "PUT" and "x-amz-copy-source" in h else None
    env = {**os.environ, "AWS_ENDPOINT_URL": proxy.url}
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, f"s3://{bucket}/k", str(big)], env=env
    )
    try:
        assert proxy.hung.wait(60), "the writer never reached the publish step"
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
    keys = _keys(bucket)
    assert len(keys) == 1 and keys[0].startswith("k/.tmp-") and keys[0].endswith("-big.parquet")
    folder = Remote("s3", f"{bucket}/k")
    assert storage.published(folder) == {} and storage.list_names(folder) == []
    # a rerun publishes; once the leftover is older than STALE_TEMP_S it is swept
    proxy.rule = lambda *_: None
    monkeypatch.setattr(storage, "STALE_TEMP_S", -1.0)
    storage.publish_files(folder, [big])
    assert _keys(bucket) == ["k/_manifest/big.parquet.json", "k/big.parquet"]
    assert storage.read_published(folder / "big.parquet") == big.read_bytes()


def test_store_settings_come_from_the_config_file(tmp_path: Path) -> None:
    from seriesfactory.config import load_settings

    cfg = tmp_path / "s.toml"
    cfg.write_text(
        's3_endpoint_url = "http://127.0.0.1:9000"\ns3_region = "eu-west-1"\n'
        "storage_retries = 2\nstorage_read_timeout_s = 4.5\n"
    )
    opts = load_settings(cfg, env={}).storage_options()
    assert opts == StorageOptions(endpoint_url="http://127.0.0.1:9000", region="eu-west-1",
                                  retries=2, read_timeout_s=4.5)  # fmt: skip
    assert opts.endpoint({}) == "http://127.0.0.1:9000"
    assert StorageOptions().endpoint({"AWS_ENDPOINT_URL": "http://h:1"}) == "http://h:1"


# -- the trades tier on the object store ---------------------------------------------------------


def _archive(mirror, day: str, n: int) -> None:
    from seriesfactory.core.time import parse_date

    start_ms = parse_date(day, option="day") // 10**6
    rows = "".join(f"{i},{42000 + i % 7}.5,0.{i % 9 + 1},{i},{i},{start_ms + i * 9_000},"
                   f"{'true' if i % 3 else 'false'},true\n" for i in range(n))  # fmt: skip
    rel = f"data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-{day}.zip"
    mirror.add_archive(mirror.roots[0], rel, rows)


def test_trades_tier_on_s3_is_shared_between_machines(
    bucket: str,
    mirror,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from seriesfactory.lake.shared import SharedTrades

    for day in ("2024-01-01", "2024-01-02"):
        _archive(mirror, day, 4000)
    monkeypatch.setenv("SERIESFACTORY_BINANCE_DATA_URL", mirror.url)
    span = ["--symbol", "BTCUSDT", "--from", "2024-01-01", "--to", "2024-01-03", "--quiet"]
    lake = f"s3://{bucket}/lake"

    def run(cache: str, out: Path, machine: str) -> bytes:
        monkeypatch.setenv("SERIESFACTORY_LOCAL_CACHE_DIR", str(tmp_path / machine))
        assert main(["trades", *span, "--cache-dir", cache, "--output-dir", str(out)]) == 0
        (only,) = out.iterdir()
        return only.read_bytes()

    reference = run(str(tmp_path / "local-cache"), tmp_path / "o0", "unused")
    assert run(lake, tmp_path / "o1", "m1") == reference  # ingests and publishes
    keys = _keys(bucket)
    days = [k for k in keys if k.endswith(".parquet")]
    assert days == [f"lake/trades/binance/BTCUSDT/2024/01/2024010{d}.parquet" for d in (1, 2)]
    assert sum("/_ingested/" in k for k in keys) == 2 and not any(".tmp-" in k for k in keys)
    # another machine: the published tier is read (ranged), nothing is ingested there
    before = storage.stats.range_requests
    assert run(lake, tmp_path / "o2", "m2") == reference
    assert storage.stats.range_requests - before >= 4  # footer + body of each day
    assert not (tmp_path / "m2" / "trades").exists()
    # a column read (ranged: tests above measure the bytes on a larger object) is checked
    # against the seal's size and equals that column of the verified whole-day read
    shared = SharedTrades(Remote("s3", f"{bucket}/lake"), "binance", "BTCUSDT")
    prices = shared.read_day("20240101", columns=["price"])
    assert prices.column_names == ["price"]
    assert prices.column("price").equals(shared.read_day("20240101").column("price"))
    # a damaged object is evicted (record first), re-ingested and published again
    data = bytearray(storage.read_bytes(shared.day_key("20240102")))
    data[len(data) // 2] ^= 0xFF
    storage.write_bytes_atomic(shared.day_key("20240102"), bytes(data))
    capsys.readouterr()
    assert run(lake, tmp_path / "o3", "m3") == reference
    err = capsys.readouterr().err
    assert "20240102.parquet: damaged; evicted it and its ingest record, rebuilding it" in err
    assert storage.read_bytes(shared.day_key("20240102")) != bytes(data)
    # bars from the shared tier equal bars from a local tier
    bars = ["bars", "build", "--type", "tick", "--threshold", "500", "--venue", "binance"]
    bars += ["--symbol", "BTCUSDT", "--from", "2024-01-01", "--to", "2024-01-03", "--quiet"]
    local = str(tmp_path / "local-cache")
    assert main([*bars, "--cache-dir", local, "--output", str(tmp_path / "b0.parquet")]) == 0
    assert main([*bars, "--cache-dir", lake, "--output", str(tmp_path / "b1.parquet")]) == 0
    assert pq.read_table(tmp_path / "b0.parquet").num_rows >= 15
    assert pq.read_table(tmp_path / "b0.parquet").equals(pq.read_table(tmp_path / "b1.parquet"))


def test_local_paths_never_load_fsspec(tmp_path: Path) -> None:
    """A local --cache-dir/--output-dir (a path or file://) keeps the local code: no fsspec."""
    code = (
        "import sys\nfrom seriesfactory.cli import main\n"
        f"rc = main({_series(f'file://{tmp_path}/out', tmp_path / 'cache', 'csv')!r})\n"
        "print(rc, 'fsspec' in sys.modules, 's3fs' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.stdout.split()[-3:] == ["0", "False", "False"], done.stderr
    assert len(list((tmp_path / "out").iterdir())) == 2  # the CSV and its sidecar


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(min_size=0, max_size=3000),
    ops=st.lists(
        st.tuples(
            st.sampled_from(["read", "seek_set", "seek_cur", "seek_end"]), st.integers(-50, 3500)
        ),
        max_size=12,
    ),
)
def test_ranged_file_reads_what_a_local_file_reads(data: bytes, ops: list[tuple[str, int]]) -> None:
    """Any sequence of reads and seeks on the ranged object file returns a local file's bytes."""
    import io as _io

    folder = Remote("memory", f"/prop-{uuid.uuid4().hex[:8]}")
    storage.write_bytes_atomic(folder / "o.bin", data)
    ref = _io.BytesIO(data)
    with storage.open_input(folder / "o.bin") as fh:
        assert fh.size() == len(data)
        for op, n in ops:
            if op == "read":
                assert fh.read(max(n, 0)) == ref.read(max(n, 0))
            else:
                whence = {"seek_set": 0, "seek_cur": 1, "seek_end": 2}[op]
                target = {0: 0, 1: ref.tell(), 2: len(data)}[whence] + n
                if target < 0:
                    continue  # a negative position is an error for both
                fh.seek(n, whence)
                ref.seek(n, whence)
            assert fh.tell() == ref.tell()
    storage.remove(folder / "o.bin")


def test_series_ticks_and_aggregates_tiers_are_shared_through_s3(
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lake = f"s3://{bucket}/lake"
    args = ["series", "--from", "2024-01-01", "--to", "2024-01-03", "--agg-step", "3600000",
            "--sources", GBM, "--out-format", "csv"]  # fmt: skip

    errs: list[str] = []

    def run(cache: str, machine: str) -> tuple[str, dict[str, bytes]]:
        monkeypatch.setenv("SERIESFACTORY_LOCAL_CACHE_DIR", str(tmp_path / machine))
        out = tmp_path / f"out-{machine}"
        capsys.readouterr()
        assert main([*args, "--cache-dir", cache, "--output-dir", str(out)]) == 0
        said = capsys.readouterr()
        errs.append(said.err)
        return said.out, {p.name: p.read_bytes() for p in out.iterdir()}

    _, reference = run(str(tmp_path / "local"), "local-run")
    said, first = run(lake, "m1")
    assert first == reference and "from cache: nothing" in said  # generated, then published
    keys = _keys(bucket)
    assert any(k.startswith("lake/ticks/synthetic/") and k.endswith("manifest.json") for k in keys)
    assert any(k.startswith("lake/aggregates/") and k.endswith(".parquet.seal") for k in keys)
    assert not any(".tmp-" in k for k in keys)
    said, second = run(lake, "m2")  # another machine: both tiers fetched from the lake
    assert second == reference and "from cache: ticks, aggregates" in said
    assert list((tmp_path / "m2" / "ticks").rglob("manifest.json"))
    # a published day object that fails its seal is never used: the set is withdrawn, built
    # again here and published again
    day = next(k for k in keys if k.startswith("lake/ticks/") and k.endswith(".parquet"))
    data = bytearray(storage.read_bytes(Remote("s3", f"{bucket}/{day}")))
    data[len(data) // 2] ^= 0xFF
    storage.write_bytes_atomic(Remote("s3", f"{bucket}/{day}"), bytes(data))
    said, third = run(lake, "m3")
    assert third == reference and "from cache: aggregates" in said
    assert "fails its seal; withdrew" in errs[-1] and "building the set here" in errs[-1]
    fixed = storage.read_bytes(Remote("s3", f"{bucket}/{day}"))
    assert fixed != bytes(data) and len(fixed) == len(data)
    said, _ = run(lake, "m4")
    assert "from cache: ticks, aggregates" in said


def test_tier_publish_and_fetch_survive_500s_and_slow_replies(
    proxy: FaultProxy,
    proxied_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = proxied_bucket
    monkeypatch.setenv("SERIESFACTORY_STORAGE_READ_TIMEOUT_S", "0.5")
    proxy.slow_s = 1.5
    seen = {"PUT": 0, "GET": 0}

    def rule(method: str, path: str, headers: dict[str, str]) -> str | None:
        if method not in seen:
            return None
        seen[method] += 1
        if seen[method] % 5 == 2:
            return "500"  # every fifth upload/copy and every fifth read, from the second on
        if method == "GET" and seen[method] == 4:
            return "slow"
        return None

    proxy.rule = rule
    args = ["series", "--from", "2024-01-01", "--to", "2024-01-03", "--agg-step", "3600000",
            "--sources", GBM, "--quiet", "--cache-dir", f"s3://{bucket}/lake"]  # fmt: skip
    for machine in ("m1", "m2"):  # builds and publishes; then fetches
        monkeypatch.setenv("SERIESFACTORY_LOCAL_CACHE_DIR", str(tmp_path / machine))
        assert main([*args, "--output-dir", str(tmp_path / f"o-{machine}")]) == 0
    assert [v for *_, v in proxy.seen].count("500") >= 4 and "slow" in [v for *_, v in proxy.seen]
    assert list((tmp_path / "m2" / "ticks").rglob("manifest.json"))
    (a,), (b,) = (list((tmp_path / f"o-{m}").iterdir()) for m in ("m1", "m2"))
    assert a.read_bytes() == b.read_bytes()
    assert not any(".tmp-" in k for k in _keys(bucket))


def test_damaged_published_seals_and_manifests_are_rebuilt_here_and_replaced(
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An unreadable aggregates seal, an aggregates object that fails its seal and an
    unreadable tick-set manifest are never used: each entry is built again here (with a
    warning where data was withdrawn), published again, and the output never changes."""
    lake = f"s3://{bucket}/lake"
    args = ["series", "--from", "2024-01-01", "--to", "2024-01-02", "--agg-step", "3600000",
            "--sources", GBM, "--out-format", "csv", "--cache-dir", lake]  # fmt: skip

    def run(machine: str) -> tuple[str, str, dict[str, bytes]]:
        monkeypatch.setenv("SERIESFACTORY_LOCAL_CACHE_DIR", str(tmp_path / machine))
        out = tmp_path / f"out-{machine}"
        capsys.readouterr()
        assert main([*args, "--output-dir", str(out)]) == 0
        said = capsys.readouterr()
        return said.out, said.err, {p.name: p.read_bytes() for p in out.iterdir()}

    _, _, reference = run("m1")
    keys = _keys(bucket)
    (seal,) = [k for k in keys if k.startswith("lake/aggregates/") and k.endswith(".seal")]
    (manifest,) = [k for k in keys if k.startswith("lake/ticks/") and k.endswith("manifest.json")]
    seal_key, manifest_key = Remote("s3", f"{bucket}/{seal}"), Remote("s3", f"{bucket}/{manifest}")
    good_seal = storage.read_bytes(seal_key)
    # an unreadable seal: the entry is not fetched; it is aggregated here from the lake's ticks
    storage.write_bytes_atomic(seal_key, b'{"bytes": ')
    said, _, got = run("m2")
    assert got == reference and "from cache: ticks" in said, said
    assert storage.read_bytes(seal_key) == good_seal  # published again
    # the aggregates object fails its seal and the tick manifest is unreadable: both rebuilt
    entry = Remote("s3", f"{bucket}/{seal.removesuffix('.seal')}")
    data = bytearray(storage.read_bytes(entry))
    data[len(data) // 2] ^= 0xFF
    storage.write_bytes_atomic(entry, bytes(data))
    storage.write_bytes_atomic(manifest_key, b"not a manifest")
    said, err, got = run("m3")
    assert got == reference and "from cache: nothing" in said, said
    assert f"fails its seal; withdrew {seal_key}, rebuilding the entry here" in err, err
    assert f"{manifest_key}: unreadable published manifest" in err, err
    assert storage.read_bytes(entry) != bytes(data)
    assert json.loads(storage.read_bytes(manifest_key))["files"]
    said, _, got = run("m4")
    assert got == reference and "from cache: ticks, aggregates" in said, said


def test_a_trades_day_with_an_unreadable_ingest_record_is_ingested_again(
    bucket: str, mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from seriesfactory.lake.shared import SharedTrades

    _archive(mirror, "2024-01-01", 3000)
    monkeypatch.setenv("SERIESFACTORY_BINANCE_DATA_URL", mirror.url)
    span = ["--symbol", "BTCUSDT", "--from", "2024-01-01", "--to", "2024-01-02", "--quiet"]
    lake = f"s3://{bucket}/lake"

    def run(machine: str) -> tuple[bytes, str]:
        monkeypatch.setenv("SERIESFACTORY_LOCAL_CACHE_DIR", str(tmp_path / machine))
        out = tmp_path / f"o-{machine}"
        capsys.readouterr()
        assert main(["trades", *span, "--cache-dir", lake, "--output-dir", str(out)]) == 0
        (only,) = out.iterdir()
        return only.read_bytes(), capsys.readouterr().err

    reference, _ = run("m1")
    shared = SharedTrades(Remote("s3", f"{bucket}/lake"), "binance", "BTCUSDT")
    assert shared.days() == ["20240101"]
    (record,) = [k for k in _keys(bucket) if "/_ingested/" in k]
    record_key = Remote("s3", f"{bucket}/{record}")
    good = storage.read_bytes(record_key)
    storage.write_bytes_atomic(record_key, b'{"version": ')
    assert shared.days() == []  # a record that cannot be read lists nothing
    got, err = run("m2")
    assert got == reference
    assert f"warning: {record_key}: unreadable ingest record" in err, err
    assert "; ingesting its raw file again" in err, err
    assert json.loads(storage.read_bytes(record_key)) == json.loads(good)  # published again
    assert shared.days() == ["20240101"]


def test_a_missing_bucket_is_one_line_before_any_work(
    bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = f"{bucket}-absent"
    assert main(_series(f"s3://{missing}/out", tmp_path / "cache", "parquet")) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: s3://{missing}/out: no bucket {missing!r} at http://127.0.0.1:")
    assert err.endswith("create it or fix the URL") and "\n" not in err, err
    assert not (tmp_path / "cache").exists()


def test_an_unreadable_manifest_entry_is_named_and_a_foreign_file_is_ignored(
    bucket: str, tmp_path: Path
) -> None:
    folder = parse_location(f"s3://{bucket}/o", option="o")
    assert isinstance(folder, Remote)
    (tmp_path / "a.csv").write_text("x\n1\n")
    storage.publish_files(folder, [tmp_path / "a.csv"])
    storage.write_bytes_atomic(folder / "_manifest" / "README.txt", b"not an entry")
    assert set(storage.published(folder)) == {"a.csv"}  # only .json entries are read
    storage.write_bytes_atomic(folder / "_manifest" / "a.csv.json", b'{"files": [{"name": 1}]}')
    with pytest.raises(StorageError) as info:
        storage.published(folder)
    assert str(info.value).startswith(f"{folder}/_manifest/a.csv.json: unreadable manifest (")


# -- a second machine: published records found through the venue's checksums -----------------


def _archive_requests(mirror) -> list[str]:
    return [p for p, _ in mirror.requests if p.endswith(".zip")]


def test_a_second_machine_reads_the_lake_without_downloading_archives(
    bucket: str, mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The .CHECKSUM (a few bytes) names the published record: no archive is requested."""
    days = ("2024-01-01", "2024-01-02", "2024-01-03")
    for day in days:
        _archive(mirror, day, 3000)
    monkeypatch.setenv("SERIESFACTORY_BINANCE_DATA_URL", mirror.url)
    span = ["--symbol", "BTCUSDT", "--from", "2024-01-01", "--to", "2024-01-04", "--quiet"]
    lake = f"s3://{bucket}/lake"

    def run(machine: str, *command: str) -> bytes:
        monkeypatch.setenv("SERIESFACTORY_LOCAL_CACHE_DIR", str(tmp_path / machine))
        out = tmp_path / f"out-{machine}-{command[0]}"
        which = span if command[0] == "trades" else span[2:]  # series: --base/--quote
        assert main([*command, *which, "--cache-dir", lake, "--output-dir", str(out)]) == 0
        (only,) = out.iterdir()
        return only.read_bytes()

    first = run("m1", "trades")
    assert len(_archive_requests(mirror)) == 3  # the first machine downloads and publishes
    mirror.requests.clear()
    assert run("m2", "trades") == first
    assert _archive_requests(mirror) == []  # the second reads the lake: no archive requested
    assert sorted(p for p, _ in mirror.requests) == sorted(
        f"/data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-{d}.zip.CHECKSUM" for d in days
    )
    raw = tmp_path / "m2" / "raw"
    assert not list(raw.rglob("*.zip")) and len(list(raw.rglob("*.CHECKSUM"))) == 3
    assert not (tmp_path / "m2" / "trades").exists()  # nothing ingested there either
    # a record withdrawn from the lake (a damaged day evicted elsewhere): only its archive
    # is downloaded again, ingested and republished; the output is unchanged
    from seriesfactory.lake.shared import SharedTrades

    shared = SharedTrades(Remote("s3", f"{bucket}/lake"), "binance", "BTCUSDT")
    with pytest.warns(CacheWarning, match="20240102.parquet: damaged"):
        shared.evict("20240102")
    mirror.requests.clear()
    assert run("m3", "trades") == first
    assert [Path(p).name for p in _archive_requests(mirror)] == ["BTCUSDT-aggTrades-2024-01-02.zip"]
    # a republished archive (its checksum changed): the old record does not match, so the
    # new archive is downloaded and its trades are what the output shows
    _archive(mirror, "2024-01-03", 2000)
    mirror.requests.clear()
    changed = run("m4", "trades")
    assert changed != first
    assert [Path(p).name for p in _archive_requests(mirror)] == ["BTCUSDT-aggTrades-2024-01-03.zip"]
    mirror.requests.clear()
    assert run("m5", "trades") == changed and _archive_requests(mirror) == []
    # series: the tick set's key comes from the archives' checksums, so a machine that finds
    # the set published downloads no archive either (the first one downloads and publishes)
    series = ("series", "--sources", "binance", "--agg-step", "3600000", "--base", "BTC")
    mirror.requests.clear()
    built = run("m6", *series)
    assert len(_archive_requests(mirror)) == 3
    mirror.requests.clear()
    assert run("m7", *series) == built and _archive_requests(mirror) == []
    assert len(mirror.requests) == 3  # the three checksums
    assert list((tmp_path / "m7" / "ticks").rglob("manifest.json"))  # fetched from the lake


def test_a_venue_without_checksums_still_downloads_its_files(
    bucket: str, mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bybit publishes no checksum: a second machine downloads the file to learn its hash (the
    documented fallback), then finds the record and reads the lake, ingesting nothing."""
    mirror.add_bybit_day("2024-01-02", 50)
    monkeypatch.setenv("SERIESFACTORY_BYBIT_DATA_URL", mirror.url)
    args = ["trades", "--venue", "bybit", "--symbol", "BTCUSDT", "--from", "2024-01-02",
            "--to", "2024-01-03", "--cache-dir", f"s3://{bucket}/lake", "--quiet"]  # fmt: skip
    outputs = []
    for machine in ("m1", "m2"):
        monkeypatch.setenv("SERIESFACTORY_LOCAL_CACHE_DIR", str(tmp_path / machine))
        mirror.requests.clear()
        assert main([*args, "--output-dir", str(tmp_path / f"o-{machine}")]) == 0
        assert [p for p, _ in mirror.requests] == ["/trading/BTCUSDT/BTCUSDT2024-01-02.csv.gz"]
        (only,) = (tmp_path / f"o-{machine}").iterdir()
        outputs.append(only.read_bytes())
    assert outputs[0] == outputs[1]
    assert (tmp_path / "m1" / "trades").is_dir() and not (tmp_path / "m2" / "trades").exists()
