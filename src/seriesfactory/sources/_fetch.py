"""What a venue's history module needs from the raw tier's HTTP client, as a protocol.

Venues describe their files (URLs, paths, fallbacks) and are handed a fetcher;
the raw tier's :class:`seriesfactory.raw.download.Downloader` is the one that
fetches (retries, resume, checksums, bounded concurrency). Typing against this
protocol keeps the dependency one-way: the raw tier imports venues, never the
reverse.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol, TypeVar

__all__ = ["Fetcher"]

T = TypeVar("T")
R = TypeVar("R")


class Fetcher(Protocol):
    """Downloads into files: atomic, resumed, retried (``MissingFileError`` on HTTP 404)."""

    def fetch(self, url: str, dest: Path) -> Path:
        """Download ``url`` to ``dest``."""
        ...

    def fetch_verified(self, url: str, dest: Path) -> Path:
        """Download an archive and its ``url + '.CHECKSUM'``, verified."""
        ...

    def get_bytes(self, url: str) -> bytes:
        """A (small) response body."""
        ...

    def map(self, func: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``func`` over ``items`` with bounded concurrency, results in order."""
        ...
