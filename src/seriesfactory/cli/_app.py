"""The Typer application and the options and checks shared by the command modules.

An option that several commands declare the same way (name, type and help) is an
``Annotated`` alias here; a command gives its own default, e.g.
``cache_dir: CacheDir = Path("cache")``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from seriesfactory.core import progress
from seriesfactory.core.time import parse_date
from seriesfactory.errors import InputError

__all__ = [
    "CacheDir",
    "Config",
    "OutFormat",
    "Quiet",
    "app",
    "day_range_ns",
    "fail",
    "on_bad_rows_choice",
    "out_format_choice",
]

app = typer.Typer(
    name="seriesfactory",
    help="Series Factory: crypto market data from sources to series.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"seriesfactory {version('seriesfactory')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Series Factory: crypto market data from sources to series."""


def _install_reporter(quiet: bool) -> bool:
    progress.install(progress.reporter(quiet=quiet))
    return quiet


Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet",
        help="No progress and no preview: only errors and the output path(s).",
        callback=_install_reporter,
    ),
]
CacheDir = Annotated[Path, typer.Option("--cache-dir", help="Cache directory.")]
Config = Annotated[Path | None, typer.Option("--config", help="TOML settings file.")]
OutFormat = Annotated[str, typer.Option("--out-format", help="parquet or csv.")]
OutputDir = Annotated[Path, typer.Option("--output-dir", help="Output directory.")]
Base = Annotated[str, typer.Option("--base", help="Base asset, e.g. BTC.")]
Quote = Annotated[str, typer.Option("--quote", help="Quote asset, e.g. USDT.")]
OnBadRows = Annotated[
    str, typer.Option("--on-bad-rows", help="Malformed exchange rows: error or skip.")
]


def fail(message: str) -> None:
    """Print one error line to standard error."""
    print(f"error: {message}", file=sys.stderr)


def out_format_choice(text: str) -> Literal["parquet", "csv"]:
    """``--out-format`` in any case -> ``'parquet'`` or ``'csv'``; anything else is refused."""
    value = text.lower()
    if value == "parquet":
        return "parquet"
    if value == "csv":
        return "csv"
    raise InputError(f"--out-format {text!r} is unknown; use parquet or csv")


def on_bad_rows_choice(text: str) -> str:
    """``--on-bad-rows``: ``'error'`` or ``'skip'``, as given; anything else is refused."""
    if text not in ("error", "skip"):
        raise InputError(f"--on-bad-rows {text!r} is unknown; use error or skip")
    return text


def day_range_ns(from_text: str, to_text: str) -> tuple[int, int]:
    """``--from`` and ``--to`` (exclusive) days -> ``(from_ns, to_ns)``, int64 ns UTC, in order."""
    from_ns = parse_date(from_text, option="--from")
    to_ns = parse_date(to_text, option="--to")
    if from_ns >= to_ns:
        raise InputError("--from must be before --to (--to is exclusive)")
    return from_ns, to_ns
