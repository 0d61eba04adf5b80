"""Binance parser: sides, aggressor side, bookTicker, snapshot replay, symbol filter."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from seriesfactory.raw.readers import read_records
from seriesfactory.schema import BOOK_FLAG_SNAPSHOT, RawRecord
from seriesfactory.sources._book_base import BOOK_FLAG_MSG_END, get_parser


def _rec(obj: object, kind: str = "msg", url: str | None = None) -> RawRecord:
    return RawRecord(1, "c", kind, json.dumps(obj), url)


def test_trade_side_from_buyer_is_maker_on_recorded_data(shared_real: Path) -> None:
    path = shared_real / "binance" / "hftbacktest" / "spot" / "btcusdt_20240808.gz"
    parser = get_parser("binance", "BTCUSDT")
    for rec in read_records([path]):
        parser.feed(rec)
    _, trades = parser.out.take()
    # the first recorded trade: {"t":3735683259,"p":"61837.63000000","q":"0.02000000","m":true}
    first = trades[0]
    assert (first["trade_id"], first["price"], first["qty"], first["side"]) == (
        3735683259,
        61837.63,
        0.02,
        -1,
    )
    assert len(trades) == 9757 and set(np.unique(trades["side"])) == {-1, 1}
    assert np.all(np.diff(trades["trade_id"]) == 1)  # contiguous ids, none lost


def test_depth_sides_ids_and_snapshot_replay() -> None:
    p = get_parser("binance", "btcusdt")
    diff = {
        "e": "depthUpdate",
        "E": 1000,
        "s": "BTCUSDT",
        "U": 11,
        "u": 12,
        "b": [["1.5", "2"]],
        "a": [["1.6", "0"]],
    }
    p.feed(_rec({"stream": "btcusdt@depth@100ms", "data": diff}))
    p.feed(_rec({**diff, "s": "ETHUSDT"}))  # another symbol: ignored
    p.feed(
        _rec(
            {"lastUpdateId": 11, "bids": [["1.4", "1"]], "asks": [["1.7", "1"]]},
            "rest",
            "https://x/api/v3/depth?symbol=BTCUSDT",
        )
    )
    p.feed(
        _rec(
            {"lastUpdateId": 99, "bids": [], "asks": []},
            "rest",
            "https://x/api/v3/depth?symbol=ETHUSDT",
        )
    )
    ev, _ = p.out.take()
    # the diff, then the snapshot, then the diff replayed after it (u=12 >= L=11)
    assert ev["side"].tolist() == [1, -1, 1, -1, 1, -1]
    assert ev["last_id"].tolist() == [12, 12, 11, 11, 12, 12]
    assert (ev["flags"] & BOOK_FLAG_SNAPSHOT).astype(bool).tolist() == [
        False,
        False,
        True,
        True,
        False,
        False,
    ]
    assert (ev["flags"] & BOOK_FLAG_MSG_END).astype(bool).tolist() == [False, True] * 3
    assert ev["ts"][0] == 1000 * 1_000_000 and ev["ts"][2] == ev["ts"][0]  # spot REST: latest E


def test_book_ticker_and_malformed_are_counted() -> None:
    p = get_parser("binance-usdm", "BTCUSDT")
    p.feed(
        _rec(
            {
                "stream": "btcusdt@bookTicker",
                "data": {
                    "e": "bookTicker",
                    "u": 7,
                    "s": "BTCUSDT",
                    "b": "1.0",
                    "B": "2",
                    "a": "1.1",
                    "A": "3",
                    "E": 5,
                },
            }
        )
    )
    p.feed(RawRecord(2, "c", "msg", "{not json", None, "f.jsonl", 9))
    p.feed(_rec({"stream": "x", "data": {"e": "depthUpdate", "s": "BTCUSDT", "E": 1}}))  # no U/u
    assert p.tickers == [(5_000_000, 7, 1.0, 2.0, 1.1, 3.0)]
    assert p.stats["malformed"] == 1 and p.stats["unparsed"] == 1
    assert p.problems[0].startswith("f.jsonl:9: not JSON")
