"""Where a venue's messages sit in their sequence, described once per venue.

Each venue folder has a ``sequence.py`` that says which ids a message carries
(:class:`SeqIds`: the sequence's key, the message's first and last id, the
previous message's last id where the venue sends it, and whether the message
restarts the sequence) and which rule chains them (a ``RULE_*`` of
:mod:`seriesfactory.schema`; the table is in :mod:`seriesfactory.sources._book_base`).
Both users read that one description:

* the book parser (``book.py``) writes the ids into the book events and names
  the rule, which the book engine (``transforms/book``) checks per message;
* the recorder checks the sequence while recording, through the venue's
  ``ws.py``: :func:`seq_point` turns the ids and the rule into the
  :class:`SeqPoint` its :class:`SequenceTracker` follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from seriesfactory.schema import RULE_BINANCE_F, RULE_PREV

__all__ = ["SeqIds", "SeqPoint", "SequenceTracker", "seq_point"]


@dataclass(frozen=True, slots=True)
class SeqIds:
    """The sequence ids one message carries, as the venue sends them.

    ``key`` names the sequence (a symbol, a topic, or one name for a whole
    connection); ``first`` and ``last`` are the ids the message spans (the same
    for venues with one number per message); ``prev`` is the previous message's
    ``last`` where the venue sends it (``-1`` where it does not); ``reset`` says
    the message restarts the sequence (a snapshot).
    """

    key: str
    first: int
    last: int
    prev: int = -1
    reset: bool = False


@dataclass(frozen=True, slots=True)
class SeqPoint:
    """Where one message sits in its sequence.

    ``first`` is the id this message expects to follow ``previous last + 1`` and
    ``last`` the id it ends at (both the same for venues with one number per
    message); ``reset`` says the message restarts the sequence (a snapshot).
    ``symbol`` names the book, for a REST resync.
    """

    key: str
    first: int
    last: int
    reset: bool = False
    symbol: str = ""


class SequenceTracker:
    """Follow each key's sequence within one connection session and report breaks.

    A message continues its key when ``first == previous last + 1`` (or when it
    resets the sequence, or is the key's first message). ``first <= previous last`` is
    a duplicate or a stale repeat: nothing was lost, the position does not move back.
    ``first > previous last + 1`` is a gap: ``first - (previous last + 1)`` ids are missing.
    """

    def __init__(self) -> None:
        self.last: dict[str, int] = {}

    def check(self, point: SeqPoint) -> dict[str, Any] | None:
        """Advance ``point.key``; return the gap record's data on a break, else ``None``."""
        prev = self.last.get(point.key)
        if prev is None or point.reset or point.first == prev + 1:
            self.last[point.key] = point.last
            return None
        if point.first <= prev:
            self.last[point.key] = max(prev, point.last)
            return None
        self.last[point.key] = point.last
        return {"reason": "sequence", "key": point.key, "expected": prev + 1, "got": point.first}


def seq_point(ids: SeqIds, rule: int, *, symbol: str = "") -> SeqPoint:
    """What the recorder follows of ``ids`` under the book rule ``rule``.

    The recorder's check is ``first == previous last + 1``. Under the rules that
    chain by the previous id (``RULE_BINANCE_F``: ``pu == u'``; ``RULE_PREV``:
    ``prev_id == last_id'``) the message continues when ``prev + 1 == previous last
    + 1``, so ``prev + 1`` stands for ``first``; under the others ``first`` is the
    message's own first id. ``symbol`` names the book for a REST resync.
    """
    first = ids.prev + 1 if rule in (RULE_BINANCE_F, RULE_PREV) else ids.first
    return SeqPoint(ids.key, first, ids.last, reset=ids.reset, symbol=symbol)
