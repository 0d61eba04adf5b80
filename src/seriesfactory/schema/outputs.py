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
    "AGG_CLOSE",
    "AGG_DISPERSION",
    "AGG_DRIFT",
    "AGG_HIGH",
    "AGG_LOW",
    "AGG_MID",
    "AGG_OPEN",
    "AGG_SPREAD",
    "AGG_VASK",
    "AGG_VBID",
    "AGG_VELOCITY",
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

# The row of each field in the kernels' ``float64[len(AGGREGATE_FIELDS), rows]`` output.
AGG_OPEN: Final = AGGREGATE_FIELDS.index("open")
AGG_HIGH: Final = AGGREGATE_FIELDS.index("high")
AGG_LOW: Final = AGGREGATE_FIELDS.index("low")
AGG_CLOSE: Final = AGGREGATE_FIELDS.index("close")
AGG_MID: Final = AGGREGATE_FIELDS.index("mid")
AGG_SPREAD: Final = AGGREGATE_FIELDS.index("spread")
AGG_VBID: Final = AGGREGATE_FIELDS.index("vbid")
AGG_VASK: Final = AGGREGATE_FIELDS.index("vask")
AGG_VELOCITY: Final = AGGREGATE_FIELDS.index("velocity")
AGG_DISPERSION: Final = AGGREGATE_FIELDS.index("dispersion")
AGG_DRIFT: Final = AGGREGATE_FIELDS.index("drift")

AGGREGATE_SCHEMA: Final = pa.schema(
    [pa.field("timestamp", pa.timestamp("ms", tz="UTC"), nullable=False)]
    + [pa.field(name, pa.float64(), nullable=False) for name in AGGREGATE_FIELDS]
)


def aggregate_schema(fields: tuple[str, ...] = AGGREGATE_FIELDS) -> pa.Schema:
    """The aggregate schema restricted to ``timestamp`` plus ``fields`` (in canonical order)."""
    keep = {"timestamp", *fields}
    return pa.schema([f for f in AGGREGATE_SCHEMA if f.name in keep])
