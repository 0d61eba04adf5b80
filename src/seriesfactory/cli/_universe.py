"""The options and the summary of universe jobs (``--symbols``, ``--scheduler``): docs/scale.md.

Light at import (typer only): the runner and Dask are imported when a universe job runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from seriesfactory.config import Settings
    from seriesfactory.pipeline.universe import Pair, SymbolOutcome, UniverseJob

__all__ = ["Scheduler", "Symbols", "SymbolsFile", "pairs_of", "run_job"]

Symbols = Annotated[
    str | None,
    typer.Option(
        "--symbols",
        metavar="LIST",
        help="A universe job: comma-separated symbols, or VENUE:top:N (24h quote volume).",
    ),
]
SymbolsFile = Annotated[
    Path | None,
    typer.Option(
        "--symbols-file", metavar="FILE", help="A universe job: one symbol a line ('#' comments)."
    ),
]
Scheduler = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        metavar="NAME",
        help="sync, processes or tcp://host:port (default: SERIESFACTORY_SCHEDULER, else sync "
        "for one symbol, processes for several).",
    ),
]


def wants_universe(
    symbols: str | None, symbols_file: Path | None, symbol: str | None, scheduler: str | None,
    ctx: typer.Context | None = None, pair_options: tuple[str, ...] = (),
) -> bool:  # fmt: skip
    """Whether the command runs as a universe job; refuses ``--symbol`` with ``--symbols``.

    ``pair_options`` (parameter names, e.g. ``("base", "quote")``) name one pair: given on the
    command line with a universe, they are refused rather than ignored.
    """
    from seriesfactory.errors import InputError

    if symbols is None and symbols_file is None:
        if scheduler is not None:
            raise InputError("--scheduler runs universe jobs: give --symbols or --symbols-file")
        return False
    if symbol is not None:
        raise InputError("give --symbol (one) or --symbols/--symbols-file (a universe), not both")
    for name in pair_options:
        source = ctx.get_parameter_source(name) if ctx is not None else None
        if source is not None and source.name != "DEFAULT":
            raise InputError(f"--{name} names one pair; with --symbols/--symbols-file leave it out")
    return True


def _option_value(args: list[str], name: str) -> str | None:
    """The value of ``name`` on a raw command line (``--name VALUE`` or ``--name=VALUE``)."""
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(f"{name}="):
            return arg.partition("=")[2]
    return None


def prepare_pool_from_argv(args: list[str]) -> None:
    """When the command line is a universe job that will run on the local process pool, keep
    the libraries this process is about to import from starting threads of their own, before
    typer parses anything: the pool's workers are forked from this process once it has imported
    what the tasks need, which is safe while it runs one thread (docs/scale.md). A wrong option
    is reported later, where it always is."""
    if not any(a.split("=")[0] in ("--symbols", "--symbols-file") for a in args):
        return
    from seriesfactory.pipeline.pool import requested_scheduler, single_threaded_libraries

    symbols, scheduler = _option_value(args, "--symbols"), _option_value(args, "--scheduler")
    several = symbols is None or "," in symbols or ":top:" in symbols.lower()
    if requested_scheduler(scheduler, several=several).lower() == "processes":
        single_threaded_libraries()


def pairs_of(
    symbols: str | None, symbols_file: Path | None, *, venue: str, settings: Settings
) -> list[Pair]:
    """The checked universe (before any work: a bad list is one line, exit 2)."""
    from seriesfactory.pipeline.exchange import split_symbol
    from seriesfactory.pipeline.universe import resolve_symbols

    return resolve_symbols(
        symbols, symbols_file, venue=venue, settings=settings, split=split_symbol
    )


def run_job(job: UniverseJob, pairs: list[Pair], scheduler: str | None, *, quiet: bool) -> None:
    """Run a universe job, print its summary table; exit status 1 when a symbol failed."""
    from seriesfactory.pipeline.universe import run_universe, scheduler_choice

    where = scheduler_choice(scheduler, len(pairs))
    job = _absolute(job)

    def dashboard(link: str) -> None:
        if not quiet:
            print(f"dask dashboard: {link}", file=sys.stderr)

    outcomes = run_universe(job, pairs, where, on_cluster=dashboard)  # Ctrl-C: cli._run
    _summary(outcomes, quiet=quiet, where=where)
    if any(o.error is not None for o in outcomes):
        raise typer.Exit(1)


def _absolute(job: UniverseJob) -> UniverseJob:
    """``job`` with its folders made absolute: a worker elsewhere resolves them as we do."""
    import dataclasses

    if not dataclasses.is_dataclass(job):
        return job
    changes = {
        f.name: getattr(job, f.name).absolute()
        for f in dataclasses.fields(job)
        if isinstance(getattr(job, f.name), Path)
    }
    return dataclasses.replace(job, **changes)


def _summary(outcomes: list[SymbolOutcome], *, quiet: bool, where: str) -> None:
    from rich.console import Console
    from rich.table import Table

    for o in outcomes:
        for warning in o.warnings:
            print(f"warning: {o.symbol}: {warning}", file=sys.stderr)
        if o.error is not None:
            print(f"error: {o.symbol}: {o.error}", file=sys.stderr)
    if quiet:
        for o in outcomes:
            for out in o.outputs:
                print(out)
        return
    table = Table(title=f"universe job ({where})", title_justify="left")
    for name, justify in (("symbol", "left"), ("rows", "right"), ("seconds", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    table.add_column("output / error", overflow="fold")
    for o in outcomes:
        shown = o.error if o.error is not None else ", ".join(o.outputs)
        table.add_row(o.symbol, f"{o.rows:,}", f"{o.seconds:.2f}", shown)
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    console.print(table)
    failed = sum(o.error is not None for o in outcomes)
    console.print(f"{len(outcomes) - failed} of {len(outcomes)} symbol(s) done; {failed} failed")
