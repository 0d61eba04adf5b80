"""Sample weights by label uniqueness (López de Prado, AFML ch. 4).

Event ``i`` spans grid rows ``start[i] .. end[i]`` inclusive (its ``t0`` to its ``t1``).
The concurrency ``c_t`` of grid row ``t`` is the number of events whose span holds
``t``; the average uniqueness of event ``i`` is the mean of ``1/c_t`` over its span.
"""

from __future__ import annotations

import numpy as np

__all__ = ["average_uniqueness", "concurrency"]


def concurrency(start: np.ndarray, end: np.ndarray, n_rows: int) -> np.ndarray:
    """``c_t`` for ``t = 0 .. n_rows-1``: events whose inclusive span ``[start, end]`` holds t."""
    s = np.asarray(start, dtype=np.int64)
    e = np.asarray(end, dtype=np.int64)
    delta = np.bincount(s, minlength=n_rows + 1).astype(np.int64)
    delta -= np.bincount(e + 1, minlength=n_rows + 1)
    return np.cumsum(delta)[:n_rows]


def average_uniqueness(start: np.ndarray, end: np.ndarray, n_rows: int) -> np.ndarray:
    """ū_i = mean over t in [start_i, end_i] of 1 / c_t, in (0, 1]."""
    s = np.asarray(start, dtype=np.int64)
    e = np.asarray(end, dtype=np.int64)
    if s.size == 0:
        return np.zeros(0)
    c = concurrency(s, e, n_rows)
    inv = np.zeros(n_rows)
    held = c > 0
    inv[held] = 1.0 / c[held]
    prefix = np.concatenate(([0.0], np.cumsum(inv)))
    return (prefix[e + 1] - prefix[s]) / (e - s + 1)
