"""How Coinbase's messages chain (read by ``book.py`` and ``ws.py``).

Advanced Trade's ``sequence_num`` counts every message of one connection, all
channels together: each is the previous + 1 (:data:`CONNECTION_RULE`,
``RULE_NEXT``). Book levels carry no ids (:data:`BOOK_RULE`, ``RULE_NONE``): a
break of the connection's sequence becomes a gap marker for the book, and
validity comes from snapshots and markers only. The legacy Exchange feed's
``level2`` has no sequence at all.
"""

from __future__ import annotations

from typing import Any, Final

from seriesfactory.schema import RULE_NEXT, RULE_NONE
from seriesfactory.sources._sequence import SeqIds

__all__ = ["BOOK_RULE", "CONNECTION_RULE", "connection_ids"]

BOOK_RULE: Final = RULE_NONE
CONNECTION_RULE: Final = RULE_NEXT


def connection_ids(msg: dict[str, Any]) -> SeqIds | None:
    """The connection sequence id of a message (``None`` without ``sequence_num``)."""
    seq = msg.get("sequence_num")
    if seq is None:
        return None
    return SeqIds("sequence_num", int(seq), int(seq), prev=int(seq) - 1)
