"""One base for every venue whose past trades come as files, and the registry of them by name.

A venue's ``history.py`` subclasses :class:`HistoryVenue`: it declares the source names it
serves and the quote its pairs are listed in, and implements three methods — the venue
symbol of a pair, the raw files of a range as they are downloaded (``seriesfactory
download``), and the raw files of a range with their parser (the trades and ticks tiers).
It describes its files and how to read them; the fetching is done by the
:class:`~seriesfactory.sources._fetch.Fetcher` it is handed (the raw tier's downloader).

Registration is one declaration in the venue's folder: its ``__init__.py`` names the
sources its ``history.py`` serves (``HISTORY_SOURCES = ("bybit",)``); only folders that have
a ``history.py`` are looked at. :func:`history_names`
reads those declarations without importing any venue's code; :func:`history_venue` imports
the venue's ``history.py`` on first use. Nothing outside a venue's folder names a venue.
"""

from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from seriesfactory.errors import SourceError

if TYPE_CHECKING:
    from seriesfactory.config import Settings
    from seriesfactory.schema.trades import ParsedTrades
    from seriesfactory.sources._fetch import Fetcher

__all__ = [
    "ArchiveKind",
    "Container",
    "Downloaded",
    "HistoryVenue",
    "Pieces",
    "TradeFiles",
    "history_names",
    "history_venue",
    "pieces_bytes",
]

#: What ``seriesfactory download --kind`` may ask for.
ArchiveKind = Literal["trades", "aggTrades", "klines"]
#: How a raw file is stored; the raw tier opens it (:func:`seriesfactory.raw.archives.read_pieces`).
Container = Literal["zip", "gzip", "plain"]
#: A raw file's content as ``(member name, whole lines)`` pieces, in order.
Pieces = Iterable[tuple[str, bytes | memoryview]]


def pieces_bytes(pieces: Pieces) -> Iterator[bytes | memoryview]:
    """The bytes of each piece (for a parser that takes a file whole: ``b"".join(...)``)."""
    return (data for _member, data in pieces)


@dataclass(slots=True)
class Downloaded:
    """The raw files of a range as downloaded (``seriesfactory download``)."""

    symbol: str
    paths: list[Path]
    #: Day indices (since 1970-01-01 UTC) the server has no file for: days without data.
    missing_days: list[int] = field(default_factory=list)
    #: Day indices from today on, not published yet (venues with daily archives).
    recent_days: list[int] = field(default_factory=list)


@dataclass(slots=True)
class TradeFiles:
    """The raw files of a range, their parser, the days without a file, known hashes."""

    paths: list[Path]
    #: How each file is stored (the raw tier opens it and hands its pieces to ``parse``).
    container: Callable[[Path], Container]
    #: A raw file and its content -> its trades, in time-ordered pieces.
    parse: Callable[[Path, Pieces], Iterator[ParsedTrades]]
    missing_days: list[int] = field(default_factory=list)
    #: SHA-256 already known (verified against a checksum file), by path.
    sha256: dict[Path, str] = field(default_factory=dict)
    #: Paths not downloaded: their published SHA-256 passed ``trade_files(skip=...)``.
    skipped: set[Path] = field(default_factory=set)


class HistoryVenue(ABC):
    """A venue's history: declarations plus three methods (see the module docstring)."""

    #: Source names the class serves (``--sources``, ``--venue``, ``download --source``).
    names: ClassVar[tuple[str, ...]]
    #: ``download --kind`` values the venue has; empty: one kind of file, ``--kind`` ignored.
    kinds: ClassVar[tuple[ArchiveKind, ...]] = ()
    #: True when every downloaded file is verified against a published checksum.
    verified: ClassVar[bool] = False
    #: What a trade row is: ``aggTrades`` (aggregated by the venue) or ``trades``.
    trade_kind: ClassVar[str] = "trades"

    _registry: ClassVar[dict[str, type[HistoryVenue]]] = {}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        for name in cls.names:
            HistoryVenue._registry[name] = cls

    def __init__(self, name: str) -> None:
        self.name = name

    #: The quote asset of the venue's liquid pairs (the legs of a re-based pair).
    home_quote: str = "USDT"

    @abstractmethod
    def symbol(self, base: str, quote: str) -> str:
        """The venue's symbol of ``base/quote`` (an unsupported pair is an ``InputError``)."""

    def split_symbol(self, text: str) -> tuple[str, str] | None:
        """``(base, quote)`` of a symbol written the venue's own way, or ``None`` to use the
        generic rules (``BASE/QUOTE``, ``BASE-QUOTE``, a known quote at the end)."""
        return None

    @abstractmethod
    def download(
        self, symbol: str, from_ns: int, to_ns: int, *, cache_dir: Path, settings: Settings,
        fetcher: Fetcher, kind: ArchiveKind = "aggTrades", interval: str = "1m",
    ) -> Downloaded:  # fmt: skip
        """Fetch (or reuse) the raw files of ``[from_ns, to_ns)`` into the raw tier."""

    @abstractmethod
    def trade_files(
        self, symbol: str, from_ns: int, to_ns: int, *, cache_dir: Path, settings: Settings,
        fetcher: Fetcher, kind: ArchiveKind = "aggTrades", on_bad_rows: str = "error",
        skip: Callable[[str], bool] | None = None,
    ) -> TradeFiles:  # fmt: skip
        """The raw files holding the trades of ``[from_ns, to_ns)`` and how to parse them.

        ``skip``: a test of a raw file's SHA-256. A venue that publishes checksums beside its
        files reads them first and does not download a file whose hash passes (listed in
        ``TradeFiles.skipped``, its hash in ``sha256``); a venue without them ignores it
        and downloads every file, as a hash is then known only from the file itself.
        """


@cache
def _declared() -> dict[str, str]:
    """Source name -> venue package, from each venue folder's ``HISTORY_SOURCES``."""
    from seriesfactory import sources

    out: dict[str, str] = {}
    for info in pkgutil.iter_modules(sources.__path__):
        if not info.ispkg or info.name.startswith("_"):
            continue
        folder = Path(getattr(info.module_finder, "path", "")) / info.name
        if not (folder / "history.py").is_file():  # e.g. synthetic/: not imported at all
            continue
        package = importlib.import_module(f"seriesfactory.sources.{info.name}")
        for name in getattr(package, "HISTORY_SOURCES", ()):
            out[name] = info.name
    return out


def history_names() -> tuple[str, ...]:
    """Every source name with history, in declaration order (venue folders alphabetically)."""
    return tuple(_declared())


@cache
def history_venue(name: str) -> HistoryVenue:
    """The venue serving source ``name`` (its ``history.py`` imported on first use)."""
    package = _declared().get(name)
    if package is None:
        raise SourceError(
            f"source {name!r}: historical data is available for {', '.join(history_names())}"
        )
    importlib.import_module(f"seriesfactory.sources.{package}.history")
    cls = HistoryVenue._registry.get(name)
    if cls is None:  # pragma: no cover - a folder declaring a name its history.py lacks
        raise SourceError(f"sources/{package}/history.py does not define source {name!r}")
    return cls(name)
