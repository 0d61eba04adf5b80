"""Coinbase: Advanced Trade ``level2`` / ``market_trades`` and the legacy Exchange feed.

Advanced Trade sample (cryptofeed v3 capture, 2026-08-09)::

    {"channel":"l2_data","timestamp":"2026-08-09T21:05:48.505350477Z","sequence_num":14,
     "events":[{"type":"update","product_id":"BTC-USD","updates":[{"side":"bid",
     "event_time":"2026-08-09T21:05:48.210883Z","price_level":"65062.5",
     "new_quantity":"0.00583"}]}]}
    {"channel":"market_trades","timestamp":"...","sequence_num":1,"events":[{"type":"update",
     "trades":[{"product_id":"ETH-USD","trade_id":"833140778","price":"1919.41",
     "size":"0.00639701","time":"2026-08-09T21:05:44.820409Z","side":"BUY"}]}]}

Legacy Exchange feed sample (cryptofeed v1 capture, 2021-04-17)::

    {"type":"l2update","product_id":"SKL-BTC","changes":[["sell","0.00001306","660.5"]],
     "time":"2021-04-17T16:43:37.075687Z"}
    {"type":"match","trade_id":280232,"side":"sell","size":"985","price":"0.00001305",
     "product_id":"SKL-BTC","sequence":177100030,"time":"2021-04-17T16:43:37.089723Z"}

Conventions owned here:

* ``bid``/``buy`` -> side +1, ``offer``/``ask``/``sell`` -> side -1; sizes absolute.
* ``sequence_num`` counts every message of one connection (all channels). A jump
  on a connection is a gap marker for the book (rule ``RULE_NONE``: validity
  comes from snapshots and markers only). The legacy ``level2`` feed has no
  sequence at all: only its snapshot and connection lifecycle count.
* Event time: the message ``timestamp`` (Advanced Trade) or ``time`` (legacy).
* A trade's ``side`` is the maker's side: the aggressor is the opposite
  (maker ``BUY`` -> taker sell, -1). Trades are kept once per ``trade_id``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from seriesfactory.schema import RawRecord
from seriesfactory.sources._book_base import BookParser, Level
from seriesfactory.sources.coinbase.sequence import BOOK_RULE, connection_ids

__all__ = ["CoinbaseBook", "iso_to_ns"]

_SIDE = {"bid": 1, "buy": 1, "offer": -1, "ask": -1, "sell": -1}


def iso_to_ns(text: str) -> int:
    """``'2026-08-09T21:05:48.483587501Z'`` -> ns since the epoch (all 9 digits kept)."""
    head, _, frac = text.rstrip("Z").partition(".")
    secs = int(datetime.fromisoformat(head + "+00:00").timestamp())
    return secs * 1_000_000_000 + int((frac + "000000000")[:9])


class CoinbaseBook(BookParser):
    """Coinbase (``coinbase``): level2 books per product, gaps from ``sequence_num``."""

    venues = ("coinbase",)
    rule = BOOK_RULE

    def __init__(self, symbol: str) -> None:
        super().__init__(symbol.upper())
        self._seq: dict[str, int] = {}
        self._trade_ids: set[int] = set()

    def on_open(self, rec: RawRecord) -> None:
        self._seq.pop(rec.conn, None)

    def on_message(self, msg: dict[str, Any], rec: RawRecord) -> None:
        if "channel" in msg:
            self._advanced(msg, rec)
        else:
            self._legacy(msg, rec)

    def _advanced(self, msg: dict[str, Any], rec: RawRecord) -> None:
        ids = connection_ids(msg)
        ts = self.event_ts(iso_to_ns(msg["timestamp"]), rec.recv_ns)
        if ids is not None:
            prev = self._seq.get(rec.conn)
            self._seq[rec.conn] = ids.last
            if prev is not None and ids.prev != prev:
                self.stats["sequence_breaks"] = self.stats.get("sequence_breaks", 0) + 1
                if rec.conn in self.book_conns:  # a break on a connection carrying our book
                    self.out.gap(ts, rec.recv_ns)
        channel = msg["channel"]
        for event in msg.get("events", ()):
            if channel == "l2_data" and event.get("product_id") == self.symbol:
                bids: list[Level] = []
                asks: list[Level] = []
                for u in event["updates"]:
                    lvl = (float(u["price_level"]), float(u["new_quantity"]))
                    (bids if _SIDE[u["side"]] > 0 else asks).append(lvl)
                self.out.message(ts, rec.recv_ns, bids, asks, snapshot=event["type"] == "snapshot")
            elif channel == "market_trades":
                for t in event.get("trades", ()):
                    if t["product_id"] == self.symbol:
                        self._trade(iso_to_ns(t["time"]), rec, t)

    def _legacy(self, msg: dict[str, Any], rec: RawRecord) -> None:
        kind = msg.get("type")
        if msg.get("product_id") != self.symbol:
            return
        if kind == "snapshot":
            ts = self.event_ts(None, rec.recv_ns)
            bids = [(float(p), float(q)) for p, q in msg["bids"]]
            asks = [(float(p), float(q)) for p, q in msg["asks"]]
            self.out.message(ts, rec.recv_ns, bids, asks, snapshot=True)
        elif kind == "l2update":
            ts = self.event_ts(iso_to_ns(msg["time"]), rec.recv_ns)
            bids, asks = [], []
            for side, p, q in msg["changes"]:
                (bids if _SIDE[side] > 0 else asks).append((float(p), float(q)))
            self.out.message(ts, rec.recv_ns, bids, asks)
        elif kind in ("match", "last_match"):
            self._trade(iso_to_ns(msg["time"]), rec, msg)

    def _trade(self, ts: int, rec: RawRecord, t: dict[str, Any]) -> None:
        trade_id = int(t["trade_id"])
        if trade_id in self._trade_ids:
            return
        self._trade_ids.add(trade_id)
        side = -_SIDE[str(t["side"]).lower()]
        self.out.trade(ts, rec.recv_ns, float(t["price"]), float(t["size"]), side, trade_id)
