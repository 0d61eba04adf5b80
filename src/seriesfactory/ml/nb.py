"""Numba kernels of the ML layer: trailing volatility and the triple-barrier scan.

Each kernel has a plain-Python twin in :mod:`seriesfactory.ml.reference`; property
tests compare the two. Callers go through :mod:`seriesfactory.ml.labels`.
"""

from __future__ import annotations

import math

import numpy as np

from seriesfactory._jit import kernel

#: ``end`` codes of :func:`triple_barrier_kernel` for rows that get no label.
NO_HORIZON = -1  # fewer than ``horizon`` rows follow
NO_PRICE = -2  # the row's own price or barrier width is NaN


@kernel
def trailing_vol_kernel(logp: np.ndarray, window: int) -> np.ndarray:  # pragma: no cover - jit
    """Sample std (ddof 1) of the last ``window`` one-row log returns ending at each row.

    The return of row ``i`` is ``logp[i] - logp[i-1]``; row ``i`` uses returns
    ``i-window+1 .. i`` only. NaN while fewer than ``window`` returns exist or when
    any of them is NaN.
    """
    n = logp.shape[0]
    out = np.full(n, np.nan)
    for i in range(window, n):
        s = 0.0
        bad = False
        for j in range(i - window + 1, i + 1):
            r = logp[j] - logp[j - 1]
            if math.isnan(r):
                bad = True
                break
            s += r
        if bad:
            continue
        mean = s / window
        ss = 0.0
        for j in range(i - window + 1, i + 1):
            d = logp[j] - logp[j - 1] - mean
            ss += d * d
        out[i] = math.sqrt(ss / (window - 1))
    return out


@kernel
def triple_barrier_kernel(
    price: np.ndarray, width: np.ndarray, horizon: int
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - jit
    """First barrier touched by each row's path: ``(label, end)``.

    Row ``i``'s path is rows ``i+1 .. i+horizon``; its return at row ``j`` is
    ``price[j] / price[i] - 1``. The upper barrier is touched when that return is
    ``> width[i]`` (label +1), the lower when it is ``< -width[i]`` (label -1); the
    first touch wins and ``end`` is its row. Untouched paths end at the vertical
    barrier ``i+horizon`` with label 0. NaN prices on the path touch nothing.
    ``end`` is :data:`NO_HORIZON` or :data:`NO_PRICE` for rows without a label.
    """
    n = price.shape[0]
    label = np.zeros(n, np.int8)
    end = np.full(n, NO_HORIZON, np.int64)
    for i in range(n):
        if i + horizon > n - 1:
            continue
        p0 = price[i]
        w = width[i]
        if math.isnan(p0) or math.isnan(w):
            end[i] = NO_PRICE
            continue
        end[i] = i + horizon
        for j in range(i + 1, i + horizon + 1):
            r = price[j] / p0 - 1.0
            if r > w:
                label[i] = 1
                end[i] = j
                break
            if r < -w:
                label[i] = -1
                end[i] = j
                break
    return label, end
