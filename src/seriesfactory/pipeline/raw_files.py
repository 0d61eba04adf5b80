"""Raw exchange files of a range, fetched into the raw tier (nothing is parsed).

The library piece behind ``seriesfactory download`` and the first step of
:func:`seriesfactory.pipeline.exchange.ensure_trades`: which files cover
``[from_ns, to_ns)`` on a venue, downloading (or reusing) them, and which days
the server has no file for. Day indices count whole UTC days since
1970-01-01 (``ts_ns // NS_PER_DAY``).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from seriesfactory.config import Settings
from seriesfactory.core.names import check_asset, check_symbol
from seriesfactory.core.time import NS_PER_DAY
from seriesfactory.raw.download import Downloader
from seriesfactory.sources.binance.history import (
    MARKETS,
    Archive,
    ArchiveKind,
    fetch_archives,
    plan_archives,
    read_single_member,
    symbol_for,
)
from seriesfactory.sources.binance.klines import parse_klines_csv
from seriesfactory.sources.binance.parse import Market
from seriesfactory.sources.bybit import history as bybit_history
from seriesfactory.sources.coinbase import history as coinbase_history

__all__ = [
    "BinanceFetch",
    "RawDownload",
    "day_dates",
    "download_raw",
    "fetch_binance",
    "klines_table",
    "missing_days_warning",
]


def day_dates(day_indices: list[int]) -> list[str]:
    """Day indices as ``YYYY-MM-DD`` (UTC)."""
    epoch = dt.date(1970, 1, 1)
    return [(epoch + dt.timedelta(days=d)).isoformat() for d in day_indices]


def missing_days_warning(sources: list[dict[str, Any]]) -> str | None:
    """One line naming the days without a file, ``None`` when there are none.

    ``sources`` are tick-set infos (``venue``, ``symbol``, ``missing_days`` as
    ``YYYY-MM-DD``); the ``legs`` of a rebased cross are searched too.
    """
    found: list[str] = []
    todo = list(sources)
    while todo:
        info = todo.pop(0)
        todo.extend(info.get("legs", []))
        if info.get("missing_days"):
            found.append(f"{info['venue']} {info['symbol']}: {', '.join(info['missing_days'])}")
    if not found:
        return None
    return "warning: no file on the server, taken as days without data: " + "; ".join(found)


@dataclass(slots=True)
class BinanceFetch:
    """Verified Binance archives of a range and the days they do not cover."""

    fetched: list[tuple[Archive, Path]]
    #: Day indices from today (UTC) on: not archived yet.
    recent_days: list[int]
    #: Archived day indices the server has no file for (HTTP 404), ascending.
    missing_days: list[int]


def fetch_binance(
    market: Market, kind: ArchiveKind, symbol: str, from_ns: int, to_ns: int, *,
    cache_dir: Path, settings: Settings, downloader: Downloader, today_index: int,
    interval: str = "1m",
) -> BinanceFetch:  # fmt: skip
    """Plan the archives of ``[from_ns, to_ns)`` and download (or reuse) them, verified."""
    plan, recent = plan_archives(
        market, kind, symbol, from_ns, to_ns, today_index=today_index, interval=interval
    )
    fetched = fetch_archives(
        plan, cache_dir=cache_dir, settings=settings, downloader=downloader,
        market=market, kind=kind, symbol=symbol, interval=interval,
    )  # fmt: skip
    got_days = {d for a, _ in fetched for d in a.days}
    missing = sorted({d for a in plan for d in a.days} - got_days)
    return BinanceFetch(fetched, recent, missing)


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

    Binance (``binance``, ``binance-usdm``, ``binance-coinm``): the ``kind``
    archives with their checksums; Bybit: the daily trading files; Coinbase: the
    day's REST trade pages (``kind`` and ``interval`` apply to Binance only).
    ``base`` and ``quote`` are checked (:mod:`seriesfactory.core.names`) before any path is made.
    """
    check_asset(base, option="--base", venue=venue)
    check_asset(quote, option="--quote", venue=venue)
    with Downloader(settings) as dl:
        if venue == "bybit":
            symbol = check_symbol(bybit_history.bybit_symbol(base, quote), venue=venue)
            paths, missing = bybit_history.fetch_days(
                symbol, from_ns, to_ns, cache_dir=cache_dir, settings=settings, downloader=dl
            )
            return RawDownload(symbol, paths, missing, [], dl.retries_done)
        if venue == "coinbase":
            symbol = check_symbol(coinbase_history.product_id(base, quote), venue=venue)
            paths = coinbase_history.fetch_days(
                symbol, from_ns, to_ns, cache_dir=cache_dir, settings=settings, downloader=dl
            )
            return RawDownload(symbol, paths, [], [], dl.retries_done)
        market = MARKETS[venue]
        symbol = check_symbol(symbol_for(market, base, quote), venue=venue)
        got = fetch_binance(
            market, kind, symbol, from_ns, to_ns, cache_dir=cache_dir, settings=settings,
            downloader=dl, today_index=time.time_ns() // NS_PER_DAY, interval=interval,
        )  # fmt: skip
        paths = [p for _a, p in got.fetched]
        return RawDownload(symbol, paths, got.missing_days, got.recent_days, dl.retries_done)


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
