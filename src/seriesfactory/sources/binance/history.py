"""Binance public archives: which files cover a range, fetching them, parsing their CSV.

The raw tier opens the zips (:mod:`seriesfactory.raw.archives`); :func:`parse_pieces`
parses what it inflates.

Archive layout (``{binance_data_url}/``)::

    data/{spot|futures/um|futures/cm}/{daily|monthly}/{trades|aggTrades|klines}/SYMBOL/
        [INTERVAL/]SYMBOL-[INTERVAL|KIND]-{YYYY-MM-DD|YYYY-MM}.zip  (+ .CHECKSUM)

Plan for ``[from, to)``: days before today (UTC) come from archives; a calendar
month wholly inside the range and wholly past comes from its monthly file,
every other day from its daily file. A monthly file not yet published (404)
falls back to the month's daily files. Days from today on are not archived yet.

Sources: ``binance`` (spot, ``BTCUSDT``), ``binance-usdm`` (``BTCUSDT``),
``binance-coinm`` (``BTCUSD_PERP``; the quote must be USD).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from seriesfactory.config import Settings
from seriesfactory.core.threads import prefetch
from seriesfactory.core.time import NS_PER_DAY
from seriesfactory.errors import InputError, MissingFileError, SourceError
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
from seriesfactory.sources.binance import MARKETS as _MARKET_NAMES
from seriesfactory.sources.binance.parse import Kind, Market, parse_trades_csv
from seriesfactory.sources.binance.rest import fetch_rest_day, parse_rest_lines

__all__ = [
    "MARKETS",
    "Archive",
    "BinanceHistory",
    "contract_size",
    "fetch_archives",
    "parse_pieces",
    "plan_archives",
    "symbol_for",
]

#: Source name -> archive market (declared in the package, ``sources/binance/__init__.py``).
MARKETS: dict[str, Market] = dict(_MARKET_NAMES)  # type: ignore[arg-type]  # Market values
_ROOTS: dict[str, str] = {
    "spot": "data/spot",
    "usdm": "data/futures/um",
    "coinm": "data/futures/cm",
}


def symbol_for(market: Market, base: str, quote: str) -> str:
    """The venue symbol of a pair: ``BTCUSDT``; ``BTCUSD_PERP`` on COIN-M."""
    b, q = base.upper(), quote.upper()
    if market == "coinm":
        if q != "USD":
            raise InputError(
                f"binance-coinm quotes in USD (e.g. BTCUSD_PERP); use --quote USD, not {quote}"
            )
        return f"{b}USD_PERP"
    return f"{b}{q}"


def _date(day_index: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=day_index)


@dataclass(frozen=True, slots=True)
class Archive:
    """One archive: its path under the data URL and the day indices it covers."""

    path: str
    days: tuple[int, ...]
    monthly: bool

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name


def daily_archive(
    market: Market, kind: ArchiveKind, symbol: str, day_index: int, interval: str = "1m"
) -> Archive:
    d = _date(day_index).isoformat()
    sub = f"{symbol}/{interval}" if kind == "klines" else symbol
    label = interval if kind == "klines" else kind
    return Archive(
        f"{_ROOTS[market]}/daily/{kind}/{sub}/{symbol}-{label}-{d}.zip", (day_index,), False
    )


def monthly_archive(
    market: Market, kind: ArchiveKind, symbol: str, days: tuple[int, ...], interval: str = "1m"
) -> Archive:
    m = _date(days[0]).strftime("%Y-%m")
    sub = f"{symbol}/{interval}" if kind == "klines" else symbol
    label = interval if kind == "klines" else kind
    return Archive(f"{_ROOTS[market]}/monthly/{kind}/{sub}/{symbol}-{label}-{m}.zip", days, True)


def plan_archives(
    market: Market,
    kind: ArchiveKind,
    symbol: str,
    from_ns: int,
    to_ns: int,
    *,
    today_index: int,
    interval: str = "1m",
) -> tuple[list[Archive], list[int]]:
    """Archives covering ``[from_ns, to_ns)``, and the day indices not archived yet."""
    first, last = from_ns // NS_PER_DAY, (to_ns - 1) // NS_PER_DAY
    archived = [d for d in range(first, last + 1) if d < today_index]
    recent = [d for d in range(first, last + 1) if d >= today_index]
    months: dict[tuple[int, int], list[int]] = {}
    for d in archived:
        date = _date(d)
        months.setdefault((date.year, date.month), []).append(d)
    plan: list[Archive] = []
    for (year, month), days in months.items():
        nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
        month_days = (nxt - dt.date(year, month, 1)).days
        if len(days) == month_days:
            plan.append(monthly_archive(market, kind, symbol, tuple(days), interval))
        else:
            plan.extend(daily_archive(market, kind, symbol, d, interval) for d in days)
    return plan, recent


def raw_path(cache_dir: Path, archive: Archive) -> Path:
    return cache_dir / "raw" / "binance" / archive.path


def fetch_archives(
    archives: list[Archive],
    *,
    cache_dir: Path,
    settings: Settings,
    downloader: Fetcher,
    market: Market,
    kind: ArchiveKind,
    symbol: str,
    interval: str = "1m",
    skip: Callable[[str], bool] | None = None,
    skipped: dict[Path, str] | None = None,
) -> list[tuple[Archive, Path]]:
    """Download (or reuse) every archive, verified; monthly 404 -> that month's daily files.

    A month whose monthly file is not in the raw tier but whose daily files all
    are (an earlier run fell back to them) uses those, without a request, so a
    warm run needs no server. A daily file the server does not have (404) is
    left out: the venue had no trading that day or the symbol did not exist.
    Every other failure raises.

    ``skip``: a test of an archive's published SHA-256 (its ``.CHECKSUM``, fetched first);
    an archive not in the raw tier whose hash passes is not downloaded, and its path and
    hash go into ``skipped`` (the caller has its product already: docs/scale.md).
    """

    def cached(a: Archive) -> bool:
        path = raw_path(cache_dir, a)
        return path.is_file() and path.with_name(path.name + ".CHECKSUM").is_file()

    def one(a: Archive) -> list[tuple[Archive, Path]]:
        url = f"{settings.binance_data_url}/{a.path}"
        if a.monthly and not cached(a):
            dailies = [daily_archive(market, kind, symbol, d, interval) for d in a.days]
            if all(cached(d) for d in dailies):
                return [pair for part in downloader.map(one, dailies) for pair in part]
        try:
            path, expected = raw_path(cache_dir, a), None
            if skip is not None and skipped is not None and not path.is_file():
                expected = downloader.published_sha256(url, path)
                if skip(expected):
                    skipped[path] = expected
                    return [(a, path)]
            return [(a, downloader.fetch_verified(url, path, expected=expected))]
        except MissingFileError:
            if not a.monthly:
                return []
        dailies = [daily_archive(market, kind, symbol, d, interval) for d in a.days]
        return [pair for part in downloader.map(one, dailies) for pair in part]

    return [pair for part in downloader.map(one, archives) for pair in part]


def parse_pieces(
    pieces: Iterable[tuple[str, bytes | memoryview]],
    *,
    source: str,
    market: Market,
    kind: Kind,
    contract_size: float | None = None,
    on_bad_rows: str = "error",
) -> Iterator[ParsedTrades]:
    """An archive's trades, piece by piece, in time order (:func:`parse_trades_csv` each).

    ``pieces`` are ``(member, whole lines)`` of the archive's one CSV, e.g. from
    :func:`seriesfactory.raw.archives.iter_member_pieces`; ``source`` (the archive's path)
    names them in errors as ``source!member``. Inflating runs a few pieces ahead on its
    own thread (ISA-L releases the GIL) while the caller parses; line numbers and the
    time-order check carry across pieces, so the result equals parsing the whole member
    at once.
    """
    after = -(2**63)
    line = 1
    for member, data in prefetch(pieces):
        parsed = parse_trades_csv(
            data, name=f"{source}!{member}", market=market, kind=kind,
            contract_size=contract_size, on_bad_rows=on_bad_rows, first_line=line,
            header=None if line == 1 else False, after_ts_ns=after,
        )  # fmt: skip
        assert parsed.lines is not None
        line += parsed.lines
        if parsed.table.num_rows:
            after = int(parsed.table.column("ts").cast("int64")[-1].as_py())
        yield parsed


def contract_size(
    symbol: str, *, cache_dir: Path, settings: Settings, downloader: Fetcher
) -> float:
    """USD per contract of a COIN-M symbol, from ``/dapi/v1/exchangeInfo`` (cached).

    The cached body is reused while it lists the symbol; otherwise it is fetched
    again. A symbol the venue does not list is an error: the size is never guessed.
    """
    path = cache_dir / "raw" / "binance" / "dapi" / "v1" / "exchangeInfo.json"
    for attempt in range(2):
        if attempt == 1 or not path.is_file():
            downloader.fetch(f"{settings.binance_coinm_api_url}/dapi/v1/exchangeInfo", path)
        try:
            doc = json.loads(path.read_bytes())
            sizes = {s["symbol"]: float(s["contractSize"]) for s in doc["symbols"]}
        except (ValueError, KeyError, TypeError) as exc:
            path.unlink(missing_ok=True)
            raise SourceError(f"{path}: unexpected exchangeInfo body ({exc})") from exc
        if symbol in sizes and sizes[symbol] > 0:
            return sizes[symbol]
    raise SourceError(
        f"{symbol} is not listed in {settings.binance_coinm_api_url}/dapi/v1/exchangeInfo; "
        "check the symbol (COIN-M perpetuals look like BTCUSD_PERP)"
    )


class BinanceHistory(HistoryVenue):
    """Binance spot, USD-M and COIN-M history: verified archives, REST for the recent days."""

    names = tuple(_MARKET_NAMES)
    kinds = ("aggTrades", "trades", "klines")
    verified = True
    trade_kind = "aggTrades"

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.market: Market = MARKETS[name]
        self.home_quote = "USD" if self.market == "coinm" else "USDT"

    def symbol(self, base: str, quote: str) -> str:
        return symbol_for(self.market, base, quote)

    def split_symbol(self, text: str) -> tuple[str, str] | None:
        if self.market == "coinm" and text.endswith("USD_PERP"):
            return text[: -len("USD_PERP")], "USD"
        return None

    def _archives(
        self, kind: ArchiveKind, symbol: str, from_ns: int, to_ns: int, *, cache_dir: Path,
        settings: Settings, fetcher: Fetcher, today_index: int, interval: str = "1m",
        skip: Callable[[str], bool] | None = None, skipped: dict[Path, str] | None = None,
    ) -> tuple[list[tuple[Archive, Path]], list[int], list[int]]:  # fmt: skip
        """Verified archives of the range, the days from today on, the days without a file."""
        plan, recent = plan_archives(
            self.market, kind, symbol, from_ns, to_ns, today_index=today_index, interval=interval
        )
        fetched = fetch_archives(
            plan, cache_dir=cache_dir, settings=settings, downloader=fetcher,
            market=self.market, kind=kind, symbol=symbol, interval=interval, skip=skip,
            skipped=skipped,
        )  # fmt: skip
        got_days = {d for a, _ in fetched for d in a.days}
        missing = sorted({d for a in plan for d in a.days} - got_days)
        return fetched, recent, missing

    def download(
        self, symbol: str, from_ns: int, to_ns: int, *, cache_dir: Path, settings: Settings,
        fetcher: Fetcher, kind: ArchiveKind = "aggTrades", interval: str = "1m",
    ) -> Downloaded:  # fmt: skip
        fetched, recent, missing = self._archives(
            kind, symbol, from_ns, to_ns, cache_dir=cache_dir, settings=settings,
            fetcher=fetcher, today_index=time.time_ns() // NS_PER_DAY, interval=interval,
        )  # fmt: skip
        return Downloaded(symbol, [p for _a, p in fetched], missing, recent)

    def trade_files(
        self, symbol: str, from_ns: int, to_ns: int, *, cache_dir: Path, settings: Settings,
        fetcher: Fetcher, kind: ArchiveKind = "aggTrades", on_bad_rows: str = "error",
        skip: Callable[[str], bool] | None = None,
    ) -> TradeFiles:  # fmt: skip
        """Archives of the past days; today, and the last two days when their archive is
        not published yet, from REST aggTrades (``rest.py``). ``skip``: every archive's
        ``.CHECKSUM`` is read first and one whose hash passes is not downloaded."""
        now_ns = time.time_ns()
        today = now_ns // NS_PER_DAY
        skipped: dict[Path, str] = {}
        fetched, recent, missing_all = self._archives(
            kind, symbol, from_ns, to_ns, cache_dir=cache_dir, settings=settings,
            fetcher=fetcher, today_index=today, skip=skip, skipped=skipped,
        )  # fmt: skip
        size = (
            contract_size(symbol, cache_dir=cache_dir, settings=settings, downloader=fetcher)
            if self.market == "coinm"
            else None
        )
        rest_days = sorted({*recent, *(d for d in missing_all if d >= today - 2)})
        missing = [d for d in missing_all if d < today - 2]
        if rest_days and kind != "aggTrades":
            raise SourceError(
                f"{self.name}: recent days come from REST aggTrades only; use --kind aggTrades "
                "or end the range earlier"
            )
        spans: dict[Path, tuple[int, int]] = {}
        for day in rest_days:
            start = max(from_ns, day * NS_PER_DAY)
            end = min(to_ns, (day + 1) * NS_PER_DAY, now_ns)
            if end <= start:
                continue
            path = fetch_rest_day(
                self.market, symbol, start, end, cache_dir=cache_dir, settings=settings,
                downloader=fetcher,
            )  # fmt: skip
            spans[path] = (start, end)
        trade_kind: Kind = "trades" if kind == "trades" else "aggTrades"
        market = self.market

        def container(path: Path) -> Container:
            return "plain" if path in spans else "zip"

        def parse(path: Path, pieces: Pieces) -> Iterator[ParsedTrades]:
            if path in spans:
                yield parse_rest_lines(
                    b"".join(pieces_bytes(pieces)), name=str(path), start_ns=spans[path][0],
                    end_ns=spans[path][1], contract_size=size,
                )  # fmt: skip
                return
            yield from parse_pieces(
                pieces, source=str(path), market=market, kind=trade_kind,
                contract_size=size, on_bad_rows=on_bad_rows,
            )  # fmt: skip

        paths = [p for _a, p in fetched]
        hashes = {p: fetcher.verified_sha256[p] for p in paths if p in fetcher.verified_sha256}
        hashes.update(skipped)
        return TradeFiles(paths + list(spans), container, parse, missing, hashes, set(skipped))
