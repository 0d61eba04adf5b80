"""Bybit parser: taker side, u ids, snapshot or u == 1 replaces, category choice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seriesfactory.errors import InputError
from seriesfactory.raw.readers import read_records
from seriesfactory.schema import BOOK_FLAG_SNAPSHOT, RawRecord
from seriesfactory.sources._book_base import get_parser


def test_recorded_trade_sides_are_the_taker_side(shared_real: Path) -> None:
    parser = get_parser("bybit", "linear:BTCUSDT")
    for rec in read_records([shared_real / "bybit" / "cryptofeed-v3" / "BYBIT.jsonl.zst"]):
        parser.feed(rec)
    _, trades = parser.out.take()
    # first linear BTCUSDT trade: {"T":1786310819680,"S":"Sell","v":"0.004","p":"65114.20"}
    t = trades[0]
    assert (t["ts"], t["side"], t["qty"], t["price"]) == (1786310819680_000_000, -1, 0.004, 65114.2)


def test_u_equal_one_replaces_the_book_and_bare_symbol_must_be_unique() -> None:
    def rec(u: int, kind: str, url: str) -> RawRecord:
        body = {
            "topic": "orderbook.50.BTCUSDT",
            "type": kind,
            "ts": 5,
            "data": {"s": "BTCUSDT", "b": [["1", "1"]], "a": [], "u": u},
        }
        return RawRecord(1, "c", "msg", json.dumps(body), url)

    p = get_parser("bybit", "BTCUSDT")
    p.feed(rec(1, "delta", "wss://s/v5/public/linear"))
    p.feed(rec(2, "delta", "wss://s/v5/public/linear"))
    ev, _ = p.out.take()
    assert (ev["flags"] & BOOK_FLAG_SNAPSHOT).astype(bool).tolist() == [True, False]
    assert ev["first_id"].tolist() == [1, 2] and ev["prev_id"].tolist() == [0, 1]
    with pytest.raises(InputError, match="several Bybit categories"):
        p.feed(rec(3, "delta", "wss://s/v5/public/spot"))
