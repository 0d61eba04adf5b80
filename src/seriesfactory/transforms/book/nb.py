"""Numba kernel of the L2 book: apply level events, check sequences, sample a time grid.

Array contract of :func:`run_book` (``n`` events, ``m`` message ends, ``r`` rows):

inputs (one entry per level event, in stream order)
    ``ts`` int64 ns exchange time; ``side`` int8 (+1 bid, -1 ask, 0 marker);
    ``price`` float64, turned into the integer tick ``round(price * scale)`` (an
    off-grid price, ``|x - round(x)| > 1e-9 max(1, |x|)``, stops with ``ERR_OFF_GRID``);
    ``qty`` float64 absolute size (or change, with
    the relative flag); ``first_id``/``last_id``/``prev_id`` int64 (-1 unknown);
    ``flags`` uint8 (snapshot 1, delta 2, gap 4, message end 16, relative 32).
state (carried between calls, so any chunking gives the same output)
    ``st`` int64[ST_SIZE]; per side a dense window ``*_wq`` float64[W + W/64] of
    sizes indexed by ``key - base`` (O(1) updates near the touch), followed by the
    count of levels in each 64-cell block (so scans skip empty blocks), and sorted "cold"
    arrays ``*_ck`` int64[cap] / ``*_cq`` float64[cap] for levels outside the
    window (ascending, best last). Bid key = tick, ask key = -tick, so on both
    sides a larger key is a better price. When the best level is cold the window
    is moved so that the best sits at three quarters of it.
outputs (written from index 0; the counts are returned)
    per message: ``m_ts``, ``m_first``, ``m_last``, ``m_status`` (``ST_*``
    codes), ``m_expect`` (the id the rule expected, for gaps), ``m_valid``,
    ``m_crossed``, ``m_top`` float64[m, 4] (bid tick, bid qty, ask tick, ask qty;
    NaN when empty or invalid), and, when their second dimension ``md`` is not 0,
    ``m_bid_tick``/``m_ask_tick`` int64[m, md] and ``m_bid_qty``/``m_ask_qty``
    float64[m, md]: the best ``md`` levels after each message (-1 / NaN absent or
    invalid; used by the order-flow features); per grid row: ``r_ts``, ``r_valid``,
    ``r_bid_tick``/``r_ask_tick`` int64[r, depth] (-1 when absent),
    ``r_bid_qty``/``r_ask_qty`` float64[r, depth].

Grid rule: the row stamped ``t`` (a multiple of ``interval_ns``) is the book after
every message with ``ts <= t``; it is written when the first message with
``ts > t`` starts (or by :func:`flush_rows` at the end). Message times are
clamped to be non-decreasing. When that message reveals a sequence gap
(``ST_GAP``), the rows written for it (stamped from the previous message time
up to its own) are marked invalid too: the lost diff fell somewhere in that span.
"""

from __future__ import annotations

import numpy as np

from seriesfactory._jit import kernel
from seriesfactory.transforms.book.nb_side import (
    C_COUNT,
    W_BASE,
    W_BEST,
    W_COUNT,
    _side_best,
    _side_clear,
    _side_recenter,
    _side_set,
    _side_top,
    _wsize,
)

# state slots
S_SYNCED, S_LAST, S_SNAP, S_AWAIT, S_INMSG, S_APPLY = 0, 1, 2, 3, 4, 5
S_LAST_TS, S_NEXT_ROW, S_HAD_GAP, S_ERR, S_STATUS, S_EXPECT, S_MSG_TS, S_FIRST = (
    8,
    9,
    10,
    11,
    12,
    13,
    14,
    15,
)
S_BID, S_ASK = 16, 20  # per side: window base key, best window index, window levels, cold levels
ST_SIZE = 24

# message status codes
# (applied and snapshot are 0 and 1: ``status <= ST_SNAPSHOT`` means the message was applied)
ST_APPLIED, ST_SNAPSHOT, ST_STALE, ST_DUPLICATE, ST_GAP, ST_UNSYNCED, ST_MARKER, ST_RESYNC = (
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
)

ERR_CAPACITY = 1
ERR_OFF_GRID = 2

F_SNAPSHOT, F_GAP, F_END, F_RELATIVE = 1, 4, 16, 32
R_NONE, R_BINANCE, R_BINANCE_F, R_NEXT, R_PREV = 0, 1, 2, 3, 4


