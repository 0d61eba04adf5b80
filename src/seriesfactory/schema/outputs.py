"""Output schemas: the series aggregates.

The ``series`` output is a documented format whose time unit is milliseconds:
``timestamp`` is ``timestamp[ms, UTC]``, the close time of the bucket.
Field semantics, formulas and units are in ``docs/series.md``.
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa

__all__ = [
    "AGGREGATE_FIELDS",
    "AGGREGATE_SCHEMA",
    "aggregate_schema",
]

#: Every selectable aggregate field, in output order (``timestamp`` is always present).
AGGREGATE_FIELDS: Final[tuple[str, ...]] = (
    "open",
    "high",
    "low",
    "close",
    "mid",
    "spread",
    "vbid",
    "vask",
    "velocity",
    "dispersion",
    "drift",
)

AGGREGATE_SCHEMA: Final = pa.schema(
    [pa.field("timestamp", pa.timestamp("ms", tz="UTC"), nullable=False)]
    + [pa.field(name, pa.float64(), nullable=False) for name in AGGREGATE_FIELDS]
)


def aggregate_schema(fields: tuple[str, ...] = AGGREGATE_FIELDS) -> pa.Schema:
    """The aggregate schema restricted to ``timestamp`` plus ``fields`` (in canonical order)."""
    keep = {"timestamp", *fields}
    return pa.schema([f for f in AGGREGATE_SCHEMA if f.name in keep])
