"""Coinbase Advanced Trade WebSocket: ``level2`` and ``market_trades``.

One connection to ``wss://advanced-trade-ws.coinbase.com``; one subscribe message
per channel, plus ``heartbeats`` (Coinbase closes idle subscriptions after 60–90 s
without it). Every message carries ``sequence_num``, counted per connection::

    {"channel":"l2_data","client_id":"","timestamp":"2026-08-09T21:05:48.6Z",
     "sequence_num":3,"events":[{"type":"update","product_id":"BTC-USD",
     "updates":[{"side":"bid","event_time":"...","price_level":"61000.1",
     "new_quantity":"0.25"}]}]}

``level2`` sends a full ``snapshot`` event after each subscribe, so the book is
resynced by reconnecting (``on_gap = "reconnect"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from seriesfactory.errors import ConfigError
from seriesfactory.sources._sequence import SeqPoint, seq_point
from seriesfactory.sources._ws_base import ConnPlan, WsVenue
from seriesfactory.sources.coinbase.sequence import CONNECTION_RULE, connection_ids

__all__ = ["Coinbase"]


class Coinbase(WsVenue):
    """Coinbase Advanced Trade market data (public channels, no authentication)."""

    name = "coinbase"
    ws_url = "wss://advanced-trade-ws.coinbase.com"
    ws_env = ("SERIESFACTORY_COINBASE_WS_URL",)
    default_streams = ("level2", "market_trades")

    def plan(
        self, symbols: Sequence[str], streams: Sequence[str], *, ws_url: str, api_url: str
    ) -> list[ConnPlan]:
        if not symbols or not streams:
            raise ConfigError("coinbase: give at least one symbol and one stream")
        products = [s.upper() for s in symbols]
        channels = list(dict.fromkeys([*streams, "heartbeats"]))
        subscribe = tuple(
            orjson.dumps({"type": "subscribe", "product_ids": products, "channel": ch}).decode()
            for ch in channels
        )
        return [ConnPlan(conn_id="coinbase-0", url=ws_url, subscribe=subscribe)]

    def sequence(self, msg: Any) -> SeqPoint | None:
        ids = connection_ids(msg) if isinstance(msg, dict) else None
        return seq_point(ids, CONNECTION_RULE) if ids is not None else None
