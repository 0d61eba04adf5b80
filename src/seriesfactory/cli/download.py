"""``seriesfactory download``: fetch verified raw archives only (nothing is parsed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from seriesfactory.cli._app import (
    Base,
    CacheDir,
    Config,
    Quiet,
    Quote,
    SourceAlias,
    Symbol,
    Venue,
    aliased,
    app,
    check_output_dir,
    pair_of,
    refuse_future_end,
)
from seriesfactory.cli._universe import Scheduler, Symbols, SymbolsFile, wants_universe
from seriesfactory.sources._history_base import ArchiveKind

if TYPE_CHECKING:
    pass

from seriesfactory.core.time import parse_date
from seriesfactory.errors import InputError

#: The kline widths Binance archives (data.binance.vision ``klines/<SYMBOL>/<width>/``).
KLINE_INTERVALS = (
    "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w",
    "1mo",
)  # fmt: skip
_KINDS: tuple[ArchiveKind, ...] = ("aggTrades", "trades", "klines")


def _kind(text: str) -> ArchiveKind:
    for k in _KINDS:
        if k.lower() == text.lower():
            return k
    raise InputError(f"--kind {text!r} is unknown; use {', '.join(_KINDS)}")


@app.command()
def download(
    ctx: typer.Context,
    from_: Annotated[str, typer.Option("--from", metavar="WHEN", help="Start day, YYYY-MM-DD.")],
    to: Annotated[
        str, typer.Option("--to", metavar="WHEN", help="End day, exclusive, YYYY-MM-DD.")
    ],
    venue: Venue = "binance",
    source: SourceAlias = None,
    symbol: Symbol = None,
    base: Base = "BTC",
    quote: Quote = "USDT",
    kind: Annotated[
        str, typer.Option("--kind", metavar="aggTrades|trades|klines", help="Binance archive kind.")
    ] = "aggTrades",
    interval: Annotated[
        str,
        typer.Option(
            "--interval",
            metavar="DURATION",
            help=f"Kline width (--kind klines): {', '.join(KLINE_INTERVALS)}.",
        ),
    ] = "1m",
    cache_dir: CacheDir = Path("cache"),
    config: Config = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir", metavar="DIR", help="With --kind klines: also write the candles here."
        ),
    ] = None,
    candles_dir: Annotated[
        Path | None,
        typer.Option("--candles-dir", metavar="DIR", hidden=True, help="Old name of --output-dir."),
    ] = None,
    symbols: Symbols = None,
    symbols_file: SymbolsFile = None,
    scheduler: Scheduler = None,
    quiet: Quiet = False,
) -> None:
    """Download raw files into the raw tier (verified; resumes; reuses what is there).

    Binance: archives with their checksums (``--kind``); Bybit: the daily trading
    files; Coinbase: the day's REST trade pages.
    """
    from rich.console import Console

    from seriesfactory.config import load_settings
    from seriesfactory.core.atomic import atomic_write_parquet
    from seriesfactory.pipeline.raw_files import download_raw, klines_table
    from seriesfactory.sources._history_base import history_names, history_venue

    source = aliased(venue, source, name="--venue", old_name="--source")
    universe = wants_universe(symbols, symbols_file, symbol, scheduler, ctx, ("base", "quote"))
    if not universe:
        base, quote = pair_of(source, symbol, base, quote)
    candles_dir = aliased(output_dir, candles_dir, name="--output-dir", old_name="--candles-dir")
    settings = load_settings(config)
    from_ns = parse_date(from_, option="--from")
    to_ns = parse_date(to, option="--to")
    if from_ns >= to_ns:
        raise InputError("--from must be before --to (--to is exclusive)")
    refuse_future_end(to_ns)
    names = history_names()
    if source not in names:
        raise InputError(f"--venue {source!r} is unknown; use {', '.join(names)}")
    binance = history_venue(source).verified  # archives with checksums and --kind
    archive_kind = _kind(kind) if binance else "aggTrades"
    if archive_kind == "klines" and interval not in KLINE_INTERVALS:
        raise InputError(
            f"--interval {interval!r} is not a Binance kline width; use one of "
            f"{', '.join(KLINE_INTERVALS)}"
        )
    if candles_dir is not None and archive_kind != "klines":
        raise InputError("--output-dir needs --kind klines (it is where the candles go)")
    if candles_dir is not None:
        check_output_dir(candles_dir, cache_dir)
    if universe:
        from seriesfactory.cli._universe import pairs_of, run_job
        from seriesfactory.pipeline.universe import DownloadJob

        pairs = pairs_of(symbols, symbols_file, venue=source, settings=settings)
        job = DownloadJob(
            venue=source, from_ns=from_ns, to_ns=to_ns, cache_dir=cache_dir, settings=settings,
            kind=archive_kind, interval=interval, candles_dir=candles_dir,
        )  # fmt: skip
        run_job(job, pairs, scheduler, quiet=quiet)
        return
    got = download_raw(
        source, base=base, quote=quote, from_ns=from_ns, to_ns=to_ns, cache_dir=cache_dir,
        settings=settings, kind=archive_kind, interval=interval,
    )  # fmt: skip
    console = Console(highlight=False, quiet=quiet)
    for path in got.paths:
        if quiet:
            print(path)
        console.print(f"{path}  {path.stat().st_size:,} bytes")
    if not binance:
        console.print(f"{len(got.paths)} file(s); {len(got.missing_days)} day(s) not on the server")
        return
    if candles_dir is not None:
        from seriesfactory.pipeline.universe import klines_name

        table = klines_table(
            got.paths, from_ns=from_ns, to_ns=to_ns, max_bytes=settings.max_member_bytes
        )
        if table is not None:
            out = candles_dir / klines_name(base, quote, source, from_ns, to_ns, interval)
            atomic_write_parquet(out, table)
            console.print(f"{table.num_rows:,} candles; wrote {out}")
            if quiet:
                print(out)
    console.print(
        f"{len(got.paths)} archive(s) verified; {len(got.missing_days)} day(s) not on the server; "
        f"{len(got.recent_days)} day(s) not archived yet; {got.retries} retried request(s)"
    )
