"""``seriesfactory cache ls|gc|clear``: the raw tier's contents, retention and size limit."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from seriesfactory.cli._app import CacheDir, Config, app
from seriesfactory.config import load_settings
from seriesfactory.raw import cache as raw_cache

cache_app = typer.Typer(help="Inspect and trim the raw tier of the cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("ls")
def ls(cache_dir: CacheDir = Path("cache")) -> None:
    """List raw files, least recently used first, with sizes and last use."""
    console = Console(highlight=False)
    entries = raw_cache.list_entries(cache_dir)
    for e in entries:
        used = dt.datetime.fromtimestamp(e.last_used_s, dt.UTC).strftime("%Y-%m-%d %H:%M")
        console.print(f"{used}  {e.size_bytes:>14,}  {e.path}")
    console.print(f"{len(entries)} raw file(s), {sum(e.size_bytes for e in entries):,} bytes")


@cache_app.command("gc")
def gc(
    cache_dir: CacheDir = Path("cache"),
    retention_days: Annotated[
        float | None, typer.Option("--retention-days", help="Default: the setting (30).")
    ] = None,
    max_bytes: Annotated[
        int | None, typer.Option("--max-bytes", help="Default: the setting.")
    ] = None,
    config: Config = None,
) -> None:
    """Remove raw files unused for longer than the retention, then LRU down to the size limit."""
    s = load_settings(config)
    r = raw_cache.gc(
        cache_dir,
        retention_days=s.raw_retention_days if retention_days is None else retention_days,
        max_bytes=s.raw_max_bytes if max_bytes is None else max_bytes,
    )
    Console(highlight=False).print(
        f"removed {r.removed_expired} expired, {r.removed_lru} over the size limit, "
        f"{r.removed_temp} stale temporary file(s); freed {r.freed_bytes:,} bytes, "
        f"kept {r.kept_bytes:,}"
    )


@cache_app.command("clear")
def clear(
    cache_dir: CacheDir = Path("cache"),
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False,
) -> None:
    """Remove the whole raw tier."""
    if not yes:
        typer.confirm(f"remove {raw_cache.raw_root(cache_dir)}?", abort=True)
    freed = raw_cache.clear(cache_dir)
    Console(highlight=False).print(f"freed {freed:,} bytes")
