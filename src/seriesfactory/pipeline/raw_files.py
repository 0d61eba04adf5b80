"""Raw exchange files of a range, fetched into the raw tier (nothing is parsed).

The library piece behind ``seriesfactory download`` and the first step of
:func:`seriesfactory.pipeline.exchange.ensure_trades`: which files cover
``[from_ns, to_ns)`` on a venue, downloading (or reusing) them, and which days
the server has no file for. Day indices count whole UTC days since
1970-01-01 (``ts_ns // NS_PER_DAY``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from seriesfactory.config import Settings
from seriesfactory.core.names import check_asset, check_symbol
from seriesfactory.raw.archives import read_single_member
from seriesfactory.raw.download import Downloader
from seriesfactory.sources._history_base import ArchiveKind, history_venue
from seriesfactory.sources.binance.klines import parse_klines_csv

__all__ = [
    "RawDownload",
    "download_raw",
    "klines_table",
]


@dataclass(slots=True)
class RawDownload:
    """What :func:`download_raw` fetched."""

    symbol: str
    paths: list[Path]
    #: Day indices the server has no file for (a day without data), ascending.
    missing_days: list[int]
    #: Binance day indices from today on, not archived yet (empty elsewhere).
    recent_days: list[int]
    #: Transient failures retried by the downloader.
    retries: int


def download_raw(
    venue: str, *, base: str, quote: str, from_ns: int, to_ns: int, cache_dir: Path,
    settings: Settings, kind: ArchiveKind = "aggTrades", interval: str = "1m",
) -> RawDownload:  # fmt: skip
    """Download the raw files of ``venue`` covering ``[from_ns, to_ns)`` into the raw tier.

    What the files are is the venue's (:class:`~seriesfactory.sources._history_base.HistoryVenue`):
    Binance the ``kind`` archives with their checksums, Bybit the daily trading files,
    Coinbase the day's REST trade pages (``kind`` and ``interval`` apply to venues with
    several kinds of archive only). ``base`` and ``quote`` are checked
    (:mod:`seriesfactory.core.names`) before any path is made.
    """
    check_asset(base, option="--base", venue=venue)
    check_asset(quote, option="--quote", venue=venue)
    venue_history = history_venue(venue)
    symbol = check_symbol(venue_history.symbol(base, quote), venue=venue)
    with Downloader(settings) as dl:
        got = venue_history.download(
            symbol, from_ns, to_ns, cache_dir=cache_dir, settings=settings, fetcher=dl,
            kind=kind, interval=interval,
        )  # fmt: skip
        return RawDownload(symbol, got.paths, got.missing_days, got.recent_days, dl.retries_done)


def klines_table(paths: list[Path], *, from_ns: int, to_ns: int, max_bytes: int) -> pa.Table | None:
    """The candles of kline archives opening in ``[from_ns, to_ns)`` (``None``: no archive)."""
    parts = []
    for path in paths:
        member, data = read_single_member(path, max_bytes=max_bytes)
        parts.append(parse_klines_csv(data, name=f"{path}!{member}"))
    if not parts:
        return None
    table = pa.concat_tables(parts)
    ts = table.column("open_time").cast(pa.int64())
    return table.filter(pc.and_(pc.greater_equal(ts, from_ns), pc.less(ts, to_ns)))
