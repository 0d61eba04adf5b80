"""``seriesfactory features book`` and ``seriesfactory features trades``: thin over the library."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from seriesfactory.cli._app import (
    CacheDir,
    Config,
    OnBadRows,
    Overwrite,
    Quiet,
    app,
    check_output,
    day_range_ns,
    on_bad_rows_choice,
)
from seriesfactory.cli._universe import Scheduler, Symbols, SymbolsFile, wants_universe

if TYPE_CHECKING:
    import pyarrow as pa


from seriesfactory.core.names import check_symbol, check_venue
from seriesfactory.core.time import parse_duration_ns
from seriesfactory.errors import DataError, InputError, SourceError
from seriesfactory.raw.formats import FORMATS

__all__ = ["features_app", "parse_duration"]

features_app = typer.Typer(
    help="Order-book (MIDAS) and trade (FiDel) feature tables.", no_args_is_help=True
)
app.add_typer(features_app, name="features")

META_KEY = "seriesfactory.features"

Venue = Annotated[
    str | None,
    typer.Option(
        "--venue", metavar="NAME", help="binance, binance-usdm, coinbase, bybit, extended, okx."
    ),
]
Symbol = Annotated[
    str | None,
    typer.Option("--symbol", metavar="SYMBOL", help="Symbol as the venue writes it, e.g. BTCUSDT."),
]
Output = Annotated[
    Path | None,
    typer.Option("--output", metavar="FILE", help="File to write (Parquet zstd, or CSV)."),
]
OutFmt = Annotated[
    str,
    typer.Option(
        "--out-format", metavar="parquet|csv", help="parquet or csv (default: --output's suffix)."
    ),
]


def parse_duration(text: str, option: str = "--interval") -> int:
    """A duration option (``100ms``, ``1s``, ``5m``; a bare number is seconds) -> ns > 0."""
    return parse_duration_ns(text, option=option)


def _ints(text: str, option: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise InputError(f"{option} {text!r}: give positive whole numbers separated by commas")
    return values


def _out_format(text: str, output: Path) -> str:
    suffix = output.suffix.lower()
    by_suffix = "csv" if suffix == ".csv" else "parquet"
    if not text:
        return by_suffix
    value = text.lower()
    if value not in ("parquet", "csv"):
        raise InputError(f"--out-format {text!r} is unknown; use parquet or csv")
    if suffix in (".csv", ".parquet", ".pq") and value != by_suffix:
        raise InputError(f"--output {output} does not end as --out-format {value} files do")
    return value


def write_table(table: pa.Table, output: Path, fmt: str, meta: dict[str, Any]) -> None:
    """Write ``table`` atomically as Parquet (zstd, ``meta`` inside) or CSV + ``.meta.json``
    (published as a pair, ``docs/reliability.md``)."""
    from seriesfactory.core.atomic import atomic_write_parquet
    from seriesfactory.lake.outputs import publish_table

    text = json.dumps(meta, default=str)
    if fmt == "parquet":
        atomic_write_parquet(output, table, metadata={META_KEY: text})
        return
    publish_table(output, table, "csv", meta)


@features_app.command("book")
def book(
    venue: Venue = None,
    symbol: Symbol = None,
    inputs: Annotated[
        list[Path] | None,
        typer.Option("--input", metavar="FILE", help="Recorded file(s); repeat the option."),
    ] = None,
    input_format: Annotated[
        str, typer.Option("--input-format", metavar="NAME", help=f"One of {', '.join(FORMATS)}.")
    ] = "auto",
    output: Output = None,
    out_format: OutFmt = "",
    interval: Annotated[
        str, typer.Option("--interval", metavar="DURATION", help="Grid step, e.g. 100ms.")
    ] = "100ms",
    depth: Annotated[int, typer.Option("--depth", metavar="N", help="Levels per side.")] = 10,
    ofi_window: Annotated[
        int, typer.Option("--ofi-window", metavar="N", help="Rows in the rolling OFI sum.")
    ] = 10,
    price_decimals: Annotated[
        int | None,
        typer.Option("--price-decimals", metavar="N", help="Tick = 10**-d (default: inferred)."),
    ] = None,
    no_trades: Annotated[
        bool, typer.Option("--no-trades", help="Ignore trades (rows do not wait for them).")
    ] = False,
    follow: Annotated[
        bool, typer.Option("--follow", help="Follow --input-dir as the recorder writes it.")
    ] = False,
    input_dir: Annotated[
        Path | None,
        typer.Option("--input-dir", metavar="DIR", help="Folder the recorder writes (--follow)."),
    ] = None,
    output_dir: Annotated[
        Path,
        typer.Option("--output-dir", metavar="DIR", help="--follow: where row parts are written."),
    ] = Path("output"),
    poll: Annotated[
        str, typer.Option("--poll", metavar="DURATION", help="--follow: how often to look.")
    ] = "100ms",
    part: Annotated[
        str, typer.Option("--part", metavar="DURATION", help="--follow: write a part this often.")
    ] = "1s",
    duration: Annotated[
        str | None,
        typer.Option("--duration", metavar="DURATION", help="--follow: stop after this long."),
    ] = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    on_bad_frames: Annotated[
        str,
        typer.Option(
            "--on-bad-frames",
            metavar="error|skip",
            help="Damaged frames in a finished capture: error or skip.",
        ),
    ] = "error",
) -> None:
    """Book features (levels, mid, spread, microprice, imbalance, liquidity, OFI, trades)."""
    import pyarrow as pa

    from seriesfactory.raw.readers import ReadReport, on_bad_frames_choice
    from seriesfactory.transforms.features.api import book_features

    if venue is None or symbol is None:
        raise InputError("give --venue and --symbol")
    check_venue(venue)
    check_symbol(symbol, venue=venue)
    on_bad_frames_choice(on_bad_frames)
    interval_ns = parse_duration(interval)
    if depth < 1:
        raise InputError(f"--depth must be at least 1, got {depth}")
    if ofi_window < 1:
        raise InputError(f"--ofi-window must be at least 1, got {ofi_window}")
    if input_format not in FORMATS:
        raise InputError(
            f"--input-format {input_format!r} is unknown; use one of {', '.join(FORMATS)}"
        )
    if follow:
        if input_dir is None:
            raise InputError("--follow needs --input-dir (the folder the recorder writes)")
        if price_decimals is None:
            raise InputError("--follow needs --price-decimals (a live stream cannot be scanned)")
        _follow(
            input_dir, venue, symbol, price_decimals, interval_ns, depth, ofi_window,
            not no_trades, output_dir, parse_duration(poll, "--poll"),
            parse_duration(part, "--part"),
            parse_duration(duration, "--duration") if duration else None, quiet,
            on_bad_frames=on_bad_frames,
        )  # fmt: skip
        return
    if not inputs:
        raise InputError("give --input FILE (a recording), or --follow --input-dir DIR")
    if output is None:
        raise InputError("give --output FILE")
    for p in inputs:
        if not p.is_file():
            raise InputError(f"--input {p}: no such file")
    fmt = _out_format(out_format, output)
    check_output(output, overwrite=overwrite, inputs=inputs)
    read = ReadReport()
    table = book_features(
        [str(p) for p in inputs],
        venue=venue,
        symbol=symbol,
        input_format=input_format,
        interval_ns=interval_ns,
        depth=depth,
        ofi_window=ofi_window,
        price_decimals=price_decimals,
        with_trades=not no_trades,
        read=read,
        on_bad_frames=on_bad_frames,
    )
    meta = {
        "kind": "book", "venue": venue, "symbol": symbol, "interval_ns": interval_ns,
        "depth": depth, "ofi_window": ofi_window, "inputs": [str(p) for p in inputs],
    }  # fmt: skip
    write_table(table, output, fmt, meta)
    if quiet:
        print(output)
        return
    valid = int(pa.compute.sum(table.column("book_valid")).as_py() or 0)
    print(
        f"{output}: {table.num_rows} rows ({valid} with a valid book), {table.num_columns} columns"
    )
    for line in read.warnings():
        print(line, file=sys.stderr)


def _follow(
    input_dir: Path, venue: str, symbol: str, price_decimals: int, interval_ns: int, depth: int,
    ofi_window: int, with_trades: bool, output_dir: Path, poll_ns: int, part_ns: int,
    duration_ns: int | None, quiet: bool, *, on_bad_frames: str = "error",
) -> None:  # fmt: skip
    import signal
    import time

    import pyarrow as pa

    from seriesfactory.core.atomic import atomic_write_parquet
    from seriesfactory.raw.follow import NativeFollower
    from seriesfactory.transforms.features.live import LiveBookFeatures

    if not input_dir.is_dir():
        raise InputError(f"--input-dir {input_dir}: no such folder")
    live = LiveBookFeatures(
        NativeFollower(input_dir, on_bad_frames=on_bad_frames),
        venue=venue,
        symbol=symbol,
        price_decimals=price_decimals,
        interval_ns=interval_ns,
        depth=depth,
        ofi_window=ofi_window,
        with_trades=with_trades,
    )
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    previous = signal.signal(signal.SIGTERM, _stop)
    stop_at = time.monotonic() + duration_ns / 1e9 if duration_ns else None
    next_part = time.monotonic() + part_ns / 1e9
    pending: list[pa.Table] = []

    def write_part() -> None:
        table = pa.concat_tables(pending) if pending else None
        pending.clear()
        if table is not None and table.num_rows:
            first = table.column("ts").cast(pa.int64())[0].as_py()
            path = output_dir / f"{symbol}-{first}.parquet"
            atomic_write_parquet(path, table)
            print(path if quiet else f"{path}: {table.num_rows} rows", flush=True)

    try:
        while not stopping and (stop_at is None or time.monotonic() < stop_at):
            pending.append(live.poll())
            if time.monotonic() >= next_part:
                write_part()
                next_part += part_ns / 1e9
            time.sleep(poll_ns / 1e9)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    pending.append(live.close())
    write_part()


@features_app.command("trades")
def trades(
    output: Output = None,
    input_file: Annotated[
        Path | None, typer.Option("--input", metavar="FILE", help="Trades file: CSV or Parquet.")
    ] = None,
    bars_file: Annotated[
        Path | None,
        typer.Option("--bars", metavar="FILE", help="Bars from 'bars build': one row per bar."),
    ] = None,
    venue: Venue = None,
    symbol: Symbol = None,
    from_: Annotated[
        str | None, typer.Option("--from", metavar="WHEN", help="Start day (trades tier).")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", metavar="WHEN", help="End day, exclusive (trades tier).")
    ] = None,
    cache_dir: CacheDir = Path("cache"),
    config: Config = None,
    on_bad_rows: OnBadRows = "error",
    columns: Annotated[
        str | None,
        typer.Option("--columns", metavar="MAP", help="e.g. 'ts=time,price=Price,qty=Volume'."),
    ] = None,
    interval: Annotated[
        str, typer.Option("--interval", metavar="DURATION", help="Bucket width, e.g. 1s, 1m.")
    ] = "1m",
    windows: Annotated[
        str, typer.Option("--windows", metavar="LIST", help="Rolling windows, rows.")
    ] = "5,10,30",
    lags: Annotated[str, typer.Option("--lags", metavar="LIST", help="Lags, rows.")] = "1,5,10",
    momentum: Annotated[
        str, typer.Option("--momentum", metavar="LIST", help="Momentum horizons.")
    ] = "5,10,30",
    stat_window: Annotated[
        int,
        typer.Option(
            "--stat-window", metavar="N", help="Rows for Kyle, Amihud, Roll, vol, autocorr."
        ),
    ] = 30,
    vpin_buckets: Annotated[int, typer.Option("--vpin-buckets", metavar="N", help="VPIN n.")] = 50,
    vpin_fit_rows: Annotated[
        int,
        typer.Option(
            "--vpin-fit-rows", metavar="N", help="Rows whose volume fixes the bucket size."
        ),
    ] = 500,
    vpin_bucket_volume: Annotated[
        float | None,
        typer.Option("--vpin-bucket-volume", metavar="QTY", help="Fixed VPIN bucket size, base."),
    ] = None,
    bvc_sigma_window: Annotated[
        int, typer.Option("--bvc-sigma-window", metavar="N", help="Past rows for the BVC sigma.")
    ] = 100,
    out_format: OutFmt = "",
    state_file: Annotated[
        Path | None,
        typer.Option(
            "--state",
            metavar="FILE",
            help="Builder state JSON: continued from if present, then saved.",
        ),
    ] = None,
    overwrite: Overwrite = False,
    symbols: Symbols = None,
    symbols_file: SymbolsFile = None,
    scheduler: Scheduler = None,
    quiet: Quiet = False,
) -> None:
    """Trade features (OHLCV, flow, rolling stats, lags, VPIN, Kyle, Amihud, Roll, ...).

    With --symbols (the trades tier), --output holds {symbol}: one file per symbol.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from seriesfactory.cli.bars import trades_tier
    from seriesfactory.core.atomic import atomic_write_json
    from seriesfactory.transforms.bars import parse_columns, read_trades_file
    from seriesfactory.transforms.features.api import (
        TradeFeatureBuilder,
        TradeFeatureParams,
        trade_features_from_bars,
    )

    if output is None:
        raise InputError("give --output FILE")
    params = TradeFeatureParams(
        interval_ns=parse_duration(interval),
        windows=_ints(windows, "--windows"),
        lags=_ints(lags, "--lags"),
        momentum=_ints(momentum, "--momentum"),
        stat_window=stat_window,
        vpin_buckets=vpin_buckets,
        vpin_fit_rows=vpin_fit_rows,
        vpin_bucket_volume=vpin_bucket_volume,
        bvc_sigma_window=bvc_sigma_window,
    )
    fmt = _out_format(out_format, output)
    if wants_universe(symbols, symbols_file, symbol, scheduler):
        _universe_features(
            params, output=output, fmt=fmt, others=[input_file, bars_file, state_file],
            venue=venue, from_=from_, to=to, cache_dir=cache_dir, config=config,
            on_bad_rows=on_bad_rows, overwrite=overwrite, symbols=symbols,
            symbols_file=symbols_file, scheduler=scheduler, quiet=quiet,
        )  # fmt: skip
        return
    sources = [p for p in (input_file, bars_file) if p is not None]
    tier = (venue, symbol, from_, to)
    if sum([input_file is not None, bars_file is not None, any(x is not None for x in tier)]) != 1:
        raise InputError(
            "give one of --input FILE (trades), --bars FILE, or --venue/--symbol/--from/--to"
        )
    for p in sources:
        if not p.is_file():
            raise InputError(f"--{'bars' if p == bars_file else 'input'} {p}: no such file")
    check_output(output, overwrite=overwrite, inputs=sources)
    meta: dict[str, Any] = {"kind": "trades", "params": params.to_dict()}
    if bars_file is not None:
        try:
            bars = pacsv.read_csv(bars_file) if bars_file.suffix.lower() == ".csv" else (
                pq.read_table(bars_file))  # fmt: skip
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"cannot read bars ({exc})", path=str(bars_file)) from None
        try:
            table = trade_features_from_bars(bars, params)
        except DataError as exc:
            raise DataError(str(exc), path=str(bars_file)) from None
        meta["bars"] = str(bars_file)
        n_in = bars.num_rows
    else:
        builder = _load_state(state_file, params) if state_file else TradeFeatureBuilder(params)
        end_ns: int | None = None
        if input_file is not None:
            chunks = iter(
                [(read_trades_file(input_file, parse_columns(columns) if columns else None),
                  str(input_file))]
            )  # fmt: skip
            meta["input"] = str(input_file)
        else:
            from seriesfactory.pipeline.bars import tier_trades

            days = trades_tier(venue, symbol, from_, to, cache_dir, config, on_bad_rows)
            chunks, source = tier_trades(days, lambda line: typer.echo(line, err=True))
            meta.update(source)
            end_ns = days.to_ns
        from seriesfactory.pipeline.universe import feed_trade_features

        parts, n_in = feed_trade_features(builder, chunks)
        if n_in == 0:
            where = f"{input_file}" if input_file is not None else f"{symbol} on {venue}"
            raise (InputError if input_file is not None else SourceError)(
                f"no trades in {where}; check the file (or the symbol and the dates)"
            )
        if state_file is None:
            parts.append(builder.finish(end_ns))
        else:
            atomic_write_json(state_file, builder.state())
        table = pa.concat_tables(parts)
    write_table(table, output, fmt, meta)
    if quiet:
        print(output)
    else:
        print(f"{output}: {table.num_rows} rows, {table.num_columns} columns from {n_in} inputs")


