"""Extended (x10, Starknet perpetuals DEX) public streams: order books and trades.

One connection per stream and market, with no subscribe message:
``{base}/orderbooks/{market}`` and ``{base}/publicTrades/{market}``, where the base is
``wss://api.starknet.extended.exchange/stream.extended.exchange/v1``. Every message is
an envelope with a per-connection ``seq`` that grows by one::

    {"type":"SNAPSHOT","data":{"m":"BTC-USD","b":[{"p":"61000","q":"0.5"}],
     "a":[{"p":"61001","q":"0.4"}]},"ts":1723161255208,"seq":1}
    {"type":"DELTA","data":{"m":"BTC-USD","b":[{"p":"61000","q":"-0.1","c":"0.4"}],
     "a":[]},"ts":1723161255308,"seq":2}

Levels are ``{p, q, c}``; ``c``, when present, is the new total size. The server
pings; the client answers. The first message after connecting is a snapshot, so a
``seq`` gap resyncs by reconnecting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from seriesfactory.errors import ConfigError
from seriesfactory.sources._sequence import SeqPoint, seq_point
from seriesfactory.sources._ws_base import ConnPlan, WsVenue
from seriesfactory.sources.extended.sequence import RULE, message_ids

__all__ = ["Extended"]

_PATHS = {"orderbooks": "orderbooks", "publicTrades": "publicTrades"}


class Extended(WsVenue):
    """Extended public market data."""

    name = "extended"
    ws_url = "wss://api.starknet.extended.exchange/stream.extended.exchange/v1"
    ws_env = ("SERIESFACTORY_EXTENDED_WS_URL",)
    default_streams = ("orderbooks", "publicTrades")

    def plan(
        self, symbols: Sequence[str], streams: Sequence[str], *, ws_url: str, api_url: str
    ) -> list[ConnPlan]:
        unknown = [st for st in streams if st not in _PATHS]
        if unknown:
            raise ConfigError(
                f"extended: unknown stream {unknown[0]!r}; choose from {', '.join(_PATHS)}"
            )
        if not symbols or not streams:
            raise ConfigError("extended: give at least one market and one stream")
        base = ws_url.rstrip("/")
        return [
            ConnPlan(conn_id=f"extended-{st}-{s.upper()}", url=f"{base}/{_PATHS[st]}/{s.upper()}")
            for s in symbols
            for st in streams
        ]

    def sequence(self, msg: Any) -> SeqPoint | None:
        if not isinstance(msg, dict) or "seq" not in msg:
            return None
        return seq_point(message_ids(msg), RULE)
