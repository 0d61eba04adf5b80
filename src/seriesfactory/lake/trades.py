"""The trades tier: normalised taker trades in Parquet, one file per venue/symbol/UTC day.

Layout under ``{cache_dir}/trades/``::

    {venue}/{symbol}/{YYYY}/{MM}/{YYYYMMDD}.parquet      TRADE_SCHEMA, time-ordered
    {venue}/{symbol}/_ingested/{sha256[:32]}.json         one record per raw file ingested

A raw file is ingested once, all or nothing: its day files are renamed into
place only after the whole file was read, and its record (written last, after
its day files) lists the days it produced, each day file's seal
(``lake/integrity.py``) and the bad rows it skipped. Every read checks the day
file's seal (size and CRC-32); a damaged day file is evicted and, when the
reader is given a ``repair`` (``pipeline/exchange.py``), re-ingested from its
raw file.
Re-ingesting a raw file whose record exists and whose day files are all present
does nothing, so running twice equals running once.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from seriesfactory.core.atomic import atomic_path, atomic_write_json
from seriesfactory.core.time import NS_PER_DAY
from seriesfactory.errors import CacheError
from seriesfactory.lake.integrity import (
    DECODE_ERRORS,
    CorruptEntryError,
    Seal,
    decode_error,
    evict,
    open_parquet,
    read_verified,
    seal_of,
)
from seriesfactory.schema import TRADE_SCHEMA

__all__ = ["PARQUET_OPTIONS", "IngestRecord", "TradeStore"]

#: Trade files, chosen for encode/decode speed (BENCHMARKS.md, "Exchange archive ingest"):
#: delta-coded times and ids under zstd; byte-stream-split prices and quantities under LZ4;
#: a dictionary only for ``side`` (two values). Any Parquet encoding reads back the same
#: values, so files written with the earlier zstd+dictionary options stay readable.
PARQUET_OPTIONS: dict[str, Any] = {
    "use_dictionary": ["side"],
    "column_encoding": {
        "ts": "DELTA_BINARY_PACKED",
        "recv_ts": "PLAIN",
        "price": "BYTE_STREAM_SPLIT",
        "qty": "BYTE_STREAM_SPLIT",
        "trade_id": "DELTA_BINARY_PACKED",
    },
    "compression": {
        "ts": "zstd",
        "recv_ts": "lz4",
        "price": "lz4",
        "qty": "lz4",
        "side": "lz4",
        "trade_id": "zstd",
    },
}
#: Ingest records of this version hold the day files' seals; older ones are re-ingested.
RECORD_VERSION = 3


def _day_name(day_index: int) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=day_index)).strftime("%Y%m%d")


@dataclass(frozen=True, slots=True)
class IngestRecord:
    """What one raw file produced: day names, rows kept, bad rows skipped."""

    raw_sha256: str
    raw_name: str
    days: tuple[str, ...]
    rows: int
    bad_rows: int
    bad_lines: tuple[int, ...]
    #: Each day file's seal (how pieces were cut changes the bytes, not the record's meaning).
    seals: tuple[Seal, ...] = field(default=(), compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": RECORD_VERSION,
            "seals": [seal.to_json() for seal in self.seals],
            "raw_sha256": self.raw_sha256,
            "raw_name": self.raw_name,
            "days": list(self.days),
            "rows": self.rows,
            "bad_rows": self.bad_rows,
            "bad_lines": list(self.bad_lines),
        }


@dataclass(frozen=True, slots=True)
class TradeStore:
    """The trades of one venue and symbol under ``{cache_dir}/trades``."""

    cache_dir: Path
    venue: str
    symbol: str

    @property
    def root(self) -> Path:
        return self.cache_dir / "trades" / self.venue / self.symbol

    def day_path(self, day: str) -> Path:
        return self.root / day[:4] / day[4:6] / f"{day}.parquet"

    def _record_path(self, raw_sha256: str) -> Path:
        return self.root / "_ingested" / f"{raw_sha256[:32]}.json"

    def record(self, raw_sha256: str) -> IngestRecord | None:
        """The ingest record of a raw file, or None when absent or incomplete."""
        path = self._record_path(raw_sha256)
        if not path.is_file():
            return None
        try:
            doc = json.loads(path.read_text())
            if doc.get("version") != RECORD_VERSION:
                return None  # written before seals: ingested again
            rec = IngestRecord(
                doc["raw_sha256"],
                doc["raw_name"],
                tuple(doc["days"]),
                int(doc["rows"]),
                int(doc["bad_rows"]),
                tuple(doc["bad_lines"]),
                tuple(Seal.from_json(x) for x in doc["seals"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            evict(path, f"{path}: unreadable ingest record ({exc})")
            return None
        except OSError as exc:
            raise CacheError(f"{path}: cannot read the ingest record ({exc})") from exc
        if not all(self.day_path(d).is_file() for d in rec.days):
            return None
        return rec

    def ingest(
        self, table: pa.Table, *, raw_sha256: str, raw_name: str, bad_lines: list[int]
    ) -> IngestRecord:
        """Write ``table`` (trades of one raw file, time-ordered) as day files; record it."""
        return self.ingest_stream([table], raw_sha256=raw_sha256, raw_name=raw_name,
                                  bad_lines=bad_lines)  # fmt: skip

    def ingest_stream(
        self,
        tables: Iterable[pa.Table],
        *,
        raw_sha256: str,
        raw_name: str,
        bad_lines: list[int],
    ) -> IngestRecord:
        """Like :meth:`ingest` for a raw file read in time-ordered pieces.

        All or nothing: each day file is written under a temporary name, and the
        day files are renamed into place only after the last piece (a raw file
        that fails part-way — a bad row, a CRC-32 mismatch found at its end —
        leaves the tier as it was, earlier day files included). ``bad_lines``
        may grow while ``tables`` is consumed (the parser appends to it); the
        record is written after the day files.
        """
        meta = {b"seriesfactory.raw_sha256": raw_sha256.encode(),
                b"seriesfactory.raw_name": raw_name.encode()}  # fmt: skip
        schema = TRADE_SCHEMA.with_metadata(meta)
        names: list[str] = []
        rows = 0
        writer: pq.ParquetWriter | None = None
        pending: list[Any] = []  # atomic_path contexts, entered, renamed at the end
        tmps: list[Path] = []
        try:
            for table in tables:
                ts = table.column("ts").cast(pa.int64()).to_numpy()
                days = ts // NS_PER_DAY
                cuts = [0, *(np.flatnonzero(np.diff(days)) + 1).tolist(), len(ts)]
                for lo, hi in itertools.pairwise(cuts):
                    if hi <= lo:
                        continue
                    name = _day_name(int(days[lo]))
                    if not names or names[-1] != name:
                        if writer is not None:
                            writer.close()
                        ctx = atomic_path(self.day_path(name))
                        tmp = ctx.__enter__()
                        pending.append(ctx)
                        tmps.append(tmp)
                        writer = pq.ParquetWriter(tmp, schema, **PARQUET_OPTIONS)
                        names.append(name)
                    assert writer is not None
                    writer.write_table(table.slice(lo, hi - lo).cast(schema))
                    rows += hi - lo
            if writer is not None:
                writer.close()
                writer = None
            seals = tuple(seal_of(t) for t in tmps)
        except BaseException as exc:
            if writer is not None:
                writer.close()
            for ctx in pending:  # every temporary file removed, nothing renamed
                ctx.__exit__(type(exc), exc, exc.__traceback__)
            raise
        for ctx in pending:
            ctx.__exit__(None, None, None)
        rec = IngestRecord(
            raw_sha256, raw_name, tuple(names), rows, len(bad_lines), tuple(bad_lines[:100]), seals
        )
        atomic_write_json(self._record_path(raw_sha256), rec.to_json())
        return rec

    def days(self) -> list[str]:
        """Every day present, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.stem for p in self.root.glob("[0-9]*/[0-9]*/*.parquet"))

    def _seal(self, path: Path, pf: pq.ParquetFile) -> Seal:
        """The seal the day file's own ingest record holds for it."""
        meta = pf.metadata.metadata or {}
        raw = meta.get(b"seriesfactory.raw_sha256", b"").decode(errors="replace")
        rec = self.record(raw) if len(raw) == 64 else None
        if rec is None or path.stem not in rec.days:
            raise CorruptEntryError(path, path, "no ingest record lists it")
        return rec.seals[rec.days.index(path.stem)]

    def read_day(self, path: Path) -> pa.Table:
        """A day file, verified (its seal); :class:`CorruptEntryError` if not."""
        seal = self._seal(path, open_parquet(path, entry=path))
        pf = open_parquet(path, entry=path, data=read_verified(path, seal, entry=path))
        try:
            return pf.read().cast(TRADE_SCHEMA)
        except DECODE_ERRORS as exc:
            raise decode_error(exc, entry=path, path=path) from exc

    def read_range(
        self, from_ns: int, to_ns: int, *, repair: Callable[[], None] | None = None
    ) -> Iterator[tuple[pa.Table, str]]:
        """Yield ``(trades, file)`` per day of ``[from_ns, to_ns)``, in time order.

        A day file that fails its check is evicted; ``repair`` (re-ingesting the raw
        files) then rebuilds it and it is read again. Without ``repair``, or when it
        fails again, the error is raised.
        """
        first = from_ns // NS_PER_DAY
        last = (to_ns - 1) // NS_PER_DAY
        for day_index in range(first, last + 1):
            path = self.day_path(_day_name(day_index))
            if not path.is_file():
                continue
            try:
                table = self.read_day(path)
            except CorruptEntryError as exc:
                if repair is None:
                    raise
                evict(path, f"{path}: damaged cache file ({exc.reason})")
                repair()
                table = self.read_day(path)
            ts = table.column("ts").cast(pa.int64())
            mask = pc.and_(pc.greater_equal(ts, from_ns), pc.less(ts, to_ns))
            yield table.filter(mask), str(path)
