"""A local venue: replay recorded messages over a real WebSocket server, misbehaving on demand.

Tests and benchmarks point the recorder at it (``ws_url``/``api_url`` =
``server.url``) instead of an exchange. It serves one message list per request path
(``"*"`` matches any path), continues where the last connection stopped (the venue's
time moves on), answers REST requests on the same port (for Binance depth
snapshots), and applies :class:`Faults` to connection session ``n`` when asked:

- ``close_after``: drop the TCP connection without a close frame after N messages;
- ``stall_after``: stop sending after N messages and keep the connection open;
- ``drop`` / ``duplicate``: skip, or send twice, the session's message i;
- ``malformed``: send a broken JSON text before the session's message i;
- ``misshapen``: send valid JSON with missing or mistyped fields before message i.

Every text the server sends is appended to ``sent[session]`` first, so a test can
compare the capture with it message by message. Only ``127.0.0.1`` is ever bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import http
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import zstandard
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

__all__ = [
    "BinanceDepthBook",
    "Faults",
    "ReplayServer",
    "VenueFeed",
    "extended_feed_from_binance",
    "feed_from_cryptofeed_v3",
    "feed_from_hftbacktest",
]

MALFORMED_TEXT = '{"stream":"broken","data":{"e":"depthUpd'
#: Valid JSON whose fields break every venue's documented shape (missing or mistyped).
MISSHAPEN_TEXT = (
    '{"data":{"e":"depthUpdate"},"sequence_num":"x","topic":"orderbook.1.X","type":"delta",'
    '"seq":null}'
)


@dataclass(frozen=True, kw_only=True)
class Faults:
    """How one connection session misbehaves (indices count the session's messages)."""

    close_after: int | None = None
    stall_after: int | None = None
    drop: frozenset[int] = frozenset()
    duplicate: frozenset[int] = frozenset()
    malformed: frozenset[int] = frozenset()
    misshapen: frozenset[int] = frozenset()


class BinanceDepthBook:
    """The venue's own book, kept from a real REST snapshot plus the diffs the server passes.

    ``body()`` is what ``GET /api/v3/depth`` returns at that moment: the top
    ``limit`` levels and ``lastUpdateId`` = the last diff's ``u``, as Binance documents.
    """

    def __init__(self, snapshot: Mapping[str, Any], *, limit: int = 1000) -> None:
        self.last_update_id = int(snapshot["lastUpdateId"])
        self.bids = {p: q for p, q in snapshot["bids"]}
        self.asks = {p: q for p, q in snapshot["asks"]}
        self.limit = limit

    def apply(self, text: str) -> None:
        """Apply a combined-stream depth diff (other messages are ignored)."""
        if '"depthUpdate"' not in text:
            return
        data = orjson.loads(text)["data"]
        if int(data["u"]) <= self.last_update_id:
            return
        for levels, book in ((data["b"], self.bids), (data["a"], self.asks)):
            for price, qty in levels:
                if float(qty) == 0.0:
                    book.pop(price, None)
                else:
                    book[price] = qty
        self.last_update_id = int(data["u"])

    def body(self) -> bytes:
        bids = sorted(self.bids.items(), key=lambda kv: -float(kv[0]))[: self.limit]
        asks = sorted(self.asks.items(), key=lambda kv: float(kv[0]))[: self.limit]
        return orjson.dumps({"lastUpdateId": self.last_update_id, "bids": bids, "asks": asks})


@dataclass
class _Feed:
    messages: list[str]
    cursor: int = 0


@dataclass
class ReplayServer:
    """Serve ``feeds`` (path -> message texts) on ``127.0.0.1``; use as ``async with``.

    Parameters
    ----------
    feeds:
        Message texts per request path (without query); ``"*"`` serves any path.
    faults:
        ``faults[n]`` applies to the n-th connection session (0-based).
    rest:
        REST handler: path + query -> (status, body); ``None`` answers 404.
    wait_subscribe:
        Wait for the client's first message before sending (Coinbase, Bybit).
    on_send:
        Called with each replayed message (e.g. :meth:`BinanceDepthBook.apply`).
    reply:
        Answer to a client message (e.g. Bybit's pong), or ``None``.
    """

    feeds: Mapping[str, Sequence[str]]
    faults: Sequence[Faults] = ()
    rest: Callable[[str], tuple[int, bytes]] | None = None
    wait_subscribe: bool = False
    on_send: Callable[[str], None] | None = None
    reply: Callable[[str], str | None] | None = None
    #: Pause ``pace[1]`` seconds after every ``pace[0]`` messages (``None``: full speed).
    pace: tuple[int, float] | None = None
    sent: list[list[str]] = field(default_factory=list)
    received: list[str] = field(default_factory=list)
    rest_requests: list[str] = field(default_factory=list)
    _feeds: dict[str, _Feed] = field(default_factory=dict)
    _server: Server | None = None
    _port: int = 0
    _exhausted: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:<port>``."""
        assert self._port, "the server is not started"
        return f"ws://127.0.0.1:{self._port}"

    @property
    def http_url(self) -> str:
        return self.url.replace("ws://", "http://")

    async def __aenter__(self) -> ReplayServer:
        self._feeds = {k: _Feed(list(v)) for k, v in self.feeds.items()}
        self._server = await serve(
            self._handle, "127.0.0.1", 0, process_request=self._http, compression=None
        )
        self._port = next(iter(self._server.sockets)).getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def wait_exhausted(self, timeout_s: float) -> None:
        """Wait until every feed has been sent to the end."""
        await asyncio.wait_for(self._exhausted.wait(), timeout_s)

    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        self.rest_requests.append(request.path)
        if self.rest is None:
            return connection.respond(http.HTTPStatus.NOT_FOUND, "not found\n")
        status, body = self.rest(request.path)
        response = connection.respond(http.HTTPStatus(status), body.decode())
        response.headers["Content-Type"] = "application/json"
        return response

    def _feed_for(self, path: str) -> _Feed:
        key = urlsplit(path).path
        feed = self._feeds.get(key) or self._feeds.get("*")
        if feed is None:
            raise KeyError(f"no feed for {key!r}")
        return feed

    async def _handle(self, ws: ServerConnection) -> None:
        session = len(self.sent)
        sent: list[str] = []
        self.sent.append(sent)
        faults = self.faults[session] if session < len(self.faults) else Faults()
        feed = self._feed_for(ws.request.path if ws.request is not None else "/")
        subscribed = asyncio.Event()
        if not self.wait_subscribe:
            subscribed.set()
        listener = asyncio.create_task(self._listen(ws, sent, subscribed))
        try:
            await asyncio.wait_for(subscribed.wait(), 10.0)
            with contextlib.suppress(ConnectionClosed):
                await self._pump(ws, feed, faults, sent)
            await ws.wait_closed()
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _listen(
        self, ws: ServerConnection, sent: list[str], subscribed: asyncio.Event
    ) -> None:
        with contextlib.suppress(Exception):
            async for message in ws:
                text = message if isinstance(message, str) else message.decode()
                self.received.append(text)
                subscribed.set()
                answer = self.reply(text) if self.reply is not None else None
                if answer is not None:
                    sent.append(answer)
                    try:
                        await ws.send(answer)
                    except ConnectionClosed:
                        sent.pop()  # refused before any byte was written
                        raise

    async def _pump(
        self, ws: ServerConnection, feed: _Feed, faults: Faults, sent: list[str]
    ) -> None:
        index = 0
        while feed.cursor < len(feed.messages):
            if ws.state is not State.OPEN:
                # Closing (the client asked, e.g. to resync): take nothing more from the
                # shared feed, whose next messages belong to the client's next session.
                # A pump asleep in ``pace`` would otherwise take one and fail to send it.
                return
            if faults.close_after is not None and index >= faults.close_after:
                ws.transport.abort()
                return
            if faults.stall_after is not None and index >= faults.stall_after:
                return
            taken = feed.cursor
            text = feed.messages[taken]
            feed.cursor += 1
            if self.on_send is not None:
                self.on_send(text)
            if index in faults.malformed:
                sent.append(MALFORMED_TEXT)
                await ws.send(MALFORMED_TEXT)
            if index in faults.misshapen:
                sent.append(MISSHAPEN_TEXT)
                await ws.send(MISSHAPEN_TEXT)
            if index not in faults.drop:
                for copy in range(2 if index in faults.duplicate else 1):
                    sent.append(text)
                    try:
                        await ws.send(text)
                    except ConnectionClosed:
                        sent.pop()  # refused before any byte was written
                        if copy == 0 and feed.cursor == taken + 1:
                            feed.cursor = taken  # not delivered, nothing taken since: put back
                        raise
            index += 1
            if self.pace is not None and index % self.pace[0] == 0:
                await asyncio.sleep(self.pace[1])
            elif index % 256 == 0:
                await asyncio.sleep(0)
        if all(f.cursor >= len(f.messages) for f in self._feeds.values()):
            self._exhausted.set()


# -- feeds from recordings ------------------------------------------------------
@dataclass(frozen=True)
class VenueFeed:
    """What a venue server sends: WebSocket texts (and, for Binance, the REST snapshot)."""

    messages: list[str]
    snapshot: dict[str, Any] | None = None


def feed_from_hftbacktest(path: Path, limit: int) -> VenueFeed:
    """The first ``limit`` WebSocket messages of an hftbacktest capture plus its REST snapshot."""
    messages: list[str] = []
    snapshot = None
    with gzip.open(path, "rt") as fh:
        for line in fh:
            text = line.rstrip("\n").split(" ", 1)[1]
            if text.startswith('{"lastUpdateId"'):
                snapshot = orjson.loads(text)
            else:
                messages.append(text)
            if len(messages) >= limit and snapshot is not None:
                break
    return VenueFeed(messages, snapshot)


def feed_from_cryptofeed_v3(path: Path, conn: str, limit: int) -> VenueFeed:
    """Received texts of one connection of a cryptofeed v3 ``.jsonl.zst`` recording."""
    text = zstandard.ZstdDecompressor().decompress(path.read_bytes(), max_output_size=1 << 26)
    messages = []
    for line in text.splitlines():
        rec = orjson.loads(line)
        if rec.get("t") == "recv" and rec.get("conn") == conn:
            messages.append(rec["data"])
            if len(messages) >= limit:
                break
    return VenueFeed(messages)


def extended_feed_from_binance(feed: VenueFeed, market: str, limit: int) -> VenueFeed:
    """Extended order-book messages built from real Binance levels.

    There is no public recording of Extended; its documented envelope
    ``{type, data{m,b,a}, ts, seq}`` with levels ``{p, q, c}`` (``c`` the new total,
    ``q`` the change) is filled with the prices and sizes of a real Binance snapshot and
    its diffs, so the numbers are real and the framing is Extended's.
    """
    assert feed.snapshot is not None
    book = {"b": dict(feed.snapshot["bids"][:50]), "a": dict(feed.snapshot["asks"][:50])}
    snap = {
        "type": "SNAPSHOT",
        "data": {
            "m": market,
            "b": [{"p": p, "q": q} for p, q in book["b"].items()],
            "a": [{"p": p, "q": q} for p, q in book["a"].items()],
        },
        "ts": 1723161254206,
        "seq": 1,
    }
    out = [orjson.dumps(snap).decode()]
    for text in feed.messages:
        if len(out) >= limit:
            break
        if '"depthUpdate"' not in text:
            continue
        data = orjson.loads(text)["data"]
        sides: dict[str, list[dict[str, str]]] = {"b": [], "a": []}
        for side in ("b", "a"):
            for price, total in data[side]:
                old = float(book[side].get(price, "0"))
                sides[side].append({"p": price, "q": repr(float(total) - old), "c": total})
                book[side][price] = total
        msg = {
            "type": "DELTA",
            "data": {"m": market, **sides},
            "ts": data["E"],
            "seq": len(out) + 1,
        }
        out.append(orjson.dumps(msg).decode())
    return VenueFeed(out)
