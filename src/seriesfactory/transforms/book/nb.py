"""Numba kernel of the L2 book: apply level events, check sequences, sample a time grid.

Array contract of :func:`run_book` (``n`` events, ``m`` message ends, ``r`` rows):

inputs (one entry per level event, in stream order)
    ``ts`` int64 ns exchange time; ``side`` int8 (+1 bid, -1 ask, 0 marker);
    ``tick`` int64 price in ticks; ``qty`` float64 absolute size (or change, with
    the relative flag); ``first_id``/``last_id``/``prev_id`` int64 (-1 unknown);
    ``flags`` uint8 (snapshot 1, delta 2, gap 4, message end 16, relative 32).
state (carried between calls, so any chunking gives the same output)
    ``st`` int64[ST_SIZE]; ``bid_key``/``ask_key`` int64[cap] and
    ``bid_qty``/``ask_qty`` float64[cap]: each side sorted ascending by key, best
    last. Bid key = tick, ask key = -tick.
outputs (written from index 0; the counts are returned)
    per message: ``m_ts``, ``m_first``, ``m_last``, ``m_status`` (``ST_*``
    codes), ``m_expect`` (the id the rule expected, for gaps), ``m_valid``,
    ``m_crossed``, ``m_top`` float64[m, 4] (bid tick, bid qty, ask tick, ask qty;
    NaN when empty or invalid); per grid row: ``r_ts``, ``r_valid``,
    ``r_bid_tick``/``r_ask_tick`` int64[r, depth] (-1 when absent),
    ``r_bid_qty``/``r_ask_qty`` float64[r, depth].

Grid rule: the row stamped ``t`` (a multiple of ``interval_ns``) is the book after
every message with ``ts <= t``; it is written when the first message with
``ts > t`` starts (or by :func:`flush_rows` at the end). Message times are
clamped to be non-decreasing.
"""

from __future__ import annotations

import numpy as np

from seriesfactory._jit import kernel

# state slots
S_SYNCED, S_LAST, S_SNAP, S_AWAIT, S_INMSG, S_APPLY, S_NBID, S_NASK = 0, 1, 2, 3, 4, 5, 6, 7
S_LAST_TS, S_NEXT_ROW, S_HAD_GAP, S_ERR, S_STATUS, S_EXPECT, S_MSG_TS, S_FIRST = (
    8, 9, 10, 11, 12, 13, 14, 15,
)  # fmt: skip
ST_SIZE = 16

# message status codes
ST_APPLIED, ST_SNAPSHOT, ST_STALE, ST_DUPLICATE, ST_GAP, ST_UNSYNCED, ST_MARKER, ST_RESYNC = (
    0, 1, 2, 3, 4, 5, 6, 7,
)  # fmt: skip

ERR_CAPACITY = 1

F_SNAPSHOT, F_GAP, F_END, F_RELATIVE = 1, 4, 16, 32
R_NONE, R_BINANCE, R_BINANCE_F, R_NEXT, R_PREV = 0, 1, 2, 3, 4


def new_state() -> np.ndarray:
    """A fresh state vector: unsynced, empty book, no row emitted yet."""
    st = np.zeros(ST_SIZE, dtype=np.int64)
    st[S_LAST] = -1
    st[S_NEXT_ROW] = -1
    st[S_LAST_TS] = np.iinfo(np.int64).min
    return st


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
def _set_level(keys: np.ndarray, qtys: np.ndarray, n: int, key: int, qty: float, rel: bool) -> int:
    """Set (qty > 0), change (``rel``) or delete (qty <= 0) a level; return the new count or -1."""
    # fast path: the best level (last) is the most common target
    if n > 0 and keys[n - 1] == key:
        i = n - 1
    else:
        i = _find(keys, n, key)
    found = i < n and keys[i] == key
    if rel:
        qty = (qtys[i] if found else 0.0) + qty
        if qty <= 1e-12 * max(1.0, abs(qtys[i] if found else 0.0)):
            qty = 0.0
    if qty > 0.0:
        if found:
            qtys[i] = qty
            return n
        if n == keys.shape[0]:
            return -1
        for j in range(n, i, -1):
            keys[j] = keys[j - 1]
            qtys[j] = qtys[j - 1]
        keys[i] = key
        qtys[i] = qty
        return n + 1
    if found:
        for j in range(i, n - 1):
            keys[j] = keys[j + 1]
            qtys[j] = qtys[j + 1]
        return n - 1
    return n


