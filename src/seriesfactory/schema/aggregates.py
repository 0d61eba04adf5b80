"""Aggregates as the stages pass them around: blocks of numpy columns, and filter counts.

The aggregator (``transforms.aggregates``) makes them, the aggregates tier
(``lake.aggregates``) stores and reads them, the ``series`` job writes them out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from seriesfactory.core.time import NS_PER_MS
from seriesfactory.schema.arrays import F64, I64
from seriesfactory.schema.outputs import AGGREGATE_FIELDS, aggregate_schema

__all__ = ["BLOCK_ROWS", "AggregateArrays", "FilterCounts"]

#: Rows per block of :meth:`Aggregator.update_blocks` / :meth:`Aggregator.finish_blocks`
#: (~30 MB of arrays): what bounds the memory of any step and range.
BLOCK_ROWS = 1 << 18


@dataclass(frozen=True, slots=True)
class FilterCounts:
    """Ticks seen, and how many each quality filter removed."""

    ticks: int
    deviation: int
    stale: int


@dataclass(frozen=True, slots=True)
class AggregateArrays:
    """Aggregates as numpy arrays: close time, start time, price-tick count, fields."""

    timestamp_ns: I64
    start_ns: I64
    tick_count: I64
    fields: F64  # float64[len(AGGREGATE_FIELDS), rows]

    @property
    def rows(self) -> int:
        return int(self.timestamp_ns.shape[0])

    def column(self, name: str) -> F64:
        return self.fields[AGGREGATE_FIELDS.index(name)]

    @staticmethod
    def concat(parts: list[AggregateArrays]) -> AggregateArrays:
        if not parts:
            return AggregateArrays(
                np.empty(0, np.int64),
                np.empty(0, np.int64),
                np.empty(0, np.int64),
                np.empty((len(AGGREGATE_FIELDS), 0)),
            )
        if len(parts) == 1:
            return parts[0]
        return AggregateArrays(
            np.concatenate([p.timestamp_ns for p in parts]),
            np.concatenate([p.start_ns for p in parts]),
            np.concatenate([p.tick_count for p in parts]),
            np.concatenate([p.fields for p in parts], axis=1),
        )

    def slice(self, lo: int, hi: int) -> AggregateArrays:
        return AggregateArrays(
            self.timestamp_ns[lo:hi], self.start_ns[lo:hi], self.tick_count[lo:hi],
            self.fields[:, lo:hi],
        )  # fmt: skip

    def to_arrow(self, fields: tuple[str, ...] = AGGREGATE_FIELDS) -> pa.Table:
        """The ``series`` output table: ``timestamp[ms, UTC]`` plus ``fields``."""
        schema = aggregate_schema(fields)
        ts_ms = pa.array(self.timestamp_ns // NS_PER_MS, type=pa.int64())
        # a view, not a cast: same int64 values; a cast would import pyarrow.compute (0.1 s)
        columns: list[pa.Array] = [ts_ms.view(schema.field("timestamp").type)]
        columns += [pa.array(self.column(f.name)) for f in schema if f.name != "timestamp"]
        return pa.Table.from_arrays(columns, schema=schema)
