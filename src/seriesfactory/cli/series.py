"""``seriesfactory series`` and ``seriesfactory ticks``."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from seriesfactory.cli._app import (
    Base,
    CacheLocation,
    OnBadRows,
    OutFormat,
    OutputLocation,
    Quiet,
    Quote,
    app,
    check_output_dir,
    lake_of,
    loading,
    location_of,
    out_format_choice,
)
from seriesfactory.cli._universe import Scheduler, Symbols, SymbolsFile, wants_universe
from seriesfactory.errors import InputError

if TYPE_CHECKING:
    from rich.console import Console

    from seriesfactory.transforms.aggregates import FilterCounts

Sources = Annotated[
    str,
    typer.Option(
        "--sources",
        metavar="SPEC",
        help="Pipe-separated sources or model specs, e.g. 'gbm(0.05,0.5,50000)'.",
    ),
]
From = Annotated[
    str, typer.Option("--from", metavar="WHEN", help="Start day, YYYY-MM-DD (00:00 UTC).")
]
To = Annotated[
    str,
    typer.Option(
        "--to", metavar="WHEN", help="End day, YYYY-MM-DD (exclusive, 00:00 UTC) or 'now'."
    ),
]
Seed = Annotated[int, typer.Option("--seed", metavar="N", help="Seed of the generative models.")]


def _bad_rows(sources: list[dict[str, Any]]) -> int:
    """Malformed rows skipped over the sources' tick-set infos (re-based legs included)."""
    return sum(int(s.get("bad_rows", 0)) + _bad_rows(s.get("legs", [])) for s in sources)


def _report_sources(console: Console, sources: list[dict[str, Any]]) -> None:
    """Say how many malformed rows were skipped; warn (stderr) about days without a file."""
    from seriesfactory.pipeline.missing import missing_days_warning

    if skipped := _bad_rows(sources):
        console.print(f"skipped {skipped} malformed row(s) (--on-bad-rows=skip)")
    if warning := missing_days_warning(sources):
        typer.echo(warning, err=True)