@kernel
def _check(st: np.ndarray, rule: int, first: int, last: int, prev: int) -> int:
    """Status of a delta message under ``rule`` given the state; updates sync fields."""
    if st[S_SYNCED] == 0:
        return ST_UNSYNCED
    lst = st[S_LAST]
    if rule == R_BINANCE:
        if st[S_AWAIT] == 1:
            snap = st[S_SNAP]
            if last <= snap:
                return ST_STALE
            if first <= snap + 1:
                return ST_APPLIED
            st[S_EXPECT] = snap + 1
            return ST_GAP
        if last <= lst:
            return ST_DUPLICATE
        if first == lst + 1:
            return ST_APPLIED
        st[S_EXPECT] = lst + 1
        return ST_GAP
    if rule == R_BINANCE_F:
        if st[S_AWAIT] == 1:
            snap = st[S_SNAP]
            if last < snap:
                return ST_STALE
            if first <= snap:
                return ST_APPLIED
            st[S_EXPECT] = snap
            return ST_GAP
        if prev == lst:
            return ST_APPLIED
        if last <= lst:
            return ST_DUPLICATE
        st[S_EXPECT] = lst
        return ST_GAP
    if rule == R_NEXT:
        if first == lst + 1:
            return ST_APPLIED
        if last <= lst:
            return ST_DUPLICATE
        st[S_EXPECT] = lst + 1
        return ST_GAP
    if rule == R_PREV:
        if prev == lst:
            return ST_APPLIED
        if last < lst:
            return ST_DUPLICATE
        st[S_EXPECT] = lst
        return ST_GAP
    return ST_APPLIED


@kernel
def _emit_row(
    st: np.ndarray, t: int, r: int, bid_key: np.ndarray, bid_qty: np.ndarray, ask_key: np.ndarray,
    ask_qty: np.ndarray, r_ts: np.ndarray, r_valid: np.ndarray, r_bid_tick: np.ndarray,
    r_bid_qty: np.ndarray, r_ask_tick: np.ndarray, r_ask_qty: np.ndarray,
) -> None:  # fmt: skip
    depth = r_bid_tick.shape[1]
    r_ts[r] = t
    valid = st[S_SYNCED] == 1
    r_valid[r] = valid
    nb_ = st[S_NBID]
    na_ = st[S_NASK]
    for k in range(depth):
        if valid and k < nb_:
            r_bid_tick[r, k] = bid_key[nb_ - 1 - k]
            r_bid_qty[r, k] = bid_qty[nb_ - 1 - k]
        else:
            r_bid_tick[r, k] = -1
            r_bid_qty[r, k] = np.nan
        if valid and k < na_:
            r_ask_tick[r, k] = -ask_key[na_ - 1 - k]
            r_ask_qty[r, k] = ask_qty[na_ - 1 - k]
        else:
            r_ask_tick[r, k] = -1
            r_ask_qty[r, k] = np.nan


