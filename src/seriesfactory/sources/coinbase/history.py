"""Coinbase Advanced Trade public market trades, walked forward in time windows.

Endpoint: ``GET {coinbase_api_url}/api/v3/brokerage/market/products/{product_id}/ticker
?limit=1000&start=S&end=E`` (``S``, ``E`` in UNIX seconds). A real body (trimmed)::

    {"trades":[{"trade_id":"995098663","product_id":"BTC-USD","price":"68923.67",
      "size":"0.00064","time":"2026-04-07T00:28:58.544778Z","side":"SELL", ...}],
     "best_bid":"68923.66","best_ask":"68923.67"}

Trades come newest first. A day is walked in windows of ``WINDOW_S`` seconds; a
window that returns ``LIMIT`` trades may hold more, so it is split in two halves
(down to one second; a one-second window still full is an error). The bodies
of a day are kept, as received, one per line, in the raw tier at
``raw/coinbase/ticker/{PRODUCT}/{YYYY-MM-DD}.jsonl`` for days wholly in the
past (reused), ``{YYYY-MM-DD}.partial.jsonl`` for today up to now (rewritten on
every run).

``side`` is the **maker** side: ``SELL`` means a resting sell order was hit, so
the taker bought (+1); ``BUY`` means the taker sold (-1). The recorded body
above shows it: its latest ``SELL`` trade printed at the best ask.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from seriesfactory.config import Settings
from seriesfactory.core.atomic import atomic_write_bytes
from seriesfactory.core.time import NS_PER_DAY
from seriesfactory.errors import DataError, SourceError
from seriesfactory.schema import TRADE_SCHEMA
from seriesfactory.schema.trades import BadRow, ParsedTrades
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

__all__ = [
    "LIMIT",
    "WINDOW_S",
    "fetch_days",
    "parse_ticker_lines",
    "product_id",
    "rate_limiter",
    "walk_window",
]

LIMIT = 1000
WINDOW_S = 3600
_SIDES = {"SELL": 1, "BUY": -1}  # maker side -> taker side


def product_id(base: str, quote: str) -> str:
    return f"{base.upper()}-{quote.upper()}"


def _get(dl: Fetcher, url: str, pause: Callable[[], None]) -> bytes:
    pause()
    return dl.get_bytes(url)


def walk_window(
    product: str,
    start_s: int,
    end_s: int,
    settings: Settings,
    dl: Fetcher,
    pause: Callable[[], None],
) -> list[bytes]:
    """The bodies covering ``[start_s, end_s)``: a window returning ``LIMIT`` trades is halved."""
    base = f"{settings.coinbase_api_url}/api/v3/brokerage/market/products/{product}/ticker"
    todo = [(start_s, end_s)]
    bodies: list[bytes] = []
    while todo:
        s, e = todo.pop(0)
        body = _get(dl, f"{base}?limit={LIMIT}&start={s}&end={e}", pause)
        try:
            count = len(json.loads(body)["trades"])
        except (ValueError, KeyError, TypeError) as exc:
            raise SourceError(f"{base}: unexpected body for [{s}, {e}) ({exc})") from exc
        if count >= LIMIT:
            if e - s <= 1:
                raise SourceError(
                    f"{product}: more than {LIMIT} trades in the second {s}; cannot page further"
                )
            mid = (s + e) // 2
            todo[:0] = [(s, mid), (mid, e)]
            continue
        bodies.append(body.strip())
    return bodies


def rate_limiter(settings: Settings) -> Callable[[], None]:
    """A pause function keeping calls under ``coinbase_requests_per_s``."""
    interval = 1.0 / settings.coinbase_requests_per_s
    last = [0.0]

    def pause() -> None:
        wait = last[0] + interval - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        last[0] = time.monotonic()

    return pause


def _walk_day(
    product: str,
    day: int,
    settings: Settings,
    dl: Fetcher,
    pause: Callable[[], None],
    end_s: int | None = None,
) -> list[bytes]:
    """The bodies of ``day`` (days since 1970-01-01), up to ``end_s`` when it is today."""
    start_s = day * 86_400
    end_s = start_s + 86_400 if end_s is None else min(end_s, start_s + 86_400)
    bodies: list[bytes] = []
    for s in range(start_s, end_s, WINDOW_S):
        bodies += walk_window(product, s, min(s + WINDOW_S, end_s), settings, dl, pause)
    return bodies


def fetch_days(
    product: str,
    from_ns: int,
    to_ns: int,
    *,
    cache_dir: Path,
    settings: Settings,
    downloader: Fetcher,
) -> list[Path]:
    """One raw ``.jsonl`` per day of ``[from_ns, to_ns)``.

    A past day's file is reused when present. Today's part up to
    ``min(to_ns, now)`` goes to ``{date}.partial.jsonl``, fetched again on every
    run (the day is still growing); days after today are an error.
    """
    now_ns = time.time_ns()
    today = now_ns // NS_PER_DAY
    pause = rate_limiter(settings)
    out: list[Path] = []
    for day in range(from_ns // NS_PER_DAY, (to_ns - 1) // NS_PER_DAY + 1):
        if day > today:
            raise SourceError("coinbase: the range reaches past today (UTC); end it at now")
        date = (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()
        folder = cache_dir / "raw" / "coinbase" / "ticker" / product
        if day == today:
            end_s = -(-min(to_ns, now_ns) // 10**9)  # whole seconds, rounded up
            bodies = _walk_day(product, day, settings, downloader, pause, end_s)
            dest = atomic_write_bytes(folder / f"{date}.partial.jsonl", b"\n".join(bodies) + b"\n")
            out.append(dest)
            continue
        dest = folder / f"{date}.jsonl"
        if not dest.is_file():
            bodies = _walk_day(product, day, settings, downloader, pause)
            atomic_write_bytes(dest, b"\n".join(bodies) + b"\n")
        out.append(dest)
    return out


def parse_ticker_lines(data: bytes, *, name: str, on_bad_rows: str = "error") -> ParsedTrades:
    """Trades of one day file (one ticker body per line), time-ordered, duplicates removed."""
    seen: dict[int, tuple[int, float, float, int]] = {}
    bad: list[BadRow] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            trades = json.loads(line)["trades"]
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"not a ticker body ({exc})", path=name, line=number) from exc
        for t in trades:
            try:
                tid = int(t["trade_id"])
                ts = int(np.datetime64(t["time"].rstrip("Z"), "ns").astype(np.int64))
                price, size = float(t["price"]), float(t["size"])
                side = _SIDES[t["side"].upper()]
            except (KeyError, ValueError, TypeError, AttributeError) as exc:
                bad.append(BadRow(number, f"bad trade {str(t)[:80]} ({exc})"))
                continue
            if not (price > 0 and size >= 0):
                bad.append(BadRow(number, f"trade {tid}: price must be > 0, size >= 0"))
                continue
            seen[tid] = (ts, price, size, side)
    if bad and on_bad_rows != "skip":
        first = bad[0]
        raise DataError(f"{first.reason}; or pass --on-bad-rows=skip", path=name, line=first.line)
    ids = np.array(sorted(seen, key=lambda k: (seen[k][0], k)), np.int64)
    rows = [seen[int(i)] for i in ids]
    n = len(rows)
    ts_ns = np.array([r[0] for r in rows], np.int64)
    return ParsedTrades(
        pa.Table.from_arrays(
            [
                pa.array(ts_ns, type=pa.int64()).cast(TRADE_SCHEMA.field("ts").type),
                pa.nulls(n, type=TRADE_SCHEMA.field("recv_ts").type),
                pa.array([r[1] for r in rows], type=pa.float64()),
                pa.array([r[2] for r in rows], type=pa.float64()),
                pa.array([r[3] for r in rows], type=pa.int8()),
                pa.array(ids, type=pa.int64()),
            ],
            schema=TRADE_SCHEMA,
        ),
        bad,
    )


class CoinbaseHistory(HistoryVenue):
    """Coinbase's public trade pages (REST), one file per day."""

    names = ("coinbase",)
    home_quote = "USD"

    def symbol(self, base: str, quote: str) -> str:
        return product_id(base, quote)

    def split_symbol(self, text: str) -> tuple[str, str] | None:
        base, _, quote = text.partition("-")
        return base, quote

    def download(
        self, symbol: str, from_ns: int, to_ns: int, *, cache_dir: Path, settings: Settings,
        fetcher: Fetcher, kind: ArchiveKind = "aggTrades", interval: str = "1m",
    ) -> Downloaded:  # fmt: skip
        paths = fetch_days(
            symbol, from_ns, to_ns, cache_dir=cache_dir, settings=settings, downloader=fetcher
        )
        return Downloaded(symbol, paths)

    def trade_files(
        self, symbol: str, from_ns: int, to_ns: int, *, cache_dir: Path, settings: Settings,
        fetcher: Fetcher, kind: ArchiveKind = "aggTrades", on_bad_rows: str = "error",
        skip: Callable[[str], bool] | None = None,  # no published checksums: not used
    ) -> TradeFiles:  # fmt: skip
        paths = fetch_days(
            symbol, from_ns, to_ns, cache_dir=cache_dir, settings=settings, downloader=fetcher
        )

        def container(path: Path) -> Container:
            return "plain"

        def parse(path: Path, pieces: Pieces) -> Iterator[ParsedTrades]:
            data = b"".join(pieces_bytes(pieces))
            yield parse_ticker_lines(data, name=str(path), on_bad_rows=on_bad_rows)

        return TradeFiles(paths, container, parse)
