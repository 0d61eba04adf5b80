"""OKX parser: seqId chaining when present, checksum string format."""

from __future__ import annotations

import json
import zlib

from seriesfactory.schema import RawRecord
from seriesfactory.sources._book_base import RULE_NONE, RULE_PREV, get_parser
from seriesfactory.sources.okx.book import okx_checksum


def test_seq_ids_used_when_present() -> None:
    p = get_parser("okx", "BTC-USDT")
    body = {
        "arg": {"channel": "books", "instId": "BTC-USDT"},
        "action": "update",
        "data": [
            {
                "asks": [["30249.4", "0", "0", "0"]],
                "bids": [],
                "ts": "1652459225464",
                "seqId": 8,
                "prevSeqId": 7,
            }
        ],
    }
    p.feed(RawRecord(1, "c", "msg", json.dumps(body)))
    ev, _ = p.out.take()
    assert (
        p.rule == RULE_PREV
        and ev["last_id"][0] == 8
        and ev["prev_id"][0] == 7
        and ev["side"][0] == -1
    )
    del body["data"][0]["seqId"]  # type: ignore[index]
    p.feed(RawRecord(1, "c", "msg", json.dumps(body)))
    assert p.rule == RULE_NONE


def test_checksum_string_hand_computed() -> None:
    # bids 3366.1:7, 3366:6 ; asks 3366.8:9  ->  "3366.1:7:3366.8:9:3366:6"
    want = zlib.crc32(b"3366.1:7:3366.8:9:3366:6")
    want = want - (1 << 32) if want >= 1 << 31 else want
    assert okx_checksum([(3366.1, 7.0), (3366.0, 6.0)], [(3366.8, 9.0)]) == want
    assert okx_checksum([(0.00001, 1e-05)], []) == zlib.crc32(b"0.00001:0.00001")
