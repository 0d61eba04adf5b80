"""Plain-Python twin of :mod:`seriesfactory.transforms.book.nb`, for tests only.

It keeps each side as a ``dict`` of tick -> size and sorts on demand: slow and
obviously right. :func:`reference_book` takes the same event columns as
:func:`~seriesfactory.transforms.book.nb.run_book` and returns the same
per-message records and grid rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from seriesfactory.transforms.book import nb

__all__ = ["RefMessage", "RefRow", "reference_book"]


@dataclass(frozen=True)
class RefMessage:
    """One message: time, ids, status, expected id, validity, crossed, top (bid/ask tick, qty)."""

    ts: int
    first: int
    last: int
    status: int
    expect: int
    valid: bool
    crossed: bool
    top: tuple[float, float, float, float]


@dataclass(frozen=True)
class RefRow:
    """One grid row: time, validity, top-``depth`` ticks and sizes per side (-1 / NaN absent)."""

    ts: int
    valid: bool
    bids: list[tuple[int, float]]
    asks: list[tuple[int, float]]


@dataclass
class _Book:
    bids: dict[int, float] = field(default_factory=dict)
    asks: dict[int, float] = field(default_factory=dict)
    synced: bool = False
    last: int = -1
    snap: int = -1
    awaiting: bool = False
    had_gap: bool = False


def _status(b: _Book, rule: int, first: int, last: int, prev: int) -> tuple[int, int]:
    """(status, expected id) of a delta message."""
    if not b.synced:
        return nb.ST_UNSYNCED, -1
    if rule == nb.R_BINANCE:
        if b.awaiting:
            if last <= b.snap:
                return nb.ST_STALE, -1
            return (nb.ST_APPLIED, -1) if first <= b.snap + 1 else (nb.ST_GAP, b.snap + 1)
        if last <= b.last:
            return nb.ST_DUPLICATE, -1
        return (nb.ST_APPLIED, -1) if first == b.last + 1 else (nb.ST_GAP, b.last + 1)
    if rule == nb.R_BINANCE_F:
        if b.awaiting:
            if last < b.snap:
                return nb.ST_STALE, -1
            return (nb.ST_APPLIED, -1) if first <= b.snap else (nb.ST_GAP, b.snap)
        if prev == b.last:
            return nb.ST_APPLIED, -1
        return (nb.ST_DUPLICATE, -1) if last <= b.last else (nb.ST_GAP, b.last)
    if rule == nb.R_NEXT:
        if first == b.last + 1:
            return nb.ST_APPLIED, -1
        return (nb.ST_DUPLICATE, -1) if last <= b.last else (nb.ST_GAP, b.last + 1)
    if rule == nb.R_PREV:
        if prev == b.last:
            return nb.ST_APPLIED, -1
        return (nb.ST_DUPLICATE, -1) if last < b.last else (nb.ST_GAP, b.last)
    return nb.ST_APPLIED, -1


def _row(b: _Book, t: int, depth: int) -> RefRow:
    bids = sorted(b.bids.items(), reverse=True)[:depth] if b.synced else []
    asks = sorted(b.asks.items())[:depth] if b.synced else []
    pad: list[tuple[int, float]] = [(-1, math.nan)]
    return RefRow(t, b.synced, bids + pad * (depth - len(bids)), asks + pad * (depth - len(asks)))


def reference_book(
    events: dict[str, np.ndarray], rule: int, interval_ns: int, depth: int
) -> tuple[list[RefMessage], list[RefRow]]:
    """Replay ``events`` (columns ts, side, tick, qty, first_id, last_id, prev_id, flags).

    Returns every message record and every grid row, including the final rows up
    to the last message time (what ``run_book`` + ``flush_rows`` produce).
    """
    b = _Book()
    msgs: list[RefMessage] = []
    rows: list[RefRow] = []
    cols = [
        events[k].tolist()
        for k in ("ts", "side", "tick", "qty", "first_id", "last_id", "prev_id", "flags")
    ]
    start = True
    last_ts: int | None = None
    next_row: int | None = None
    status = expect = 0
    msg_ts = first0 = 0
    for ts, side, tick, qty, first, last, prev, fl in zip(*cols, strict=True):
        if start:
            msg_ts = ts if last_ts is None else max(ts, last_ts)
            last_ts = msg_ts
            first0 = first
            rows_before = len(rows)
            if interval_ns > 0:
                if next_row is None:
                    next_row = -((-msg_ts) // interval_ns) * interval_ns
                while next_row < msg_ts:
                    rows.append(_row(b, next_row, depth))
                    next_row += interval_ns
            expect = -1
            if fl & nb.F_GAP:
                status, b.synced, b.had_gap = nb.ST_MARKER, False, True
            elif fl & nb.F_SNAPSHOT:
                status = nb.ST_RESYNC if b.had_gap else nb.ST_SNAPSHOT
                b.bids.clear()
                b.asks.clear()
                b.synced, b.had_gap, b.snap = True, False, last
                b.awaiting = rule in (nb.R_BINANCE, nb.R_BINANCE_F)
            else:
                status, expect = _status(b, rule, first, last, prev)
                if status == nb.ST_GAP:
                    b.synced, b.had_gap = False, True
                    # rows since the previous message may follow the lost diff
                    for k in range(rows_before, len(rows)):
                        rows[k] = _row(b, rows[k].ts, depth)
            start = False
        applies = status in (nb.ST_APPLIED, nb.ST_SNAPSHOT, nb.ST_RESYNC)
        if applies and side != 0:
            book = b.bids if side > 0 else b.asks
            new = book.get(tick, 0.0) + qty if fl & nb.F_RELATIVE else qty
            if fl & nb.F_RELATIVE and new <= 1e-12 * max(1.0, abs(book.get(tick, 0.0))):
                new = 0.0
            if new > 0:
                book[tick] = new
            else:
                book.pop(tick, None)
        if fl & nb.F_END:
            start = True
            if applies:
                b.last = last
                if status == nb.ST_APPLIED:
                    b.awaiting = False
            bb = max(b.bids) if b.synced and b.bids else None
            ba = min(b.asks) if b.synced and b.asks else None
            top = (
                float(bb) if bb is not None else math.nan,
                b.bids[bb] if bb is not None else math.nan,
                float(ba) if ba is not None else math.nan,
                b.asks[ba] if ba is not None else math.nan,
            )
            crossed = bb is not None and ba is not None and bb >= ba
            msgs.append(RefMessage(msg_ts, first0, last, status, expect, b.synced, crossed, top))
    if interval_ns > 0 and next_row is not None and last_ts is not None:
        while next_row <= last_ts:
            rows.append(_row(b, next_row, depth))
            next_row += interval_ns
    return msgs, rows
