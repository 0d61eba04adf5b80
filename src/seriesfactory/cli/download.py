"""``seriesfactory download``: fetch verified raw archives only (nothing is parsed)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from seriesfactory.cli._app import Base, CacheDir, Config, Quiet, Quote, app, check_output_dir
from seriesfactory.config import load_settings
from seriesfactory.core.atomic import atomic_write_parquet
from seriesfactory.core.time import format_range_part, parse_date
from seriesfactory.errors import InputError
from seriesfactory.pipeline.raw_files import download_raw, klines_table
from seriesfactory.sources.binance.history import MARKETS, ArchiveKind

_KINDS: tuple[ArchiveKind, ...] = ("aggTrades", "trades", "klines")


def _kind(text: str) -> ArchiveKind:
    for k in _KINDS:
        if k.lower() == text.lower():
            return k
    raise InputError(f"--kind {text!r} is unknown; use {', '.join(_KINDS)}")


@app.command()
def download(
    from_: Annotated[str, typer.Option("--from", help="Start day, YYYY-MM-DD.")],
    to: Annotated[str, typer.Option("--to", help="End day, exclusive, YYYY-MM-DD.")],
    source: Annotated[
        str,
        typer.Option("--source", help="binance, binance-usdm, binance-coinm, bybit, coinbase."),
    ] = "binance",
    base: Base = "BTC",
    quote: Quote = "USDT",
    kind: Annotated[str, typer.Option("--kind", help="aggTrades, trades or klines.")] = "aggTrades",
    interval: Annotated[str, typer.Option("--interval", help="Kline interval, e.g. 1m.")] = "1m",
    cache_dir: CacheDir = Path("cache"),
    config: Config = None,
    candles_dir: Annotated[
        Path | None,
        typer.Option("--candles-dir", help="With --kind klines: also write the candles here."),
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Download raw files into the raw tier (verified; resumes; reuses what is there).

    Binance: archives with their checksums (``--kind``); Bybit: the daily trading
    files; Coinbase: the day's REST trade pages.
    """
    settings = load_settings(config)
    from_ns = parse_date(from_, option="--from")
    to_ns = parse_date(to, option="--to")
    if from_ns >= to_ns:
        raise InputError("--from must be before --to (--to is exclusive)")
    names = [*MARKETS, "bybit", "coinbase"]
    if source not in names:
        raise InputError(f"--source {source!r} is unknown; use {', '.join(names)}")
    binance = source in MARKETS
    archive_kind = _kind(kind) if binance else "aggTrades"
    if candles_dir is not None and archive_kind != "klines":
        raise InputError("--candles-dir needs --kind klines")
    if candles_dir is not None:
        check_output_dir(candles_dir, cache_dir, "--candles-dir")
    got = download_raw(
        source, base=base, quote=quote, from_ns=from_ns, to_ns=to_ns, cache_dir=cache_dir,
        settings=settings, kind=archive_kind, interval=interval,
    )  # fmt: skip
    console = Console(highlight=False)
    for path in got.paths:
        console.print(f"{path}  {path.stat().st_size:,} bytes")
    if not binance:
        console.print(f"{len(got.paths)} file(s); {len(got.missing_days)} day(s) not on the server")
        return
    if candles_dir is not None:
        table = klines_table(
            got.paths, from_ns=from_ns, to_ns=to_ns, max_bytes=settings.max_member_bytes
        )
        if table is not None:
            span = f"{format_range_part(from_ns)}-{format_range_part(to_ns)}"
            out = candles_dir / f"{got.symbol}_{source}_klines-{interval}_{span}.parquet".lower()
            atomic_write_parquet(out, table)
            console.print(f"{table.num_rows:,} candles; wrote {out}")
    console.print(
        f"{len(got.paths)} archive(s) verified; {len(got.missing_days)} day(s) not on the server; "
        f"{len(got.recent_days)} day(s) not archived yet; {got.retries} retried request(s)"
    )
