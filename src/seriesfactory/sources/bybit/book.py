"""Bybit v5 public streams: ``orderbook.N.SYMBOL`` and ``publicTrade.SYMBOL``.

Raw samples (cryptofeed v3 capture, 2026-08-09, linear connection; the snapshot's
200 levels per side cut to one)::

    {"topic":"orderbook.200.BTCUSDT","type":"snapshot","ts":1786310818129,
     "data":{"s":"BTCUSDT","b":[["65114.20","6.054"]],"a":[...],"u":...,"seq":...}}
    {"topic":"orderbook.200.SOLUSDT","type":"delta","ts":1786310819154,
     "data":{"s":"SOLUSDT","b":[["77.290","5408.7"]],"a":[["77.310","211.6"]],
     "u":13783325,"seq":272903624865},"cts":1786310819145}
    {"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1786310819681,
     "data":[{"T":1786310819680,"s":"BTCUSDT","S":"Sell","v":"0.004","p":"65114.20",
     "L":"MinusTick","i":"a9188a0a-82bc-50de-be60-03eedbe3cdd7","BT":false,
     "RPI":false,"seq":753843954913}]}

Conventions owned here:

* ``b`` bids (+1), ``a`` asks (-1); sizes absolute, ``"0"`` deletes.
* Sequencing ``RULE_NEXT`` on ``u``: each delta's ``u`` is the previous + 1; a
  ``snapshot`` message, or a delta with ``u == 1`` (a service restart), replaces
  the book.
* Event time is the message ``ts`` (ms). A trade's ``S`` is the taker side; its
  ``i`` is a UUID, not a number, so ``trade_id`` is -1 unless ``i`` is all digits.
* The same symbol exists on the spot and linear connections. ``symbol`` may say
  which (``linear:BTCUSDT``, ``spot:BTCUSDT``); the category is read from the
  connection URL (``/v5/public/<category>``). A bare symbol seen on two
  categories is an error.
"""

from __future__ import annotations

from typing import Any

from seriesfactory.errors import InputError
from seriesfactory.schema import RawRecord
from seriesfactory.sources._book_base import BookParser, levels, ms_to_ns
from seriesfactory.sources.bybit.sequence import RULE, orderbook_ids

__all__ = ["BybitBook"]


def _category(url: str | None) -> str | None:
    if not url or "/v5/public/" not in url:
        return None
    return url.rsplit("/v5/public/", 1)[1].split("?")[0].strip("/")


class BybitBook(BookParser):
    """Bybit v5 (``bybit``): ``u`` + 1 per message, snapshots replace the book."""

    venues = ("bybit",)
    rule = RULE

    def __init__(self, symbol: str) -> None:
        category, _, name = symbol.rpartition(":")
        super().__init__(name.upper())
        self.category = category or None
        self._seen_categories: set[str] = set()

    def _wanted(self, rec: RawRecord) -> bool:
        cat = _category(rec.url)
        if self.category is not None:
            return cat == self.category
        if cat is not None:
            self._seen_categories.add(cat)
            if len(self._seen_categories) > 1:
                raise InputError(
                    f"{self.symbol} appears on several Bybit categories "
                    f"({', '.join(sorted(self._seen_categories))}); name one, e.g. "
                    f"--symbol {min(self._seen_categories)}:{self.symbol}"
                )
        return True

    def on_message(self, msg: dict[str, Any], rec: RawRecord) -> None:
        topic = msg.get("topic", "")
        kind, _, rest = topic.partition(".")
        if kind == "orderbook" and rest.rsplit(".", 1)[-1] == self.symbol and self._wanted(rec):
            data = msg["data"]
            ts = self.event_ts(ms_to_ns(msg["ts"]), rec.recv_ns)
            ids = orderbook_ids(msg)
            self.out.message(
                ts,
                rec.recv_ns,
                levels(data["b"]),
                levels(data["a"]),
                first_id=ids.first,
                last_id=ids.last,
                prev_id=ids.prev,
                snapshot=ids.reset,
            )
        elif kind == "publicTrade" and rest == self.symbol and self._wanted(rec):
            for t in msg["data"]:
                ts = self.event_ts(ms_to_ns(t["T"]), rec.recv_ns)
                side = 1 if t["S"] == "Buy" else -1
                tid = int(t["i"]) if str(t["i"]).isdigit() else -1
                self.out.trade(ts, rec.recv_ns, float(t["p"]), float(t["v"]), side, tid)
