"""Binance REST ``aggTrades`` for the days not archived yet (today, and a late yesterday).

Endpoints: spot ``{binance_spot_api_url}/api/v3/aggTrades``, USD-M
``{binance_usdm_api_url}/fapi/v1/aggTrades``, COIN-M
``{binance_coinm_api_url}/dapi/v1/aggTrades``. A raw body::

    [{"a":26129,"p":"0.01633102","q":"4.70443515","f":27781,"l":27781,
      "T":1498793709153,"m":true,"M":true}]

Walk over ``[start, end)``: find the first id with ``startTime``/``endTime``
windows of one hour (the API's limit when both are given), then page forward by
``fromId = last id + 1`` with ``limit=1000`` until a trade at or after ``end``
or a short page. Requests are paced at ``binance_rest_requests_per_s``; HTTP 429
(with ``Retry-After``) is retried by the downloader. The bodies are kept, as
received, one per line, at ``raw/binance/rest/{market}/aggTrades/{SYMBOL}/{date}.jsonl``;
the file is rewritten on each run because the day is still growing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from seriesfactory.config import Settings
from seriesfactory.core.atomic import atomic_write_bytes
from seriesfactory.core.time import NS_PER_DAY, NS_PER_MS
from seriesfactory.errors import DataError, SourceError
from seriesfactory.schema.trades import ParsedTrades
from seriesfactory.sources._fetch import Fetcher
from seriesfactory.sources.binance.parse import Market, to_trade_table

__all__ = ["PAGE_LIMIT", "fetch_rest_day", "parse_rest_lines"]

PAGE_LIMIT = 1000
_HOUR_MS = 3_600_000
_PATHS = {"spot": "/api/v3/aggTrades", "usdm": "/fapi/v1/aggTrades", "coinm": "/dapi/v1/aggTrades"}


def _base(market: Market, settings: Settings) -> str:
    url = {
        "spot": settings.binance_spot_api_url,
        "usdm": settings.binance_usdm_api_url,
        "coinm": settings.binance_coinm_api_url,
    }[market]
    return url + _PATHS[market]


def _time_ms(value: int) -> int:
    return value // 1000 if value >= 10**14 else value  # a microsecond stamp, if ever sent


def fetch_rest_day(
    market: Market,
    symbol: str,
    start_ns: int,
    end_ns: int,
    *,
    cache_dir: Path,
    settings: Settings,
    downloader: Fetcher,
) -> Path:
    """Fetch the aggTrades of ``[start_ns, end_ns)`` (within one UTC day) into the raw tier."""
    url = _base(market, settings)
    start_ms, end_ms = start_ns // NS_PER_MS, -(-end_ns // NS_PER_MS)
    interval = 1.0 / settings.binance_rest_requests_per_s
    last_call = [0.0]

    def get(query: str) -> bytes:
        wait = last_call[0] + interval - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        last_call[0] = time.monotonic()
        return downloader.get_bytes(f"{url}?symbol={symbol}&limit={PAGE_LIMIT}&{query}")

    bodies: list[bytes] = []
    next_id: int | None = None
    window = start_ms
    while next_id is None and window < end_ms:
        body = get(f"startTime={window}&endTime={min(window + _HOUR_MS, end_ms) - 1}")
        page = _page(body, url)
        if page:
            bodies.append(body.strip())
            if len(page) < PAGE_LIMIT:
                window += _HOUR_MS  # the whole window fitted: look at the next one
                continue
            next_id = int(page[-1]["a"]) + 1
        else:
            window += _HOUR_MS
    while next_id is not None:
        body = get(f"fromId={next_id}")
        page = _page(body, url)
        if not page:
            break
        bodies.append(body.strip())
        if len(page) < PAGE_LIMIT or _time_ms(int(page[-1]["T"])) >= end_ms:
            break
        next_id = int(page[-1]["a"]) + 1
    day = start_ns // NS_PER_DAY
    date = np.datetime_as_string(np.datetime64(day, "D"))
    dest = cache_dir / "raw" / "binance" / "rest" / market / "aggTrades" / symbol / f"{date}.jsonl"
    atomic_write_bytes(dest, b"\n".join(bodies) + b"\n")
    return dest


def _page(body: bytes, url: str) -> list[dict[str, Any]]:
    try:
        page = json.loads(body)
    except ValueError as exc:
        raise SourceError(f"{url}: response is not JSON ({exc})") from exc
    if not isinstance(page, list):
        raise SourceError(f"{url}: expected a list of trades, got {str(page)[:120]}")
    return page


def parse_rest_lines(
    data: bytes, *, name: str, start_ns: int, end_ns: int, contract_size: float | None
) -> ParsedTrades:
    """Trades of a ``.jsonl`` of pages within ``[start_ns, end_ns)``, by id, duplicates removed."""
    rows: dict[int, tuple[int, float, float, bool]] = {}
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            for t in json.loads(line):
                t_ms = _time_ms(int(t["T"]))
                flag = t["m"]
                if not isinstance(flag, bool):
                    raise TypeError(f"m={flag!r} is not a boolean")
                rows[int(t["a"])] = (t_ms, float(t["p"]), float(t["q"]), flag)
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"bad aggTrades page ({exc})", path=name, line=number) from exc
    ids = np.array(sorted(rows), np.int64)
    ts = np.array([rows[int(i)][0] for i in ids], np.int64)
    keep = (ts * NS_PER_MS >= start_ns) & (ts * NS_PER_MS < end_ns)
    price = np.array([rows[int(i)][1] for i in ids], np.float64)
    qty = np.array([rows[int(i)][2] for i in ids], np.float64)
    maker = np.array([rows[int(i)][3] for i in ids], np.bool_)
    if ts.shape[0] > 1 and bool((np.diff(ts) < 0).any()):
        raise DataError("aggTrades ids and times disagree in order", path=name)
    table = to_trade_table(ts[keep], price[keep], qty[keep], maker[keep], ids[keep], contract_size)
    return ParsedTrades(table, [])
