"""Event schemas: defined once, read by every source, kernel and sink.

Time inside the system is int64 nanoseconds since the epoch, UTC. Arrow schemas
store it as ``timestamp[ns, UTC]``; the numpy dtypes as ``int64``. Prices and
sizes are float64 parsed once from the venue's decimal strings.

``side`` is always the aggressor (taker) side: +1 taker buy, -1 taker sell,
0 unknown. Each venue's parser owns the translation from the venue's own
convention.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pyarrow as pa

__all__ = [
    "BOOK_EVENT_DTYPE",
    "BOOK_EVENT_SCHEMA",
    "BOOK_FLAG_DELTA",
    "BOOK_FLAG_GAP",
    "BOOK_FLAG_MSG_END",
    "BOOK_FLAG_RELATIVE",
    "BOOK_FLAG_RESYNC",
    "BOOK_FLAG_SNAPSHOT",
    "RULE_BINANCE",
    "RULE_BINANCE_F",
    "RULE_NEXT",
    "RULE_NONE",
    "RULE_PREV",
    "SIDE_BUY",
    "SIDE_SELL",
    "SIDE_UNKNOWN",
    "TICK_DTYPE",
    "TICK_SCHEMA",
    "TRADE_DTYPE",
    "TRADE_SCHEMA",
    "TS_TYPE",
    "book_snapshot_schema",
    "empty_table",
]

TS_TYPE: Final = pa.timestamp("ns", tz="UTC")

SIDE_BUY: Final = 1
SIDE_SELL: Final = -1
SIDE_UNKNOWN: Final = 0

# -- trade ---------------------------------------------------------------------------------
TRADE_SCHEMA: Final = pa.schema(
    [
        pa.field("ts", TS_TYPE, nullable=False),  # exchange time
        pa.field("recv_ts", TS_TYPE, nullable=True),  # receive time, when known
        pa.field("price", pa.float64(), nullable=False),  # quote per base
        pa.field("qty", pa.float64(), nullable=False),  # base units
        pa.field("side", pa.int8(), nullable=False),  # +1 taker buy, -1 taker sell, 0 unknown
        pa.field("trade_id", pa.int64(), nullable=True),
    ]
)
TRADE_DTYPE: Final = np.dtype(
    [
        ("ts", np.int64),
        ("recv_ts", np.int64),
        ("price", np.float64),
        ("qty", np.float64),
        ("side", np.int8),
        ("trade_id", np.int64),
    ]
)

# -- tick (top of book as seen by the series pipeline) ---------------------------------------
# vbid / vask are quote-currency notional of market sells / market buys in the tick.
TICK_SCHEMA: Final = pa.schema(
    [
        pa.field("ts", TS_TYPE, nullable=False),
        pa.field("bid", pa.float64(), nullable=False),
        pa.field("ask", pa.float64(), nullable=False),
        pa.field("vbid", pa.float64(), nullable=False),
        pa.field("vask", pa.float64(), nullable=False),
    ]
)
TICK_DTYPE: Final = np.dtype(
    [
        ("ts", np.int64),
        ("bid", np.float64),
        ("ask", np.float64),
        ("vbid", np.float64),
        ("vask", np.float64),
    ]
)

# -- book event (one price level change) ----------------------------------------------------
BOOK_FLAG_SNAPSHOT: Final = 1  # part of a full snapshot; the first level of a snapshot clears
BOOK_FLAG_DELTA: Final = 2  # an incremental update
BOOK_FLAG_GAP: Final = 4  # a sequence break was detected before this event
BOOK_FLAG_RESYNC: Final = 8  # the book was rebuilt from a fresh snapshot here
BOOK_FLAG_MSG_END: Final = 16  # last event of a message (the book is consistent after it)
BOOK_FLAG_RELATIVE: Final = 32  # qty is a change to the level, not its new size

# -- sequence rules of book events: how a venue's ids chain (checked by transforms/book) ------
# (the table in sources/_book_base.py says what each checks)
RULE_NONE: Final = 0
RULE_BINANCE: Final = 1
RULE_BINANCE_F: Final = 2
RULE_NEXT: Final = 3
RULE_PREV: Final = 4

BOOK_EVENT_SCHEMA: Final = pa.schema(
    [
        pa.field("ts", TS_TYPE, nullable=False),
        pa.field("recv_ts", TS_TYPE, nullable=True),
        pa.field("side", pa.int8(), nullable=False),  # +1 bid, -1 ask
        pa.field("price", pa.float64(), nullable=False),
        pa.field("qty", pa.float64(), nullable=False),  # absolute size; 0 deletes the level
        pa.field("first_id", pa.int64(), nullable=True),
        pa.field("last_id", pa.int64(), nullable=True),
        pa.field("prev_id", pa.int64(), nullable=True),
        pa.field("flags", pa.uint8(), nullable=False),
    ]
)
BOOK_EVENT_DTYPE: Final = np.dtype(
    [
        ("ts", np.int64),
        ("recv_ts", np.int64),
        ("side", np.int8),
        ("price", np.float64),
        ("qty", np.float64),
        ("first_id", np.int64),
        ("last_id", np.int64),
        ("prev_id", np.int64),
        ("flags", np.uint8),
    ]
)


def book_snapshot_schema(depth: int) -> pa.Schema:
    """Schema of a fixed-interval top-``depth`` book snapshot.

    Columns: ``ts``, then ``bid_px_01..N``, ``bid_sz_01..N``, ``ask_px_01..N``,
    ``ask_sz_01..N`` (float64; NaN where the book has fewer levels).
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    fields = [pa.field("ts", TS_TYPE, nullable=False)]
    for side in ("bid", "ask"):
        for kind in ("px", "sz"):
            fields.extend(
                pa.field(f"{side}_{kind}_{level:02d}", pa.float64())
                for level in range(1, depth + 1)
            )
    return pa.schema(fields)


def empty_table(schema: pa.Schema) -> pa.Table:
    """An empty table with ``schema``."""
    return schema.empty_table()