def _step(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputError(
            f"--agg-step {text!r} is not a number; milliseconds in time mode (e.g. 60000), "
            "a price ratio in tick mode (e.g. 0.001)"
        ) from None


@app.command()
def series(
    ctx: typer.Context,
    from_: From,
    to: To,
    agg_step: Annotated[
        str,
        typer.Option(
            "--agg-step", metavar="N", help="Milliseconds (time mode) or a price ratio (tick)."
        ),
    ],
    base: Base = "BTC",
    quote: Quote = "USDT",
    sources: Sources = "binance",
    agg_mode: Annotated[
        str, typer.Option("--agg-mode", metavar="time|tick", help="time or tick.")
    ] = "time",
    agg_fields: Annotated[
        str, typer.Option("--agg-fields", metavar="FIELDS", help="Pipe-separated fields, or 'all'.")
    ] = "all",
    weight_mode: Annotated[
        str,
        typer.Option(
            "--weight-mode", metavar="static|volume|mixed", help="static, volume or mixed."
        ),
    ] = "static",
    weights: Annotated[
        str,
        typer.Option(
            "--weights", metavar="WEIGHTS", help="Pipe-separated static weights, or 'equal'."
        ),
    ] = "equal",
    tick_ttl: Annotated[
        float, typer.Option("--tick-ttl", metavar="MS", help="Quote time-to-live, milliseconds.")
    ] = 100.0,
    tick_max_deviation: Annotated[
        float, typer.Option("--tick-max-deviation", metavar="RATIO", help="Outlier filter, ratio.")
    ] = 0.001,
    out_format: OutFormat = "parquet",
    cache_dir: CacheLocation = "cache",
    output_dir: OutputLocation = "output",
    seed: Seed = 0,
    quiet: Quiet = False,
    on_bad_rows: OnBadRows = "error",
    preview_fields: Annotated[
        str | None,
        typer.Option(
            "--preview-fields",
            metavar="FIELDS",
            help="Pipe-separated fields the preview shows (default: what fits the terminal; "
            "every field when the output is not a terminal).",
        ),
    ] = None,
    symbols: Symbols = None,
    symbols_file: SymbolsFile = None,
    scheduler: Scheduler = None,
) -> None:
    """Aggregate ticks from exchanges or models into a time or price-brick series.

    With --symbols, one venue (--sources NAME) and one output per symbol (docs/scale.md).
    """
    with loading():  # what the job needs; the preview's libraries load after it (issue 16)
        from seriesfactory.core.time import parse_date
        from seriesfactory.lake.outputs import output_folder
        from seriesfactory.lake.shared import shared_lake
        from seriesfactory.pipeline.series import (
            SeriesRequest,
            build_series,
            parse_fields,
            parse_weights,
        )
        from seriesfactory.transforms.aggregates import AggregationParams

    local_cache, lake = lake_of(cache_dir)
    where = location_of(output_dir, option="--output-dir")
    if isinstance(where, Path) and lake is None:
        check_output_dir(where, local_cache)
    mode = agg_mode.lower()
    if mode not in ("time", "tick"):
        raise InputError(f"--agg-mode {agg_mode!r} is unknown; use 'time' or 'tick'")
    request = SeriesRequest(
        sources=sources,
        from_ns=parse_date(from_, option="--from"),
        to_ns=parse_date(to, option="--to", allow_now=True),
        base=base,
        quote=quote,
        seed=seed,
        cache_dir=local_cache,
        params=AggregationParams(
            mode="time" if mode == "time" else "tick",
            step=_step(agg_step),
            tick_ttl_ms=tick_ttl,
            tick_max_deviation=tick_max_deviation,
        ),
        fields=parse_fields(agg_fields),
        weight_mode=weight_mode.lower(),  # type: ignore[arg-type]  # validated by the request
        weights=parse_weights(weights),
        out_format=out_format_choice(out_format),
        output_dir=Path(output_dir),
        on_bad_rows=on_bad_rows,
    )
    shown = request.fields
    if preview_fields is not None:
        shown = parse_fields(preview_fields, option="--preview-fields")
        missing = [f for f in shown if f not in request.fields]
        if missing:
            raise InputError(
                f"--preview-fields: {', '.join(missing)} not in the output; add them to "
                "--agg-fields or leave them out"
            )
    if wants_universe(symbols, symbols_file, None, scheduler, ctx, ("base", "quote")):
        _universe(dataclasses.replace(request, cache_dir=local_cache), lake, where, symbols,
                  symbols_file, scheduler, quiet)  # fmt: skip
        return
    with output_folder(where) as folder, shared_lake(local_cache, lake):
        result = build_series(dataclasses.replace(request, output_dir=folder.local))
        written = folder.publish(result.output)
    with loading():
        from rich.console import Console

        from seriesfactory.reports.preview import render_preview
    terminal = sys.stdout.isatty()
    console = Console(highlight=False, width=None if terminal else 400)
    _report_sources(console, json.loads(result.metadata["seriesfactory.sources"]))
    for warning in filter_warnings(result.counts, tick_ttl, tick_max_deviation):
        print(f"warning: {warning}", file=sys.stderr)
    if not quiet:
        fit = terminal and preview_fields is None
        render_preview(console, result.summary, result.counts, shown, fit=fit)
        cached = ", ".join(k for k, v in result.from_cache.items() if v) or "nothing"
        console.print(f"from cache: {cached}  time: {result.seconds:.2f} s")
    console.print(f"wrote {written}")


def _universe(
    request: Any, lake: Any, where: Any, symbols: str | None, symbols_file: Path | None,
    scheduler: str | None, quiet: bool,
) -> None:  # fmt: skip
    """``series --symbols``: the request's options for every symbol of one venue."""
    from seriesfactory.cli._universe import pairs_of, run_job
    from seriesfactory.config import load_settings
    from seriesfactory.pipeline.universe import SeriesJob
    from seriesfactory.sources._history_base import history_names

    venue = request.sources.strip().lower()
    if venue not in history_names():
        raise InputError(
            f"--symbols needs one venue in --sources (one of {', '.join(history_names())}), "
            f"not {request.sources!r}"
        )
    settings = load_settings()
    pairs = pairs_of(symbols, symbols_file, venue=venue, settings=settings)
    job = SeriesJob(
        venue=venue, from_ns=request.from_ns, to_ns=request.to_ns, cache_dir=request.cache_dir,
        settings=settings, params=request.params, output_dir=where, lake=lake,
        fields=request.fields, weight_mode=request.weight_mode, weights=request.weights,
        out_format=request.out_format, on_bad_rows=request.on_bad_rows,
    )  # fmt: skip
    run_job(job, pairs, scheduler, quiet=quiet)


@app.command()
def ticks(
    from_: From,
    to: To,
    base: Base = "BTC",
    quote: Quote = "USDT",
    sources: Sources = "binance",
    out_format: OutFormat = "parquet",
    cache_dir: CacheLocation = "cache",
    output_dir: OutputLocation = "output",
    seed: Seed = 0,
    on_bad_rows: OnBadRows = "error",
    quiet: Quiet = False,
) -> None:
    """Write the tick series itself (ts, bid, ask, vbid, vask[, age_ns]) to a file."""
    from rich.console import Console

    from seriesfactory.core.time import parse_date
    from seriesfactory.lake.outputs import output_folder
    from seriesfactory.lake.shared import shared_lake
    from seriesfactory.pipeline.series import TicksRequest, write_ticks_file

    local_cache, lake = lake_of(cache_dir)
    where = location_of(output_dir, option="--output-dir")
    if isinstance(where, Path) and lake is None:
        check_output_dir(where, local_cache)
    request = TicksRequest(
        sources=sources,
        from_ns=parse_date(from_, option="--from"),
        to_ns=parse_date(to, option="--to", allow_now=True),
        base=base,
        quote=quote,
        seed=seed,
        cache_dir=local_cache,
        on_bad_rows=on_bad_rows,
    )
    with output_folder(where) as folder, shared_lake(local_cache, lake):
        local, result = write_ticks_file(
            request, out_format=out_format_choice(out_format), output_dir=folder.local
        )
        out = folder.publish(local)
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 200, quiet=quiet)
    _report_sources(console, result.sources)
    console.print(f"{result.ticks.rows:,} ticks; wrote {out}")
    if quiet:
        print(out)


#: A filter that removes more than this share of the ticks gets a warning.
FILTER_WARNING_SHARE = 0.10


def filter_warnings(counts: FilterCounts, ttl_ms: float, deviation: float) -> list[str]:
    """One warning per quality filter that touched more than 10% of the ticks (docs/series.md)."""
    out: list[str] = []
    if counts.ticks == 0:
        return out
    stale = counts.stale / counts.ticks
    if stale > FILTER_WARNING_SHARE:
        out.append(
            f"{counts.stale:,} of {counts.ticks:,} ticks ({stale:.0%}) had a quote older than "
            f"--tick-ttl {ttl_ms:g} ms and did not set prices; for trade-derived ticks choose a "
            "TTL above the typical time between trades (docs/series.md, 'Choosing --tick-ttl')"
        )
    removed = counts.deviation / counts.ticks
    if removed > FILTER_WARNING_SHARE:
        out.append(
            f"{counts.deviation:,} of {counts.ticks:,} ticks ({removed:.0%}) were removed by "
            f"--tick-max-deviation {deviation:g}; raise it for a volatile source "
            "(docs/series.md, 'Quality filters')"
        )
    return out
