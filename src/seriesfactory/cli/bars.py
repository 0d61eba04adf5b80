"""``seriesfactory bars build`` and ``seriesfactory bars export``: a thin shell over the library.

The work is :func:`seriesfactory.pipeline.bars.build_bars` and
:func:`~seriesfactory.pipeline.bars.export_bars`, imported when a command runs
(so ``--help`` stays fast).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from seriesfactory.cli._app import Config, Quiet, app, day_range_ns, on_bad_rows_choice
from seriesfactory.errors import InputError

__all__ = ["bars_app"]

bars_app = typer.Typer(help="López de Prado bars from trades.", no_args_is_help=True)
app.add_typer(bars_app, name="bars")


def _format(text: str, output: Path) -> Literal["parquet", "csv"]:
    value = text.lower() if text else ("csv" if output.suffix.lower() == ".csv" else "parquet")
    if value == "parquet":
        return "parquet"
    if value == "csv":
        return "csv"
    raise InputError(f"--format {text!r} is unknown; use parquet or csv")


def _store_choice(text: str) -> str:
    value = text.lower()
    if value not in ("files", "postgres"):
        raise InputError(f"--store {text!r} is unknown; use files or postgres")
    return value


@bars_app.command("build")
def build(
    bar_type: Annotated[
        str,
        typer.Option("--type", help="time, tick, volume, dollar, tib, vib, dib, trb, vrb, drb."),
    ],
    output: Annotated[Path | None, typer.Option("--output", help="Output file.")] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input", help="Trades file: CSV or Parquet.")
    ] = None,
    venue: Annotated[str | None, typer.Option("--venue", help="Venue of the trades tier.")] = None,
    symbol: Annotated[
        str | None, typer.Option("--symbol", "--pair", help="Symbol, e.g. BTCUSDT.")
    ] = None,
    from_: Annotated[str | None, typer.Option("--from", help="Start day (trades tier).")] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="End day, exclusive (trades tier).")
    ] = None,
    cache_dir: Annotated[
        Path, typer.Option("--cache-dir", help="Cache holding the trades tier.")
    ] = Path("cache"),
    config: Config = None,
    on_bad_rows: Annotated[
        str, typer.Option("--on-bad-rows", help="Trades tier: error or skip.")
    ] = "error",
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="tick/volume/dollar: size of a bar.")
    ] = None,
    interval: Annotated[
        str | None, typer.Option("--interval", help="time bars: 1s, 5m, 1h, 1d, ...")
    ] = None,
    ewma_window: Annotated[
        int, typer.Option("--ewma-window", help="imbalance/run: EWMA span in bars.")
    ] = 15,
    expected_ticks: Annotated[
        int, typer.Option("--expected-ticks", help="imbalance/run: E0[T] and warm-up, trades.")
    ] = 100,
    min_ticks: Annotated[
        float | None, typer.Option("--min-ticks", help="Lower bound of E[T] (expected/4).")
    ] = None,
    max_ticks: Annotated[
        float | None, typer.Option("--max-ticks", help="Upper bound of E[T] (expected*4).")
    ] = None,
    sign: Annotated[str, typer.Option("--sign", help="auto or tick-rule.")] = "auto",
    columns: Annotated[
        str | None,
        typer.Option("--columns", help="e.g. 'ts=Date and Time,price=Price,qty=Volume'."),
    ] = None,
    emit_partial: Annotated[
        bool, typer.Option("--emit-partial", help="Add the unfinished last bar, flagged.")
    ] = False,
    fmt: Annotated[
        str, typer.Option("--out-format", "--format", help="parquet or csv (default: by suffix).")
    ] = "",
    state_file: Annotated[
        Path | None,
        typer.Option("--state", help="Builder state JSON: continued from if present, then saved."),
    ] = None,
    store: Annotated[str, typer.Option("--store", help="files or postgres.")] = "files",
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="postgresql://... (--store postgres).")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Build bars from trades and write them to --output (or into the PostgreSQL store)."""
    from seriesfactory.config import load_settings
    from seriesfactory.pipeline.bars import TradesFile, TradesTier, build_bars
    from seriesfactory.transforms.bars import BarSpec, parse_columns

    spec = BarSpec(
        type=bar_type,  # type: ignore[arg-type]  # validated by BarSpec
        threshold=threshold,
        interval=interval,
        expected_ticks=expected_ticks,
        ewma_window=ewma_window,
        min_ticks=min_ticks,
        max_ticks=max_ticks,
        sign=sign,  # type: ignore[arg-type]
    )
    if _store_choice(store) == "postgres":
        from seriesfactory.cli.store import store_build

        if input_file is not None or output is not None or from_ is not None or to is not None:
            raise InputError(
                "--store postgres reads the stored trades and writes the bars table: give "
                "--venue and --symbol, not --input, --output, --from or --to"
            )
        store_build(spec, venue, symbol, database_url, config)
        return
    if output is None:
        raise InputError("give --output FILE (or --store postgres)")
    out_format = _format(fmt, output)
    trades: TradesFile | TradesTier
    if any(x is not None for x in (venue, symbol, from_, to)):
        if input_file is not None:
            raise InputError("give either --input FILE or --venue/--symbol/--from/--to, not both")
        if venue is None or symbol is None or from_ is None or to is None:
            raise InputError("the trades tier needs all of --venue, --symbol, --from and --to")
        on_bad_rows_choice(on_bad_rows)
        from_ns, to_ns = day_range_ns(from_, to)
        trades = TradesTier(
            venue, symbol, from_ns, to_ns, cache_dir, load_settings(config), on_bad_rows
        )
    elif input_file is None:
        raise InputError(
            "give --input FILE (CSV or Parquet trades) or --venue/--symbol/--from/--to"
        )
    else:
        trades = TradesFile(input_file, parse_columns(columns) if columns else None)
    built = build_bars(
        spec, trades, output, fmt=out_format, state_file=state_file, emit_partial=emit_partial
    )
    for warning in built.warnings:
        typer.echo(warning, err=True)
    print(f"{built.table.num_rows} {spec.type} bars from {built.trades} trades -> {output}")


