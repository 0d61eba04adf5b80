"""How Bybit's order book messages chain (read by ``book.py`` and ``ws.py``).

Each ``orderbook.{depth}.{symbol}`` message carries ``u``, the previous one's + 1
(:data:`RULE`, ``RULE_NEXT``), per topic. A ``snapshot`` message, or ``u == 1``
(the service restarted), restarts the sequence.
"""

from __future__ import annotations

from typing import Any, Final

from seriesfactory.schema import RULE_NEXT
from seriesfactory.sources._sequence import SeqIds

__all__ = ["RULE", "orderbook_ids"]

RULE: Final = RULE_NEXT


def orderbook_ids(msg: dict[str, Any]) -> SeqIds:
    """The ids of an ``orderbook.*`` message; key: its topic."""
    u = int(msg["data"]["u"])
    reset = msg.get("type") == "snapshot" or u == 1
    return SeqIds(str(msg["topic"]), u, u, prev=u - 1, reset=reset)
