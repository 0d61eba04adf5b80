"""Extended parser: absolute ``c`` vs relative ``q`` in deltas, seq ids, taker side."""

from __future__ import annotations

import json

import numpy as np

from seriesfactory.schema import RawRecord
from seriesfactory.sources._book_base import RULE_NEXT, get_parser
from seriesfactory.transforms.book.api import BookBuilder


def _rec(obj: object) -> RawRecord:
    return RawRecord(1, "c", "msg", json.dumps(obj))


def test_snapshot_then_delta_with_and_without_c() -> None:
    p = get_parser("extended", "BTC-USD")
    p.feed(
        _rec(
            {
                "type": "SNAPSHOT",
                "data": {
                    "m": "BTC-USD",
                    "b": [{"p": "100.0", "q": "2"}, {"p": "99.5", "q": "1"}],
                    "a": [{"p": "100.5", "q": "3"}],
                },
                "ts": 1000,
                "seq": 1,
            }
        )
    )
    # 100.0: c says the new total is 1.5; 99.5: no c, q = +0.25 is a change; 100.5: c = 0 deletes
    p.feed(
        _rec(
            {
                "type": "DELTA",
                "data": {
                    "m": "BTC-USD",
                    "b": [{"p": "100.0", "q": "-0.5", "c": "1.5"}, {"p": "99.5", "q": "0.25"}],
                    "a": [{"p": "100.5", "q": "-3", "c": "0"}, {"p": "101", "q": "4", "c": "4"}],
                },
                "ts": 1100,
                "seq": 2,
            }
        )
    )
    p.feed(
        _rec(
            {
                "type": "SNAPSHOT",
                "data": [
                    {"i": 7, "m": "BTC-USD", "S": "SELL", "T": 1050, "p": "100.0", "q": "0.1"}
                ],
                "ts": 1051,
                "seq": 1,
            }
        )
    )
    ev, trades = p.out.take()
    b = BookBuilder(rule=RULE_NEXT, price_decimals=1, interval_ns=0, depth=2)
    msgs, _ = b.update(ev)
    assert len(msgs) == 2 and msgs["status"].tolist() == [1, 0]
    assert b.levels(1) == [(100.0, 1.5), (99.5, 1.25)]
    assert b.levels(-1) == [(101.0, 4.0)]
    assert trades["side"].tolist() == [-1] and trades["trade_id"].tolist() == [7]
    assert np.all(ev["last_id"] >= 1)
