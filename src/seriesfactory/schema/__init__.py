"""Event and output schemas (Arrow + numpy), defined once."""

from seriesfactory.schema.events import (
    BOOK_EVENT_DTYPE,
    BOOK_EVENT_SCHEMA,
    BOOK_FLAG_DELTA,
    BOOK_FLAG_GAP,
    BOOK_FLAG_RESYNC,
    BOOK_FLAG_SNAPSHOT,
    SIDE_BUY,
    SIDE_SELL,
    SIDE_UNKNOWN,
    TICK_DTYPE,
    TICK_SCHEMA,
    TRADE_DTYPE,
    TRADE_SCHEMA,
    TS_TYPE,
    book_snapshot_schema,
    empty_table,
)
from seriesfactory.schema.outputs import AGGREGATE_FIELDS, AGGREGATE_SCHEMA, aggregate_schema
from seriesfactory.schema.raw import RawRecord
from seriesfactory.schema.ticks import TickArrays

__all__ = [
    "AGGREGATE_FIELDS",
    "AGGREGATE_SCHEMA",
    "BOOK_EVENT_DTYPE",
    "BOOK_EVENT_SCHEMA",
    "BOOK_FLAG_DELTA",
    "BOOK_FLAG_GAP",
    "BOOK_FLAG_RESYNC",
    "BOOK_FLAG_SNAPSHOT",
    "SIDE_BUY",
    "SIDE_SELL",
    "SIDE_UNKNOWN",
    "TICK_DTYPE",
    "TICK_SCHEMA",
    "TRADE_DTYPE",
    "TRADE_SCHEMA",
    "TS_TYPE",
    "RawRecord",
    "TickArrays",
    "aggregate_schema",
    "book_snapshot_schema",
    "empty_table",
]