@kernel
def run_book(
    ts: np.ndarray, side: np.ndarray, tick: np.ndarray, qty: np.ndarray, first_id: np.ndarray,
    last_id: np.ndarray, prev_id: np.ndarray, flags: np.ndarray, rule: int, interval_ns: int,
    st: np.ndarray, bid_key: np.ndarray, bid_qty: np.ndarray, ask_key: np.ndarray,
    ask_qty: np.ndarray, m_ts: np.ndarray, m_first: np.ndarray, m_last: np.ndarray,
    m_status: np.ndarray, m_expect: np.ndarray, m_valid: np.ndarray, m_crossed: np.ndarray,
    m_top: np.ndarray, r_ts: np.ndarray, r_valid: np.ndarray, r_bid_tick: np.ndarray,
    r_bid_qty: np.ndarray, r_ask_tick: np.ndarray, r_ask_qty: np.ndarray,
) -> tuple[int, int, int]:  # fmt: skip
    """Apply events ``[0, n)``; return ``(messages written, rows written, events consumed)``."""
    n = ts.shape[0]
    m = 0
    r = 0
    for i in range(n):
        fl = flags[i]
        if st[S_INMSG] == 0:  # first event of a message: time grid, then the sequence rule
            t_msg = max(ts[i], st[S_LAST_TS])
            st[S_LAST_TS] = t_msg
            st[S_MSG_TS] = t_msg
            st[S_FIRST] = first_id[i]
            if interval_ns > 0:
                if st[S_NEXT_ROW] == -1:
                    st[S_NEXT_ROW] = -((-t_msg) // interval_ns) * interval_ns
                while st[S_NEXT_ROW] < t_msg:
                    _emit_row(st, st[S_NEXT_ROW], r, bid_key, bid_qty, ask_key, ask_qty, r_ts,
                              r_valid, r_bid_tick, r_bid_qty, r_ask_tick, r_ask_qty)  # fmt: skip
                    r += 1
                    st[S_NEXT_ROW] += interval_ns
            st[S_EXPECT] = -1
            if fl & F_GAP:
                status = ST_MARKER
                st[S_SYNCED] = 0
                st[S_HAD_GAP] = 1
            elif fl & F_SNAPSHOT:
                status = ST_RESYNC if st[S_HAD_GAP] == 1 else ST_SNAPSHOT
                st[S_NBID] = 0
                st[S_NASK] = 0
                st[S_SYNCED] = 1
                st[S_HAD_GAP] = 0
                st[S_SNAP] = last_id[i]
                st[S_AWAIT] = 1 if (rule == R_BINANCE or rule == R_BINANCE_F) else 0
            else:
                status = _check(st, rule, first_id[i], last_id[i], prev_id[i])
                if status == ST_GAP:
                    st[S_SYNCED] = 0
                    st[S_HAD_GAP] = 1
            st[S_STATUS] = status
            st[S_APPLY] = 1 if (status == ST_APPLIED or status == ST_SNAPSHOT or status == ST_RESYNC) else 0
            st[S_INMSG] = 1
        if st[S_APPLY] == 1 and side[i] != 0:
            if side[i] > 0:
                k = _set_level(bid_key, bid_qty, st[S_NBID], tick[i], qty[i], (fl & F_RELATIVE) != 0)
                if k < 0:
                    st[S_ERR] = ERR_CAPACITY
                    return m, r, i
                st[S_NBID] = k
            else:
                k = _set_level(ask_key, ask_qty, st[S_NASK], -tick[i], qty[i], (fl & F_RELATIVE) != 0)
                if k < 0:
                    st[S_ERR] = ERR_CAPACITY
                    return m, r, i
                st[S_NASK] = k
        if fl & F_END:
            st[S_INMSG] = 0
            status = st[S_STATUS]
            if st[S_APPLY] == 1:
                st[S_LAST] = last_id[i]
                if status == ST_APPLIED:
                    st[S_AWAIT] = 0
            m_ts[m] = st[S_MSG_TS]
            m_first[m] = st[S_FIRST]
            m_last[m] = last_id[i]
            m_status[m] = status
            m_expect[m] = st[S_EXPECT]
            valid = st[S_SYNCED] == 1
            m_valid[m] = valid
            nb_ = st[S_NBID]
            na_ = st[S_NASK]
            has_b = valid and nb_ > 0
            has_a = valid and na_ > 0
            m_top[m, 0] = bid_key[nb_ - 1] if has_b else np.nan
            m_top[m, 1] = bid_qty[nb_ - 1] if has_b else np.nan
            m_top[m, 2] = -ask_key[na_ - 1] if has_a else np.nan
            m_top[m, 3] = ask_qty[na_ - 1] if has_a else np.nan
            m_crossed[m] = has_b and has_a and bid_key[nb_ - 1] >= -ask_key[na_ - 1]
            m += 1
    return m, r, n


@kernel
def flush_rows(
    st: np.ndarray, until_ts: int, interval_ns: int, bid_key: np.ndarray, bid_qty: np.ndarray,
    ask_key: np.ndarray, ask_qty: np.ndarray, r_ts: np.ndarray, r_valid: np.ndarray,
    r_bid_tick: np.ndarray, r_bid_qty: np.ndarray, r_ask_tick: np.ndarray, r_ask_qty: np.ndarray,
) -> int:  # fmt: skip
    """Write the rows stamped ``<= until_ts`` not yet written; return how many."""
    r = 0
    if st[S_NEXT_ROW] == -1 or interval_ns <= 0:
        return 0
    while st[S_NEXT_ROW] <= until_ts:
        _emit_row(st, st[S_NEXT_ROW], r, bid_key, bid_qty, ask_key, ask_qty, r_ts, r_valid,
                  r_bid_tick, r_bid_qty, r_ask_tick, r_ask_qty)  # fmt: skip
        r += 1
        st[S_NEXT_ROW] += interval_ns
    return r
