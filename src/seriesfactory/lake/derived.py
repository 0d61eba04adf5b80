"""The derived tiers' contents, last use and retention (``cache ls`` / ``cache gc``).

The ticks and aggregates tiers are rebuilt on demand from the raw tier (or, for
generative models, from the spec), so ``cache gc`` removes what has not been
used for ``derived_retention_days``. Without it they only grow: every ``--to
now`` run keys a new tick set on its own end instant.

Entries and their *last use*:

- a tick set, ``ticks/{venue}/{symbol}/{key16}/``: the modification time of its
  ``manifest.json``, refreshed each time a run finds the set complete
  (:meth:`seriesfactory.lake.ticks.TickSet.open`). A folder without a manifest
  (a run that crashed while writing it) counts from its newest file; gc removes
  it once that is older than the retention too (a running job's folder is
  young, and the next run of the same request rebuilds it whole anyway);
- an aggregates entry (:mod:`seriesfactory.lake.aggregates` has the layout), with
  its seal beside it: its modification time, refreshed each time a run is
  served from it.

A tick set is any folder under ``ticks/`` named by a 16-hex-digit key, whatever
its depth: ``{venue}/{symbol}/{key16}``, ``synthetic/{model}/{key16}``,
``merged/{key16}``, ``cross/{venue}/{PAIR}/{key16}``. gc removes the whole
folder, so nothing is left that only ``cache ls`` sees. Temporary files
(``.tmp-*``) are never counted as data; gc removes those older than
:data:`STALE_TEMP_S` in every derived tier (a live writer's file is younger).

The trades tier is listed (its size) but never removed by gc: it is keyed by raw
file, and ``bars`` reads it by date range.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from seriesfactory.core.atomic import STALE_TEMP_S, TMP_PREFIX
from seriesfactory.lake import AGGREGATES, TIERS
from seriesfactory.lake.aggregates import entries as aggregate_entries
from seriesfactory.lake.aggregates import orphan_seals, seal_path
from seriesfactory.lake.ticks import MANIFEST

__all__ = ["DerivedEntry", "DerivedGc", "gc_derived", "list_derived", "tier_usage"]

_KEY16 = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True, slots=True)
class DerivedEntry:
    """One removable unit of a derived tier: a tick set folder or an aggregates file."""

    tier: str
    path: Path
    size_bytes: int
    last_used_s: float


@dataclass(frozen=True, slots=True)
class DerivedGc:
    removed_tick_sets: int
    removed_aggregates: int
    freed_bytes: int
    removed_temp: int = 0


def is_temp(path: Path) -> bool:
    return path.name.startswith(TMP_PREFIX)


def _files(root: Path) -> list[Path]:
    """Data files under ``root`` (temporary files are not data)."""
    return [p for p in root.rglob("*") if p.is_file() and not is_temp(p)]


def temp_files(cache_dir: Path) -> list[Path]:
    """Temporary files in the derived tiers."""
    found: list[Path] = []
    for tier in TIERS:
        root = cache_dir / tier
        if root.is_dir():
            found += [p for p in root.rglob(TMP_PREFIX + "*") if p.is_file()]
    return found


def tick_set_folders(ticks_root: Path) -> list[Path]:
    """Every tick-set folder (named by its key16) under ``ticks/``, at any depth."""
    found: list[Path] = []
    for folder, dirs, _ in os.walk(ticks_root):
        keep = []
        for d in dirs:
            if _KEY16.fullmatch(d):
                found.append(Path(folder) / d)
            else:
                keep.append(d)
        dirs[:] = keep  # a tick set's own folders (years, months) are not searched
    return sorted(found)


def list_derived(cache_dir: Path) -> list[DerivedEntry]:
    """Every tick set and aggregates file, least recently used first."""
    entries: list[DerivedEntry] = []
    ticks = cache_dir / "ticks"
    if ticks.is_dir():
        for folder in tick_set_folders(ticks):
            files = _files(folder)
            if not files:
                continue
            manifest = folder / MANIFEST
            stats = {f: f.stat() for f in files}
            used = (
                stats[manifest].st_mtime
                if manifest in stats
                else max(s.st_mtime for s in stats.values())
            )
            size = sum(s.st_size for s in stats.values())
            entries.append(DerivedEntry("ticks", folder, size, used))
    for path in aggregate_entries(cache_dir):
        if is_temp(path):
            continue
        st = path.stat()
        seal = seal_path(path)
        size = st.st_size + (seal.stat().st_size if seal.is_file() else 0)
        entries.append(DerivedEntry(AGGREGATES, path, size, st.st_mtime))
    entries.sort(key=lambda e: (e.last_used_s, str(e.path)))
    return entries


def tier_usage(cache_dir: Path) -> dict[str, tuple[int, int]]:
    """``{tier: (files, bytes)}`` of each derived tier (absent tiers: zeros)."""
    usage: dict[str, tuple[int, int]] = {}
    for tier in TIERS:
        root = cache_dir / tier
        files = _files(root) if root.is_dir() else []
        usage[tier] = (len(files), sum(f.stat().st_size for f in files))
    return usage


def gc_derived(cache_dir: Path, *, retention_days: float, now_s: float | None = None) -> DerivedGc:
    """Remove tick sets and aggregates files unused for more than ``retention_days``."""
    now = time.time() if now_s is None else now_s
    cutoff = now - retention_days * 86_400.0
    sets = aggs = freed = temps = 0
    for tmp in temp_files(cache_dir):
        with contextlib.suppress(FileNotFoundError):
            st = tmp.stat()
            if now - st.st_mtime > STALE_TEMP_S:
                tmp.unlink()
                temps += 1
                freed += st.st_size
    for e in list_derived(cache_dir):
        if e.last_used_s >= cutoff:
            continue
        if e.tier == "ticks":
            # The manifest first: a reader racing the removal sees an incomplete set.
            with contextlib.suppress(FileNotFoundError):
                (e.path / MANIFEST).unlink()
            shutil.rmtree(e.path, ignore_errors=True)
            sets += 1
        else:
            e.path.unlink(missing_ok=True)
            seal_path(e.path).unlink(missing_ok=True)
            aggs += 1
        freed += e.size_bytes
        _remove_empty_parents(e.path.parent, cache_dir / e.tier)
    # Orphans: a seal without its entry, files beside no tick set (older layouts).
    for seal in orphan_seals(cache_dir):
        if now - seal.stat().st_mtime > STALE_TEMP_S:
            seal.unlink(missing_ok=True)
            _remove_empty_parents(seal.parent, cache_dir / AGGREGATES)
    return DerivedGc(sets, aggs, freed, temps)


def _remove_empty_parents(folder: Path, stop: Path) -> None:
    """Remove ``folder`` and its parents up to (not including) ``stop`` while they are empty."""
    while folder != stop and stop in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def clear_tier(cache_dir: Path, tier: str) -> int:
    """Remove the whole ``tier`` (one of :data:`TIERS`) of the cache; return the bytes freed."""
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}")
    root = cache_dir / tier
    if not root.is_dir():
        return 0
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    shutil.rmtree(root)
    return size
