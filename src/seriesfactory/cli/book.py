"""``seriesfactory book snapshots`` and ``seriesfactory book verify``: thin over the library."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from seriesfactory.cli._app import Overwrite, Quiet, app, refuse_clobber
from seriesfactory.raw.formats import FORMATS

if TYPE_CHECKING:
    from seriesfactory.raw.readers import ReadReport
    from seriesfactory.transforms.book.api import BookResult

from seriesfactory.cli._app import (
    OutFormat,
    check_output_not_input,
    out_format_choice,
)
from seriesfactory.core.names import check_symbol, check_venue
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
OnBadFrames = Annotated[
    str,
    typer.Option(
        "--on-bad-frames",
        metavar="error|skip",
        help="Damaged frames in a finished capture: error or skip.",
    ),
]
_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def output_format(out_format: str, output: Path) -> str:
    """``--out-format`` (default: ``--output``'s suffix, else parquet); a disagreeing suffix
    is refused, so ``bk.csv`` never holds Parquet bytes."""
    by_suffix = _SUFFIXES.get(output.suffix.lower())
    if not out_format:
        return by_suffix or "parquet"
    fmt = out_format_choice(out_format)
    if by_suffix is not None and by_suffix != fmt:
        raise InputError(
            f"--output {output} has a .{by_suffix} suffix but --out-format is {fmt}; "
            "make them agree"
        )
    return fmt


def _names(venue: str, symbol: str) -> None:
    """The venue and symbol are checked before anything is read or written."""
    check_venue(venue)
    check_symbol(symbol, venue=venue)


def _warn(report: ReadReport) -> None:
    for line in report.warnings():
        print(line, file=sys.stderr)


def _rebuild(
    inputs: list[Path],
    fmt: str,
    venue: str,
    symbol: str,
    interval_ns: int,
    depth: int,
    decimals: int | None,
    on_bad_frames: str = "error",
) -> BookResult:
    from seriesfactory.raw.readers import on_bad_frames_choice
    from seriesfactory.transforms.book.api import rebuild

    _names(venue, symbol)
    on_bad_frames_choice(on_bad_frames)
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
        on_bad_frames=on_bad_frames,
    )


@book_app.command("snapshots")
def snapshots(
    inputs: Inputs,
    venue: Venue,
    symbol: Symbol,
    output: Annotated[
        Path,
        typer.Option("--output", metavar="FILE", help="File to write: .parquet (zstd) or .csv."),
    ],
    input_format: InputFormat = "auto",
    interval: Annotated[
        str, typer.Option("--interval", metavar="DURATION", help="Grid step, e.g. 100ms.")
    ] = "100ms",
    depth: Annotated[int, typer.Option("--depth", metavar="N", help="Levels per side.")] = 10,
    price_decimals: Decimals = None,
    out_format: OutFormat = "",
    on_bad_frames: OnBadFrames = "error",
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Fixed-interval top-N book (plus trade summary) to Parquet; gaps beside it."""
    from seriesfactory.lake.outputs import publish_table, sidecar_path
    from seriesfactory.transforms.book.report import gap_table, snapshot_table

    """Fixed-interval top-N book (plus trade summary) to Parquet or CSV; gaps beside it."""
    fmt = output_format(out_format, output)
    gaps_path = output.with_name(f"{output.stem}.gaps.{'csv' if fmt == 'csv' else 'parquet'}")
    outputs = [output, gaps_path, sidecar_path(output), sidecar_path(gaps_path)]
    check_output_not_input(outputs, inputs)
    refuse_clobber(output, overwrite)
    interval_ns = parse_duration_ns(interval, option="--interval")
    res = _rebuild(
        inputs, input_format, venue, symbol, interval_ns, depth, price_decimals, on_bad_frames
    )
    meta = {
        "seriesfactory.book": json.dumps(
            {"venue": venue, "symbol": symbol, "interval_ns": res.interval_ns, "depth": depth,
             "price_decimals": res.price_decimals, "inputs": [p.name for p in inputs]}
        )
    }  # fmt: skip
    publish_table(output, snapshot_table(res), fmt, meta)
    gaps = gap_table(res)
    publish_table(gaps_path, gaps, fmt, meta)
    valid = int(res.rows.valid.sum())
    print(
        f"{output}: {len(res.rows.ts)} rows ({valid} with a valid book), "
        f"{gaps.num_rows} gaps -> {gaps_path}"
    )
    _warn(res.read)


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
    on_bad_frames: OnBadFrames = "error",
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Report gaps, crossings, stale periods, resyncs and top-of-book checks; exit 1 on problems."""
    from seriesfactory.core.atomic import atomic_write_json
    from seriesfactory.transforms.book.report import verify_report

    if output is not None:
        refuse_clobber(output, overwrite)
    stale_ns = parse_duration_ns(stale, option="--stale")
    if output is not None:
        check_output_not_input([output], inputs)
    res = _rebuild(inputs, input_format, venue, symbol, 0, 1, price_decimals, on_bad_frames)
    report = verify_report(res, stale_ns=stale_ns)
    report["read"] = res.read.to_dict()
    _warn(res.read)
    if output is not None:
        atomic_write_json(output, report)
    print(json.dumps(report, indent=2))
    bad = report["statuses"]["gap"] + report["statuses"]["gap_marker"] + report["crossed_messages"]
    if bad or report["ticker_mismatches"] or not report["synced"] or res.read.bad_frames:
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
    out_format: OutFormat = "parquet",
    on_bad_frames: OnBadFrames = "error",
    quiet: Quiet = False,
) -> None:
    """Follow a native capture as it is written; write snapshot parts as rows close."""
    import signal

    from seriesfactory.raw.readers import on_bad_frames_choice
    from seriesfactory.transforms.book.live import follow_book

    _names(venue, symbol)
    fmt = out_format_choice(out_format)
    on_bad_frames_choice(on_bad_frames)
    if not input_dir.is_dir():
        raise InputError(f"--input-dir {input_dir}: no such folder")
    poll_s = parse_duration_ns(poll, option="--poll") / 1e9
    part_s = parse_duration_ns(part, option="--part") / 1e9
    duration_s = parse_duration_ns(duration, option="--duration") / 1e9 if duration else None
    interval_ns = parse_duration_ns(interval, option="--interval")
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        follow_book(
            input_dir, output_dir, venue=venue, symbol=symbol, price_decimals=price_decimals,
            interval_ns=interval_ns, depth=depth, poll_s=poll_s, part_s=part_s,
            duration_s=duration_s, fmt=fmt, on_bad_frames=on_bad_frames, stop=lambda: stopping,
            on_part=lambda path, rows: print(f"{path}: {rows} rows", flush=True),
            on_warning=lambda line: print(line, file=sys.stderr),
        )  # fmt: skip
    finally:
        signal.signal(signal.SIGTERM, previous)
