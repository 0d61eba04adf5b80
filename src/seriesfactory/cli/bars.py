"""``seriesfactory bars build`` and ``seriesfactory bars export``: a thin shell over the library."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from seriesfactory.cli._app import (
    Config,
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
    refuse_clobber,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from seriesfactory.transforms.bars import (
        BarArrays,
        TradeArrays,
    )

from seriesfactory.core import progress
from seriesfactory.errors import DataError, InputError, SourceError

__all__ = ["bars_app"]

bars_app = typer.Typer(help="López de Prado bars from trades.", no_args_is_help=True)
app.add_typer(bars_app, name="bars")

META_KEY = "seriesfactory.bars"


FormatAlias = Annotated[
    str | None,
    typer.Option("--format", metavar="parquet|csv", hidden=True, help="Old name of --out-format."),
]


def _format(text: str, output: Path) -> str:
    value = text.lower() if text else ("csv" if output.suffix.lower() == ".csv" else "parquet")
    if value not in ("parquet", "csv"):
        raise InputError(f"--out-format {text!r} is unknown; use parquet or csv")
    return value


def _store_choice(text: str) -> str:
    value = text.lower()
    if value not in ("files", "postgres"):
        raise InputError(f"--store {text!r} is unknown; use files or postgres")
    return value


def write_bars(table: pa.Table, output: Path, fmt: str, meta: dict[str, str]) -> None:
    """Write ``table`` to ``output`` atomically: Parquet (with ``meta``) or CSV plus sidecar."""
    from seriesfactory.lake.outputs import publish_table

    publish_table(output, table, fmt, meta)


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
    cache_dir: Annotated[
        str,
        typer.Option(
            "--cache-dir", metavar="DIR", help="Cache holding the trades tier, or an s3:// URL."
        ),
    ] = "cache",
    config: Config = None,
    on_bad_rows: Annotated[
        str, typer.Option("--on-bad-rows", metavar="error|skip", help="Trades tier: error or skip.")
    ] = "error",
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
    quiet: Quiet = False,
) -> None:
    """Build bars from trades and write them to --output (or into the PostgreSQL store)."""
    from seriesfactory.core.atomic import atomic_write_json
    from seriesfactory.lake.outputs import sidecar_path
    from seriesfactory.transforms.bars import (
        BarArrays,
        BarBuilder,
        BarSpec,
        parse_columns,
        read_trades_file,
    )

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
    else:  # before any work: an unreachable store fails fast; an existing output is refused
        from seriesfactory.core.storage import check_reachable, published

        check_reachable(where)
        if not overwrite and where.name in published(where.parent):
            raise InputError(f"--output {where} exists; pass --overwrite to replace it")
    out_format = _format(
        aliased(fmt, fmt_alias, name="--out-format", old_name="--format"), Path(where.name)
    )
    tier = (venue, symbol, from_, to)
    if any(x is not None for x in tier):
        if input_file is not None:
            raise InputError("give either --input FILE or --venue/--symbol/--from/--to, not both")
        if venue is None or symbol is None or from_ is None or to is None:
            raise InputError("the trades tier needs all of --venue, --symbol, --from and --to")
        chunks, source = _tier_chunks(
            venue, symbol, from_, to, cache_dir=cache_dir, config=config, on_bad_rows=on_bad_rows
        )
    elif input_file is None:
        raise InputError(
            "give --input FILE (CSV or Parquet trades) or --venue/--symbol/--from/--to"
        )
    else:
        chunks = iter([(read_trades_file(input_file, parse_columns(columns) if columns else None),
                        str(input_file))])  # fmt: skip
        source = {"input": str(input_file)}
    from seriesfactory.pipeline.bars import load_state

    builder = load_state(state_file, spec) if state_file is not None else BarBuilder(spec)
    parts: list[BarArrays] = []
    rows = 0
    with progress.current().task(f"building {bar_type} bars", unit="trades") as task:
        for trades, path in chunks:
            try:
                update = builder.update
                parts.append(update(trades.ts_ns, trades.price, trades.qty_base, trades.side))
            except DataError as exc:  # e.g. the first trade is older than the saved state's last
                note = f" (continuing from --state {state_file})" if state_file is not None else ""
                raise DataError(f"{exc}{note}", path=path) from None
            rows += trades.rows
            task.advance(trades.rows)
    if venue is not None and rows == 0:
        raise SourceError(
            f"no trades of {symbol} on {venue} in [{from_}, {to}) in the trades tier under "
            f"{cache_dir} (the server's files held none); check the symbol and the dates"
        )
    if emit_partial:
        parts.append(builder.partial())
    table = BarArrays.concat(parts).to_arrow(spec, with_partial=emit_partial)
    meta = {META_KEY: json.dumps({"spec": spec.to_dict(), **source})}
    from seriesfactory.lake.outputs import output_folder

    with output_folder(where.parent) as folder:
        local = folder.local / where.name
        write_bars(table, local, out_format, meta)
        written = folder.publish(local)
    if state_file is not None:
        atomic_write_json(state_file, builder.state())
    summary = f"{table.num_rows} {spec.type} bars from {rows} trades -> {written}"
    print(written if quiet else summary)


def _tier_chunks(
    venue: str, symbol: str, from_text: str, to_text: str, *,
    cache_dir: str | Path, config: Path | None, on_bad_rows: str,
) -> tuple[Iterator[tuple[TradeArrays, str]], dict[str, object]]:  # fmt: skip
    """Day-by-day trades of the tier (fetched first if missing), and what to record of them."""
    import pyarrow as pa

    from seriesfactory.config import load_settings
    from seriesfactory.pipeline.exchange import split_symbol, venue_trades
    from seriesfactory.transforms.bars import TradeArrays

    on_bad_rows_choice(on_bad_rows)
    from_ns, to_ns = day_range_ns(from_text, to_text)
    base, quote = split_symbol(venue, symbol)
    local_cache, lake = lake_of(str(cache_dir), config=config)
    summary, days = venue_trades(
        venue, base=base, quote=quote, from_ns=from_ns, to_ns=to_ns, cache_dir=local_cache,
        settings=load_settings(config), on_bad_rows=on_bad_rows, lake=lake,
    )  # fmt: skip
    if warning := summary.warning():
        typer.echo(warning, err=True)

    def chunks() -> Iterator[tuple[TradeArrays, str]]:
        for table, path in days:
            if table.num_rows == 0:
                continue
            yield (
                TradeArrays(
                    table.column("ts").cast(pa.int64()).to_numpy(),
                    table.column("price").to_numpy(),
                    table.column("qty").to_numpy(),
                    table.column("side").to_numpy(),
                ),
                path,
            )

    source: dict[str, object] = {
        "venue": venue, "symbol": summary.symbol, "from": from_text, "to": to_text,
        "raw": [{"name": r.raw_name, "sha256": r.raw_sha256} for r in summary.records],
    }  # fmt: skip
    return chunks(), source


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
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from seriesfactory.lake.outputs import sidecar_path
    from seriesfactory.transforms.bars import BAR_COLUMNS

    symbol = aliased(symbol, pair, name="--symbol", old_name="--pair")
    refuse_clobber(output, overwrite)
    if _store_choice(store) == "postgres":
        from seriesfactory.cli.store import store_export

        if input_file is not None:
            raise InputError("--store postgres reads the bars table: drop --input")
        if bar_type is None:
            raise InputError("--store postgres needs --type, e.g. --type tib or tib_ewma15")
        out_format = _format(
            aliased(fmt, fmt_alias, name="--out-format", old_name="--format"), output
        )
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
    try:
        if input_file.suffix.lower() == ".csv":
            table = pacsv.read_csv(input_file)
            meta: dict[str, str] = {}
        else:
            table = pq.read_table(input_file)
            raw = (table.schema.metadata or {}).get(META_KEY.encode())
            meta = {META_KEY: raw.decode()} if raw else {}
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"cannot read bars ({exc})", path=str(input_file)) from None
    missing = [c for c in BAR_COLUMNS[:-1] if c not in table.column_names]
    if missing:
        raise DataError(
            f"not a bars file: columns {missing} are missing; build it with 'bars build'",
            path=str(input_file),
        )
    fmt = aliased(fmt, fmt_alias, name="--out-format", old_name="--format")
    write_bars(table, output, _format(fmt, output), meta)
    print(output if quiet else f"{table.num_rows} bars -> {output}")
