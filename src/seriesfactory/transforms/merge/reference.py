"""Plain-Python twins of the merge and cross kernels, written for clarity, not speed."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["reference_cross", "reference_merge"]

Row = tuple[int, float, float, float, float, int]
Tick = tuple[int, int, float, float, float, float, int]  # ts, src, bid, ask, vbid, vask, age


def reference_merge(
    ticks: Sequence[Tick], static_w: Sequence[float], mode: str, ttl_ns: int, tau_ns: float
) -> list[Row]:
    """Weighted quote of the fresh sources at every input tick (``docs/sources.md``)."""
    quote: dict[int, tuple[float, float, int]] = {}  # src -> (bid, ask, quote time)
    volume: dict[int, tuple[float, int]] = {}  # src -> (decayed volume, its time)
    rows: list[Row] = []
    for t, s, b, a, vb, va, age in ticks:
        quote[s] = (b, a, t - age)
        v0, t0 = volume.get(s, (0.0, 0))
        volume[s] = (v0 * math.exp(-(t - t0) / tau_ns) + (vb + va), t)
        fresh = [j for j, q in quote.items() if j == s or t - q[2] <= ttl_ns]

        def vol_now(j: int, t: int = t) -> float:
            v, tv = volume[j]
            return v * math.exp(-(t - tv) / tau_ns)

        if mode == "static":
            w = {j: static_w[j] for j in fresh}
        elif mode == "volume":
            w = {j: vol_now(j) for j in fresh}
            if sum(w.values()) <= 0:
                w = dict.fromkeys(fresh, 1.0)
        else:
            w = {j: static_w[j] * vol_now(j) for j in fresh}
            if sum(w.values()) <= 0:
                w = {j: static_w[j] for j in fresh}
        total = sum(w[j] for j in sorted(fresh))
        bid = sum(w[j] * quote[j][0] for j in sorted(fresh)) / total
        ask = sum(w[j] * quote[j][1] for j in sorted(fresh)) / total
        oldest = max(t - quote[j][2] for j in fresh)
        rows.append((t, bid, ask, vb, va, oldest))
    return rows


def reference_cross(ticks: Sequence[Tick]) -> list[Row]:
    """BASE/QUOTE from legs BASE-X (src 0) and QUOTE-X (src 1)."""
    quote: dict[int, tuple[float, float, int]] = {}
    rows: list[Row] = []
    for t, s, b, a, vb, va, age in ticks:
        quote[s] = (b, a, t - age)
        if len(quote) < 2:
            continue
        (b0, a0, q0), (b1, a1, q1) = quote[0], quote[1]
        vols = (vb / 2, va / 2) if s == 0 else (va / 2, vb / 2)
        rows.append((t, b0 / a1, a0 / b1, vols[0], vols[1], t - min(q0, q1)))
    return rows
