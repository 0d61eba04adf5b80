"""The recorder against real local venue servers replaying recorded real messages.

Every test is bounded: the recorder runs with ``duration_s`` as a hard stop, and every
wait has a timeout.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import struct
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.replay_server import (
    MALFORMED_TEXT,
    MISSHAPEN_TEXT,
    BinanceDepthBook,
    Faults,
    ReplayServer,
    VenueFeed,
    extended_feed_from_binance,
    feed_from_cryptofeed_v3,
    feed_from_hftbacktest,
)

from seriesfactory.errors import NetworkError
from seriesfactory.raw.capture import read_records
from seriesfactory.raw.config import RecordConfig
from seriesfactory.raw.recorder import Recorder

FAST = {
    "reconnect_delay_s": 0.01,
    "reconnect_max_delay_s": 0.05,
    "stale_timeout_s": 0.6,
    "ping_interval_s": 0.5,
    "ping_timeout_s": 0.5,
    "heartbeat_s": 0.2,
    "flush_s": 0.1,
    "duration_s": 25.0,
}


@pytest.fixture
def binance_spot(shared_real: Path) -> VenueFeed:
    return feed_from_hftbacktest(shared_real / "binance/hftbacktest/spot/btcusdt_20240808.gz", 3000)


@pytest.fixture
def binance_usdm(shared_real: Path) -> VenueFeed:
    return feed_from_hftbacktest(shared_real / "binance/hftbacktest/usdm/btcusdt_20240808.gz", 3000)


@pytest.fixture
def coinbase_feed(shared_real: Path) -> VenueFeed:
    path = shared_real / "coinbase/cryptofeed-v3/COINBASE.jsonl.zst"
    return feed_from_cryptofeed_v3(path, "COINBASE.ws.2", 1000)


@pytest.fixture
def bybit_feed(shared_real: Path) -> VenueFeed:
    path = shared_real / "bybit/cryptofeed-v3/BYBIT.jsonl.zst"
    return feed_from_cryptofeed_v3(path, "BYBIT.ws.2", 1500)


def _run(coro: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(coro(), timeout=60))


def _records(root: Path) -> list[dict[str, Any]]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    assert files, f"no capture under {root}"
    assert not [p for p in files if p.name.endswith(".part")], "a live file was left behind"
    return [rec for path in files for rec in read_records(path)]


def _sessions(records: list[dict[str, Any]], conn: str) -> list[list[str]]:
    """The ``msg`` texts of each session (split at ``open``) of one connection."""
    out: list[list[str]] = []
    for rec in records:
        if rec["conn"] != conn:
            continue
        if rec["kind"] == "open":
            out.append([])
        elif rec["kind"] == "msg":
            out[-1].append(rec["data"])
    return out


async def _record_until_exhausted(
    server: ReplayServer, config: RecordConfig, *, settle_s: float = 0.3, sessions: int = 1
) -> Recorder:
    recorder = Recorder(config)
    task = asyncio.create_task(recorder.run())
    await server.wait_exhausted(30)
    for _ in range(300):  # bounded: at most 30 s
        if len(server.sent) >= sessions:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(settle_s)
    recorder.stop()
    await asyncio.wait_for(task, 10)
    return recorder


def _binance_rest(book: BinanceDepthBook) -> Callable[[str], tuple[int, bytes]]:
    def rest(path: str) -> tuple[int, bytes]:
        if path.startswith(("/api/v3/depth?symbol=BTCUSDT", "/fapi/v1/depth?symbol=BTCUSDT")):
            return 200, book.body()
        return 400, b'{"code":-1121,"msg":"Invalid symbol."}'

    return rest


def _binance_config(tmp_path: Path, url: str, venue: str = "binance", **extra: Any) -> RecordConfig:
    return RecordConfig(
        venue=venue,
        symbols=("btcusdt",),
        streams=("depth@100ms", "trade", "bookTicker"),
        cache_dir=tmp_path,
        ws_url=url,
        api_url=url.replace("ws://", "http://"),
        **{**FAST, **extra},
    )


def test_binance_clean_replay_captures_every_message_and_a_covering_snapshot(
    tmp_path: Path, binance_spot: VenueFeed, caplog: pytest.LogCaptureFixture
) -> None:
    assert binance_spot.snapshot is not None
    book = BinanceDepthBook(binance_spot.snapshot)
    server = ReplayServer(
        {"/stream": binance_spot.messages}, rest=_binance_rest(book), pace=(100, 0.03)
    )

    async def main() -> None:
        async with server:
            await _record_until_exhausted(server, _binance_config(tmp_path, server.url))

    with caplog.at_level(logging.INFO, logger="seriesfactory.record"):
        _run(main)
    beats = [r.getMessage() for r in caplog.records if r.getMessage().startswith("record binance:")]
    assert beats, "no heartbeat line"
    pattern = re.compile(
        r"record binance: [0-9.]+ msg/s, \d+ messages, \d REST, [01]/1 connections up, "
        r"0 gaps, 0 malformed, \d+ files done"
    )
    assert all(pattern.fullmatch(b) for b in beats), beats
    assert any(", 1 REST, 1/1 connections up," in b for b in beats), beats
    assert max(float(b.split()[2]) for b in beats) > 0
    records = _records(tmp_path / "raw" / "stream")
    assert _sessions(records, "binance-0") == server.sent
    assert [r["kind"] for r in records if r["kind"] in ("open", "close", "gap")] == [
        "open",
        "close",
    ]
    assert (
        records[0]["url"]
        == f"{server.url}/stream?streams=btcusdt@depth@100ms/btcusdt@trade/btcusdt@bookTicker"
    )
    assert server.rest_requests == ["/api/v3/depth?symbol=BTCUSDT&limit=1000"]
    rest = [r for r in records if r["kind"] == "rest"]
    assert len(rest) == 1
    first_diff = next(orjson.loads(m)["data"] for m in server.sent[0] if "depthUpdate" in m)
    assert orjson.loads(rest[0]["data"])["lastUpdateId"] >= first_diff["U"]
    recv = [r["recv_ns"] for r in records]
    assert recv == sorted(recv)


def _first_index(messages: list[str], needle: str, start: int) -> int:
    return next(i for i in range(start, len(messages)) if needle in messages[i])


def test_binance_faults_reconnect_resnapshot_and_lose_nothing_that_arrived(
    tmp_path: Path, binance_spot: VenueFeed
) -> None:
    assert binance_spot.snapshot is not None
    book = BinanceDepthBook(binance_spot.snapshot)
    drop = _first_index(binance_spot.messages, "depthUpdate", 40)
    faults = [
        Faults(drop=frozenset({drop}), duplicate=frozenset({drop + 5}),
               malformed=frozenset({drop + 9}), misshapen=frozenset({drop + 11}),
               close_after=400),
        Faults(stall_after=300),
    ]  # fmt: skip
    server = ReplayServer(
        {"/stream": binance_spot.messages}, faults=faults, rest=_binance_rest(book),
        on_send=book.apply, pace=(20, 0.002),
    )  # fmt: skip

    async def main() -> None:
        async with server:
            cfg = _binance_config(tmp_path, server.url)
            rec = await _record_until_exhausted(server, cfg, sessions=3)
            assert rec.stats.malformed == 2

    _run(main)
    records = _records(tmp_path / "raw" / "stream")
    sessions = _sessions(records, "binance-0")
    assert len(sessions) == len(server.sent) == 3
    # The aborted session: what arrived is a prefix of what was sent, with no hole.
    assert sessions[0] == server.sent[0][: len(sessions[0])]
    assert len(sessions[0]) >= 300
    assert sessions[1:] == server.sent[1:]
    assert MALFORMED_TEXT in sessions[0] and MISSHAPEN_TEXT in sessions[0]
    gaps = [orjson.loads(r["data"]) for r in records if r["kind"] == "gap"]
    assert gaps[0]["reason"] == "sequence"
    dropped = orjson.loads(binance_spot.messages[drop])["data"]
    assert gaps[0]["got"] == dropped["u"] + 1 and gaps[0]["expected"] == dropped["U"]
    reconnects = [g for g in gaps if g["reason"] != "sequence"]
    assert len(reconnects) == 2
    assert "nothing received" in reconnects[1]["reason"]
    assert all(g["from_ns"] <= g["to_ns"] for g in reconnects)
    # A snapshot after each (re)connect, and one more after the sequence gap.
    assert len([r for r in records if r["kind"] == "rest"]) >= 4
    assert [r["kind"] for r in records if r["kind"] in ("open", "close")] == ["open", "close"] * 3


def test_binance_usdm_uses_futures_paths_and_pu_chain(
    tmp_path: Path, binance_usdm: VenueFeed
) -> None:
    assert binance_usdm.snapshot is not None
    book = BinanceDepthBook(binance_usdm.snapshot)
    drop = _first_index(binance_usdm.messages, "depthUpdate", 100)
    server = ReplayServer(
        {"/stream": binance_usdm.messages}, faults=[Faults(drop=frozenset({drop}))],
        rest=_binance_rest(book), on_send=book.apply,
    )  # fmt: skip

    async def main() -> None:
        async with server:
            cfg = _binance_config(tmp_path, server.url, venue="binance-usdm")
            await _record_until_exhausted(server, cfg)

    _run(main)
    records = _records(tmp_path / "raw" / "stream")
    assert _sessions(records, "binance-usdm-0") == server.sent
    assert server.rest_requests[0] == "/fapi/v1/depth?symbol=BTCUSDT&limit=1000"
    gaps = [orjson.loads(r["data"]) for r in records if r["kind"] == "gap"]
    dropped = orjson.loads(binance_usdm.messages[drop])["data"]
    assert gaps == [
        {"reason": "sequence", "key": "BTCUSDT", "expected": dropped["pu"] + 1,
         "got": dropped["u"] + 1},
    ]  # fmt: skip
    assert len(server.rest_requests) == 2  # the resync snapshot


def test_coinbase_gap_reconnects_and_resubscribes(tmp_path: Path, coinbase_feed: VenueFeed) -> None:
    server = ReplayServer(
        {"*": coinbase_feed.messages}, wait_subscribe=True, pace=(20, 0.002),
        faults=[Faults(drop=frozenset({30}), misshapen=frozenset({10}))],
    )  # fmt: skip

    async def main() -> None:
        async with server:
            cfg = RecordConfig(
                venue="coinbase", symbols=("BTC-USD", "ETH-USD"), cache_dir=tmp_path,
                ws_url=server.url, **FAST,
            )  # fmt: skip
            rec = await _record_until_exhausted(server, cfg, sessions=2)
            assert rec.stats.malformed == 1

    _run(main)
    records = _records(tmp_path / "raw" / "stream")
    sessions = _sessions(records, "coinbase-0")
    assert len(sessions) == 2
    assert sessions[0] == server.sent[0][: len(sessions[0])] and len(sessions[0]) >= 30
    assert sessions[1] == server.sent[1]
    subs = [orjson.loads(m) for m in server.received]
    assert [s["channel"] for s in subs] == ["level2", "market_trades", "heartbeats"] * 2
    assert all(s["product_ids"] == ["BTC-USD", "ETH-USD"] for s in subs)
    gaps = [orjson.loads(r["data"]) for r in records if r["kind"] == "gap"]
    assert gaps[0] == {"reason": "sequence", "key": "sequence_num", "expected": 30, "got": 31}
    assert gaps[1]["reason"] == "sequence gap on sequence_num"


def test_bybit_pings_and_records_pongs(tmp_path: Path, bybit_feed: VenueFeed) -> None:
    pong = '{"success":true,"ret_msg":"pong","conn_id":"local","op":"ping"}'
    server = ReplayServer(
        {"*": bybit_feed.messages}, wait_subscribe=True, pace=(50, 0.02),
        reply=lambda text: pong if '"op":"ping"' in text else None,
    )  # fmt: skip

    async def main() -> None:
        async with server:
            cfg = RecordConfig(
                venue="bybit", symbols=("BTCUSDT", "ETHUSDT"), cache_dir=tmp_path,
                ws_url=server.url, app_ping_s=0.05, rotate_hours=0.2 / 3600, **FAST,
            )  # fmt: skip
            await _record_until_exhausted(server, cfg, settle_s=0.4)

    _run(main)
    # Rotation by time (every 0.2 s here): several complete files, in name order.
    files = sorted((tmp_path / "raw" / "stream" / "bybit" / "btcusdt+ethusdt").rglob("*"))
    files = [p for p in files if p.is_file()]
    assert len(files) >= 3
    assert all(list(read_records(p)) for p in files)
    records = _records(tmp_path / "raw" / "stream")
    (captured,) = _sessions(records, "bybit-0")
    (sent,) = server.sent
    assert captured == sent[: len(captured)]
    assert set(sent[len(captured) :]) <= {pong}  # at most pongs in flight at shutdown
    assert len(captured) >= len(bybit_feed.messages)
    assert orjson.loads(server.received[0]) == {
        "op": "subscribe",
        "args": ["orderbook.50.BTCUSDT", "publicTrade.BTCUSDT",
                 "orderbook.50.ETHUSDT", "publicTrade.ETHUSDT"],
    }  # fmt: skip
    assert server.received.count('{"op":"ping"}') >= 2
    assert pong in _sessions(records, "bybit-0")[0]
    assert not [r for r in records if r["kind"] == "gap"]


def test_extended_two_connections_and_seq_gap(tmp_path: Path, binance_spot: VenueFeed) -> None:
    book = extended_feed_from_binance(binance_spot, "BTC-USD", 400)
    trades = [
        orjson.dumps({"type": "TRADE", "data": [{"m": "BTC-USD", "S": "BUY", "tT": "TRADE",
                      "T": 1723161255208 + i, "p": "61837.64", "q": "0.001", "i": i}],
                      "ts": 1723161255208 + i, "seq": i + 1}).decode()
        for i in range(50)
    ]  # fmt: skip
    server = ReplayServer(
        {"/orderbooks/BTC-USD": book.messages, "/publicTrades/BTC-USD": trades},
        faults=[Faults(drop=frozenset({10}))],
    )

    async def main() -> None:
        async with server:
            cfg = RecordConfig(
                venue="extended", symbols=("BTC-USD",), cache_dir=tmp_path, ws_url=server.url,
                **FAST,
            )  # fmt: skip
            await _record_until_exhausted(server, cfg)

    _run(main)
    records = _records(tmp_path / "raw" / "stream")
    conns = {r["conn"] for r in records}
    assert conns == {"extended-orderbooks-BTC-USD", "extended-publicTrades-BTC-USD"}
    captured = [m for c in sorted(conns) for s in _sessions(records, c) for m in s]
    sent = [m for s in server.sent for m in s]
    assert sorted(captured) == sorted(sent)
    gaps = [orjson.loads(r["data"]) for r in records if r["kind"] == "gap"]
    assert {"reason": "sequence", "key": "seq", "expected": 11, "got": 12} in gaps


def test_reconnect_attempts_exhausted_raises_network_error(tmp_path: Path) -> None:
    async def main() -> None:
        server = ReplayServer({"*": []})
        async with server:
            url = server.url  # a port that is closed once the server stops
        cfg = RecordConfig(
            venue="coinbase", symbols=("BTC-USD",), cache_dir=tmp_path, ws_url=url,
            **{**FAST, "reconnect_attempts": 3},
        )  # fmt: skip
        with pytest.raises(NetworkError, match="gave up after 3 reconnect attempts"):
            await Recorder(cfg).run()

    _run(main)


def test_stop_during_a_hanging_handshake_returns_promptly(tmp_path: Path) -> None:
    async def main() -> None:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await reader.read(1 << 16)  # take the upgrade request and never answer
                await asyncio.sleep(30)
            finally:
                writer.close()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        cfg = RecordConfig(
            venue="coinbase", symbols=("BTC-USD",), cache_dir=tmp_path,
            ws_url=f"ws://127.0.0.1:{port}", **{**FAST, "open_timeout_s": 30.0},
        )  # fmt: skip
        recorder = Recorder(cfg)
        task = asyncio.create_task(recorder.run())
        await asyncio.sleep(0.5)
        recorder.stop()
        t0 = asyncio.get_running_loop().time()
        stats = await asyncio.wait_for(task, 10)
        assert asyncio.get_running_loop().time() - t0 < 5.0  # the grace period, not 30 s
        assert stats.connects == 0
        server.close()
        await server.wait_closed()

    _run(main)


def _ws_accept(request: bytes) -> bytes:
    """The 101 response to a WebSocket upgrade request (RFC 6455 section 4.2.2)."""
    key = next(
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )


def test_a_silent_peer_that_never_answers_pings_is_dropped_by_the_ping_timeout(
    tmp_path: Path, coinbase_feed: VenueFeed
) -> None:
    """A hand-rolled server: handshake, 40 messages, then total silence (no pongs)."""
    texts = coinbase_feed.messages[:40]
    sessions: list[int] = []

    async def main() -> None:
        done = asyncio.Event()

        async def venue(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sessions.append(len(sessions))
            try:
                request = await reader.readuntil(b"\r\n\r\n")
                writer.write(_ws_accept(request))
                for text in texts if len(sessions) == 1 else []:
                    body = text.encode()  # unmasked text frames, as a server sends them
                    if len(body) < 126:
                        writer.write(bytes((0x81, len(body))) + body)
                    elif len(body) < 1 << 16:
                        writer.write(bytes((0x81, 126)) + struct.pack("!H", len(body)) + body)
                    else:
                        writer.write(bytes((0x81, 127)) + struct.pack("!Q", len(body)) + body)
                await writer.drain()
                await asyncio.wait_for(done.wait(), 30)  # read nothing, answer nothing
            finally:
                writer.close()

        server = await asyncio.start_server(venue, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        cfg = RecordConfig(
            venue="coinbase", symbols=("BTC-USD",), cache_dir=tmp_path,
            ws_url=f"ws://127.0.0.1:{port}",
            **{**FAST, "ping_interval_s": 0.2, "ping_timeout_s": 0.3, "stale_timeout_s": 30.0},
        )  # fmt: skip
        recorder = Recorder(cfg)
        task = asyncio.create_task(recorder.run())
        for _ in range(100):  # bounded: at most 10 s
            if len(sessions) >= 2:
                break
            await asyncio.sleep(0.1)
        recorder.stop()
        await asyncio.wait_for(task, 10)
        done.set()
        await asyncio.sleep(0.05)
        server.close()
        await server.wait_closed()

    _run(main)
    records = _records(tmp_path / "raw" / "stream")
    assert _sessions(records, "coinbase-0")[0] == texts
    gap = next(orjson.loads(r["data"]) for r in records if r["kind"] == "gap")
    assert "ping timeout" in gap["reason"]
