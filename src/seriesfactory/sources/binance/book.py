"""Binance spot and USD-M futures: diff depth + REST snapshot, trades, bookTicker.

Raw samples (hftbacktest capture of 2024-08-08, combined-stream envelopes)::

    {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1723161255208,
     "s":"BTCUSDT","U":50093239189,"u":50093239202,
     "b":[["61737.63000000","0.00000000"]],"a":[["61837.64000000","1.54698000"]]}}
    {"stream":"btcusdt@bookTicker","data":{"u":50093239212,"s":"BTCUSDT",
     "b":"61837.63000000","B":"3.78826000","a":"61837.64000000","A":"1.54698000"}}
    {"stream":"btcusdt@trade","data":{"e":"trade","E":1723161255343,"s":"BTCUSDT",
     "t":3735683259,"p":"61837.63000000","q":"0.02000000","T":1723161255342,"m":true}}
    {"lastUpdateId":50093239218,"bids":[["61837.63000000","3.78826000"]],"asks":[...]}

USD-M diffs also carry ``pu`` (the previous message's ``u``) and ``T``; its REST
snapshot carries ``E`` and ``T``.

Conventions owned here:

* ``b`` are bids (side +1), ``a`` asks (side -1); sizes are absolute, 0 deletes.
* Event time ``ts`` is ``E`` (ms -> ns). A spot REST snapshot has no exchange
  time: it takes the latest exchange time seen (see ``BookParser.event_ts``).
* Trade ``m`` ("buyer is maker") true means the taker sold: side -1, else +1.
* Binance's procedure buffers diffs while the REST snapshot is fetched. Here every
  diff is kept in a bounded ring (:data:`REPLAY_MESSAGES`); when a snapshot with
  ``lastUpdateId = L`` arrives, the ringed diffs with ``u >= L`` are replayed after
  it, and the engine's rule drops the stale ones.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Final
from urllib.parse import parse_qs, urlparse

from seriesfactory.schema import RawRecord
from seriesfactory.sources._book_base import BookParser, Level, levels, ms_to_ns
from seriesfactory.sources.binance.sequence import SPOT_RULE, USDM_RULE, depth_ids

__all__ = ["BinanceSpotBook", "BinanceUsdmBook"]

#: Diffs kept for replay after a REST snapshot (the newest this many messages).
REPLAY_MESSAGES: Final = 20_000

_Diff = tuple[int, int, list[Level], list[Level], int, int, int]


class BinanceSpotBook(BookParser):
    """Binance spot (``binance``): ``U``/``u`` sequencing, REST ``/api/v3/depth`` snapshot."""

    venues = ("binance",)
    rule = SPOT_RULE

    def __init__(self, symbol: str) -> None:
        super().__init__(symbol.upper())
        self._ring: deque[_Diff] = deque(maxlen=REPLAY_MESSAGES)

    def on_message(self, msg: dict[str, Any], rec: RawRecord) -> None:
        data = msg.get("data", msg) if "stream" in msg else msg
        if not isinstance(data, dict) or data.get("s") != self.symbol:
            return
        event = data.get("e")
        if event == "depthUpdate":
            ts = self.event_ts(ms_to_ns(data["E"]), rec.recv_ns)
            ids = depth_ids(data)
            diff = (
                ts,
                rec.recv_ns,
                levels(data["b"]),
                levels(data["a"]),
                ids.first,
                ids.last,
                ids.prev,
            )
            self._ring.append(diff)
            self._emit(diff)
        elif event in ("trade", "aggTrade"):
            ts = self.event_ts(ms_to_ns(data["T"]), rec.recv_ns)
            side = -1 if data["m"] else 1
            trade_id = int(data["t"] if event == "trade" else data["a"])
            self.out.trade(ts, rec.recv_ns, float(data["p"]), float(data["q"]), side, trade_id)
        elif event == "bookTicker" or (event is None and "B" in data and "u" in data):
            ts = ms_to_ns(data["E"]) if "E" in data else self.last_ts_ns
            self.tickers.append(
                (
                    ts,
                    int(data["u"]),
                    float(data["b"]),
                    float(data["B"]),
                    float(data["a"]),
                    float(data["A"]),
                )
            )

    def on_rest(self, msg: Any, rec: RawRecord) -> None:
        if not isinstance(msg, dict) or "lastUpdateId" not in msg:
            return
        if rec.url:
            wanted = parse_qs(urlparse(rec.url).query).get("symbol", [self.symbol])[0]
            if wanted.upper() != self.symbol:
                return
        last_id = int(msg["lastUpdateId"])
        ts = self.event_ts(ms_to_ns(msg["E"]) if "E" in msg else None, rec.recv_ns)
        self.out.message(
            ts,
            rec.recv_ns,
            levels(msg["bids"]),
            levels(msg["asks"]),
            first_id=last_id,
            last_id=last_id,
            snapshot=True,
        )
        self.stats["snapshots"] = self.stats.get("snapshots", 0) + 1
        for diff in self._ring:
            if diff[5] >= last_id:
                self._emit(diff)

    def _emit(self, diff: _Diff) -> None:
        ts, recv, bids, asks, first, last, prev = diff
        self.out.message(ts, recv, bids, asks, first_id=first, last_id=last, prev_id=prev)


class BinanceUsdmBook(BinanceSpotBook):
    """Binance USD-M futures (``binance-usdm``): ``pu`` chaining, REST ``/fapi/v1/depth``."""

    venues = ("binance-usdm",)
    rule = USDM_RULE
