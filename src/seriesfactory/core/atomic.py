"""Crash-safe file writes and content keys.

Every file in the cache and every output is written to a temporary name in the
same folder and renamed into place, so a crash never leaves a half file under a
name that looks whole. Temporary names start with ``.tmp-`` and are ignored by
every reader (and removed by ``cache gc``).
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import itertools
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from seriesfactory.errors import CacheError

__all__ = [
    "STALE_TEMP_S",
    "TMP_PREFIX",
    "HashingWriter",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_parquet",
    "commit",
    "discard",
    "key_sha256",
    "mark_used",
    "storage_error",
    "temp_path",
]

TMP_PREFIX = ".tmp-"
#: A temporary file older than this (s) belongs to no live writer (a writer's file grows
#: while it works): reruns and ``cache gc`` remove it.
STALE_TEMP_S = 3600.0


def _remove_stale_temps(final: Path) -> None:
    """Remove leftovers of earlier, crashed writes of ``final`` (older than STALE_TEMP_S)."""
    now = time.time()
    for old in final.parent.glob(f"{TMP_PREFIX}*-{glob.escape(final.name)}"):
        with contextlib.suppress(OSError):
            if now - old.stat().st_mtime > STALE_TEMP_S:
                old.unlink()


def storage_error(path: Path, exc: OSError) -> CacheError:
    """One line for a file system failure while writing ``path`` (full disk, read-only, ...)."""
    text = str(exc).strip()
    reason = exc.strerror or (text.splitlines()[0] if text else type(exc).__name__)
    return CacheError(
        f"cannot write {path}: {reason}; free space, fix the folder's permissions, "
        "or choose another folder (nothing partial was kept)"
    )


def temp_path(final: Path) -> Path:
    """A fresh temporary name beside ``final``: ``.tmp-<id>-<name>``.

    The folder is created (a failure is one :class:`CacheError` line) and stale
    temporaries of earlier, crashed writes of ``final`` are removed.
    """
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(final, exc) from exc
    _remove_stale_temps(final)
    return final.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex[:12]}-{final.name}")


def commit(tmp: Path, final: Path, *, durable: bool = True) -> None:
    """Flush ``tmp`` to disk and rename it to ``final`` (atomic on one file system).

    ``durable=False``: renamed without the flush, for a cache file whose seal (size and CRC-32,
    ``lake/integrity.py``) is checked on every read: after a power cut it may be found empty or
    short under its name, and is then evicted and rebuilt like any damaged entry (a crash of
    the process alone loses nothing: the data is in the page cache).
    """
    if durable:
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
    os.replace(tmp, final)


def discard(tmp: Path) -> None:
    """Remove a temporary file (absent, or not removable, is fine: ``cache gc`` sweeps)."""
    with contextlib.suppress(OSError):
        tmp.unlink()


@contextlib.contextmanager
def atomic_path(final: Path, *, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it into place on success (``durable``:
    see :func:`commit`).

    On any exception the temporary file is removed and ``final`` is untouched; a file
    system failure (``OSError``: no space, read-only, permissions) becomes one
    :class:`~seriesfactory.errors.CacheError` line naming ``final``.
    """
    tmp = temp_path(final)
    try:
        yield tmp
        commit(tmp, final, durable=durable)
    except BaseException as exc:
        discard(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, CacheError):
            raise storage_error(final, exc) from exc
        raise


def atomic_write_bytes(
    final: Path, data: bytes | Callable[[BinaryIO], None], *, durable: bool = True
) -> Path:
    """Write ``data`` (bytes, or a callable writing to a binary file) to ``final`` atomically
    (``durable``: see :func:`commit`)."""
    with atomic_path(final, durable=durable) as tmp, open(tmp, "wb") as fh:
        if callable(data):
            data(fh)
        else:
            fh.write(data)
    return final


def atomic_write_json(final: Path, obj: Any, *, durable: bool = True) -> Path:
    """Write ``obj`` as pretty, key-sorted JSON to ``final`` atomically (``durable``: see
    :func:`commit`)."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n"
    return atomic_write_bytes(final, text.encode(), durable=durable)


def atomic_write_parquet(
    final: Path,
    table: pa.Table,
    *,
    row_group_offsets: list[int] | None = None,
    compression: str = "zstd",
    metadata: Mapping[str, str] | None = None,
    use_dictionary: bool = True,
) -> Path:
    """Write ``table`` to Parquet at ``final`` atomically.

    ``row_group_offsets`` (ascending start rows, the first being 0) cut the table
    into row groups; by default pyarrow chooses. ``use_dictionary=False`` skips
    dictionary encoding (faster for float columns of mostly distinct values).
    """
    if metadata:
        merged = dict(table.schema.metadata or {})
        merged.update({k.encode(): v.encode() for k, v in metadata.items()})
        table = table.replace_schema_metadata(merged)
    with atomic_path(final) as tmp:
        options: dict[str, Any] = {"compression": compression, "use_dictionary": use_dictionary}
        if row_group_offsets is None:
            pq.write_table(table, tmp, **options)
        else:
            with pq.ParquetWriter(tmp, table.schema, **options) as writer:
                bounds = [*row_group_offsets, table.num_rows]
                for start, stop in itertools.pairwise(bounds):
                    if stop > start:
                        writer.write_table(table.slice(start, stop - start), row_group_size=stop)
                if table.num_rows == 0:
                    writer.write_table(table)
    return final


class HashingWriter:
    """A binary file opened for writing that also computes the SHA-256 of what passes.

    Writers that take a file object (pyarrow's ``ParquetWriter``) write through
    it, so a new file's hash is known without reading it back. Every
    ``sync_bytes`` written, an ``fdatasync`` starts on a background thread, so
    the disk writes while the caller encodes and the final ``fsync`` (by
    :func:`atomic_path`) only has the tail left.
    """

    def __init__(self, path: Path, *, sync_bytes: int = 32 << 20) -> None:
        self._fh: BinaryIO = open(path, "wb")  # noqa: SIM115 (closed by close())
        self._hash = hashlib.sha256()
        self._sync_bytes = sync_bytes
        self._unsynced = 0
        self._sync: threading.Thread | None = None
        self.closed = False

    def write(self, data: bytes | memoryview) -> int:
        self._hash.update(data)
        n = self._fh.write(data)
        self._unsynced += n
        if self._unsynced >= self._sync_bytes and not (self._sync and self._sync.is_alive()):
            self._fh.flush()
            self._unsynced = 0
            self._sync = threading.Thread(target=os.fdatasync, args=(self._fh.fileno(),))
            self._sync.start()
        return n

    def tell(self) -> int:
        return self._fh.tell()

    def flush(self) -> None:
        self._fh.flush()

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            if self._sync is not None:
                self._sync.join()
            self._fh.close()
            self.closed = True

    def hexdigest(self) -> str:
        """SHA-256 (hex) of every byte written so far."""
        return self._hash.hexdigest()


def mark_used(path: Path) -> None:
    """Refresh a cache entry's last use (its modification time; read by ``cache gc``)."""
    with contextlib.suppress(OSError):  # a read-only cache is still readable
        os.utime(path)


def key_sha256(obj: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of ``obj``: the cache key of inputs and parameters."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