@bars_app.command("export")
def export(
    output: Annotated[Path, typer.Option("--output", help="Output file.")],
    input_file: Annotated[
        Path | None, typer.Option("--input", help="Bars built by 'bars build'.")
    ] = None,
    fmt: Annotated[
        str, typer.Option("--out-format", "--format", help="parquet or csv (default: by suffix).")
    ] = "",
    store: Annotated[str, typer.Option("--store", help="files or postgres.")] = "files",
    bar_type: Annotated[
        str | None, typer.Option("--type", help="--store postgres: e.g. tib or tib_ewma15.")
    ] = None,
    venue: Annotated[str | None, typer.Option("--venue", help="--store postgres: venue.")] = None,
    symbol: Annotated[
        str | None, typer.Option("--symbol", "--pair", help="--store postgres: e.g. ETH-USD.")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="postgresql://... (--store postgres).")
    ] = None,
    config: Config = None,
    quiet: Quiet = False,
) -> None:
    """Write built bars (a Parquet/CSV file, or the store's bars table) as Parquet or CSV."""
    import json

    from seriesfactory.pipeline.bars import META_KEY, export_bars, write_bars

    if _store_choice(store) == "postgres":
        from seriesfactory.cli.store import store_export

        if input_file is not None:
            raise InputError("--store postgres reads the bars table: drop --input")
        if bar_type is None:
            raise InputError("--store postgres needs --type, e.g. --type tib or tib_ewma15")
        out_format = _format(fmt, output)
        table = store_export(bar_type, venue, symbol, output, out_format, database_url, config)
        info = {"store": "postgres", "bar_type": bar_type, "venue": venue, "symbol": symbol}
        write_bars(table, output, out_format, {META_KEY: json.dumps(info)})
        print(f"{table.num_rows} bars -> {output}")
        return
    if input_file is None:
        raise InputError("give --input FILE (bars built by 'bars build') or --store postgres")
    table = export_bars(input_file, output, _format(fmt, output))
    print(f"{table.num_rows} bars -> {output}")
