"""``seriesfactory cache ls|gc|clear``: the cache's contents, retention and size limit."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from seriesfactory.cli._app import CacheDir, CacheLocation, Config, Quiet, app, fail
from seriesfactory.errors import InputError
from seriesfactory.lake import TIERS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from seriesfactory.core.storage import Remote

cache_app = typer.Typer(help="Inspect and trim the cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


def _store(cache_dir: str, config: Path | None, *, local_only: Sequence[str] = ()) -> Path | Remote:
    """``--cache-dir``: a local folder, or a lake on an object store (checked reachable, after
    refusing the options given that apply to a local cache only, ``local_only``)."""
    from seriesfactory.cli._app import location_of

    where = location_of(cache_dir, option="--cache-dir", config=config)
    if not isinstance(where, Path):
        from seriesfactory.core.storage import check_reachable

        if local_only:
            raise InputError(
                f"{local_only[0]} does not apply to a lake on an object store ({where}): it keeps "
                "no last use and no raw files; use the store's lifecycle rules, or drop the option"
            )

        check_reachable(where)
    return where


@cache_app.command("ls")
def ls(cache_dir: CacheLocation = "cache", config: Config = None, quiet: Quiet = False) -> None:
    """List raw files, least recently used first, with sizes and last use; then each tier's size.

    With an s3:// --cache-dir: what the lake holds, tier by tier (docs/scale.md)."""
    from rich.console import Console

    from seriesfactory.lake import derived
    from seriesfactory.raw import cache as raw_cache

    console = Console(highlight=False)
    where = _store(cache_dir, config)
    if not isinstance(where, Path):
        _ls_lake(console, where)
        return
    cache_path = where
    entries = raw_cache.list_entries(cache_path)
    for e in entries:
        console.print(f"{_when(e.last_used_s)}  {e.size_bytes:>14,}  {e.path}")
    console.print(f"{len(entries)} raw file(s), {sum(e.size_bytes for e in entries):,} bytes")
    entries_derived = derived.list_derived(cache_path)
    for tier, (files, size) in derived.tier_usage(cache_path).items():
        units = [e for e in entries_derived if e.tier == tier]
        oldest = f", oldest use {_when(units[0].last_used_s)}" if units else ""
        sets_part = f"{len(units)} tick set(s), " if tier == "ticks" else ""
        console.print(f"{tier}: {sets_part}{files} file(s), {size:,} bytes{oldest}")
    if temps := derived.temp_files(cache_path):
        console.print(
            f"temporary: {len(temps)} file(s) of unfinished or crashed writes, not data "
            "(cache gc removes them after an hour)"
        )


def _ls_lake(console: Any, lake: Remote) -> None:
    """``cache ls`` of a lake on a store: the derived tiers' lines as for a folder, then what
    gc would look at (lake/shared_cache.py)."""
    from seriesfactory.lake.shared_cache import inventory

    inv = inventory(lake)
    console.print(f"{lake}: raw files stay on each machine (cache ls there)")
    units = {"trades": "symbol(s)", "ticks": "tick set(s)", "aggregates": "entries"}
    for tier, use in inv.tiers.items():
        oldest = f", oldest published {_when(use.oldest_s)}" if use.oldest_s is not None else ""
        console.print(
            f"{tier}: {use.units} {units.get(tier, 'unit(s)')}, {use.files} file(s), "
            f"{use.bytes:,} bytes{oldest}"
        )
    if inv.temp:
        console.print(
            f"temporary: {len(inv.temp)} object(s) of unfinished or crashed writes, not data "
            "(cache gc removes them after an hour)"
        )
    if inv.unlisted:
        size = sum(o.size for o in inv.unlisted)
        console.print(
            f"unlisted: {len(inv.unlisted)} object(s), {size:,} bytes no manifest or ingest "
            "record lists (cache gc removes them after an hour)"
        )
    if inv.unsure:
        console.print(
            f"kept: {len(inv.unsure)} object(s) beside a manifest this version cannot read"
        )
    if inv.other:
        console.print(f"other: {len(inv.other)} object(s) outside the tiers (never touched)")


def _when(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M")


@cache_app.command("gc")
def gc(
    cache_dir: CacheLocation = "cache",
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
    then tick sets and aggregates unused for longer than theirs.

    With an s3:// --cache-dir: the lake's temporary and unlisted objects older than an hour."""
    from rich.console import Console

    from seriesfactory.config import load_settings
    from seriesfactory.lake import derived
    from seriesfactory.raw import cache as raw_cache

    given = [
        name for name, value in (("--retention-days", retention_days),
        ("--max-bytes", max_bytes), ("--derived-retention-days", derived_retention_days))
        if value is not None
    ]  # fmt: skip
    where = _store(cache_dir, config, local_only=given)
    console = Console(highlight=False)
    if not isinstance(where, Path):
        from seriesfactory.lake.shared_cache import gc_lake

        g = gc_lake(where)
        unsure = f", {g.kept_unsure} beside unreadable manifests" if g.kept_unsure else ""
        console.print(
            f"{where}: removed {g.removed_temp} stale temporary and {g.removed_unlisted} "
            f"unlisted object(s); freed {g.freed_bytes:,} bytes; kept {g.kept_young} younger "
            f"than an hour{unsure}"
        )
        return
    cache_path = where
    s = load_settings(config)
    r = raw_cache.gc(
        cache_path,
        retention_days=s.raw_retention_days if retention_days is None else retention_days,
        max_bytes=s.raw_max_bytes if max_bytes is None else max_bytes,
    )
    d = derived.gc_derived(
        cache_path,
        retention_days=(
            s.derived_retention_days if derived_retention_days is None else derived_retention_days
        ),
    )
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


ALL_TIERS = ("raw", *TIERS)


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
    from rich.console import Console

    from seriesfactory.lake import derived
    from seriesfactory.raw import cache as raw_cache

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
