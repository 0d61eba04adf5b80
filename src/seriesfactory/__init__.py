"""Series Factory: crypto market-data research, from sources to series.

The curated public surface is :data:`__all__`; heavier pieces load on first use, so
``import seriesfactory`` stays cheap. Sub-packages (``seriesfactory.bars``,
``seriesfactory.schema``, ``seriesfactory.sources.synthetic``, ...) hold the rest.
"""

from __future__ import annotations

import importlib
from typing import Any

from seriesfactory._version import __version__
from seriesfactory.errors import (
    CacheError,
    ConfigError,
    DataError,
    InputError,
    IntegrityError,
    NetworkError,
    SeriesFactoryError,
    SourceError,
    SpecError,
)

#: Public names loaded on first use: name -> module that defines it.
_LAZY = {
    "AggregationParams": "seriesfactory.transforms.aggregates",
    "Aggregator": "seriesfactory.transforms.aggregates",
    "SeriesRequest": "seriesfactory.pipeline.series",
    "TicksRequest": "seriesfactory.pipeline.series",
    "build_series": "seriesfactory.pipeline.series",
    "build_ticks": "seriesfactory.pipeline.series",
}

__all__ = [
    "AggregationParams",
    "Aggregator",
    "CacheError",
    "ConfigError",
    "DataError",
    "InputError",
    "IntegrityError",
    "NetworkError",
    "SeriesFactoryError",
    "SeriesRequest",
    "SourceError",
    "SpecError",
    "TicksRequest",
    "__version__",
    "build_series",
    "build_ticks",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'seriesfactory' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
