"""Plain-Python twins of :mod:`seriesfactory.ml.nb`, written for clarity; tests compare them."""

from __future__ import annotations

import math
import statistics

from seriesfactory.ml.nb import NO_HORIZON, NO_PRICE

__all__ = ["trailing_vol_ref", "triple_barrier_ref"]


def trailing_vol_ref(logp: list[float], window: int) -> list[float]:
    """Twin of :func:`~seriesfactory.ml.nb.trailing_vol_kernel`."""
    out = [math.nan] * len(logp)
    for i in range(window, len(logp)):
        rets = [logp[j] - logp[j - 1] for j in range(i - window + 1, i + 1)]
        if any(math.isnan(r) for r in rets):
            continue
        out[i] = statistics.stdev(rets)
    return out


def triple_barrier_ref(
    price: list[float], width: list[float], horizon: int
) -> tuple[list[int], list[int]]:
    """Twin of :func:`~seriesfactory.ml.nb.triple_barrier_kernel`."""
    n = len(price)
    labels = [0] * n
    ends = [NO_HORIZON] * n
    for i in range(n):
        if i + horizon > n - 1:
            continue
        if math.isnan(price[i]) or math.isnan(width[i]):
            ends[i] = NO_PRICE
            continue
        ends[i] = i + horizon
        for j in range(i + 1, i + horizon + 1):
            ret = price[j] / price[i] - 1.0
            if ret > width[i] or ret < -width[i]:
                labels[i] = 1 if ret > width[i] else -1
                ends[i] = j
                break
    return labels, ends
