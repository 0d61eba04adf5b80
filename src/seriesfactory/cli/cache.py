"""``seriesfactory cache ls|gc|clear``: the cache's contents, retention and size limit."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from seriesfactory.cli._app import CacheDir, Config, Quiet, app, fail
from seriesfactory.config import load_settings
from seriesfactory.errors import InputError
from seriesfactory.lake import derived
from seriesfactory.raw import cache as raw_cache

cache_app = typer.Typer(help="Inspect and trim the cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("ls")
def ls(cache_dir: CacheDir = Path("cache"), quiet: Quiet = False) -> None:
    """List raw files, least recently used first, with sizes and last use; then each tier's size."""
    console = Console(highlight=False)
    entries = raw_cache.list_entries(cache_dir)
    for e in entries:
        console.print(f"{_when(e.last_used_s)}  {e.size_bytes:>14,}  {e.path}")
    console.print(f"{len(entries)} raw file(s), {sum(e.size_bytes for e in entries):,} bytes")
    entries_derived = derived.list_derived(cache_dir)
    for tier, (files, size) in derived.tier_usage(cache_dir).items():
        units = [e for e in entries_derived if e.tier == tier]
        oldest = f", oldest use {_when(units[0].last_used_s)}" if units else ""
        sets_part = f"{len(units)} tick set(s), " if tier == "ticks" else ""
        console.print(f"{tier}: {sets_part}{files} file(s), {size:,} bytes{oldest}")
    if temps := derived.temp_files(cache_dir):
        console.print(
            f"temporary: {len(temps)} file(s) of unfinished or crashed writes, not data "
            "(cache gc removes them after an hour)"
        )


def _when(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M")


@cache_app.command("gc")
def gc(
    cache_dir: CacheDir = Path("cache"),
    retention_days: Annotated[
        float | None,
        typer.Option(
            "--retention-days", metavar="DAYS", help="Raw files; default: the setting (30)."
        ),
    ] = None,
    max_bytes: Annotated[
        int | None,
        typer.Option(
            "--max-bytes", metavar="BYTES", help="Raw tier size limit; default: the setting."
        ),
    ] = None,
    derived_retention_days: Annotated[
        float | None,
        typer.Option(
            "--derived-retention-days",
            metavar="DAYS",
            help="Tick sets and aggregates; default: the setting (30).",
        ),
    ] = None,
    config: Config = None,
    quiet: Quiet = False,
) -> None:
    """Remove raw files unused for longer than the retention, then LRU down to the size limit;
    then tick sets and aggregates unused for longer than theirs."""
    s = load_settings(config)
    r = raw_cache.gc(
        cache_dir,
        retention_days=s.raw_retention_days if retention_days is None else retention_days,
        max_bytes=s.raw_max_bytes if max_bytes is None else max_bytes,
    )
    d = derived.gc_derived(
        cache_dir,
        retention_days=(
            s.derived_retention_days if derived_retention_days is None else derived_retention_days
        ),
    )
    console = Console(highlight=False)
    console.print(
        f"raw: removed {r.removed_expired} expired, {r.removed_lru} over the size limit, "
        f"{r.removed_temp} stale temporary file(s); freed {r.freed_bytes:,} bytes, "
        f"kept {r.kept_bytes:,}"
    )
    console.print(
        f"ticks and aggregates: removed {d.removed_tick_sets} tick set(s) and "
        f"{d.removed_aggregates} aggregates file(s) unused for longer than the retention, "
        f"{d.removed_temp} stale temporary file(s); freed {d.freed_bytes:,} bytes"
    )


ALL_TIERS = ("raw", *derived.TIERS)


@cache_app.command("clear")
def clear(
    cache_dir: CacheDir = Path("cache"),
    tier: Annotated[
        list[str] | None,
        typer.Option(
            "--tier",
            metavar="raw|trades|ticks|aggregates",
            help=f"Only this tier ({', '.join(ALL_TIERS)}); repeat for several.",
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
    quiet: Quiet = False,
) -> None:
    """Remove every tier of the cache (or only the --tier ones)."""
    chosen = tuple(dict.fromkeys(tier)) if tier else ALL_TIERS
    unknown = [t for t in chosen if t not in ALL_TIERS]
    if unknown:
        raise InputError(f"--tier {unknown[0]!r} is unknown; use one of {', '.join(ALL_TIERS)}")
    if not yes:
        try:
            agreed = typer.confirm(f"remove the {', '.join(chosen)} tier(s) of {cache_dir}?")
        except typer.Abort:  # no answer (end of input)
            agreed = False
        if not agreed:
            fail("nothing removed")
            raise typer.Exit(1)
    console = Console(highlight=False)
    for name in chosen:
        freed = raw_cache.clear(cache_dir) if name == "raw" else derived.clear_tier(cache_dir, name)
        console.print(f"{name}: freed {freed:,} bytes")
