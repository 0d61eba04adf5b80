"""Binance spot and USD-M futures WebSocket streams, plus the REST depth snapshot.

Streams are combined on one connection per venue through the URL
(``/stream?streams=btcusdt@depth@100ms/btcusdt@trade``); every message is an
envelope ``{"stream": ..., "data": {...}}``. A diff depth message (spot)::

    {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161255208,
     "s":"BTCUSDT","U":50093239219,"u":50093239230,"b":[["61172.01","0.5"]],"a":[]}}

USD-M diffs also carry ``pu``, the previous message's ``u``. Binance's documented
procedure to keep a local book: open the stream, note the first event's ``U``, get a
REST depth snapshot (``/api/v3/depth``, ``/fapi/v1/depth``), and fetch it again while
its ``lastUpdateId`` is below that ``U``. The recorder follows it and records every
body. The server pings; the client library answers with pongs.

Sequence (``sequence.py``): spot ``U == previous u + 1``; USD-M ``pu == previous u``.
A break makes the recorder fetch a fresh snapshot (``on_gap = "resnapshot"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar
from urllib.parse import quote

from seriesfactory.errors import ConfigError
from seriesfactory.sources._sequence import SeqPoint, seq_point
from seriesfactory.sources._ws_base import ConnPlan, WsVenue
from seriesfactory.sources.binance.sequence import SPOT_RULE, USDM_RULE, depth_ids

__all__ = ["BinanceSpot", "BinanceUsdm"]

#: Binance caps one combined-stream connection at 1024 streams.
_MAX_STREAMS = 1024


class _Binance(WsVenue, abstract=True):
    on_gap = "resnapshot"
    depth_path: ClassVar[str]
    depth_limit: ClassVar[int] = 1000

    def plan(
        self, symbols: Sequence[str], streams: Sequence[str], *, ws_url: str, api_url: str
    ) -> list[ConnPlan]:
        names = [f"{s.lower()}@{st}" for s in symbols for st in streams]
        if not names:
            raise ConfigError(f"{self.name}: give at least one symbol and one stream")
        snapshots = tuple(
            (
                s.upper(),
                f"{api_url.rstrip('/')}{self.depth_path}?symbol={s.upper()}&limit={self.depth_limit}",
            )
            for s in symbols
            if any(st.startswith("depth") and not st[5:6].isdigit() for st in streams)
        )
        plans = []
        for i in range(0, len(names), _MAX_STREAMS):
            chunk = names[i : i + _MAX_STREAMS]
            url = f"{ws_url.rstrip('/')}/stream?streams={quote('/'.join(chunk), safe='@/')}"
            wanted = {n.split("@", 1)[0].upper() for n in chunk}
            plans.append(
                ConnPlan(
                    conn_id=f"{self.name}-{i // _MAX_STREAMS}",
                    url=url,
                    snapshots=tuple(s for s in snapshots if s[0] in wanted),
                )
            )
        return plans

    @staticmethod
    def _diff(msg: Any) -> dict[str, Any] | None:
        data = msg.get("data") if isinstance(msg, dict) else None
        if isinstance(data, dict) and data.get("e") == "depthUpdate":
            return data
        return None

    def snapshot_ready(self, msg: Any) -> tuple[str, int] | None:
        data = self._diff(msg)
        if data is None:
            return None
        return str(data["s"]), int(data["U"])

    def snapshot_id(self, body: Any) -> int | None:
        if isinstance(body, dict) and "lastUpdateId" in body:
            return int(body["lastUpdateId"])
        return None


class BinanceSpot(_Binance):
    """Binance spot: ``wss://stream.binance.com:9443``, REST ``https://api.binance.com``."""

    name = "binance"
    ws_url = "wss://stream.binance.com:9443"
    api_url = "https://api.binance.com"
    ws_env = ("SERIESFACTORY_BINANCE_WS_URL", "SERIESFACTORY_BINANCE_SPOT_WS_URL")
    api_env = ("SERIESFACTORY_BINANCE_SPOT_API_URL", "SERIESFACTORY_BINANCE_API_URL")
    default_streams = ("depth@100ms", "trade", "bookTicker")
    depth_path = "/api/v3/depth"

    def sequence(self, msg: Any) -> SeqPoint | None:
        data = self._diff(msg)
        if data is None:
            return None
        return seq_point(depth_ids(data), SPOT_RULE, symbol=str(data["s"]))


class BinanceUsdm(_Binance):
    """Binance USD-M futures: ``wss://fstream.binance.com``, REST ``https://fapi.binance.com``."""

    name = "binance-usdm"
    ws_url = "wss://fstream.binance.com"
    api_url = "https://fapi.binance.com"
    ws_env = ("SERIESFACTORY_BINANCE_USDM_WS_URL",)
    api_env = ("SERIESFACTORY_BINANCE_USDM_API_URL",)
    default_streams = ("depth@100ms", "aggTrade", "bookTicker")
    depth_path = "/fapi/v1/depth"

    def sequence(self, msg: Any) -> SeqPoint | None:
        data = self._diff(msg)
        if data is None:
            return None
        return seq_point(depth_ids(data), USDM_RULE, symbol=str(data["s"]))
