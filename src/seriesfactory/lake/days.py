"""Time-ordered rows written as one Parquet file per UTC day, each crash-safe: the tiers' writer.

:class:`DayFiles` cuts each piece it is given at UTC midnights (``ts // NS_PER_DAY``) and
appends the parts to the day's file, written under a temporary name beside its final
name (:func:`~seriesfactory.core.atomic.temp_path`). A day's file is renamed into
place when the next day starts (``rename="each"``: the ticks tier, whose manifest,
written last, is what makes a tick set whole) or only when the whole stream is done
(``rename="end"``: the trades tier, where a raw file is ingested all or nothing). On
any error every file not yet renamed is removed (a file system error becomes one
:class:`~seriesfactory.errors.CacheError` line). With ``hash_files`` each file's SHA-256 is
computed while it is written (:class:`~seriesfactory.core.atomic.HashingWriter`); every file's
seal (size and CRC-32, :mod:`seriesfactory.lake.integrity`) is taken before it is renamed.

Use it as a context manager; :attr:`DayFiles.files` lists what was written::

    with DayFiles(lambda day: root / f"{day}.parquet") as out:
        for table in pieces:
            out.write(ts_ns_of(table), lambda lo, hi: table.slice(lo, hi - lo), options={})
    out.files
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from seriesfactory.core.atomic import HashingWriter, commit, discard, storage_error, temp_path
from seriesfactory.core.time import NS_PER_DAY
from seriesfactory.errors import CacheError
from seriesfactory.lake.integrity import Seal, seal_of
from seriesfactory.schema.arrays import I64

__all__ = ["DayFile", "DayFiles"]


@dataclass(frozen=True, slots=True)
class DayFile:
    """One day's file: final path, day index (days since 1970-01-01 UTC), rows, SHA-256."""

    path: Path
    day: int
    rows: int
    #: Hex SHA-256 of the file (``""`` unless ``hash_files``).
    sha256: str
    #: Size and CRC-32 as written (checked on every read).
    seal: Seal


@dataclass(slots=True)
class _Open:
    day: int
    final: Path
    tmp: Path
    sink: HashingWriter | None
    writer: pq.ParquetWriter
    rows: int = 0


class DayFiles:
    """Writes time-ordered pieces as day files; see the module docstring."""

    def __init__(
        self,
        path_for_day: Callable[[int], Path],
        *,
        rename: Literal["each", "end"] = "each",
        hash_files: bool = False,
    ) -> None:
        self._path_for_day = path_for_day
        self._rename = rename
        self._hash = hash_files
        self._open: _Open | None = None
        self._pending: list[tuple[Path, Path]] = []  # (tmp, final) written, not yet renamed
        #: The day files written, in order (complete once the ``with`` block ends).
        self.files: list[DayFile] = []

    def write(
        self,
        ts_ns: I64,
        piece: Callable[[int, int], pa.Table | pa.RecordBatch],
        *,
        options: Mapping[str, Any],
        row_group_rows: int | None = None,
    ) -> None:
        """Append rows ``[0, len(ts_ns))`` of a time-ordered piece, cut at UTC midnights.

        ``piece(lo, hi)`` returns rows ``lo..hi`` as Arrow; a new day's file takes that
        part's schema and the ``pq.ParquetWriter`` ``options``.
        """
        days = ts_ns // NS_PER_DAY
        bounds = [0, *(np.flatnonzero(np.diff(days)) + 1).tolist(), len(ts_ns)]
        for lo, hi in itertools.pairwise(bounds):
            if hi <= lo:
                continue
            part = piece(lo, hi)
            day = int(days[lo])
            if self._open is None or self._open.day != day:
                self._close_day()
                self._open = self._start_day(day, part.schema, options)
            with _storage(self._open.final):
                self._open.writer.write(part, row_group_size=row_group_rows)
            self._open.rows += hi - lo

    def _start_day(self, day: int, schema: pa.Schema, options: Mapping[str, Any]) -> _Open:
        final = self._path_for_day(day)
        tmp = temp_path(final)
        self._pending.append((tmp, final))
        with _storage(final):
            sink = HashingWriter(tmp) if self._hash else None
            writer = pq.ParquetWriter(sink if sink is not None else tmp, schema, **options)
        return _Open(day, final, tmp, sink, writer)

    def _close_day(self) -> None:
        now, self._open = self._open, None
        if now is None:
            return
        with _storage(now.final):
            now.writer.close()
            if now.sink is not None:
                now.sink.close()
            seal = seal_of(now.tmp)
            if self._rename == "each":
                commit(now.tmp, now.final)
                self._pending.pop()
        digest = now.sink.hexdigest() if now.sink is not None else ""
        self.files.append(DayFile(now.final, now.day, now.rows, digest, seal))

    def finish(self) -> list[DayFile]:
        """Close the last day and rename every file still under its temporary name."""
        self._close_day()
        for tmp, final in self._pending:
            with _storage(final):
                commit(tmp, final)
        self._pending = []
        return self.files

    def abort(self) -> None:
        """Close and remove every file not yet renamed (renamed ones stay)."""
        now, self._open = self._open, None
        if now is not None:
            with contextlib.suppress(Exception):  # cleanup after a failure: best effort
                now.writer.close()
                if now.sink is not None:
                    now.sink.close()
        for tmp, _ in self._pending:
            discard(tmp)
        self._pending = []

    def __enter__(self) -> DayFiles:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
            return
        try:
            self.finish()
        except BaseException:
            self.abort()
            raise


@contextlib.contextmanager
def _storage(final: Path) -> Iterator[None]:
    """A file system failure while writing ``final`` becomes one CacheError line."""
    try:
        yield
    except CacheError:
        raise
    except OSError as exc:
        raise storage_error(final, exc) from exc
