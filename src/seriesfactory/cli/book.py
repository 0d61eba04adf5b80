"""``seriesfactory book snapshots`` and ``seriesfactory book verify``: thin over the library."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from seriesfactory.cli._app import Overwrite, Quiet, app, refuse_clobber
from seriesfactory.raw.formats import FORMATS

if TYPE_CHECKING:
    from seriesfactory.transforms.book.api import BookResult

from seriesfactory.core.time import parse_duration_ns
from seriesfactory.errors import InputError

book_app = typer.Typer(help="Rebuild L2 order books from recordings; snapshots and integrity.")
app.add_typer(book_app, name="book")

Inputs = Annotated[
    list[Path], typer.Option("--input", metavar="FILE", help="Recorded file(s); repeat the option.")
]
InputFormat = Annotated[
    str, typer.Option("--input-format", metavar="NAME", help=f"One of {', '.join(FORMATS)}.")
]
Venue = Annotated[
    str,
    typer.Option(
        "--venue", metavar="NAME", help="binance, binance-usdm, coinbase, bybit, extended, okx."
    ),
]
Symbol = Annotated[
    str,
    typer.Option(
        "--symbol", metavar="SYMBOL", help="Symbol as the venue writes it, e.g. BTCUSDT, BTC-USD."
    ),
]
Decimals = Annotated[
    int | None,
    typer.Option("--price-decimals", metavar="N", help="Tick = 10**-d (default: inferred)."),
]


def _rebuild(
    inputs: list[Path],
    fmt: str,
    venue: str,
    symbol: str,
    interval_ns: int,
    depth: int,
    decimals: int | None,
) -> BookResult:
    from seriesfactory.transforms.book.api import rebuild

    if fmt not in FORMATS:
        raise InputError(f"--input-format {fmt!r} is unknown; use one of {', '.join(FORMATS)}")
    if depth < 1:
        raise InputError(f"--depth must be at least 1, got {depth}")
    return rebuild(
        [str(p) for p in inputs],
        venue=venue,
        symbol=symbol,
        input_format=fmt,
        interval_ns=interval_ns,
        depth=depth,
        price_decimals=decimals,
    )


@book_app.command("snapshots")
def snapshots(
    inputs: Inputs,
    venue: Venue,
    symbol: Symbol,
    output: Annotated[
        Path, typer.Option("--output", metavar="FILE", help="Parquet file to write (zstd).")
    ],
    input_format: InputFormat = "auto",
    interval: Annotated[
        str, typer.Option("--interval", metavar="DURATION", help="Grid step, e.g. 100ms.")
    ] = "100ms",
    depth: Annotated[int, typer.Option("--depth", metavar="N", help="Levels per side.")] = 10,
    price_decimals: Decimals = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Fixed-interval top-N book (plus trade summary) to Parquet; gaps beside it."""
    from seriesfactory.core.atomic import atomic_write_parquet
    from seriesfactory.transforms.book.report import gap_table, snapshot_table

    refuse_clobber(output, overwrite)
    res = _rebuild(
        inputs,
        input_format,
        venue,
        symbol,
        parse_duration_ns(interval, option="--interval"),
        depth,
        price_decimals,
    )
    atomic_write_parquet(output, snapshot_table(res))
    gaps = gap_table(res)
    gaps_path = output.with_name(output.stem + ".gaps.parquet")
    atomic_write_parquet(gaps_path, gaps)
    valid = int(res.rows.valid.sum())
    print(
        f"{output}: {len(res.rows.ts)} rows ({valid} with a valid book), "
        f"{gaps.num_rows} gaps -> {gaps_path}"
    )
    for path, line in res.read.truncated:
        print(f"warning: {path}:{line}: truncated last line skipped")


@book_app.command("verify")
def verify(
    inputs: Inputs,
    venue: Venue,
    symbol: Symbol,
    input_format: InputFormat = "auto",
    stale: Annotated[
        str,
        typer.Option("--stale", metavar="DURATION", help="Longest quiet span that is not stale."),
    ] = "5s",
    output: Annotated[
        Path | None, typer.Option("--output", metavar="FILE", help="Also write the report as JSON.")
    ] = None,
    price_decimals: Decimals = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Report gaps, crossings, stale periods, resyncs and top-of-book checks; exit 1 on problems."""
    from seriesfactory.core.atomic import atomic_write_json
    from seriesfactory.transforms.book.report import verify_report

    if output is not None:
        refuse_clobber(output, overwrite)
    stale_ns = parse_duration_ns(stale, option="--stale")
    res = _rebuild(inputs, input_format, venue, symbol, 0, 1, price_decimals)
    report = verify_report(res, stale_ns=stale_ns)
    if output is not None:
        atomic_write_json(output, report)
    print(json.dumps(report, indent=2))
    bad = report["statuses"]["gap"] + report["statuses"]["gap_marker"] + report["crossed_messages"]
    if bad or report["ticker_mismatches"] or not report["synced"]:
        raise typer.Exit(1)


@book_app.command("live")
def live(
    input_dir: Annotated[
        Path, typer.Option("--input-dir", metavar="DIR", help="Folder the recorder writes.")
    ],
    venue: Venue,
    symbol: Symbol,
    price_decimals: Annotated[
        int, typer.Option("--price-decimals", metavar="N", help="Tick = 10**-d.")
    ],
    output_dir: Annotated[
        Path, typer.Option("--output-dir", metavar="DIR", help="Where parts are written.")
    ],
    interval: Annotated[
        str, typer.Option("--interval", metavar="DURATION", help="Grid step, e.g. 100ms.")
    ] = "100ms",
    depth: Annotated[int, typer.Option("--depth", metavar="N", help="Levels per side.")] = 10,
    poll: Annotated[
        str, typer.Option("--poll", metavar="DURATION", help="How often to look for new data.")
    ] = "100ms",
    part: Annotated[
        str, typer.Option("--part", metavar="DURATION", help="Write a Parquet part this often.")
    ] = "60s",
    duration: Annotated[
        str | None,
        typer.Option(
            "--duration", metavar="DURATION", help="Stop after this long (default: Ctrl-C)."
        ),
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Follow a native capture as it is written; write snapshot parts as rows close."""
    import signal
    import time

    from seriesfactory.core.atomic import atomic_write_parquet
    from seriesfactory.raw.follow import NativeFollower
    from seriesfactory.transforms.book.live import LiveBook

    if not input_dir.is_dir():
        raise InputError(f"--input-dir {input_dir}: no such folder")
    poll_s = parse_duration_ns(poll, option="--poll") / 1e9
    part_s = parse_duration_ns(part, option="--part") / 1e9
    stop_at = (
        time.monotonic() + parse_duration_ns(duration, option="--duration") / 1e9
        if duration
        else None
    )
    book = LiveBook(
        NativeFollower(input_dir),
        venue=venue,
        symbol=symbol,
        price_decimals=price_decimals,
        interval_ns=parse_duration_ns(interval, option="--interval"),
        depth=depth,
    )
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    previous = signal.signal(signal.SIGTERM, _stop)
    next_part = time.monotonic() + part_s

    def write_part() -> None:
        table = book.part()
        if table.num_rows:
            first = table.column("ts").cast("int64")[0].as_py()
            path = output_dir / f"{symbol}-{first}.parquet"
            atomic_write_parquet(path, table)
            print(f"{path}: {table.num_rows} rows", flush=True)

    try:
        while not stopping and (stop_at is None or time.monotonic() < stop_at):
            book.poll()
            if time.monotonic() >= next_part:
                write_part()
                next_part += part_s
            time.sleep(poll_s)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    book.close()
    write_part()