def _universe_features(
    params: Any, *, output: Path, fmt: str, others: list[Path | None], venue: str | None,
    from_: str | None, to: str | None, cache_dir: Path, config: Path | None, on_bad_rows: str,
    overwrite: bool, symbols: str | None, symbols_file: Path | None, scheduler: str | None,
    quiet: bool,
) -> None:  # fmt: skip
    """``features trades --symbols``: every symbol's trades tier, one --output per symbol."""
    from seriesfactory.cli._universe import pairs_of, run_job
    from seriesfactory.config import load_settings
    from seriesfactory.pipeline.universe import SYMBOL_FIELD, FeaturesJob, output_for

    if any(p is not None for p in others):
        raise InputError("--symbols reads the trades tier: drop --input, --bars and --state")
    if venue is None or from_ is None or to is None:
        raise InputError("--symbols needs --venue, --from and --to (the trades tier)")
    if SYMBOL_FIELD not in str(output):
        raise InputError(
            "with --symbols, --output must hold {symbol} (one file per symbol), e.g. "
            "--output 'features/{symbol}.parquet'"
        )
    on_bad_rows_choice(on_bad_rows)
    from_ns, to_ns = day_range_ns(from_, to)
    settings = load_settings(config)
    pairs = pairs_of(symbols, symbols_file, venue=venue, settings=settings)
    for p in pairs:
        check_output(output_for(str(output), p.symbol), overwrite=overwrite, inputs=[])
    job = FeaturesJob(
        venue=venue, from_ns=from_ns, to_ns=to_ns, cache_dir=cache_dir, settings=settings,
        params=params, output=str(output.absolute()), fmt=fmt, on_bad_rows=on_bad_rows,
    )  # fmt: skip
    run_job(job, pairs, scheduler, quiet=quiet)


def _load_state(path: Path, params: Any) -> Any:
    from seriesfactory.core.state import load_state
    from seriesfactory.transforms.features.api import TradeFeatureBuilder

    return load_state(
        path,
        fresh=lambda: TradeFeatureBuilder(params),
        from_state=TradeFeatureBuilder.from_state,
        options=lambda builder: builder.params.to_dict(),
    )
