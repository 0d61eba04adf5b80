"""The ticks tier: normalised ticks in Parquet, one file per UTC day, with a manifest.

Layout under ``{cache_dir}/ticks/``::

    {venue}/{symbol}/{key16}/{YYYY}/{MM}/{YYYYMMDD}.parquet
    {venue}/{symbol}/{key16}/manifest.json

``key16`` is the first 16 hex digits of the SHA-256 of everything the ticks
depend on. The manifest is written last, after every day file is in place: a
tick set without a manifest is incomplete and is rebuilt. The manifest lists
each file with its row count and SHA-256, the content hashes that downstream
cache keys are made of.

Tick files of exchange sources carry one more column, ``age_ns`` (int64): how
old the older side of the quote is (``docs/sources.md``). It is optional;
absent means 0 (both sides fresh, as for the models).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from seriesfactory.core import threads
from seriesfactory.core.atomic import atomic_write_json, mark_used
from seriesfactory.core.time import NS_PER_DAY
from seriesfactory.errors import CacheError
from seriesfactory.lake import integrity, shared
from seriesfactory.lake.days import DayFiles
from seriesfactory.lake.integrity import (
    DECODE_ERRORS,
    CorruptEntryError,
    Seal,
    decode_error,
    open_parquet,
    read_verified,
)
from seriesfactory.schema import TICK_SCHEMA, TickArrays
from seriesfactory.schema.arrays import int64_values

__all__ = ["AGED_TICK_SCHEMA", "TickFile", "TickSet", "write_tick_set"]

MANIFEST = "manifest.json"
#: The tick schema plus the optional ``age_ns`` column (exchange sources; ``docs/sources.md``).
AGED_TICK_SCHEMA = TICK_SCHEMA.append(pa.field("age_ns", pa.int64(), nullable=False))
AgedChunk = tuple[TickArrays, "np.ndarray[Any, Any] | None", str, int]

#: Tick files, chosen for encode and decode speed at ~25 bytes a tick (see BENCHMARKS.md):
#: delta-coded times, byte-stream-split prices and plain volumes (mostly zeros on one side),
#: all under LZ4 (zstd on the times saved 3% of the size for 22% more encoding time); no
#: dictionaries; statistics (min/max, for readers that skip row groups) for ``ts`` only.
PARQUET_OPTIONS: dict[str, Any] = {
    "use_dictionary": False,
    "write_statistics": ["ts"],
    "column_encoding": {
        "ts": "DELTA_BINARY_PACKED",
        "bid": "BYTE_STREAM_SPLIT",
        "ask": "BYTE_STREAM_SPLIT",
        "vbid": "PLAIN",
        "vask": "PLAIN",
    },
    "compression": "lz4",
}
#: The same for tick files with ``age_ns`` (delta-coded).
AGED_PARQUET_OPTIONS: dict[str, Any] = {
    "use_dictionary": False,
    "write_statistics": ["ts"],
    "column_encoding": {**PARQUET_OPTIONS["column_encoding"], "age_ns": "DELTA_BINARY_PACKED"},
    "compression": "lz4",
}
#: Manifests of this version record each file's seal (``lake/integrity.py``); an older
#: manifest counts as incomplete, so its set is rebuilt once with checksummed files.
MANIFEST_VERSION = 3


@dataclass(frozen=True, slots=True)
class TickFile:
    """One day file of a tick set."""

    path: Path
    day: str  # YYYYMMDD
    rows: int
    sha256: str
    seal: Seal | None = None


@dataclass(frozen=True, slots=True)
class TickSet:
    """A complete set of tick files (read from its manifest)."""

    root: Path
    key: str
    files: tuple[TickFile, ...]
    info: dict[str, Any]

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    def content_hashes(self) -> list[str]:
        return [f.sha256 for f in self.files]

    @classmethod
    def open(cls, root: Path) -> TickSet | None:
        """The tick set at ``root``, or None when it is absent or incomplete.

        Inside a :func:`~seriesfactory.lake.shared.shared_lake`, a set missing here is
        fetched from the lake when it is published there, and one found here is published.
        """
        pulled = shared.pull_tick_set(root, MANIFEST)
        manifest = root / MANIFEST
        if not manifest.is_file():
            return None
        try:
            doc = json.loads(manifest.read_text())
            if doc.get("version") != MANIFEST_VERSION:
                return None  # written before seals: rebuilt whole
            files = tuple(
                TickFile(root / f["path"], f["day"], int(f["rows"]), f["sha256"], Seal.from_json(f))
                for f in doc["files"]
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptEntryError(root, manifest, f"unreadable tick manifest: {exc}") from exc
        except OSError as exc:
            raise CacheError(f"{manifest}: cannot read the tick manifest ({exc})") from exc
        if not all(f.path.is_file() for f in files):
            return None
        for f in files:  # sizes now (cheap); checksums as each file is read
            assert f.seal is not None
            if f.path.stat().st_size != f.seal.bytes:
                raise CorruptEntryError(
                    root, f.path, f"{f.path.stat().st_size:,} bytes, {f.seal.bytes:,} written"
                )
        mark_used(manifest)  # the manifest's time is the set's last use (lake/derived.py)
        if not pulled:
            shared.push_tick_set(root, MANIFEST, [f.path for f in files])
        return cls(root=root, key=str(doc["key"]), files=files, info=dict(doc.get("info", {})))

    def chunks(self, *, prefetch: int = 4) -> Iterator[tuple[TickArrays, str, int]]:
        """Yield ``(ticks, file, first_row)`` per row group, in order, decoded ahead.

        One thread maps, checks and decodes the files up to ``prefetch`` row groups ahead of
        the consumer; pyarrow decodes a row group's columns in parallel on its own thread
        pool (GIL released), overlapping the consumer's work (a ``nogil`` kernel), so both
        cores stay busy. One Python thread, not several: each more was another taker of the
        GIL, handed over tens of thousands of times over a year of ticks (issue 16).
        """
        for ticks, _age, path, first in self.aged_chunks(prefetch=prefetch):
            yield ticks, path, first

    def aged_chunks(self, *, prefetch: int = 4) -> Iterator[AgedChunk]:
        """Like :meth:`chunks`, with the ``age_ns`` column (None where the files have none)."""
        return threads.prefetch(self._decoded(), depth=prefetch)

    def _decoded(self) -> Iterator[AgedChunk]:
        """Every row group in order: each file read and checked once (size, checksum, row
        count; its footer read from the checked bytes), then decoded a row group at a time.

        The files are read into one buffer, as large as the largest file (allocated, zeroed
        and faulted in once: sized to each new largest file, it was again and again), reused
        from file to file as long as nothing decoded points into it (pyarrow decompresses into
        buffers of its own; were it ever to keep a slice of the input, the next file gets a
        new buffer)."""
        spare: bytearray | None = None
        largest = max((f.seal.bytes for f in self.files if f.seal is not None), default=0)
        for f in self.files:
            assert f.seal is not None
            if integrity.VERIFY:
                if spare is None or len(spare) < f.seal.bytes:
                    spare = bytearray(largest)
                data = read_verified(f.path, f.seal, entry=self.root, into=spare)
                pf = open_parquet(f.path, entry=self.root, data=data)
                lo, hi = data.address, data.address + len(spare)
            else:  # checks off (benchmarks only): the decoder reads the file, as before seals
                pf = open_parquet(f.path, entry=self.root)
                lo = hi = 0
            meta = pf.metadata
            if meta.num_rows != f.rows or meta.num_row_groups == 0:
                raise CorruptEntryError(
                    self.root, f.path, f"{meta.num_rows} rows, the manifest says {f.rows}"
                )
            first = 0
            for g in range(meta.num_row_groups):
                try:
                    table = pf.read_row_group(g)  # the columns in parallel, on pyarrow's threads
                    names = table.column_names
                    age = table.column("age_ns").to_numpy() if "age_ns" in names else None
                    chunk = _arrays(table)
                except DECODE_ERRORS as exc:
                    raise decode_error(exc, entry=self.root, path=f.path) from exc
                if _points_into(table, lo, hi):
                    spare = None  # still read through the table: the next file gets a new one
                yield chunk, age, str(f.path), first
                first += table.num_rows

    def read(self) -> pa.Table:
        """All ticks as one Arrow table, with ``age_ns`` when the files carry it.

        The schema is :data:`AGED_TICK_SCHEMA` when any file has ``age_ns`` (a file
        without it reads as ``age_ns = 0``, its documented meaning), else ``TICK_SCHEMA``.
        """
        if not self.files:
            return TICK_SCHEMA.empty_table()
        return pa.concat_tables(list(self.day_tables()))

    def read_file(self, f: TickFile) -> pa.Table:
        """One day file of the set, verified against its seal (as written: ``age_ns`` only when
        the file has it); :class:`CorruptEntryError` when it fails."""
        assert f.seal is not None
        data = read_verified(f.path, f.seal, entry=self.root)
        try:
            table = open_parquet(f.path, entry=self.root, data=data).read()
        except DECODE_ERRORS as exc:
            raise decode_error(exc, entry=self.root, path=f.path) from exc
        if table.num_rows != f.rows:
            raise CorruptEntryError(self.root, f.path, "row count differs from the manifest")
        return table

    def day_tables(self) -> Iterator[pa.Table]:
        """One verified table per day file, in order (schema as :meth:`read` says)."""
        names = [open_parquet(f.path, entry=self.root).schema_arrow.names for f in self.files]
        aged = any("age_ns" in n for n in names)
        for f in self.files:
            assert f.seal is not None
            data = read_verified(f.path, f.seal, entry=self.root)
            pf = open_parquet(f.path, entry=self.root, data=data)
            try:
                table = pf.read().cast(AGED_TICK_SCHEMA if "age_ns" in pf.schema_arrow.names
                                       else TICK_SCHEMA)  # fmt: skip
            except DECODE_ERRORS as exc:
                raise decode_error(exc, entry=self.root, path=f.path) from exc
            if table.num_rows != f.rows:
                raise CorruptEntryError(self.root, f.path, "row count differs from the manifest")
            if aged and "age_ns" not in table.column_names:
                zeros = pa.array(np.zeros(table.num_rows, np.int64))
                table = table.append_column(AGED_TICK_SCHEMA.field("age_ns"), zeros)
            yield table


def _points_into(table: pa.Table, lo: int, hi: int) -> bool:
    """Whether any buffer of ``table`` lies in the memory ``[lo, hi)``."""
    return any(
        b is not None and lo <= b.address < hi
        for column in table.columns
        for chunk in column.chunks
        for b in chunk.buffers()
    )


def _arrays(table: pa.Table) -> TickArrays:
    def col(name: str) -> np.ndarray[Any, Any]:
        return table.column(name).to_numpy()

    # ts by view, not cast: a cast imports pyarrow.compute (0.1 s of a warm run's start-up)
    ts = int64_values(table.column("ts"))
    return TickArrays(ts, col("bid"), col("ask"), col("vbid"), col("vask"))


def _day(ts_ns: int) -> str:
    return (dt.datetime(1970, 1, 1) + dt.timedelta(days=ts_ns // NS_PER_DAY)).strftime("%Y%m%d")


def write_tick_set(
    root: Path,
    *,
    key: str,
    chunks: Iterable[TickArrays | tuple[TickArrays, np.ndarray[Any, Any]]],
    info: dict[str, Any],
    row_group_rows: int = 1 << 20,
) -> TickSet:
    """Write ``chunks`` (time-ordered) as day files under ``root`` and the manifest last.

    Returns the complete :class:`TickSet`. Any earlier manifest is replaced only
    after every new file is in place.
    """

    def path_for_day(day: int) -> Path:
        name = _day(day * NS_PER_DAY)
        return root / name[:4] / name[4:6] / f"{name}.parquet"

    with DayFiles(path_for_day, rename="each", hash_files=True) as out:
        for item in chunks:
            chunk, age = (item, None) if isinstance(item, TickArrays) else item

            def piece(
                lo: int, hi: int, chunk: TickArrays = chunk, age: Any = age
            ) -> pa.RecordBatch:
                batch = TickArrays(
                    chunk.ts[lo:hi], chunk.bid[lo:hi], chunk.ask[lo:hi],
                    chunk.vbid[lo:hi], chunk.vask[lo:hi],
                ).to_arrow()  # fmt: skip
                if age is None:
                    return batch
                return pa.RecordBatch.from_arrays(
                    [*batch.columns, pa.array(age[lo:hi], type=pa.int64())],
                    schema=AGED_TICK_SCHEMA,
                )

            options = PARQUET_OPTIONS if age is None else AGED_PARQUET_OPTIONS
            out.write(chunk.ts, piece, options=options, row_group_rows=row_group_rows)
    files = [TickFile(f.path, f.path.stem, f.rows, f.sha256, f.seal) for f in out.files]
    manifest = {
        "version": MANIFEST_VERSION,
        "key": key,
        "info": info,
        "files": [
            {
                "path": str(f.path.relative_to(root)),
                "day": f.day,
                "rows": f.rows,
                "sha256": f.sha256,
                **(f.seal.to_json() if f.seal else {}),
            }
            for f in files
        ],
    }
    atomic_write_json(root / MANIFEST, manifest)
    shared.push_tick_set(root, MANIFEST, [f.path for f in files])  # inside a shared lake
    return TickSet(root=root, key=key, files=tuple(files), info=info)
