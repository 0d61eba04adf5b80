"""Checking what the derived tiers read: seals, page checksums, eviction.

Every Parquet file of the ticks, trades and aggregates tiers is written with
CRC-32 page checksums (``write_page_checksum``) and read with their
verification on, so a changed byte inside a data page fails the read. What the
page checksums do not cover (the footer: schema, row-group layout, key-value
metadata; a cut-off tail) is covered by the file's *seal*, recorded next to the
file when it is written (in the tick-set manifest, the trades ingest record,
the aggregates entry's ``.seal`` file):

- ``bytes``: the file's size (a truncated or extended file fails);
- ``footer_crc32``: CRC-32 of the footer and its length word (the last
  ``footer_len + 8`` bytes), read anyway to open the file.

Checking a seal costs one ``stat`` and the footer read that opening the file
needs; the page checksums cost a CRC-32 of the compressed pages as they are
decoded (BENCHMARKS.md, "Integrity on every read"). A SHA-256 of whole files
on every read would cost about as much as decoding them.

A file that fails (seal, page checksum, or any decode error) raises
:class:`CorruptEntryError` naming the cache *entry* it belongs to (a tick set
folder, a trades day file, an aggregates file). The job evicts the entry with
:func:`evict` (a warning line) and rebuilds it from the tier below.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from seriesfactory.errors import CacheError

__all__ = [
    "CacheWarning",
    "CorruptEntryError",
    "Seal",
    "check_seal",
    "evict",
    "open_parquet",
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


class CacheWarning(UserWarning):
    """A cache entry was found damaged and evicted (it is rebuilt)."""


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
    """What a written Parquet file must look like when it is read back."""

    bytes: int
    footer_crc32: int

    def to_json(self) -> dict[str, int]:
        return {"bytes": self.bytes, "footer_crc32": self.footer_crc32}

    @classmethod
    def from_json(cls, doc: Any) -> Seal:
        return cls(int(doc["bytes"]), int(doc["footer_crc32"]))


def _footer_crc(fh: Any, size: int) -> int:
    if size < 12:
        raise ValueError("shorter than a Parquet file")
    fh.seek(size - 8)
    tail = fh.read(8)
    (footer_len,) = struct.unpack("<I", tail[:4])
    if tail[4:] != b"PAR1" or footer_len + 12 > size:
        raise ValueError("no Parquet footer at the end")
    fh.seek(size - 8 - footer_len)
    return zlib.crc32(fh.read(footer_len + 8))


def seal_of(path: Path) -> Seal:
    """The seal of the file at ``path`` (called right after writing it)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        return Seal(size, _footer_crc(fh, size))


def check_seal(path: Path, seal: Seal, *, entry: Path) -> None:
    """Raise :class:`CorruptEntryError` unless ``path`` still has ``seal``."""
    try:
        size = path.stat().st_size
        if size != seal.bytes:
            raise CorruptEntryError(entry, path, f"{size:,} bytes, {seal.bytes:,} written")
        with open(path, "rb") as fh:
            crc = _footer_crc(fh, size)
    except CorruptEntryError:
        raise
    except (OSError, ValueError) as exc:
        raise CorruptEntryError(entry, path, str(exc)) from exc
    if crc != seal.footer_crc32:
        raise CorruptEntryError(entry, path, "footer checksum mismatch")


def open_parquet(path: Path, *, entry: Path, **kw: Any) -> pq.ParquetFile:
    """A :class:`pyarrow.parquet.ParquetFile` that verifies page checksums as it decodes."""
    try:
        return pq.ParquetFile(path, page_checksum_verification=True, **kw)
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
