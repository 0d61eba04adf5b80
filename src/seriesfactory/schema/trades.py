"""Parsed trade files as every venue's parser returns them, and the one bad-rows rule.

A venue's history parser (``sources/<venue>/``) turns one file into a
:class:`ParsedTrades` (a ``TRADE_SCHEMA`` table and the rows it dropped); the
pipeline reads it whatever the venue. :func:`raise_bad_rows` is the
``--on-bad-rows`` rule they all apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from seriesfactory.errors import DataError

__all__ = ["BadRow", "ParsedTrades", "raise_bad_rows"]


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    reason: str


@dataclass(slots=True)
class ParsedTrades:
    """A parsed file: the trade table and the rows dropped (``skip`` mode only)."""

    table: pa.Table
    bad_rows: list[BadRow] = field(default_factory=list)
    #: Lines of the input read (empty ones included; None when not counted).
    lines: int | None = None


def raise_bad_rows(bad: list[BadRow], *, on_bad_rows: str, name: str) -> None:
    """Unless ``on_bad_rows`` is ``"skip"``, raise a :class:`DataError` at the first bad row.

    The message names the file ``name``, the first bad line and how many more
    bad rows there are.
    """
    if not bad or on_bad_rows == "skip":
        return
    first = min(bad, key=lambda b: b.line)
    more = f" ({len(bad) - 1} more bad rows)" if len(bad) > 1 else ""
    raise DataError(
        f"{first.reason}{more}; fix or remove the file, or pass --on-bad-rows=skip",
        path=name,
        line=first.line,
    )
