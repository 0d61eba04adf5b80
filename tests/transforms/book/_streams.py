"""Helpers for book tests: build event arrays by hand and run the kernel in chunks."""

from __future__ import annotations

import itertools

import numpy as np

from seriesfactory.sources._book_base import EventBuffer
from seriesfactory.transforms.book.api import BookBuilder, BookRows


def events_of(msgs: list[dict[str, object]]) -> np.ndarray:
    """Event array from message dicts (keys of ``EventBuffer.message`` plus ``gap``)."""
    buf = EventBuffer()
    for m in msgs:
        if m.get("gap"):
            buf.gap(int(m["ts"]), int(m["ts"]))  # type: ignore[call-overload]
            continue
        buf.message(
            int(m["ts"]),  # type: ignore[call-overload]
            int(m["ts"]),  # type: ignore[call-overload]
            list(m.get("bids", [])),  # type: ignore[call-overload]
            list(m.get("asks", [])),  # type: ignore[call-overload]
            first_id=int(m.get("first", -1)),  # type: ignore[call-overload]
            last_id=int(m.get("last", -1)),  # type: ignore[call-overload]
            prev_id=int(m.get("prev", -1)),  # type: ignore[call-overload]
            snapshot=bool(m.get("snapshot", False)),
            relative=bool(m.get("relative", False)),
        )
    return buf.take()[0]


def run_chunked(
    events: np.ndarray,
    cuts: list[int],
    *,
    rule: int,
    decimals: int,
    interval_ns: int,
    depth: int,
    window_ticks: int = 1 << 20,
) -> tuple[np.ndarray, BookRows]:
    """Run the kernel over ``events`` cut at ``cuts``; return all messages and rows."""
    b = BookBuilder(
        rule=rule,
        price_decimals=decimals,
        interval_ns=interval_ns,
        depth=depth,
        window_ticks=window_ticks,
    )
    bounds = [0, *sorted(set(c for c in cuts if 0 < c < len(events))), len(events)]
    msgs, rows = [], []
    for lo, hi in itertools.pairwise(bounds):
        m, r = b.update(events[lo:hi])
        msgs.append(m)
        rows.append(r)
    rows.append(b.finish())
    return np.concatenate(msgs), BookRows.concat(rows, depth)
