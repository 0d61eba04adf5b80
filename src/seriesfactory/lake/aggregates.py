"""The aggregates tier: computed series kept under a key of their inputs and parameters.

Layout::

    {cache}/aggregates/{inputs16}/{params16}.parquet

``inputs16`` is the first 16 hex digits of :func:`~seriesfactory.core.atomic.key_sha256` of
the input tick files' SHA-256 list (in order), ``params16`` the same of the aggregation
parameters (their JSON-able key). A file holds the columns ``timestamp_ns``, ``start_ns``,
``tick_count`` (int64) and every field of :data:`~seriesfactory.schema.AGGREGATE_FIELDS`
(float64), and the filter counts as JSON under the Parquet metadata key
``seriesfactory.counts``. Reading a file refreshes its last use (``cache gc``,
:mod:`seriesfactory.lake.derived`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from seriesfactory.core.atomic import atomic_write_parquet, key_sha256, mark_used
from seriesfactory.errors import CacheError
from seriesfactory.lake import AGGREGATES
from seriesfactory.schema import AGGREGATE_FIELDS
from seriesfactory.schema.arrays import F64, I64

__all__ = [
    "StoredAggregates",
    "aggregate_files",
    "aggregates_path",
    "load_aggregates",
    "save_aggregates",
]

_COUNTS_KEY = "seriesfactory.counts"
_INDEX = ("timestamp_ns", "start_ns", "tick_count")


@dataclass(frozen=True, slots=True)
class StoredAggregates:
    """One aggregates file's arrays (``fields`` is ``float64[len(AGGREGATE_FIELDS), rows]``)."""

    timestamp_ns: I64
    start_ns: I64
    tick_count: I64
    fields: F64
    counts: dict[str, int]


def aggregates_path(cache_dir: Path, inputs: list[str], params: Mapping[str, Any]) -> Path:
    """Where the aggregates of ``inputs`` (content hashes) under ``params`` are kept."""
    inputs_key = key_sha256(inputs)
    params_key = key_sha256(dict(params))
    return cache_dir / AGGREGATES / inputs_key[:16] / f"{params_key[:16]}.parquet"


def aggregate_files(cache_dir: Path) -> list[Path]:
    """Every aggregates file of the tier, in path order."""
    root = cache_dir / AGGREGATES
    return sorted(root.glob("*/*.parquet")) if root.is_dir() else []


def save_aggregates(path: Path, stored: StoredAggregates) -> None:
    """Write ``stored`` to ``path`` atomically."""
    columns: dict[str, np.ndarray[Any, Any]] = {
        "timestamp_ns": stored.timestamp_ns,
        "start_ns": stored.start_ns,
        "tick_count": stored.tick_count,
    }
    columns.update({name: stored.fields[i] for i, name in enumerate(AGGREGATE_FIELDS)})
    atomic_write_parquet(path, pa.table(columns), metadata={_COUNTS_KEY: json.dumps(stored.counts)})


def load_aggregates(path: Path) -> StoredAggregates | None:
    """The aggregates at ``path`` (``None`` when absent); a damaged file raises CacheError."""
    if not path.is_file():
        return None
    try:
        table = pq.ParquetFile(path).read()  # not read_table: pyarrow.dataset imports pandas
        meta = table.schema.metadata or {}
        counts = {str(k): int(v) for k, v in json.loads(meta[_COUNTS_KEY.encode()]).items()}
        fields = np.vstack([table.column(n).to_numpy() for n in AGGREGATE_FIELDS])
        ts, start, count = (table.column(c).to_numpy() for c in _INDEX)
    except (OSError, KeyError, ValueError, TypeError, AttributeError, pa.ArrowException) as exc:
        raise CacheError(f"{path}: unreadable aggregates ({exc}); delete it to rebuild") from exc
    mark_used(path)
    return StoredAggregates(ts, start, count, fields.reshape(len(AGGREGATE_FIELDS), -1), counts)
