"""The aggregates tier: one sealed Parquet entry per (tick files, parameters, range).

Layout, under the cache folder::

    aggregates/{inputs16}/{params16}.parquet        the entry
    aggregates/{inputs16}/{params16}.parquet.seal   its seal, written after it

``inputs16`` is the first 16 hex digits of the key of the tick files' content
hashes; ``params16`` that of the aggregation parameters, the range ``[from, to)``
(empty buckets run to ``--to``, so two ranges over the same ticks give different
rows) and :data:`AGGREGATES_TIER_VERSION`. An entry holds the columns
:data:`ENTRY_COLUMNS` (int64) then every field of
:data:`~seriesfactory.schema.AGGREGATE_FIELDS` (float64), in row groups of one
UTC day (by bucket start) of at most ``BLOCK_ROWS`` rows, and the filter counts
as JSON under the metadata key ``seriesfactory.counts``.

:class:`EntryWriter` writes an entry, :func:`read_entry` reads one back (after
checking its seal), :func:`entry_path` names it, and :func:`entries` /
:func:`orphan_seals` are what ``cache ls`` / ``cache gc`` walk
(:mod:`seriesfactory.lake.derived`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from seriesfactory.core.atomic import atomic_path, atomic_write_json, key_sha256, mark_used
from seriesfactory.core.time import NS_PER_DAY
from seriesfactory.lake import AGGREGATES
from seriesfactory.lake.integrity import (
    DECODE_ERRORS,
    CorruptEntryError,
    Seal,
    check_seal,
    decode_error,
    open_parquet,
    seal_of,
)
from seriesfactory.schema import AGGREGATE_FIELDS
from seriesfactory.schema.aggregates import BLOCK_ROWS, AggregateArrays, FilterCounts

__all__ = [
    "AGGREGATES_TIER_VERSION",
    "ENTRY_COLUMNS",
    "ENTRY_PARQUET",
    "ENTRY_SCHEMA",
    "DayRowGroups",
    "EntryWriter",
    "entries",
    "entry_path",
    "orphan_seals",
    "parquet_encoding",
    "read_entry",
    "seal_path",
]

#: Bumped when the aggregates entry's format or key changes (part of every key).
AGGREGATES_TIER_VERSION = 2
#: The int64 columns of an entry, before the fields.
ENTRY_COLUMNS = ("timestamp_ns", "start_ns", "tick_count")
ENTRY_SCHEMA = pa.schema(
    [pa.field(c, pa.int64(), nullable=False) for c in ENTRY_COLUMNS]
    + [pa.field(f, pa.float64(), nullable=False) for f in AGGREGATE_FIELDS]
)


def parquet_encoding(
    ints: Iterable[str], floats: Iterable[str], *, statistics: bool | list[str] = False
) -> dict[str, Any]:
    """``ParquetWriter`` options of an aggregates file (an entry, a ``series`` output): integer
    columns ``ints`` delta-coded, float columns ``floats`` byte-stream-split, LZ4 pages, no
    dictionaries (fields of mostly distinct values: they doubled the write time), ``statistics``
    for the columns named (readers that skip row groups by time). A year of minutes: 0.06 s and
    33 MB as an entry, where plain LZ4 pages took 0.10 s and 48 MB (issue 16)."""
    return {
        "compression": "lz4",
        "use_dictionary": False,
        "write_statistics": statistics,
        "column_encoding": {
            **dict.fromkeys(ints, "DELTA_BINARY_PACKED"),
            **dict.fromkeys(floats, "BYTE_STREAM_SPLIT"),
        },
    }


#: How an entry is encoded: no statistics (an entry is read whole). Entries written with other
#: options read the same.
ENTRY_PARQUET = parquet_encoding(ENTRY_COLUMNS, AGGREGATE_FIELDS)
_COUNTS_KEY = "seriesfactory.counts"
_SEAL_SUFFIX = ".seal"


def entry_path(
    cache_dir: Path, inputs: list[str], params: Mapping[str, Any], from_ns: int, to_ns: int
) -> Path:
    """The entry of aggregation ``params`` over ``[from_ns, to_ns)`` of tick files with
    content hashes ``inputs`` (the key covers everything that determines the rows)."""
    inputs_key = key_sha256(inputs)
    params_key = key_sha256(
        {**params, "from_ns": from_ns, "to_ns": to_ns, "tier": AGGREGATES_TIER_VERSION}
    )
    return cache_dir / AGGREGATES / inputs_key[:16] / f"{params_key[:16]}.parquet"


def seal_path(entry: Path) -> Path:
    """The seal beside ``entry``."""
    return entry.with_name(entry.name + _SEAL_SUFFIX)


def entries(cache_dir: Path) -> list[Path]:
    """Every entry file of the tier (sorted; temporary files are the caller's to skip)."""
    root = cache_dir / AGGREGATES
    return sorted(root.glob("*/*.parquet")) if root.is_dir() else []


def orphan_seals(cache_dir: Path) -> Iterator[Path]:
    """Seals whose entry is absent (its writer, or a gc, stopped between the two)."""
    root = cache_dir / AGGREGATES
    if root.is_dir():
        for seal in root.glob(f"*/*.parquet{_SEAL_SUFFIX}"):
            if not seal.with_name(seal.name[: -len(_SEAL_SUFFIX)]).exists():
                yield seal


def _day_offsets(start_ns: np.ndarray[Any, Any]) -> list[int]:
    if start_ns.shape[0] == 0:
        return [0]
    days = start_ns // NS_PER_DAY
    return [0, *(np.flatnonzero(np.diff(days)) + 1).tolist()]


class DayRowGroups:
    """Writes aggregates blocks as row groups of one UTC day (by bucket start), at most
    ``BLOCK_ROWS`` rows each, whatever the blocks fed: the same rows give the same file."""

    def __init__(self, write: Callable[[AggregateArrays], object]) -> None:
        self._write = write
        self._pending: list[AggregateArrays] = []
        self._rows = 0
        self._day: int | None = None

    def add(self, block: AggregateArrays) -> None:
        days = block.start_ns // NS_PER_DAY
        for lo, hi in itertools.pairwise([*_day_offsets(block.start_ns), block.rows]):
            if hi <= lo:
                continue
            day = int(days[lo])
            if day != self._day:
                self.flush()
                self._day = day
            part = block.slice(lo, hi)
            while part.rows:
                take = min(part.rows, BLOCK_ROWS - self._rows)
                self._pending.append(part.slice(0, take))
                self._rows += take
                part = part.slice(take, part.rows)
                if self._rows == BLOCK_ROWS:
                    self.flush()

    def flush(self) -> None:
        if self._rows:
            self._write(AggregateArrays.concat(self._pending))
        self._pending, self._rows = [], 0


def _entry_table(arrays: AggregateArrays) -> pa.Table:
    columns: list[Any] = [arrays.timestamp_ns, arrays.start_ns, arrays.tick_count]
    columns += [arrays.column(name) for name in AGGREGATE_FIELDS]
    return pa.Table.from_arrays([pa.array(c) for c in columns], schema=ENTRY_SCHEMA)


class EntryWriter:
    """Writes one entry, a row group at a time, to a temporary name held by ``stack``.

    The caller hands it the row groups (one UTC day of at most ``BLOCK_ROWS`` rows each, as
    :class:`DayRowGroups` makes them), possibly on a thread of its own. The temporary file
    is renamed into place (or removed, on failure) when ``stack`` closes, so the entry can
    be published together with other files written at the same time; :meth:`seal` is called
    after that.
    """

    def __init__(self, path: Path, stack: contextlib.ExitStack[Any]) -> None:
        self.path = path
        # not flushed to disk: the seal finds an entry a power cut left short (then rebuilt)
        tmp = stack.enter_context(atomic_path(path, durable=False))
        self._pq = pq.ParquetWriter(tmp, ENTRY_SCHEMA, store_schema=False, **ENTRY_PARQUET)
        stack.callback(self._pq.close)
        self._rows = 0

    def write_group(self, group: AggregateArrays) -> None:
        """Write ``group`` as one row group (one UTC day, at most ``BLOCK_ROWS`` rows)."""
        self._pq.write_table(_entry_table(group))
        self._rows += group.rows

    def finish(self, counts: FilterCounts) -> None:
        """Write the filter counts (after the last row group, before ``stack`` closes)."""
        if self._rows == 0:
            self._pq.write_table(ENTRY_SCHEMA.empty_table())
        self._pq.add_key_value_metadata({_COUNTS_KEY: json.dumps(dataclasses.asdict(counts))})

    def seal(self) -> None:
        """Write the seal of the entry, once it is in place (after ``stack`` closed)."""
        atomic_write_json(seal_path(self.path), seal_of(self.path).to_json(), durable=False)


def read_entry(path: Path) -> tuple[Iterator[AggregateArrays], FilterCounts] | None:
    """The verified blocks and filter counts of the entry at ``path``, or None when absent.

    An entry without its seal (its writer stopped before the seal) counts as absent.
    A damaged one raises :class:`~seriesfactory.lake.integrity.CorruptEntryError`,
    also while its blocks are read. Reading an entry marks it used.
    """
    seal_file = seal_path(path)
    if not path.is_file() or not seal_file.is_file():
        return None  # absent, or its writer stopped before the seal: rebuilt
    try:
        seal = Seal.from_json(json.loads(seal_file.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptEntryError(path, seal_file, f"unreadable seal: {exc}") from exc
    check_seal(path, seal, entry=path)
    pf = open_parquet(path, entry=path)
    try:
        meta = pf.metadata.metadata or {}
        counts = FilterCounts(**json.loads(meta[_COUNTS_KEY.encode()]))
        if pf.schema_arrow.remove_metadata() != ENTRY_SCHEMA:
            raise ValueError("unexpected columns")
    except DECODE_ERRORS as exc:
        raise decode_error(exc, entry=path, path=path) from exc

    def blocks() -> Iterator[AggregateArrays]:
        for g in range(pf.num_row_groups):
            try:
                t = pf.read_row_group(g)
                fields = np.vstack([t.column(n).to_numpy() for n in AGGREGATE_FIELDS])
                ts, start, n = (t.column(c).to_numpy() for c in ENTRY_COLUMNS)
            except DECODE_ERRORS as exc:
                raise decode_error(exc, entry=path, path=path) from exc
            yield AggregateArrays(ts, start, n, fields.reshape(len(AGGREGATE_FIELDS), -1))

    mark_used(path)
    return blocks(), counts
