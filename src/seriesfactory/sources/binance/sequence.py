"""How Binance's depth diffs chain (read by ``book.py`` and ``ws.py``).

A diff carries ``U`` (its first update id) and ``u`` (its last); USD-M diffs also
carry ``pu``, the previous diff's ``u``. The sequence is per symbol.

* Spot (:data:`SPOT_RULE`, ``RULE_BINANCE``): ``U == previous u + 1``; after a REST
  snapshot with ``lastUpdateId`` ``L``, diffs with ``u <= L`` are dropped and the
  first kept has ``U <= L + 1 <= u``.
* USD-M (:data:`USDM_RULE`, ``RULE_BINANCE_F``): ``pu == previous u``; after a
  snapshot, diffs with ``u < L`` are dropped and the first kept has ``U <= L <= u``.
"""

from __future__ import annotations

from typing import Any, Final

from seriesfactory.schema import RULE_BINANCE, RULE_BINANCE_F
from seriesfactory.sources._sequence import SeqIds

__all__ = ["SPOT_RULE", "USDM_RULE", "depth_ids"]

SPOT_RULE: Final = RULE_BINANCE
USDM_RULE: Final = RULE_BINANCE_F


def depth_ids(data: dict[str, Any]) -> SeqIds:
    """The ids of a ``depthUpdate`` (the ``data`` of its envelope); key: the symbol."""
    return SeqIds(str(data["s"]), int(data["U"]), int(data["u"]), prev=int(data.get("pu", -1)))
