"""Ticks to time or price-brick aggregates (numba kernels in ``nb.py``)."""

from seriesfactory.transforms.aggregates.api import (
    AggregateArrays,
    AggregationParams,
    Aggregator,
    FilterCounts,
    aggregate,
)

__all__ = ["AggregateArrays", "AggregationParams", "Aggregator", "FilterCounts", "aggregate"]
