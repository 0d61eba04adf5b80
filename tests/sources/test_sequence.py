"""One description of each venue's sequence, read by the recorder and the book parser."""

from __future__ import annotations

from typing import Any

import pytest

from seriesfactory.schema import RULE_BINANCE, RULE_BINANCE_F, RULE_NEXT, RULE_PREV, RawRecord
from seriesfactory.sources._book_base import get_parser
from seriesfactory.sources._sequence import SeqIds, SeqPoint, SequenceTracker, seq_point
from seriesfactory.sources._ws_base import ws_venue


def test_seq_point_by_rule_hand_computed() -> None:
    ids = SeqIds("BTCUSDT", 101, 110, prev=99)
    # spot and "next": the message's own first id must follow the previous last
    assert seq_point(ids, RULE_BINANCE, symbol="BTCUSDT") == SeqPoint(
        "BTCUSDT", 101, 110, symbol="BTCUSDT"
    )
    assert seq_point(ids, RULE_NEXT).first == 101
    # pu == u' and prev_id == last_id': prev + 1 stands for first
    assert seq_point(ids, RULE_BINANCE_F).first == 100
    assert seq_point(ids, RULE_PREV).first == 100
    tracker = SequenceTracker()
    assert tracker.check(seq_point(SeqIds("k", 5, 9), RULE_NEXT)) is None
    assert tracker.check(seq_point(SeqIds("k", 99, 120, prev=9), RULE_BINANCE_F)) is None
    gap = tracker.check(seq_point(SeqIds("k", 121, 130, prev=125), RULE_BINANCE_F))
    assert gap == {"reason": "sequence", "key": "k", "expected": 121, "got": 126}


_MESSAGES: dict[str, tuple[str, dict[str, Any]]] = {
    "binance-usdm": (
        "BTCUSDT",
        {"stream": "btcusdt@depth@100ms", "data": {"e": "depthUpdate", "E": 1, "T": 1,
         "s": "BTCUSDT", "U": 200, "u": 210, "pu": 190, "b": [["1.0", "2"]], "a": []}},
    ),
    "bybit": (
        "BTCUSDT",
        {"topic": "orderbook.50.BTCUSDT", "type": "delta", "ts": 1,
         "data": {"s": "BTCUSDT", "b": [["1.0", "2"]], "a": [], "u": 77, "seq": 5}},
    ),
    "extended": (
        "BTC-USD",
        {"type": "DELTA", "ts": 1, "seq": 12,
         "data": {"m": "BTC-USD", "b": [{"p": "1.0", "q": "2"}], "a": []}},
    ),
}  # fmt: skip


@pytest.mark.parametrize("venue", sorted(_MESSAGES))
def test_recorder_and_book_read_the_same_ids(venue: str) -> None:
    """The ids the book parser writes are the ones the recorder's point is made from."""
    symbol, msg = _MESSAGES[venue]
    point = ws_venue(venue).sequence(msg)
    assert point is not None
    parser = get_parser(venue, symbol)
    parser.on_message(msg, RawRecord(recv_ns=5, kind="msg", conn="c", data=""))
    events, _ = parser.out.take()
    first, last, prev = (int(events[0][k]) for k in ("first_id", "last_id", "prev_id"))
    assert last == point.last
    assert point.first == (prev + 1 if parser.rule in (RULE_BINANCE_F, RULE_PREV) else first)
