"""Recorder throughput: messages per second captured from a local server, with zero loss.

A server process replays the real Binance spot capture (hftbacktest, BTCUSDT
2024-08-08: depth diffs, trades, bookTicker) as fast as the socket takes it, as
ready-made WebSocket frames so that the server is never the bottleneck. The recorder
(:class:`seriesfactory.raw.recorder.Recorder`, the code behind ``seriesfactory record``)
runs in this process; its CPU time is read with ``time.process_time`` (this process
only; the server is another process). Afterwards every capture file is read back and
compared message by message with what the server sent.

Peer, in the same run: a bare ``websockets`` receive loop that discards every message
(no capture) -- the ceiling for any Python recorder on this client library. The ratio
printed is the recorder's throughput over the peer's.

Run: ``.venv/bin/python benchmarks/bench_record.py [--messages 300000]``
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from seriesfactory.raw.capture import read_records
from seriesfactory.raw.config import RecordConfig
from seriesfactory.raw.recorder import Recorder

# The replay server is a test fixture (tests/replay_server.py), found from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.replay_server import feed_from_hftbacktest

DATA = Path(__file__).resolve().parents[2] / "shared/data/real/binance/hftbacktest/spot"


def _frame(text: str) -> bytes:
    """One unmasked server-to-client text frame (RFC 6455 section 5.2)."""
    payload = text.encode()
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 1 << 16:
        return bytes((0x81, 126)) + struct.pack("!H", n) + payload
    return bytes((0x81, 127)) + struct.pack("!Q", n) + payload


def _messages(count: int) -> tuple[list[str], bytes]:
    feed = feed_from_hftbacktest(DATA / "btcusdt_20240808.gz", 10**6)
    assert feed.snapshot is not None
    base = feed.messages
    out = [base[i % len(base)] for i in range(count)]
    return out, orjson.dumps(feed.snapshot)


def _serve(count: int, rate: float, port_q: Any) -> None:
    """Serve ``count`` messages: as fast as possible, or at ``rate`` msg/s when > 0."""
    messages, snapshot = _messages(count)
    frames = [_frame(m) for m in messages]
    per_chunk = 500
    chunks = [b"".join(frames[i : i + per_chunk]) for i in range(0, len(frames), per_chunk)]

    def http(conn: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        return conn.respond(200, snapshot.decode())

    async def handler(ws: ServerConnection) -> None:
        transport = ws.transport
        t0 = time.perf_counter()
        for k, chunk in enumerate(chunks):
            if rate > 0:
                await asyncio.sleep(max(0.0, t0 + k * per_chunk / rate - time.perf_counter()))
            transport.write(chunk)
            while transport.get_write_buffer_size() > 1 << 22:
                await asyncio.sleep(0.0005)
        await ws.wait_closed()

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, process_request=http, compression=None) as srv:
            port_q.put(next(iter(srv.sockets)).getsockname()[1])
            await asyncio.sleep(3600)

    asyncio.run(main())


def _start_server(count: int, rate: float = 0.0) -> tuple[Any, str]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_serve, args=(count, rate, q), daemon=True)
    proc.start()
    return proc, f"ws://127.0.0.1:{q.get(timeout=120)}"


async def _peer(url: str, count: int) -> tuple[float, float]:
    got = 0
    async with connect(f"{url}/stream?streams=x", max_size=None, compression=None) as ws:
        cpu0, t0 = time.process_time(), time.perf_counter()
        async for _ in ws:
            got += 1
            if got == count:
                break
        return time.perf_counter() - t0, time.process_time() - cpu0


async def _recorder(url: str, count: int, root: Path) -> tuple[float, float, Recorder]:
    cfg = RecordConfig(
        venue="binance", symbols=("btcusdt",), cache_dir=root, ws_url=url,
        api_url=url.replace("ws://", "http://"), duration_s=600, heartbeat_s=3600,
    )  # fmt: skip
    rec = Recorder(cfg)
    task = asyncio.create_task(rec.run())
    while rec.stats.messages == 0:  # timing starts at the first message
        await asyncio.sleep(0.001)
    cpu0, t0 = time.process_time(), time.perf_counter()
    deadline = t0 + 300
    while rec.stats.messages < count and time.perf_counter() < deadline:
        await asyncio.sleep(0.005)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    rec.stop()
    await task
    return wall, cpu, rec


def _record_run(n: int, rate: float, expected: list[str]) -> tuple[float, float, int, int]:
    """(wall s, CPU s, messages captured in order, messages lost) of one recorder run."""
    server, url = _start_server(n, rate)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            wall, cpu, _ = asyncio.run(_recorder(url, n, Path(tmp)))
            files = sorted(p for p in Path(tmp).rglob("*.jsonl.zst"))
            got = [r["data"] for p in files for r in read_records(p) if r["kind"] == "msg"]
    finally:
        server.kill()
    same = sum(1 for a, b in zip(got, expected, strict=False) if a == b)
    return wall, cpu, len(got), len(expected) - same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--rate", type=float, default=50_000, help="offered msg/s, paced run")
    args = parser.parse_args()
    n = args.messages
    expected, _ = _messages(n)

    server, url = _start_server(n)
    try:
        peer_wall, peer_cpu = asyncio.run(_peer(url, n))
    finally:
        server.kill()
    wall, cpu, got, lost = _record_run(n, 0.0, expected)
    p_wall, p_cpu, p_got, p_lost = _record_run(n, args.rate, expected)

    rate, peer_rate = n / wall, n / peer_wall
    cmd = f".venv/bin/python benchmarks/bench_record.py --messages {n} --rate {args.rate:.0f}"
    print(f"command: {cmd}")
    print(f"machine: {os.cpu_count()} cores; real Binance spot BTCUSDT messages, repeated to {n}")
    print(f"recorder, unpaced: {rate:,.0f} msg/s, CPU {cpu / wall:.2f} core "
          f"({1e6 * cpu / n:.1f} us/msg), captured {got:,} of {n:,}, lost {lost}")  # fmt: skip
    print(f"recorder, offered {args.rate:,.0f} msg/s: {n / p_wall:,.0f} msg/s, "
          f"CPU {p_cpu / p_wall:.2f} core, captured {p_got:,} of {n:,}, lost {p_lost}")  # fmt: skip
    print(f"peer (bare websockets receive, no capture): {peer_rate:,.0f} msg/s, "
          f"CPU {peer_cpu / peer_wall:.2f} core ({1e6 * peer_cpu / n:.1f} us/msg)")  # fmt: skip
    print(f"ratio recorder/peer throughput: {rate / peer_rate:.2f}")
    ok = rate >= 50_000 and lost == p_lost == 0 and got == p_got == n and p_cpu / p_wall < 1.0
    print(f"target >= 50,000 msg/s, zero loss, < 1 core: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
