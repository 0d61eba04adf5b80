"""The raw tier: bytes as downloaded, verified, immutable; retention and LRU eviction.

Layout: ``{cache_dir}/raw/{venue}/{path as on the server}``, e.g.
``raw/binance/data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2025-01-01.zip``
beside its ``.CHECKSUM`` and its remembered hash ``.sha256``
(:mod:`seriesfactory.raw.hashes`). A file and its side files form one *entry*.

*Last used* is the newest modification time among an entry's files: the
pipeline touches an entry each time it reads it (:func:`touch`), on its side
files when it has any, so the data file's own modification time stays as
written (its remembered hash depends on it). ``gc`` applies two rules, in this order:

1. retention: an entry unused for more than ``raw_retention_days`` is removed;
2. size: while the total size exceeds ``raw_max_bytes``, the least recently
   used entry is removed.

It also removes leftover temporary (``.tmp-*``) and partial (``.partial-*``)
files older than one hour (younger ones may belong to a running download).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from seriesfactory.core.atomic import TMP_PREFIX
from seriesfactory.raw.download import PARTIAL_PREFIX
from seriesfactory.raw.hashes import SUFFIX as HASH_SUFFIX

__all__ = ["GcReport", "RawEntry", "clear", "gc", "list_entries", "raw_root", "touch"]

_SIDECARS = (".CHECKSUM", HASH_SUFFIX)
_STALE_TEMP_S = 3600.0


def raw_root(cache_dir: Path) -> Path:
    return cache_dir / "raw"


@dataclass(frozen=True, slots=True)
class RawEntry:
    """One raw file with its side files: path (relative to ``raw/``), bytes, last use."""

    path: Path
    files: tuple[Path, ...]
    size_bytes: int
    last_used_s: float


@dataclass(frozen=True, slots=True)
class GcReport:
    removed_expired: int
    removed_lru: int
    removed_temp: int
    freed_bytes: int
    kept_bytes: int


def _is_temp(p: Path) -> bool:
    return p.name.startswith((TMP_PREFIX, PARTIAL_PREFIX))


def list_entries(cache_dir: Path) -> list[RawEntry]:
    """Every entry of the raw tier, least recently used first."""
    root = raw_root(cache_dir)
    if not root.is_dir():
        return []
    entries: list[RawEntry] = []
    for p in sorted(root.rglob("*")):
        if not p.is_file() or _is_temp(p) or p.name.endswith(_SIDECARS):
            continue
        files = [p, *(p.with_name(p.name + s) for s in _SIDECARS)]
        present = tuple(f for f in files if f.is_file())
        stats = [f.stat() for f in present]
        entries.append(
            RawEntry(
                path=p.relative_to(root),
                files=present,
                size_bytes=sum(s.st_size for s in stats),
                last_used_s=max(s.st_mtime for s in stats),
            )
        )
    # A side file whose data file is gone is an entry of its own (removed by gc).
    for suffix in _SIDECARS:
        for p in root.rglob(f"*{suffix}"):
            if not _is_temp(p) and not p.with_name(p.name.removesuffix(suffix)).exists():
                st = p.stat()
                entries.append(RawEntry(p.relative_to(root), (p,), st.st_size, st.st_mtime))
    entries.sort(key=lambda e: (e.last_used_s, str(e.path)))
    return entries


def touch(path: Path) -> None:
    """Mark a raw file as used now: its side files, or the file itself if it has none."""
    touched = False
    for f in (path.with_name(path.name + s) for s in _SIDECARS):
        with contextlib.suppress(FileNotFoundError):
            os.utime(f)
            touched = True
    if not touched:
        os.utime(path)


def _remove(entry: RawEntry) -> int:
    freed = 0
    for f in entry.files:
        with contextlib.suppress(FileNotFoundError):
            freed += f.stat().st_size
            f.unlink()
    return freed


def gc(
    cache_dir: Path,
    *,
    retention_days: float,
    max_bytes: int,
    now_s: float | None = None,
) -> GcReport:
    """Apply retention, then the size limit (LRU), then remove stale temporary files."""
    now = time.time() if now_s is None else now_s
    entries = list_entries(cache_dir)
    cutoff = now - retention_days * 86_400.0
    expired = [e for e in entries if e.last_used_s < cutoff]
    kept = [e for e in entries if e.last_used_s >= cutoff]
    freed = sum(_remove(e) for e in expired)
    total = sum(e.size_bytes for e in kept)
    lru = 0
    while kept and total > max_bytes:
        victim = kept.pop(0)
        freed += _remove(victim)
        total -= victim.size_bytes
        lru += 1
    temp = 0
    root = raw_root(cache_dir)
    if root.is_dir():
        for p in root.rglob("*"):
            if p.is_file() and _is_temp(p) and now - p.stat().st_mtime > _STALE_TEMP_S:
                freed += p.stat().st_size
                p.unlink()
                temp += 1
    return GcReport(len(expired), lru, temp, freed, total)


def clear(cache_dir: Path) -> int:
    """Remove the whole raw tier; return the bytes freed."""
    root = raw_root(cache_dir)
    if not root.is_dir():
        return 0
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    shutil.rmtree(root)
    return size
