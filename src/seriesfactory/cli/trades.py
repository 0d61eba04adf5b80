"""``seriesfactory trades``: export normalised trades of a venue, symbol and date range."""

from __future__ import annotations

import json
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

if TYPE_CHECKING:
    pass

from seriesfactory.core.time import format_range_part
from seriesfactory.errors import InputError


@app.command()
def trades(
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
    quiet: Quiet = False,
) -> None:
    """Fetch what is missing, then write the trades (ts, price, qty, side, trade_id) to a file.

    The file is ``{base}-{quote}_{venue}_{from}-{to}_{kind}.{fmt}`` in --output-dir, named like
    ``series`` outputs (docs/cli.md, "Output names").
    """
    import pyarrow as pa
    from rich.console import Console

    from seriesfactory.config import load_settings
    from seriesfactory.lake.outputs import output_folder, publish_table
    from seriesfactory.pipeline.exchange import venue_trades
    from seriesfactory.schema import TRADE_SCHEMA
    from seriesfactory.sources.binance.history import MARKETS

    source = aliased(venue, source, name="--venue", old_name="--source")
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
    summary, days = venue_trades(
        source,
        base=base,
        quote=quote,
        from_ns=from_ns,
        to_ns=to_ns,
        cache_dir=local_cache,
        settings=load_settings(config),
        on_bad_rows=on_bad_rows,
        kind="trades" if kind == "trades" else "aggTrades",
        lake=lake,
    )
    if warning := summary.warning():
        typer.echo(warning, err=True)
    parts = [t for t, _ in days]
    table = pa.concat_tables(parts) if parts else TRADE_SCHEMA.empty_table()
    # History files carry no receive time: the column would be null in every row (docs/cli.md).
    table = table.drop_columns(["recv_ts"])
    named = kind if source in MARKETS else "trades"  # Bybit and Coinbase have one kind
    name = trades_name(base, quote, source, from_ns, to_ns, named, fmt)
    meta = {"seriesfactory.trades": json.dumps(
        {"venue": source, "symbol": summary.symbol, "kind": kind, "from": from_, "to": to}
    )}  # fmt: skip
    with output_folder(where) as folder:
        out = folder.publish(publish_table(folder.local / name, table, fmt, meta))
    if quiet:
        print(out)
        return
    Console(highlight=False).print(
        f"{table.num_rows:,} trades; {summary.bad_rows} bad row(s) skipped; wrote {out}"
    )


def trades_name(
    base: str, quote: str, venue: str, from_ns: int, to_ns: int, kind: str, fmt: str
) -> str:
    """``{base}-{quote}_{venue}_{from}-{to}_{kind}.{fmt}``, lower case: the scheme of ``series``."""
    span = f"{format_range_part(from_ns)}-{format_range_part(to_ns)}"
    return f"{base}-{quote}_{venue}_{span}_{kind}.{fmt}".lower()
