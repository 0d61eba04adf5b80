"""Parsing ``--sources``: pipe-separated venue names or model specs.

Grammar (whitespace around tokens is ignored)::

    sources := source ("|" source)*
    source  := NAME                          e.g. binance, binance-usdm
             | NAME "(" number ("," number)* ")"   e.g. gbm(0.05,0.5,50000)

Numbers are decimal floats (``1e-4``, ``-0.75``). Model names are lower case.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from seriesfactory.errors import SpecError

__all__ = ["SourceSpec", "format_number", "parse_sources"]

_NAME = re.compile(r"^[a-z][a-z0-9_\-]*$")
_CALL = re.compile(r"^([A-Za-z][A-Za-z0-9_\-]*)\s*\((.*)\)$", re.DOTALL)


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceSpec:
    """One parsed source: a venue name (``args is None``) or a model call."""

    name: str
    args: tuple[float, ...] | None = None
    text: str

    def canonical(self) -> str:
        """The spec in canonical form, e.g. ``gbm(0.05,0.5,50000)``."""
        if self.args is None:
            return self.name
        return f"{self.name}({','.join(format_number(a) for a in self.args)})"

    def slug(self) -> str:
        """How the spec appears in file names: ``gbm-0.05-0.5-50000``; a minus sign is ``n``."""
        if self.args is None:
            return self.name
        parts = [format_number(a).replace("-", "n") for a in self.args]
        return "-".join([self.name, *parts])


def format_number(value: float) -> str:
    """Shortest text that round-trips ``value``; integral values without ``.0``."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def _parse_number(token: str, *, spec: str, position: int) -> float:
    try:
        value = float(token)
    except ValueError:
        raise SpecError(
            f"source {spec!r}: argument {position} ({token.strip()!r}) is not a number; "
            "write plain decimals such as 0.05 or 1e-4"
        ) from None
    if not math.isfinite(value):
        raise SpecError(f"source {spec!r}: argument {position} must be finite, got {token.strip()}")
    return value


def _parse_one(text: str) -> SourceSpec:
    item = text.strip()
    if not item:
        raise SpecError("--sources has an empty entry; separate sources with a single '|'")
    call = _CALL.match(item)
    if call is None:
        if "(" in item or ")" in item:
            raise SpecError(
                f"source {item!r} is malformed: write a model as name(arg1,arg2,...), "
                "e.g. gbm(0.05,0.5,50000)"
            )
        name = item.lower()
        if not _NAME.match(name):
            raise SpecError(f"source {item!r} is not a valid source name")
        return SourceSpec(name=name, text=item)
    name = call.group(1).lower()
    body = call.group(2).strip()
    if not body:
        raise SpecError(f"source {item!r} has no arguments; e.g. gbm(0.05,0.5,50000)")
    tokens = body.split(",")
    args = tuple(_parse_number(t, spec=item, position=i + 1) for i, t in enumerate(tokens))
    return SourceSpec(name=name, args=args, text=item)


def parse_sources(text: str) -> list[SourceSpec]:
    """Split ``text`` on ``|`` (outside parentheses) and parse each source."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise SpecError(f"--sources {text!r} has an unmatched ')'")
        if ch == "|" and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth != 0:
        raise SpecError(f"--sources {text!r} has an unclosed '('")
    parts.append("".join(current))
    return [_parse_one(p) for p in parts]
