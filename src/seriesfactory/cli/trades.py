"""``seriesfactory trades``: export normalised trades of a venue, symbol and date range."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from seriesfactory.cli._app import (
    Base,
    CacheLocation,
    Config,
    OnBadRows,
    OutFormat,
    OutputLocation,
    Quiet,
    Quote,
    SourceAlias,
    Symbol,
    Venue,
    aliased,
    app,
    check_output_dir,
    day_range_ns,
    lake_of,
    location_of,
    on_bad_rows_choice,
    out_format_choice,
    pair_of,
)
from seriesfactory.cli._universe import Scheduler, Symbols, SymbolsFile, wants_universe

if TYPE_CHECKING:
    pass

from seriesfactory.errors import InputError


@app.command()
def trades(
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
        str, typer.Option("--kind", metavar="aggTrades|trades", help="Binance archive kind.")
    ] = "aggTrades",
    on_bad_rows: OnBadRows = "error",
    out_format: OutFormat = "parquet",
    cache_dir: CacheLocation = "cache",
    output_dir: OutputLocation = "output",
    config: Config = None,
    symbols: Symbols = None,
    symbols_file: SymbolsFile = None,
    scheduler: Scheduler = None,
    quiet: Quiet = False,
) -> None:
    """Fetch what is missing, then write the trades (ts, price, qty, side, trade_id) to a file.

    The file is ``{base}-{quote}_{venue}_{from}-{to}_{kind}.{fmt}`` in --output-dir, named like
    ``series`` outputs (docs/cli.md, "Output names"); with --symbols, one such file per symbol.
    """
    from rich.console import Console

    from seriesfactory.config import load_settings
    from seriesfactory.pipeline.universe import write_trades

    source = aliased(venue, source, name="--venue", old_name="--source")
    universe = wants_universe(symbols, symbols_file, symbol, scheduler, ctx, ("base", "quote"))
    if not universe:
        base, quote = pair_of(source, symbol, base, quote)
    if kind not in ("aggTrades", "trades"):
        raise InputError(f"--kind {kind!r} is unknown; use aggTrades or trades")
    on_bad_rows_choice(on_bad_rows)
    fmt = out_format_choice(out_format)
    local_cache, lake = lake_of(cache_dir, config=config)
    where = location_of(output_dir, option="--output-dir", config=config)
    if isinstance(where, Path):
        if lake is None:
            check_output_dir(where, local_cache)
    else:
        from seriesfactory.core.storage import check_reachable

        check_reachable(where)  # before any download: an unreachable store fails fast
    from_ns, to_ns = day_range_ns(from_, to)
    settings = load_settings(config)
    if universe:
        from seriesfactory.cli._universe import pairs_of, run_job
        from seriesfactory.pipeline.universe import TradesJob

        pairs = pairs_of(symbols, symbols_file, venue=source, settings=settings)
        job = TradesJob(
            venue=source, from_ns=from_ns, to_ns=to_ns, cache_dir=local_cache, lake=lake,
            settings=settings, output_dir=where, from_text=from_, to_text=to,
            kind="trades" if kind == "trades" else "aggTrades", on_bad_rows=on_bad_rows, fmt=fmt,
        )  # fmt: skip
        run_job(job, pairs, scheduler, quiet=quiet)
        return
    got = write_trades(
        source, base=base, quote=quote, from_ns=from_ns, to_ns=to_ns, cache_dir=local_cache,
        output_dir=where, settings=settings, on_bad_rows=on_bad_rows, kind=kind, fmt=fmt,
        from_text=from_, to_text=to, lake=lake,
    )  # fmt: skip
    if got.warning:
        typer.echo(got.warning, err=True)
    if quiet:
        print(got.output)
        return
    Console(highlight=False).print(
        f"{got.rows:,} trades; {got.bad_rows} bad row(s) skipped; wrote {got.output}"
    )
