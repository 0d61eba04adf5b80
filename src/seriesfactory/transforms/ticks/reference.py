"""Plain-Python twin of the trades-to-ticks kernel, written for clarity, not speed.

It first groups consecutive trades with the same time and taker side, then
walks the groups keeping a quote. The tests compare it with ``nb.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["reference_ticks"]


def reference_ticks(
    ts: Sequence[int], price: Sequence[float], notional: Sequence[float], side: Sequence[int]
) -> list[tuple[int, float, float, float, float, int]]:
    """Rows ``(ts, bid, ask, vbid, vask, age_ns)`` for a whole trade stream."""
    groups: list[tuple[int, int, float, float]] = []  # (ts, side, last price, notional)
    for t, p, v, s in zip(ts, price, notional, side, strict=True):
        if groups and groups[-1][0] == t and groups[-1][1] == s:
            groups[-1] = (t, s, p, groups[-1][3] + v)
        else:
            groups.append((int(t), int(s), p, v))
    bid: float | None = None
    ask: float | None = None
    bid_ts = ask_ts = 0
    rows: list[tuple[int, float, float, float, float, int]] = []
    for t, s, p, v in groups:
        if s < 0:
            bid, bid_ts = p, t
            if ask is not None and ask < p:
                ask, ask_ts = p, t
        else:
            ask, ask_ts = p, t
            if bid is not None and bid > p:
                bid, bid_ts = p, t
        age = t - min(bid_ts, ask_ts) if bid is not None and ask is not None else 0
        rows.append(
            (
                t,
                p if bid is None else bid,
                p if ask is None else ask,
                v if s < 0 else 0.0,
                0.0 if s < 0 else v,
                age,
            )
        )
    return rows