def new_state() -> np.ndarray:
    """A fresh state vector: unsynced, empty book, no row emitted yet."""
    st = np.zeros(ST_SIZE, dtype=np.int64)
    st[S_LAST] = -1
    st[S_NEXT_ROW] = -1
    st[S_LAST_TS] = np.iinfo(np.int64).min
    st[S_BID + W_BEST] = -1
    st[S_ASK + W_BEST] = -1
    return st


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
def run_book(
    ts: np.ndarray,
    side: np.ndarray,
    price: np.ndarray,
    qty: np.ndarray,
    first_id: np.ndarray,
    last_id: np.ndarray,
    prev_id: np.ndarray,
    flags: np.ndarray,
    rule: int,
    scale: float,
    interval_ns: int,
    st: np.ndarray,
    bid_wq: np.ndarray,
    bid_ck: np.ndarray,
    bid_cq: np.ndarray,
    ask_wq: np.ndarray,
    ask_ck: np.ndarray,
    ask_cq: np.ndarray,
    m_ts: np.ndarray,
    m_first: np.ndarray,
    m_last: np.ndarray,
    m_status: np.ndarray,
    m_expect: np.ndarray,
    m_valid: np.ndarray,
    m_crossed: np.ndarray,
    m_top: np.ndarray,
    r_ts: np.ndarray,
    r_valid: np.ndarray,
    r_bid_tick: np.ndarray,
    r_bid_qty: np.ndarray,
    r_ask_tick: np.ndarray,
    r_ask_qty: np.ndarray,
    m_bid_tick: np.ndarray,
    m_bid_qty: np.ndarray,
    m_ask_tick: np.ndarray,
    m_ask_qty: np.ndarray,
) -> tuple[int, int, int]:
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
            r_msg = r  # rows written below are stamped in [previous message time, t_msg)
            if interval_ns > 0:
                if st[S_NEXT_ROW] == -1:
                    st[S_NEXT_ROW] = -((-t_msg) // interval_ns) * interval_ns
                r = flush_rows(
                    st,
                    t_msg - 1,
                    interval_ns,
                    r,
                    bid_wq,
                    bid_ck,
                    bid_cq,
                    ask_wq,
                    ask_ck,
                    ask_cq,
                    r_ts,
                    r_valid,
                    r_bid_tick,
                    r_bid_qty,
                    r_ask_tick,
                    r_ask_qty,
                )
            st[S_EXPECT] = -1
            if fl & F_GAP:
                status = ST_MARKER
                st[S_SYNCED] = 0
                st[S_HAD_GAP] = 1
            elif fl & F_SNAPSHOT:
                status = ST_RESYNC if st[S_HAD_GAP] == 1 else ST_SNAPSHOT
                _side_clear(st, S_BID, bid_wq)
                _side_clear(st, S_ASK, ask_wq)
                st[S_SYNCED] = 1
                st[S_HAD_GAP] = 0
                st[S_SNAP] = last_id[i]
                st[S_AWAIT] = 1 if R_BINANCE <= rule <= R_BINANCE_F else 0
            else:
                status = _check(st, rule, first_id[i], last_id[i], prev_id[i])
                if status == ST_GAP:
                    st[S_SYNCED] = 0
                    st[S_HAD_GAP] = 1
                    # the lost diff fell somewhere in that span: none of its rows is valid
                    for k in range(r_msg, r):
                        r_valid[k] = False
                        r_bid_tick[k, :] = -1
                        r_ask_tick[k, :] = -1
                        r_bid_qty[k, :] = np.nan
                        r_ask_qty[k, :] = np.nan
            st[S_STATUS] = status
            st[S_APPLY] = 1 if (status <= ST_SNAPSHOT or status == ST_RESYNC) else 0
            st[S_INMSG] = 1
        if st[S_APPLY] == 1 and side[i] != 0:
            rel = (fl & F_RELATIVE) != 0
            scaled = price[i] * scale
            tick = round(scaled)
            if not abs(scaled - tick) <= 1e-9 * max(1.0, abs(scaled)):
                st[S_ERR] = ERR_OFF_GRID
                return m, r, i
            if side[i] > 0:
                ok = _side_set(st, S_BID, bid_wq, bid_ck, bid_cq, int(tick), qty[i], rel)
            else:
                ok = _side_set(st, S_ASK, ask_wq, ask_ck, ask_cq, -int(tick), qty[i], rel)
            if not ok:
                st[S_ERR] = ERR_CAPACITY
                return m, r, i
        if fl & F_END:
            st[S_INMSG] = 0
            status = st[S_STATUS]
            if st[S_APPLY] == 1:
                st[S_LAST] = last_id[i]
                if status == ST_APPLIED:
                    st[S_AWAIT] = 0
                for o, wq, ck, cq in (
                    (S_BID, bid_wq, bid_ck, bid_cq),
                    (S_ASK, ask_wq, ask_ck, ask_cq),
                ):
                    nc = st[o + C_COUNT]
                    if nc > 0 and (
                        st[o + W_COUNT] == 0 or ck[nc - 1] >= st[o + W_BASE] + _wsize(wq)
                    ):
                        _side_recenter(st, o, wq, ck, cq)
            m_ts[m] = st[S_MSG_TS]
            m_first[m] = st[S_FIRST]
            m_last[m] = last_id[i]
            m_status[m] = status
            m_expect[m] = st[S_EXPECT]
            valid = st[S_SYNCED] == 1
            m_valid[m] = valid
            bk, bq, has_b = _side_best(st, S_BID, bid_wq, bid_ck, bid_cq)
            ak, aq, has_a = _side_best(st, S_ASK, ask_wq, ask_ck, ask_cq)
            has_b = has_b and valid
            has_a = has_a and valid
            m_top[m, 0] = bk if has_b else np.nan
            m_top[m, 1] = bq if has_b else np.nan
            m_top[m, 2] = -ak if has_a else np.nan
            m_top[m, 3] = aq if has_a else np.nan
            m_crossed[m] = has_b and has_a and bk >= -ak
            if m_bid_tick.shape[1] > 0:  # the top levels after every message (features)
                if valid:
                    _side_top(st, S_BID, bid_wq, bid_ck, bid_cq, 1, m_bid_tick, m_bid_qty, m)
                    _side_top(st, S_ASK, ask_wq, ask_ck, ask_cq, -1, m_ask_tick, m_ask_qty, m)
                else:
                    m_bid_tick[m, :] = -1
                    m_ask_tick[m, :] = -1
                    m_bid_qty[m, :] = np.nan
                    m_ask_qty[m, :] = np.nan
            m += 1
    return m, r, n


@kernel
def flush_rows(
    st: np.ndarray,
    until_ts: int,
    interval_ns: int,
    r: int,
    bid_wq: np.ndarray,
    bid_ck: np.ndarray,
    bid_cq: np.ndarray,
    ask_wq: np.ndarray,
    ask_ck: np.ndarray,
    ask_cq: np.ndarray,
    r_ts: np.ndarray,
    r_valid: np.ndarray,
    r_bid_tick: np.ndarray,
    r_bid_qty: np.ndarray,
    r_ask_tick: np.ndarray,
    r_ask_qty: np.ndarray,
) -> int:
    """Write the grid rows stamped ``<= until_ts`` from row index ``r``; return the next index.

    The caller guarantees ``interval_ns > 0`` and a started grid
    (``st[S_NEXT_ROW] != -1``). A row is the top of book at its stamp, or
    ticks ``-1`` and quantities NaN when the book is not synced. ``run_book``
    passes ``t_msg - 1`` (rows strictly before a message), the end of a run its
    last message time.
    """
    while st[S_NEXT_ROW] <= until_ts:
        r_ts[r] = st[S_NEXT_ROW]
        valid = st[S_SYNCED] == 1
        r_valid[r] = valid
        if valid:
            _side_top(st, S_BID, bid_wq, bid_ck, bid_cq, 1, r_bid_tick, r_bid_qty, r)
            _side_top(st, S_ASK, ask_wq, ask_ck, ask_cq, -1, r_ask_tick, r_ask_qty, r)
        else:
            r_bid_tick[r, :] = -1
            r_ask_tick[r, :] = -1
            r_bid_qty[r, :] = np.nan
            r_ask_qty[r, :] = np.nan
        r += 1
        st[S_NEXT_ROW] += interval_ns
    return r
