"""How OKX's order book messages chain (read by ``book.py``).

Each ``books*`` data item carries ``seqId`` and ``prevSeqId``, the previous item's
``seqId`` (:data:`RULE`, ``RULE_PREV``). Old recordings have no ids at all: they
are read with ``RULE_NONE`` (:data:`RULE_WITHOUT_IDS`).
"""

from __future__ import annotations

from typing import Any, Final

from seriesfactory.schema import RULE_NONE, RULE_PREV
from seriesfactory.sources._sequence import SeqIds

__all__ = ["RULE", "RULE_WITHOUT_IDS", "book_ids"]

RULE: Final = RULE_PREV
RULE_WITHOUT_IDS: Final = RULE_NONE


def book_ids(item: dict[str, Any], *, snapshot: bool) -> SeqIds | None:
    """The ids of one ``books*`` data item (``None`` in a recording without them)."""
    if "seqId" not in item:
        return None
    seq = int(item["seqId"])
    return SeqIds("seqId", seq, seq, prev=int(item.get("prevSeqId", -1)), reset=snapshot)
