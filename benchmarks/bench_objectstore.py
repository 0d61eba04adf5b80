"""Object-store round trips: publishing and reading one day of trades, local folder vs S3 (moto).

One day of generated trades (``--trades`` rows, the trades tier's Parquet options) is
published and read back, interleaved, ``--repeat`` times each way:

- ``publish``: local = ``lake.outputs.publish_table`` into a folder (temporary name, fsync,
  rename: the local path, which never goes through fsspec); S3 = the same file written to a
  staging folder and published by ``core.storage.publish_files`` (temporary key, server-side
  copy, delete, manifest entry) to a moto server on 127.0.0.1 through s3fs;
- ``read all``: the whole table (local ``pq.read_table``; S3 through ``core.storage.open_input``,
  ranged requests);
- ``read 1 col``: one column of one row group (what a ranged read saves);
- ``tiny file``: publishing a 100-byte file, i.e. the fixed per-file overhead (requests).
- ``read days``: ``--days`` days of the trades tier (``--day-trades`` rows each) published by
  ``SharedTrades.publish`` and read by ``SharedTrades.read_range`` one day at a time
  (``read_ahead=1``) vs the default read-ahead (``READ_AHEAD`` days on threads), each day
  checked against its seal; both are compared with the local tier's ``read_range``.

Prints the median seconds of each and the ratio S3 / local. moto runs in this process (a
thread), so its own CPU time is included in the S3 figures: an upper bound on the
client's overhead, with no network latency (add the store's round-trip time per request).
``--moto-process`` runs moto as its own process (``moto_server``), so its CPU is not the
client's: closer to a real store, and what the read-ahead row needs to show anything (with
moto in this process, its request handling and the reading threads share one interpreter).
Run::

    .venv/bin/python benchmarks/bench_objectstore.py --trades 2000000
    .venv/bin/python benchmarks/bench_objectstore.py --trades 2000000 --moto-process
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def _day(n: int) -> pa.Table:
    rng = np.random.default_rng(1)
    start = 1_704_067_200_000_000_000
    ts = start + np.sort(rng.integers(0, 86_400_000_000_000, n))
    return pa.table(
        {
            "ts": pa.array(ts, pa.int64()),
            "price": pa.array(42_000 + rng.normal(0, 2, n).cumsum()),
            "qty": pa.array(rng.exponential(0.05, n)),
            "side": pa.array(np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8)),
            "trade_id": pa.array(np.arange(n, dtype=np.int64)),
        }
    )


def _median(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--trades", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--days", type=int, default=8)
    ap.add_argument("--day-trades", type=int, default=250_000)
    ap.add_argument("--moto-process", action="store_true", help="moto_server in a subprocess")
    args = ap.parse_args()

    if args.moto_process:  # moto's CPU in its own process, as a store's is
        import socket
        import subprocess
        import sys

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            host, port = sock.getsockname()
        exe = Path(sys.executable).with_name("moto_server")
        proc = subprocess.Popen([str(exe), "-H", host, "-p", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        _wait_port(host, port)
        server: Any = _Stop(proc)
    else:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_REGION="us-east-1",
    )
    import s3fs

    from seriesfactory.core import storage
    from seriesfactory.core.atomic import atomic_write_bytes
    from seriesfactory.lake.outputs import publish_table

    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    s3fs.S3FileSystem(skip_instance_cache=True).mkdir(bucket)
    remote = storage.parse_location(f"s3://{bucket}/day", option="bench")
    assert isinstance(remote, storage.Remote)

    table = _day(args.trades)
    with tempfile.TemporaryDirectory() as tmp:
        local_dir = Path(tmp) / "local"
        stage = Path(tmp) / "stage"
        stage.mkdir()
        name = "20240101.parquet"
        tiny = Path(tmp) / "tiny.json"
        tiny.write_bytes(b"x" * 100)

        def pub_local() -> None:
            publish_table(local_dir / name, table, "parquet", row_group_offsets=_groups(table))

        def pub_s3() -> None:
            publish_table(stage / name, table, "parquet", row_group_offsets=_groups(table))
            storage.publish_files(remote, [stage / name])

        pub_local()
        pub_s3()
        size = (local_dir / name).stat().st_size
        entry = storage.published(remote)[name]

        def read_local() -> pa.Table:
            return pq.read_table(local_dir / name)

        def read_s3() -> pa.Table:
            with storage.open_input(remote / name, size=entry.bytes) as fh:
                return pq.ParquetFile(fh).read()

        def col_local() -> pa.Table:
            return pq.ParquetFile(local_dir / name).read_row_group(3, columns=["price"])

        def col_s3() -> pa.Table:
            with storage.open_input(remote / name, size=entry.bytes) as fh:
                return pq.ParquetFile(fh).read_row_group(3, columns=["price"])

        assert read_s3().equals(read_local()) and col_s3().equals(col_local())

        def tiny_local() -> None:
            atomic_write_bytes(local_dir / "tiny.json", tiny.read_bytes())

        def tiny_s3() -> None:
            storage.publish_files(remote, [tiny])

        rows = [
            ("publish", pub_local, pub_s3),
            ("read all", read_local, read_s3),
            ("read 1 col", col_local, col_s3),
            ("tiny file", tiny_local, tiny_s3),
        ]
        print(f"{args.trades:,} trades, {size / 1e6:.1f} MB Parquet, {args.repeat} runs each")
        print(f"{'':12s}{'local s':>10s}{'S3 (moto) s':>13s}{'ratio':>8s}")
        for label, local_fn, s3_fn in rows:
            a = _median(local_fn, args.repeat)
            b = _median(s3_fn, args.repeat)
            print(f"{label:12s}{a:10.4f}{b:13.4f}{b / a:8.1f}")
        before = storage.stats.range_requests, storage.stats.range_bytes
        col_s3()
        req = storage.stats.range_requests - before[0]
        got = storage.stats.range_bytes - before[1]
        print(f"read 1 col fetched {got:,} of {size:,} bytes in {req} ranged requests")
        _read_days(Path(tmp), storage.Remote("s3", f"{bucket}/lake"), args)
    server.stop()


def _read_days(tmp: Path, lake: object, args: argparse.Namespace) -> None:
    """Days of the trades tier read from the store one at a time vs read ahead on threads."""
    from seriesfactory.core.time import NS_PER_DAY
    from seriesfactory.lake.shared import READ_AHEAD, SharedTrades
    from seriesfactory.lake.trades import TradeStore
    from seriesfactory.schema import TRADE_SCHEMA

    first = 1_704_067_200_000_000_000 // NS_PER_DAY
    parts = []
    for d in range(args.days):
        day = _day(args.day_trades)
        ts = pa.array(day.column("ts").to_numpy() + d * NS_PER_DAY, pa.int64())
        columns = [
            ts.cast(TRADE_SCHEMA.field("ts").type),
            pa.nulls(day.num_rows, TRADE_SCHEMA.field("recv_ts").type),
            *(day.column(c) for c in ("price", "qty", "side", "trade_id")),
        ]
        parts.append(pa.Table.from_arrays(columns, schema=TRADE_SCHEMA))
    store = TradeStore(tmp / "cache", "binance", "BTCUSDT")
    rec = store.ingest_stream(parts, raw_sha256="c" * 64, raw_name="c.zip", bad_lines=[])
    shared = SharedTrades(lake, "binance", "BTCUSDT")  # type: ignore[arg-type]
    shared.publish(store, rec)
    lo, hi = first * NS_PER_DAY, (first + args.days) * NS_PER_DAY

    def local() -> int:
        return sum(t.num_rows for t, _ in store.read_range(lo, hi))

    def one_by_one() -> int:
        return sum(t.num_rows for t, _ in shared.read_range(lo, hi, read_ahead=1))

    def ahead() -> int:
        return sum(t.num_rows for t, _ in shared.read_range(lo, hi))

    assert local() == one_by_one() == ahead() == args.days * args.day_trades
    a = _median(local, args.repeat)
    b = _median(one_by_one, args.repeat)
    c = _median(ahead, args.repeat)
    print(f"read {args.days} days ({args.day_trades:,} trades each), median of {args.repeat}:")
    print(f"  local tier {a:.4f} s; S3 one day at a time {b:.4f} s ({b / a:.1f}x local)")
    print(f"  S3 {READ_AHEAD} days ahead {c:.4f} s ({c / a:.1f}x local, {b / c:.2f}x faster)")


class _Stop:
    def __init__(self, proc: Any) -> None:
        self.proc = proc

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def _wait_port(host: str, port: int, timeout_s: float = 30.0) -> None:
    import socket

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"moto_server did not listen on {host}:{port} within {timeout_s:.0f} s")


def _groups(table: pa.Table, n: int = 8) -> list[int]:
    step = -(-table.num_rows // n)
    return list(range(0, table.num_rows, step))


if __name__ == "__main__":
    main()
