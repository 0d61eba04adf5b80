"""The tick chunk every stage passes around: numpy columns of :data:`TICK_SCHEMA`."""

from __future__ import annotations

from typing import NamedTuple

import pyarrow as pa

from seriesfactory.schema.arrays import F64, I64
from seriesfactory.schema.events import TICK_SCHEMA

__all__ = ["TickArrays"]


class TickArrays(NamedTuple):
    """A chunk of ticks as numpy arrays (the columns of :data:`TICK_SCHEMA`)."""

    ts: I64
    bid: F64
    ask: F64
    vbid: F64
    vask: F64

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def to_arrow(self) -> pa.RecordBatch:
        """Zero-copy record batch with :data:`TICK_SCHEMA`."""
        return pa.RecordBatch.from_arrays(
            [
                pa.array(self.ts, type=pa.int64()).cast(TICK_SCHEMA.field("ts").type),
                pa.array(self.bid),
                pa.array(self.ask),
                pa.array(self.vbid),
                pa.array(self.vask),
            ],
            schema=TICK_SCHEMA,
        )
