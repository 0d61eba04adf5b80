"""Extended (x10, Starknet perp DEX): ``/orderbooks/{market}`` and ``/publicTrades/{market}``.

No public recording of Extended exists (see PROVENANCE.md); these samples follow the
message format of Extended's SDK models, not a capture::

    {"type":"SNAPSHOT","data":{"m":"BTC-USD","b":[{"p":"65000.5","q":"1.25"}],
     "a":[{"p":"65001.0","q":"0.40"}]},"ts":1786310818129,"seq":1}
    {"type":"DELTA","data":{"m":"BTC-USD","b":[{"p":"65000.5","q":"-0.25","c":"1.00"}],
     "a":[{"p":"65002.0","q":"0.10"}]},"ts":1786310818229,"seq":2}
    {"type":"SNAPSHOT","data":[{"i":1844000,"m":"BTC-USD","S":"BUY","tT":"TRADE",
     "T":1786310818200,"p":"65001.0","q":"0.010"}],"ts":1786310818201,"seq":7}

Conventions owned here:

* ``b`` bids (+1), ``a`` asks (-1). In a ``SNAPSHOT`` ``q`` is the level size. In a
  ``DELTA``, ``c`` (when present) is the new total size of the level; without
  ``c``, ``q`` is the change, applied relative to the current size.
* Sequencing ``RULE_NEXT`` on ``seq``: every message is the previous + 1; a
  ``SNAPSHOT`` replaces the book.
* Event time is ``ts`` (ms). A trade's ``S`` is the taker's side (the long field
  names of the REST model, ``id/market/side/timestamp/price/qty``, are accepted too).
"""

from __future__ import annotations

from typing import Any

from seriesfactory.schema import BOOK_FLAG_MSG_END, RawRecord
from seriesfactory.sources._book_base import BookParser, Level, ms_to_ns
from seriesfactory.sources.extended.sequence import RULE, message_ids

__all__ = ["ExtendedBook"]


class ExtendedBook(BookParser):
    """Extended (``extended``): ``seq`` + 1 per message, ``SNAPSHOT`` replaces the book."""

    venues = ("extended",)
    rule = RULE

    def __init__(self, symbol: str) -> None:
        super().__init__(symbol.upper())

    def on_message(self, msg: dict[str, Any], rec: RawRecord) -> None:
        data = msg.get("data")
        if isinstance(data, dict) and data.get("m") == self.symbol:
            self._book(msg, data, rec)
        elif isinstance(data, list):
            for t in data:
                if isinstance(t, dict) and t.get("m", t.get("market")) == self.symbol:
                    self._trade(t, rec)

    def _book(self, msg: dict[str, Any], data: dict[str, Any], rec: RawRecord) -> None:
        ids = message_ids(msg)
        snapshot = ids.reset
        ts = self.event_ts(ms_to_ns(msg["ts"]), rec.recv_ns)
        absolute: tuple[list[Level], list[Level]] = ([], [])
        relative: tuple[list[Level], list[Level]] = ([], [])
        for k, key in enumerate(("b", "a")):
            for lvl in data.get(key) or ():
                price = float(lvl["p"])
                if snapshot:
                    absolute[k].append((price, float(lvl["q"])))
                elif lvl.get("c") is not None:
                    absolute[k].append((price, float(lvl["c"])))
                else:
                    relative[k].append((price, float(lvl["q"])))
        recv = rec.recv_ns
        bids, asks = absolute
        self.out.message(
            ts, recv, bids, asks, first_id=ids.first, last_id=ids.last, prev_id=ids.prev,
            snapshot=snapshot,
        )  # fmt: skip
        if relative[0] or relative[1]:
            # one message, two runs: absolute levels, then changes. The engine checks the
            # sequence on the first event and applies the relative run as the message's tail.
            self._merge_last_two()
            bids, asks = relative
            self.out.message(
                ts, recv, bids, asks, first_id=ids.first, last_id=ids.last, prev_id=ids.prev,
                relative=True,
            )  # fmt: skip

    def _merge_last_two(self) -> None:
        """Clear the end-of-message flag just written, so the next run continues the message."""
        ev = self.out.events
        last = ev[-1]
        if last[2] == 0:  # an empty marker: drop it, the relative run carries the ids
            ev.pop()
        else:
            ev[-1] = (*last[:8], last[8] & ~BOOK_FLAG_MSG_END)

    def _trade(self, t: dict[str, Any], rec: RawRecord) -> None:
        ts = self.event_ts(ms_to_ns(t.get("T", t.get("timestamp", 0))), rec.recv_ns)
        side = 1 if str(t.get("S", t.get("side", ""))).upper() == "BUY" else -1
        price = float(t.get("p", t.get("price", "nan")))
        qty = float(t.get("q", t.get("qty", "nan")))
        self.out.trade(ts, rec.recv_ns, price, qty, side, int(t.get("i", t.get("id", -1))))
