"""Coinbase parser: maker side -> aggressor side, sequence_num gaps, both feeds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from seriesfactory.raw.readers import read_records
from seriesfactory.schema import BOOK_FLAG_GAP, RawRecord
from seriesfactory.sources._book_base import get_parser
from seriesfactory.sources.coinbase.book import iso_to_ns


def test_iso_to_ns_keeps_nanoseconds() -> None:
    assert iso_to_ns("2026-08-09T21:05:48.483587501Z") == 1786309548483587501
    assert iso_to_ns("2021-04-17T16:43:37.075687Z") == 1618677817075687000


def test_legacy_match_side_is_the_maker_side_on_recorded_data(shared_real: Path) -> None:
    parser = get_parser("coinbase", "SKL-BTC")
    for rec in read_records([shared_real / "coinbase" / "cryptofeed" / "COINBASE.ws.28.0"]):
        parser.feed(rec)
    _, trades = parser.out.take()
    # {"type":"match","trade_id":280232,"side":"sell","size":"985","price":"0.00001305"}:
    # the maker sold, so the taker bought
    first = trades[trades["trade_id"] == 280232][0]
    assert (first["price"], first["qty"], first["side"]) == (0.00001305, 985.0, 1)
    assert len(np.unique(trades["trade_id"])) == len(trades)


def test_sequence_num_jump_on_a_book_connection_is_a_gap_marker() -> None:
    p = get_parser("coinbase", "BTC-USD")

    def msg(seq: int, conn: str, l2: bool = False) -> RawRecord:
        events = [{"type": "update", "product_id": "BTC-USD", "updates": []}] if l2 else []
        channel = "l2_data" if l2 else "heartbeats"
        body = {
            "channel": channel,
            "timestamp": "2026-08-09T21:05:48Z",
            "sequence_num": seq,
            "events": events,
        }
        return RawRecord(1, conn, "msg", json.dumps(body))

    # connection a carries the book; b only heartbeats: a jump on b does not touch the book
    for rec in (msg(0, "a", l2=True), msg(1, "a"), msg(0, "b"), msg(2, "b"), msg(3, "a")):
        p.feed(rec)
    ev, _ = p.out.take()
    gaps = ev[(ev["flags"] & BOOK_FLAG_GAP) != 0]
    assert len(gaps) == 1 and p.stats["sequence_breaks"] == 2
    p.feed(RawRecord(5, "b", "close", ""))
    p.feed(RawRecord(6, "a", "close", ""))
    assert len(p.out.take()[0]) == 0  # a close that ends the recording loses nothing
    p.feed(RawRecord(7, "a", "open", ""))  # ... but the recording goes on
    ev, _ = p.out.take()
    assert len(ev) == 1 and ev["flags"][0] & BOOK_FLAG_GAP and ev["recv_ts"][0] == 6
