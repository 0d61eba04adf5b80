"""Live tailing latency: from a capture line reaching the disk to the book having applied it.

A writer thread appends the real Binance USD-M BTCUSDT capture (hftbacktest, MIT, as
native JSONL) to a zstd file in small flushed blocks, at ``--rate`` messages per
second; the main thread runs :class:`LiveBook` with ``--poll`` between polls. For
every line, latency = the time the poll that applied it returned - the time its block
was flushed. Peer: the batch rebuild of the finished file, in the same run.

Run::

    .venv/bin/python benchmarks/bench_book_live.py [--rate 2000] [--poll-ms 100] [--lines 40000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import zstandard

from seriesfactory.raw.follow import NativeFollower
from seriesfactory.raw.readers import read_records
from seriesfactory.transforms.book.api import rebuild
from seriesfactory.transforms.book.live import LiveBook

SRC = (
    Path(__file__).resolve().parents[2]
    / "shared/data/real/binance/hftbacktest/usdm/btcusdt_20240808.gz"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=2000, help="messages per second written")
    ap.add_argument("--poll-ms", type=float, default=100.0)
    ap.add_argument("--lines", type=int, default=40_000)
    args = ap.parse_args()
    lines = [
        (
            json.dumps(
                {
                    "recv_ns": r.recv_ns,
                    "conn": "c",
                    "venue": "binance-usdm",
                    "kind": r.kind,
                    "data": r.data,
                }
            )
            + "\n"
        ).encode()
        for r in read_records([SRC])
    ][: args.lines]
    block = max(1, args.rate // 50)  # a flush every 20 ms
    flushed_at = np.zeros(len(lines))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "cap-0001.jsonl.zst"
        path.touch()
        live = LiveBook(
            NativeFollower(folder), venue="binance-usdm", symbol="BTCUSDT", price_decimals=1
        )

        def writer() -> None:
            with open(path, "ab") as fh:
                zw = zstandard.ZstdCompressor().stream_writer(fh)
                for k in range(0, len(lines), block):
                    zw.write(b"".join(lines[k : k + block]))
                    zw.flush(zstandard.FLUSH_BLOCK)
                    fh.flush()
                    flushed_at[k : k + block] = time.perf_counter()
                    time.sleep(block / args.rate)
                zw.close()

        thread = threading.Thread(target=writer)
        thread.start()
        latency = np.zeros(len(lines))
        done = 0
        deadline = time.perf_counter() + len(lines) / args.rate + 30
        while done < len(lines) and time.perf_counter() < deadline:
            live.poll()
            now = time.perf_counter()
            latency[done : live.records] = now - flushed_at[done : live.records]
            done = live.records
            time.sleep(args.poll_ms / 1000)
        thread.join()
        t0 = time.perf_counter()
        batch = rebuild([str(path)], venue="binance-usdm", symbol="BTCUSDT", price_decimals=1)
        batch_s = time.perf_counter() - t0
    lat_ms = latency[:done] * 1000
    print(
        f"live tailing: {done:,} of {len(lines):,} lines at {args.rate}/s, "
        f"poll {args.poll_ms:g} ms: "
        f"latency p50 {np.percentile(lat_ms, 50):.0f} ms, p99 {np.percentile(lat_ms, 99):.0f} ms, "
        f"max {lat_ms.max():.0f} ms"
    )
    print(
        f"peer: batch rebuild of the finished file: {batch_s:.2f} s "
        f"for {len(batch.messages):,} book messages"
    )


if __name__ == "__main__":
    main()
