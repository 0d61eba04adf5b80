"""Numba kernels for one side of the book: a dense tick window plus sorted cold levels.

Layout of one side (``o`` = its offset in the state vector ``st``):

* ``st[o + W_BASE]`` key of window cell 0; ``st[o + W_BEST]`` index of the best
  window cell (-1 if none); ``st[o + W_COUNT]`` levels in the window;
  ``st[o + C_COUNT]`` levels in the cold arrays.
* ``wq`` float64[W + W/64]: sizes of keys ``base .. base + W - 1`` (0 = no level),
  then the number of levels in each 64-cell block, so that scans skip empty blocks.
* ``ck`` int64[cap] / ``cq`` float64[cap]: keys outside the window, ascending (best
  last), and their sizes.

Keys grow with the quality of the price: bid key = tick, ask key = -tick. Used by
:mod:`seriesfactory.transforms.book.nb`; the plain-Python twin of both is
:mod:`seriesfactory.transforms.book.reference`.
"""

from __future__ import annotations

import numpy as np

from seriesfactory._jit import kernel

W_BASE, W_BEST, W_COUNT, C_COUNT = 0, 1, 2, 3


@kernel
def _find(keys: np.ndarray, n: int, key: int) -> int:
    """Index of the first key >= ``key`` in ``keys[:n]`` (binary search)."""
    lo = 0
    hi = n
    while lo < hi:
        mid = (lo + hi) >> 1
        if keys[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


@kernel
def _cold_set(ck: np.ndarray, cq: np.ndarray, n: int, key: int, qty: float, rel: bool) -> int:
    """Set / change / delete a level in the sorted cold arrays; return the new count or -1."""
    i = _find(ck, n, key)
    found = i < n and ck[i] == key
    old = cq[i] if found else 0.0
    if rel:
        qty = old + qty
        if qty <= 1e-12 * max(1.0, abs(old)):
            qty = 0.0
    if qty > 0.0:
        if found:
            cq[i] = qty
            return n
        if n == ck.shape[0]:
            return -1
        for j in range(n, i, -1):
            ck[j] = ck[j - 1]
            cq[j] = cq[j - 1]
        ck[i] = key
        cq[i] = qty
        return n + 1
    if found:
        for j in range(i, n - 1):
            ck[j] = ck[j + 1]
            cq[j] = cq[j + 1]
        return n - 1
    return n


@kernel
def _wsize(wq: np.ndarray) -> int:
    """Cells of the window: ``wq`` holds W sizes, then W/64 per-block level counts."""
    return (wq.shape[0] * 64) // 65


@kernel
def _prev_nonzero(wq: np.ndarray, w: int, k: int) -> int:
    """Largest index ``<= k`` holding a level, or -1; skips empty 64-cell blocks at once."""
    while k >= 0:
        if wq[w + (k >> 6)] == 0.0:
            k = ((k >> 6) << 6) - 1
            continue
        if wq[k] != 0.0:
            return k
        k -= 1
    return -1


@kernel
def _side_set(
    st: np.ndarray,
    o: int,
    wq: np.ndarray,
    ck: np.ndarray,
    cq: np.ndarray,
    key: int,
    qty: float,
    rel: bool,
) -> bool:
    """Set, change (``rel``) or delete (qty <= 0) the level ``key`` of one side; False if full.

    Keys inside the window ``[base, base + W)`` live in the dense array ``wq`` (O(1));
    the others in the sorted cold arrays. An empty side places its window so that
    ``key`` sits at three quarters of it.
    """
    w = _wsize(wq)
    if st[o + W_COUNT] == 0 and st[o + C_COUNT] == 0:
        st[o + W_BASE] = key - (w * 3) // 4
    j = key - st[o + W_BASE]
    if j < 0 or j >= w:
        n = _cold_set(ck, cq, st[o + C_COUNT], key, qty, rel)
        if n < 0:
            return False
        st[o + C_COUNT] = n
        return True
    old = wq[j]
    if rel:
        qty = old + qty
        if qty <= 1e-12 * max(1.0, abs(old)):
            qty = 0.0
    if qty > 0.0:
        if old == 0.0:
            st[o + W_COUNT] += 1
            wq[w + (j >> 6)] += 1.0
        wq[j] = qty
        st[o + W_BEST] = max(st[o + W_BEST], j)
    elif old != 0.0:
        wq[j] = 0.0
        wq[w + (j >> 6)] -= 1.0
        st[o + W_COUNT] -= 1
        if j == st[o + W_BEST]:
            st[o + W_BEST] = _prev_nonzero(wq, w, j - 1) if st[o + W_COUNT] > 0 else -1
    return True


@kernel
def _side_clear(st: np.ndarray, o: int, wq: np.ndarray) -> None:
    """Empty one side."""
    if st[o + W_COUNT] > 0:
        best = st[o + W_BEST]
        wq[: best + 1] = 0.0
        w = _wsize(wq)
        wq[w : w + (best >> 6) + 1] = 0.0
    st[o + W_COUNT] = 0
    st[o + W_BEST] = -1
    st[o + C_COUNT] = 0


@kernel
def _side_recenter(st: np.ndarray, o: int, wq: np.ndarray, ck: np.ndarray, cq: np.ndarray) -> None:
    """Move the window so that the side's best level sits at three quarters of it.

    Called when the best level is cold (above the window, or the window is empty).
    """
    w = _wsize(wq)
    nw = st[o + W_COUNT]
    nc = st[o + C_COUNT]
    keys = np.empty(nw + nc, np.int64)
    qtys = np.empty(nw + nc, np.float64)
    base = st[o + W_BASE]
    k = 0
    for j in range(st[o + W_BEST] + 1):
        if wq[j] != 0.0:
            keys[k] = base + j
            qtys[k] = wq[j]
            wq[j] = 0.0
            k += 1
    wq[w:] = 0.0
    keys[k:] = ck[:nc]
    qtys[k:] = cq[:nc]
    order = np.argsort(keys, kind="mergesort")
    best = keys[order[-1]]
    base = best - (w * 3) // 4
    st[o + W_BASE] = base
    st[o + W_COUNT] = 0
    st[o + W_BEST] = -1
    c = 0
    for idx in order:
        j = keys[idx] - base
        if 0 <= j < w:
            wq[j] = qtys[idx]
            wq[w + (j >> 6)] += 1.0
            st[o + W_COUNT] += 1
            st[o + W_BEST] = max(st[o + W_BEST], j)
        else:
            ck[c] = keys[idx]
            cq[c] = qtys[idx]
            c += 1
    st[o + C_COUNT] = c


@kernel
def _side_best(
    st: np.ndarray, o: int, wq: np.ndarray, ck: np.ndarray, cq: np.ndarray
) -> tuple[int, float, bool]:
    """(key, qty, present) of the side's best level."""
    nc = st[o + C_COUNT]
    bi = st[o + W_BEST]
    if bi >= 0 and (nc == 0 or st[o + W_BASE] + bi > ck[nc - 1]):
        return st[o + W_BASE] + bi, wq[bi], True
    if nc > 0:
        return ck[nc - 1], cq[nc - 1], True
    return 0, np.nan, False


@kernel
def _side_top(
    st: np.ndarray,
    o: int,
    wq: np.ndarray,
    ck: np.ndarray,
    cq: np.ndarray,
    sign: int,
    out_tick: np.ndarray,
    out_qty: np.ndarray,
    r: int,
) -> None:
    """Write the best ``depth`` levels of one side into row ``r`` (ticks = sign * key)."""
    depth = out_tick.shape[1]
    w = _wsize(wq)
    base = st[o + W_BASE]
    i = st[o + W_BEST]
    c = st[o + C_COUNT] - 1
    for k in range(depth):
        use_w = i >= 0 and (c < 0 or base + i > ck[c])
        if use_w:
            out_tick[r, k] = sign * (base + i)
            out_qty[r, k] = wq[i]
            i = _prev_nonzero(wq, w, i - 1)
        elif c >= 0:
            out_tick[r, k] = sign * ck[c]
            out_qty[r, k] = cq[c]
            c -= 1
        else:
            out_tick[r, k] = -1
            out_qty[r, k] = np.nan
