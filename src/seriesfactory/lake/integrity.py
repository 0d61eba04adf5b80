"""Checking what the derived tiers read: seals, eviction.

Every Parquet file of the ticks, trades and aggregates tiers has a *seal*,
recorded next to the file when it is written (in the tick-set manifest, the
trades ingest record, the aggregates entry's ``.seal`` file):

- ``bytes``: the file's size (a truncated or extended file fails at once);
- ``crc32``: the CRC-32 of the whole file.

Every read checks both before decoding: the file is read into memory once, its
CRC-32 computed with ISA-L (``isal``, ~17 GB/s on one core) and the decoder
then reads those very bytes (:func:`read_verified`), so every byte is covered —
data pages, page headers, footer, key-value metadata — for ~7-10 % more CPU
than an unchecked read (BENCHMARKS.md, "Integrity on every read"). A SHA-256 of
every file on every read would cost about as much as decoding it; Parquet's own
page checksums (verified by Arrow) cost ~30 % and miss headers and footer.
Aggregates entries, which can be large, are checked by a streaming pass
(:func:`check_seal`) before they are decoded block by block.

A file that fails (size, checksum, or any decode error) raises
:class:`CorruptEntryError` naming the cache *entry* it belongs to (a tick set
folder, a trades day file, an aggregates file). The job evicts the entry with
:func:`evict` (a warning) and rebuilds it from the tier below.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from isal import isal_zlib

from seriesfactory.errors import CacheError, CacheWarning

__all__ = [
    "CorruptEntryError",
    "Seal",
    "check_seal",
    "evict",
    "open_parquet",
    "read_verified",
    "seal_of",
    "warn",
]

#: Exceptions a damaged Parquet file can raise while being opened or decoded.
DECODE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    pa.ArrowException,
    ValueError,
    KeyError,
    TypeError,
)


#: Checks on (the default). Off only in ``benchmarks/bench_integrity.py``, to measure their cost.
VERIFY = True


class CorruptEntryError(CacheError):
    """A derived-tier file failed its check; ``entry`` is what must be evicted."""

    def __init__(self, entry: Path, file: Path, reason: str) -> None:
        self.entry = entry
        self.file = file
        self.reason = reason
        super().__init__(f"{file}: damaged cache file ({reason}); delete {entry} to rebuild it")


def warn(message: str) -> None:
    """Emit one ``warning: ...`` line (the CLI prints it on standard error)."""
    warnings.warn(message, CacheWarning, stacklevel=2)


@dataclass(frozen=True, slots=True)
class Seal:
    """What a written file must look like when it is read back: its size and CRC-32."""

    bytes: int
    crc32: int

    def to_json(self) -> dict[str, int]:
        return {"bytes": self.bytes, "crc32": self.crc32}

    @classmethod
    def from_json(cls, doc: Any) -> Seal:
        return cls(int(doc["bytes"]), int(doc["crc32"]))


_BUFFERS = threading.local()
_CHUNK = 8 << 20


def file_crc32(path: Path) -> tuple[int, int]:
    """``(size, CRC-32)`` of the file at ``path``, read in 8 MB pieces into a per-thread buffer
    (the reads release the GIL; ISA-L's CRC holds it only ~0.5 ms a piece)."""
    buf = getattr(_BUFFERS, "buf", None)
    if buf is None:
        buf = _BUFFERS.buf = bytearray(_CHUNK)
    view = memoryview(buf)
    crc = size = 0
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(view):
            crc = isal_zlib.crc32(view[:n], crc)
            size += n
    return size, int(crc)


def seal_of(path: Path) -> Seal:
    """The seal of the file at ``path`` (called right after writing it)."""
    return Seal(*file_crc32(path))


def check_seal(path: Path, seal: Seal, *, entry: Path) -> None:
    """Raise :class:`CorruptEntryError` unless ``path`` still has ``seal``."""
    if not VERIFY:
        return
    try:
        size = path.stat().st_size
        if size != seal.bytes:
            raise CorruptEntryError(entry, path, f"{size:,} bytes, {seal.bytes:,} written")
        _, crc = file_crc32(path)
    except CorruptEntryError:
        raise
    except (OSError, ValueError) as exc:
        raise CorruptEntryError(entry, path, str(exc)) from exc
    if crc != seal.crc32:
        raise CorruptEntryError(entry, path, "checksum mismatch")


def read_verified(
    path: Path, seal: Seal, *, entry: Path, into: bytearray | None = None
) -> pa.Buffer:
    """The whole file at ``path`` in memory, checked against ``seal``: what the decoder then
    reads is exactly what was checked, and the file is read once, not twice.

    ``into``: a buffer to read into when it is large enough (else a new one is allocated), for
    a caller that reads many files one after another and reuses it once nothing decoded from
    the previous file points into it: no buffer allocated, zeroed and faulted in per file."""
    try:
        size = path.stat().st_size
        if size != seal.bytes:
            raise CorruptEntryError(entry, path, f"{size:,} bytes, {seal.bytes:,} written")
        buf = into if into is not None and len(into) >= size else bytearray(size)
        view = memoryview(buf)[:size]
        got = 0
        with open(path, "rb", buffering=0) as fh:
            while got < size and (n := fh.readinto(view[got:])):
                got += n
    except CorruptEntryError:
        raise
    except OSError as exc:
        raise CorruptEntryError(entry, path, str(exc)) from exc
    if VERIFY and (got != size or int(isal_zlib.crc32(view)) != seal.crc32):
        raise CorruptEntryError(entry, path, "checksum mismatch")
    return pa.py_buffer(view)


def open_parquet(
    path: Path, *, entry: Path, data: pa.Buffer | None = None, **kw: Any
) -> pq.ParquetFile:
    """A :class:`pyarrow.parquet.ParquetFile` of ``path`` (or of its bytes ``data``, read by
    :func:`read_verified`); a failure to open it is a damaged entry."""
    try:
        return pq.ParquetFile(path if data is None else pa.BufferReader(data), **kw)
    except DECODE_ERRORS as exc:
        raise CorruptEntryError(entry, path, _short(exc)) from exc


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def decode_error(exc: BaseException, *, entry: Path, path: Path) -> CorruptEntryError:
    """The :class:`CorruptEntryError` for a decode failure of ``path``."""
    return CorruptEntryError(entry, path, _short(exc))


def evict(entry: Path, reason: str) -> None:
    """Remove a damaged entry (a folder or a file, with its sidecars) and warn."""
    if entry.is_dir():
        with contextlib.suppress(FileNotFoundError):
            (entry / "manifest.json").unlink()  # first: a racing reader sees an incomplete set
        shutil.rmtree(entry, ignore_errors=True)
    else:
        for path in (entry, *entry.parent.glob(entry.name + ".*")):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
    warn(f"{reason}; evicted {entry}, rebuilding it")
