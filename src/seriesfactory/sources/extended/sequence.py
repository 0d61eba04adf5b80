"""How Extended's order book messages chain (read by ``book.py`` and ``ws.py``).

Every message of a stream carries ``seq``, the previous one's + 1 (:data:`RULE`,
``RULE_NEXT``); a ``SNAPSHOT`` restarts the sequence.
"""

from __future__ import annotations

from typing import Any, Final

from seriesfactory.schema import RULE_NEXT
from seriesfactory.sources._sequence import SeqIds

__all__ = ["RULE", "message_ids"]

RULE: Final = RULE_NEXT


def message_ids(msg: dict[str, Any]) -> SeqIds:
    """The ids of a message with a ``seq``; key: ``"seq"`` (one sequence a connection)."""
    seq = int(msg["seq"])
    return SeqIds("seq", seq, seq, prev=seq - 1, reset=msg.get("type") == "SNAPSHOT")
