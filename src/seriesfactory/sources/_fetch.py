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

    #: SHA-256 (hex) of every file :meth:`fetch_verified` checked, by destination path.
    verified_sha256: dict[Path, str]

    def fetch(self, url: str, dest: Path) -> Path:
        """Download ``url`` to ``dest``."""
        ...

    def fetch_verified(self, url: str, dest: Path, *, expected: str | None = None) -> Path:
        """Download an archive and its ``url + '.CHECKSUM'``, verified (``expected``: the
        checksum :meth:`published_sha256` returned, not fetched again)."""
        ...

    def published_sha256(self, url: str, dest: Path) -> str:
        """The SHA-256 in ``url + '.CHECKSUM'`` (kept beside ``dest``), without the archive."""
        ...

    def get_bytes(self, url: str) -> bytes:
        """A (small) response body."""
        ...

    def map(self, func: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``func`` over ``items`` with bounded concurrency, results in order."""
        ...
