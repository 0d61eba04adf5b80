"""Bybit v5 public WebSocket: ``orderbook.N`` and ``publicTrade``.

One connection to ``wss://stream.bybit.com/v5/public/linear`` (USDT perpetuals; point
``SERIESFACTORY_BYBIT_WS_URL`` at ``.../v5/public/spot`` for spot), subscribed with
``{"op":"subscribe","args":["orderbook.50.BTCUSDT","publicTrade.BTCUSDT"]}`` (at most
10 topics per request). Bybit drops a connection without a ``{"op":"ping"}`` every
20 s. A book message::

    {"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1723161255208,
     "data":{"s":"BTCUSDT","b":[["61000.1","0.2"]],"a":[],"u":1234,"seq":5678},
     "cts":1723161255205}

``u`` grows by one per message on each topic; a ``snapshot`` (or ``u == 1``) restarts
it. Bybit sends a snapshot after every subscribe, so gaps resync by reconnecting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from seriesfactory.errors import ConfigError
from seriesfactory.sources._sequence import SeqPoint, seq_point
from seriesfactory.sources._ws_base import ConnPlan, WsVenue
from seriesfactory.sources.bybit.sequence import RULE, orderbook_ids

__all__ = ["Bybit"]

_TOPICS_PER_REQUEST = 10


class Bybit(WsVenue):
    """Bybit v5 public market data."""

    name = "bybit"
    ws_url = "wss://stream.bybit.com/v5/public/linear"
    ws_env = ("SERIESFACTORY_BYBIT_WS_URL",)
    default_streams = ("orderbook.50", "publicTrade")
    app_ping_s = 20.0

    def plan(
        self, symbols: Sequence[str], streams: Sequence[str], *, ws_url: str, api_url: str
    ) -> list[ConnPlan]:
        topics = [f"{st}.{s.upper()}" for s in symbols for st in streams]
        if not topics:
            raise ConfigError("bybit: give at least one symbol and one stream")
        subscribe = tuple(
            orjson.dumps({"op": "subscribe", "args": topics[i : i + _TOPICS_PER_REQUEST]}).decode()
            for i in range(0, len(topics), _TOPICS_PER_REQUEST)
        )
        return [ConnPlan(conn_id="bybit-0", url=ws_url, subscribe=subscribe)]

    def app_ping(self) -> str:
        return '{"op":"ping"}'

    def sequence(self, msg: Any) -> SeqPoint | None:
        if not isinstance(msg, dict):
            return None
        topic = msg.get("topic")
        if not isinstance(topic, str) or not topic.startswith("orderbook."):
            return None
        data = msg.get("data")
        if not isinstance(data, dict) or "u" not in data:
            return None
        return seq_point(orderbook_ids(msg), RULE)
