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
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from seriesfactory.core.atomic import atomic_write_json
from seriesfactory.core.time import NS_PER_DAY
from seriesfactory.errors import CacheError
from seriesfactory.lake.days import DayFiles
from seriesfactory.lake.integrity import (
    DECODE_ERRORS,
    CorruptEntryError,
    Seal,
    decode_error,
    evict,
    open_parquet,
    read_verified,
)
from seriesfactory.schema import TRADE_SCHEMA
from seriesfactory.schema.arrays import int64_values

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


def day_name(day_index: int) -> str:
    """``YYYYMMDD`` of a day counted from 1970-01-01."""
    return (dt.date(1970, 1, 1) + dt.timedelta(days=day_index)).strftime("%Y%m%d")


def day_relpath(day: str) -> str:
    """Where a day file lives below a symbol's folder: ``YYYY/MM/YYYYMMDD.parquet``."""
    return f"{day[:4]}/{day[4:6]}/{day}.parquet"


def record_relpath(raw_sha256: str) -> str:
    """Where a raw file's ingest record lives below a symbol's folder."""
    return f"_ingested/{raw_sha256[:32]}.json"


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

    @classmethod
    def from_json(cls, doc: Any) -> IngestRecord | None:
        """The record :meth:`to_json` wrote; None for an older version (ingested again)."""
        if doc.get("version") != RECORD_VERSION:
            return None
        return cls(
            doc["raw_sha256"],
            doc["raw_name"],
            tuple(doc["days"]),
            int(doc["rows"]),
            int(doc["bad_rows"]),
            tuple(doc["bad_lines"]),
            tuple(Seal.from_json(x) for x in doc["seals"]),
        )

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
        return self.root / day_relpath(day)

    def _record_path(self, raw_sha256: str) -> Path:
        return self.root / record_relpath(raw_sha256)

    def record(self, raw_sha256: str) -> IngestRecord | None:
        """The ingest record of a raw file, or None when absent or incomplete."""
        path = self._record_path(raw_sha256)
        if not path.is_file():
            return None
        try:
            rec = IngestRecord.from_json(json.loads(path.read_text()))
            if rec is None:
                return None  # written before seals: ingested again
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
        with DayFiles(lambda day: self.day_path(day_name(day)), rename="end") as out:
            for table in tables:

                def piece(lo: int, hi: int, table: pa.Table = table) -> pa.Table:
                    return table.slice(lo, hi - lo).cast(schema)

                out.write(int64_values(table.column("ts")), piece, options=PARQUET_OPTIONS)
        names = [day_name(f.day) for f in out.files]
        rows = sum(f.rows for f in out.files)
        seals = tuple(f.seal for f in out.files)
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
            path = self.day_path(day_name(day_index))
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
            import pyarrow.compute as pc  # here: 0.1 s that no other read needs

            ts = table.column("ts").cast(pa.int64())
            mask = pc.and_(pc.greater_equal(ts, from_ns), pc.less(ts, to_ns))
            yield table.filter(mask), str(path)
