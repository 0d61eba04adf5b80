"""The raw record: one message as received, shared by the raw tier's readers and venue parsers."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RawRecord"]


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One recorded message: receive time (ns), connection, kind, URL and text."""

    recv_ns: int
    conn: str
    kind: str
    data: str
    url: str | None = None
    path: str = ""
    line: int = 0
    #: The venue a native capture names (``None`` for formats that do not say).
    venue: str | None = None
