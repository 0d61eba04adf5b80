"""Bybit public trading archives: one gzip CSV per symbol and UTC day.

URL: ``{bybit_data_url}/trading/{SYMBOL}/{SYMBOL}{YYYY-MM-DD}.csv.gz``, e.g.
``https://public.bybit.com/trading/BTCUSDT/BTCUSDT2024-01-01.csv.gz``. There is
no checksum file: integrity rests on the gzip CRC-32 (checked when the raw tier inflates it) and the
downloader's length check. A day the server does not have (404) has no data;
:func:`fetch_days` returns those days so the caller can report them.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from seriesfactory.config import Settings
from seriesfactory.core.time import NS_PER_DAY
from seriesfactory.errors import MissingFileError, SourceError
from seriesfactory.schema.trades import ParsedTrades
from seriesfactory.sources._fetch import Fetcher
from seriesfactory.sources._history_base import (
    ArchiveKind,
    Container,
    Downloaded,
    HistoryVenue,
    Pieces,
    TradeFiles,
    pieces_bytes,
)
from seriesfactory.sources.bybit.parse import parse_bybit_csv

__all__ = ["BybitHistory", "bybit_symbol", "fetch_days"]


def bybit_symbol(base: str, quote: str) -> str:
    """``BTCUSDT`` (linear) or ``BTCUSD`` (inverse)."""
    return f"{base.upper()}{quote.upper()}"


def day_path(symbol: str, day_index: int) -> str:
    d = (dt.date(1970, 1, 1) + dt.timedelta(days=day_index)).isoformat()
    return f"trading/{symbol}/{symbol}{d}.csv.gz"


def fetch_days(
    symbol: str,
    from_ns: int,
    to_ns: int,
    *,
    cache_dir: Path,
    settings: Settings,
    downloader: Fetcher,
) -> tuple[list[Path], list[int]]:
    """Download (or reuse) the day files of ``[from_ns, to_ns)``.

    Returns the files present and the day indices (days since 1970-01-01 UTC)
    the server does not have (HTTP 404), which hold no data.
    """
    days = range(from_ns // NS_PER_DAY, (to_ns - 1) // NS_PER_DAY + 1)

    def one(day: int) -> Path | None:
        rel = day_path(symbol, day)
        dest = cache_dir / "raw" / "bybit" / rel
        if dest.is_file():
            return dest
        try:
            return downloader.fetch(f"{settings.bybit_data_url}/{rel}", dest)
        except MissingFileError:
            return None

    got = downloader.map(one, list(days))
    paths = [p for p in got if p is not None]
    return paths, [d for d, p in zip(days, got, strict=True) if p is None]


class BybitHistory(HistoryVenue):
    """Bybit's daily trading files (raw trades, gzip CSV)."""

    names = ("bybit",)
    home_quote = "USDT"

    def symbol(self, base: str, quote: str) -> str:
        return bybit_symbol(base, quote)

    def download(
        self, symbol: str, from_ns: int, to_ns: int, *, cache_dir: Path, settings: Settings,
        fetcher: Fetcher, kind: ArchiveKind = "aggTrades", interval: str = "1m",
    ) -> Downloaded:  # fmt: skip
        paths, missing = fetch_days(
            symbol, from_ns, to_ns, cache_dir=cache_dir, settings=settings, downloader=fetcher
        )
        return Downloaded(symbol, paths, missing)

    def trade_files(
        self, symbol: str, from_ns: int, to_ns: int, *, cache_dir: Path, settings: Settings,
        fetcher: Fetcher, kind: ArchiveKind = "aggTrades", on_bad_rows: str = "error",
        skip: Callable[[str], bool] | None = None,  # no published checksums: not used
    ) -> TradeFiles:  # fmt: skip
        today = time.time_ns() // NS_PER_DAY
        if (to_ns - 1) // NS_PER_DAY >= today:
            raise SourceError("bybit: days from today (UTC) on are not archived yet; end earlier")
        paths, missing = fetch_days(
            symbol, from_ns, to_ns, cache_dir=cache_dir, settings=settings, downloader=fetcher
        )

        def container(path: Path) -> Container:
            return "gzip"

        def parse(path: Path, pieces: Pieces) -> Iterator[ParsedTrades]:
            data = b"".join(pieces_bytes(pieces))
            yield parse_bybit_csv(data, name=str(path), on_bad_rows=on_bad_rows)

        return TradeFiles(paths, container, parse, missing)
