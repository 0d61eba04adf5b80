"""``seriesfactory bars build`` and ``seriesfactory bars export``: a thin shell over the library."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from seriesfactory.cli._app import (
    CacheLocation,
    Config,
    OnBadRows,
    Overwrite,
    PairAlias,
    Quiet,
    aliased,
    app,
    check_output_not_input,
    day_range_ns,
    lake_of,
    location_of,
    on_bad_rows_choice,
    out_format_choice,
    refuse_clobber,
)

if TYPE_CHECKING:
    from seriesfactory.core.storage import Remote
    from seriesfactory.pipeline.bars import TradesTier

from seriesfactory.cli._universe import Scheduler, Symbols, SymbolsFile, wants_universe
from seriesfactory.errors import InputError

__all__ = ["bars_app"]

bars_app = typer.Typer(help="López de Prado bars from trades.", no_args_is_help=True)
app.add_typer(bars_app, name="bars")

FormatAlias = Annotated[
    str | None,
    typer.Option("--format", metavar="parquet|csv", hidden=True, help="Old name of --out-format."),
]


def _format(text: str, output: Path) -> Literal["parquet", "csv"]:
    return out_format_choice(text or ("csv" if output.suffix.lower() == ".csv" else "parquet"))


def _store_choice(text: str) -> str:
    value = text.lower()
    if value not in ("files", "postgres"):
        raise InputError(f"--store {text!r} is unknown; use files or postgres")
    return value


@bars_app.command("build")
def build(
    bar_type: Annotated[
        str,
        typer.Option(
            "--type",
            metavar="TYPE",
            help="time, tick, volume, dollar, tib, vib, dib, trb, vrb, drb.",
        ),
    ],
    output: Annotated[
        str | None,
        typer.Option("--output", metavar="FILE", help="Output file, or a file:// or s3:// URL."),
    ] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input", metavar="FILE", help="Trades file: CSV or Parquet.")
    ] = None,
    venue: Annotated[
        str | None, typer.Option("--venue", metavar="NAME", help="Venue of the trades tier.")
    ] = None,
    symbol: Annotated[
        str | None, typer.Option("--symbol", metavar="SYMBOL", help="Symbol, e.g. BTCUSDT.")
    ] = None,
    pair: PairAlias = None,
    from_: Annotated[
        str | None, typer.Option("--from", metavar="WHEN", help="Start day (trades tier).")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", metavar="WHEN", help="End day, exclusive (trades tier).")
    ] = None,
    cache_dir: CacheLocation = "cache",
    config: Config = None,
    on_bad_rows: OnBadRows = "error",
    threshold: Annotated[
        float | None,
        typer.Option("--threshold", metavar="NUMBER", help="tick/volume/dollar: size of a bar."),
    ] = None,
    interval: Annotated[
        str | None,
        typer.Option("--interval", metavar="DURATION", help="time bars: 1s, 5m, 1h, 1d, ..."),
    ] = None,
    ewma_window: Annotated[
        int, typer.Option("--ewma-window", metavar="N", help="imbalance/run: EWMA span in bars.")
    ] = 15,
    expected_ticks: Annotated[
        int,
        typer.Option(
            "--expected-ticks", metavar="N", help="imbalance/run: E0[T] and warm-up, trades."
        ),
    ] = 100,
    min_ticks: Annotated[
        float | None,
        typer.Option("--min-ticks", metavar="N", help="Lower bound of E[T] (expected/4)."),
    ] = None,
    max_ticks: Annotated[
        float | None,
        typer.Option("--max-ticks", metavar="N", help="Upper bound of E[T] (expected*4)."),
    ] = None,
    sign: Annotated[
        str, typer.Option("--sign", metavar="auto|tick-rule", help="auto or tick-rule.")
    ] = "auto",
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns", metavar="MAP", help="e.g. 'ts=Date and Time,price=Price,qty=Volume'."
        ),
    ] = None,
    emit_partial: Annotated[
        bool, typer.Option("--emit-partial", help="Add the unfinished last bar, flagged.")
    ] = False,
    fmt: Annotated[
        str,
        typer.Option(
            "--out-format", metavar="parquet|csv", help="parquet or csv (default: by suffix)."
        ),
    ] = "",
    fmt_alias: FormatAlias = None,
    state_file: Annotated[
        Path | None,
        typer.Option(
            "--state",
            metavar="FILE",
            help="Builder state JSON: continued from if present, then saved.",
        ),
    ] = None,
    store: Annotated[
        str, typer.Option("--store", metavar="files|postgres", help="files or postgres.")
    ] = "files",
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", metavar="URL", help="postgresql://... (--store postgres)."),
    ] = None,
    overwrite: Overwrite = False,
    symbols: Symbols = None,
    symbols_file: SymbolsFile = None,
    scheduler: Scheduler = None,
    quiet: Quiet = False,
) -> None:
    """Build bars from trades and write them to --output (or into the PostgreSQL store).

    With --symbols (the trades tier), --output holds {symbol}: one file per symbol.
    """
    from seriesfactory.lake.outputs import sidecar_path
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
    symbol = aliased(symbol, pair, name="--symbol", old_name="--pair")
    if wants_universe(symbols, symbols_file, symbol, scheduler):
        _universe_bars(
            spec, output=output, input_file=input_file, venue=venue, from_=from_, to=to,
            cache_dir=cache_dir, config=config, on_bad_rows=on_bad_rows, emit_partial=emit_partial,
            fmt=aliased(fmt, fmt_alias, name="--out-format", old_name="--format"),
            state_file=state_file, store=store, overwrite=overwrite, symbols=symbols,
            symbols_file=symbols_file, scheduler=scheduler, quiet=quiet,
        )  # fmt: skip
        return
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
    where = location_of(output, option="--output", config=config)
    if isinstance(where, Path):
        given = [p for p in (input_file, state_file) if p is not None]
        check_output_not_input([where, sidecar_path(where)], given)
        refuse_clobber(where, overwrite)
    else:
        if state_file is not None:
            raise InputError(
                f"--state with an object-store --output ({where}) is not supported (the state "
                "would be saved before the bars are published); write the bars to a local file"
            )
        _refuse_remote_clobber(where, overwrite)
    out_format = _format(
        aliased(fmt, fmt_alias, name="--out-format", old_name="--format"), Path(where.name)
    )
    from seriesfactory.pipeline.bars import TradesFile, build_bars

    trades: TradesFile | TradesTier
    if any(x is not None for x in (venue, symbol, from_, to)):
        if input_file is not None:
            raise InputError("give either --input FILE or --venue/--symbol/--from/--to, not both")
        trades = trades_tier(venue, symbol, from_, to, cache_dir, config, on_bad_rows)
    elif input_file is None:
        raise InputError(
            "give --input FILE (CSV or Parquet trades) or --venue/--symbol/--from/--to"
        )
    else:
        trades = TradesFile(input_file, parse_columns(columns) if columns else None)
    from seriesfactory.lake.outputs import output_folder

    with output_folder(where.parent) as folder:
        local = folder.local / where.name
        built = build_bars(
            spec, trades, local, fmt=out_format, state_file=state_file,
            emit_partial=emit_partial, on_warning=lambda line: typer.echo(line, err=True),
        )  # fmt: skip
        written = folder.publish(local)
    rows = built.table.num_rows
    print(written if quiet else f"{rows} {spec.type} bars from {built.trades} trades -> {written}")


def _refuse_remote_clobber(where: Remote, overwrite: bool) -> None:
    """Before any work: an unreachable store fails fast; an existing output is refused."""
    from seriesfactory.core.storage import check_reachable, published

    check_reachable(where)
    if not overwrite and where.name in published(where.parent):
        raise InputError(f"--output {where} exists; pass --overwrite to replace it")


def _universe_bars(
    spec: object, *, output: str | None, input_file: Path | None, venue: str | None,
    from_: str | None, to: str | None, cache_dir: str, config: Path | None, on_bad_rows: str,
    emit_partial: bool, fmt: str, state_file: Path | None, store: str, overwrite: bool,
    symbols: str | None, symbols_file: Path | None, scheduler: str | None, quiet: bool,
) -> None:  # fmt: skip
    """``bars build --symbols``: the trades tier of every symbol, one --output per symbol."""
    from seriesfactory.cli._universe import pairs_of, run_job
    from seriesfactory.config import load_settings
    from seriesfactory.lake.outputs import sidecar_path
    from seriesfactory.pipeline.universe import SYMBOL_FIELD, BarsJob, output_location

    if _store_choice(store) != "files" or input_file is not None or state_file is not None:
        raise InputError(
            "--symbols builds from the trades tier into files: drop --input, --state and "
            "--store postgres"
        )
    if venue is None or from_ is None or to is None:
        raise InputError("--symbols needs --venue, --from and --to (the trades tier)")
    if output is None or SYMBOL_FIELD not in str(output):
        raise InputError(
            "with --symbols, --output must hold {symbol} (one file per symbol), e.g. "
            "--output 'bars/{symbol}.parquet'"
        )
    on_bad_rows_choice(on_bad_rows)
    from_ns, to_ns = day_range_ns(from_, to)
    out_format = _format(fmt, Path(output))
    settings = load_settings(config)
    local_cache, lake = lake_of(cache_dir, config=config)
    pairs = pairs_of(symbols, symbols_file, venue=venue, settings=settings)
    for p in pairs:
        out = output_location(output, p.symbol, settings)
        if isinstance(out, Path):
            check_output_not_input([out, sidecar_path(out)], [])
            refuse_clobber(out, overwrite)
        else:
            _refuse_remote_clobber(out, overwrite)
    template = output if "://" in output else str(Path(output).absolute())
    job = BarsJob(
        venue=venue, from_ns=from_ns, to_ns=to_ns, cache_dir=local_cache, lake=lake,
        settings=settings, spec=spec, output=template, fmt=out_format,  # type: ignore[arg-type]
        on_bad_rows=on_bad_rows, emit_partial=emit_partial,
    )  # fmt: skip
    run_job(job, pairs, scheduler, quiet=quiet)


def trades_tier(
    venue: str | None, symbol: str | None, from_text: str | None, to_text: str | None,
    cache_dir: str | Path, config: Path | None, on_bad_rows: str,
) -> TradesTier:  # fmt: skip
    """``--venue/--symbol/--from/--to`` (all needed), checked, as the trades tier to read
    (``cache_dir`` may be an object-store URL: docs/scale.md)."""
    from seriesfactory.config import load_settings
    from seriesfactory.pipeline.bars import TradesTier

    if venue is None or symbol is None or from_text is None or to_text is None:
        raise InputError("the trades tier needs all of --venue, --symbol, --from and --to")
    on_bad_rows_choice(on_bad_rows)
    from_ns, to_ns = day_range_ns(from_text, to_text)
    local_cache, lake = lake_of(str(cache_dir), config=config)
    return TradesTier(
        venue, symbol, from_ns, to_ns, local_cache, load_settings(config),
        on_bad_rows=on_bad_rows, lake=lake,
    )  # fmt: skip


@bars_app.command("export")
def export(
    output: Annotated[Path, typer.Option("--output", metavar="FILE", help="Output file.")],
    input_file: Annotated[
        Path | None, typer.Option("--input", metavar="FILE", help="Bars built by 'bars build'.")
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--out-format", metavar="parquet|csv", help="parquet or csv (default: by suffix)."
        ),
    ] = "",
    fmt_alias: FormatAlias = None,
    store: Annotated[
        str, typer.Option("--store", metavar="files|postgres", help="files or postgres.")
    ] = "files",
    bar_type: Annotated[
        str | None,
        typer.Option("--type", metavar="TYPE", help="--store postgres: e.g. tib or tib_ewma15."),
    ] = None,
    venue: Annotated[
        str | None, typer.Option("--venue", metavar="NAME", help="--store postgres: venue.")
    ] = None,
    symbol: Annotated[
        str | None,
        typer.Option("--symbol", metavar="SYMBOL", help="--store postgres: e.g. ETH-USD."),
    ] = None,
    pair: PairAlias = None,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", metavar="URL", help="postgresql://... (--store postgres)."),
    ] = None,
    config: Config = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Write built bars (a Parquet/CSV file, or the store's bars table) as Parquet or CSV."""
    from seriesfactory.lake.outputs import sidecar_path
    from seriesfactory.pipeline.bars import META_KEY, export_bars, write_bars

    symbol = aliased(symbol, pair, name="--symbol", old_name="--pair")
    refuse_clobber(output, overwrite)
    out_format = _format(aliased(fmt, fmt_alias, name="--out-format", old_name="--format"), output)
    if _store_choice(store) == "postgres":
        from seriesfactory.cli.store import store_export

        if input_file is not None:
            raise InputError("--store postgres reads the bars table: drop --input")
        if bar_type is None:
            raise InputError("--store postgres needs --type, e.g. --type tib or tib_ewma15")
        table = store_export(bar_type, venue, symbol, output, out_format, database_url, config)
        info = {"store": "postgres", "bar_type": bar_type, "venue": venue, "symbol": symbol}
        write_bars(table, output, out_format, {META_KEY: json.dumps(info)})
        print(output if quiet else f"{table.num_rows} bars -> {output}")
        return
    if input_file is None:
        raise InputError("give --input FILE (bars built by 'bars build') or --store postgres")
    if not input_file.is_file():
        raise InputError(f"--input {input_file}: no such file")
    check_output_not_input([output, sidecar_path(output)], [input_file])
    table = export_bars(input_file, output, out_format)
    print(output if quiet else f"{table.num_rows} bars -> {output}")
