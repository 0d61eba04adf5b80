"""OKX v5 public ``books`` and ``trades`` channels (used to replay recordings).

Raw samples (cryptofeed v1 capture, 2022-05-13)::

    {"arg":{"channel":"books","instId":"BTC-USD-220527"},"action":"update",
     "data":[{"asks":[["30249.4","0","0","0"],["30261","4","0","1"]],
     "bids":[["30182.6","452","0","1"]],"ts":"1652459225464","checksum":-914047754}]}

Levels are ``[price, size, liquidated orders (deprecated), order count]``.

Conventions owned here:

* ``bids`` +1, ``asks`` -1; sizes absolute, ``"0"`` deletes; ``action``
  ``snapshot`` replaces the book. Event time is ``ts`` (ms).
* Sequencing ``RULE_PREV``: ``prevSeqId`` equals the previous message's
  ``seqId`` (OKX sends these since late 2022). Recordings made before that carry
  only a CRC32 ``checksum``; :func:`okx_checksum` computes it from a rebuilt book
  so a replay can check integrity message by message.
* A trade's ``side`` is the taker side.
"""

from __future__ import annotations

import zlib
from decimal import Decimal
from typing import Any

from seriesfactory.schema import RawRecord
from seriesfactory.sources._book_base import BookParser, levels, ms_to_ns
from seriesfactory.sources._sequence import SeqIds
from seriesfactory.sources.okx.sequence import RULE, RULE_WITHOUT_IDS, book_ids

__all__ = ["OkxBook", "okx_checksum"]


def _num(x: float) -> str:
    """A float as OKX writes it: plain decimal, no exponent, no trailing zeros."""
    text = format(Decimal(repr(x)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def okx_checksum(bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> int:
    """OKX's book checksum: signed CRC32 of ``bid:size:ask:size:...`` over the top 25.

    ``bids`` best first (descending), ``asks`` best first (ascending). Levels are
    interleaved bid, ask while both exist, then the rest of the longer side.
    """
    parts: list[str] = []
    for i in range(25):
        if i < len(bids):
            parts += [_num(bids[i][0]), _num(bids[i][1])]
        if i < len(asks):
            parts += [_num(asks[i][0]), _num(asks[i][1])]
    crc = zlib.crc32(":".join(parts).encode())
    return crc - (1 << 32) if crc >= 1 << 31 else crc


class OkxBook(BookParser):
    """OKX (``okx``): ``prevSeqId`` chaining when present; ``checksum`` kept for checks."""

    venues = ("okx",)
    rule = RULE

    def __init__(self, symbol: str) -> None:
        super().__init__(symbol.upper())
        #: ``(message index among this symbol's book messages, checksum)``
        self.checksums: list[int | None] = []

    def on_message(self, msg: dict[str, Any], rec: RawRecord) -> None:
        arg = msg.get("arg") or {}
        if arg.get("instId") != self.symbol or "data" not in msg:
            return
        channel = arg.get("channel", "")
        if channel.startswith("books"):
            for d in msg["data"]:
                ts = self.event_ts(ms_to_ns(d["ts"]), rec.recv_ns)
                ids = book_ids(d, snapshot=msg.get("action") == "snapshot")
                if ids is None:  # an old recording without sequence ids
                    self.rule = RULE_WITHOUT_IDS
                    ids = SeqIds("seqId", -1, -1, prev=int(d.get("prevSeqId", -1)))
                self.out.message(
                    ts,
                    rec.recv_ns,
                    levels(d.get("bids", [])),
                    levels(d.get("asks", [])),
                    first_id=ids.first,
                    last_id=ids.last,
                    prev_id=ids.prev,
                    snapshot=msg.get("action") == "snapshot",
                )
                self.checksums.append(d.get("checksum"))
        elif channel == "trades":
            for t in msg["data"]:
                ts = self.event_ts(ms_to_ns(t["ts"]), rec.recv_ns)
                side = 1 if t["side"] == "buy" else -1
                self.out.trade(
                    ts, rec.recv_ns, float(t["px"]), float(t["sz"]), side, int(t["tradeId"])
                )
