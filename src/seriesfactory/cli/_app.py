"""The Typer application and helpers shared by every command module."""

from __future__ import annotations

import sys

import typer

__all__ = ["app", "fail"]

app = typer.Typer(
    name="seriesfactory",
    help="Series Factory: crypto market data from sources to series.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def fail(message: str) -> None:
    """Print one error line to standard error."""
    print(f"error: {message}", file=sys.stderr)
