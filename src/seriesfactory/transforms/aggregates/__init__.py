"""Ticks to time or price-brick aggregates (numba kernels in ``nb.py``)."""

from seriesfactory.transforms.aggregates.api import (
    BLOCK_ROWS,
    AggregateArrays,
    AggregateSummary,
    AggregationParams,
    Aggregator,
    FilterCounts,
    aggregate,
)

__all__ = [
    "BLOCK_ROWS",
    "AggregateArrays",
    "AggregateSummary",
    "AggregationParams",
    "Aggregator",
    "FilterCounts",
    "aggregate",
]
