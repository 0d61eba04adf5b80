"""Bybit public trading archives: one gzip CSV per symbol and UTC day.

URL: ``{bybit_data_url}/trading/{SYMBOL}/{SYMBOL}{YYYY-MM-DD}.csv.gz``, e.g.
``https://public.bybit.com/trading/BTCUSDT/BTCUSDT2024-01-01.csv.gz``. There is
no checksum file: integrity rests on the gzip CRC-32 (checked on read) and the
downloader's length check. A day the server does not have (404) has no data;
:func:`fetch_days` returns those days so the caller can report them.
"""

from __future__ import annotations

import datetime as dt
import gzip
import zlib
from pathlib import Path

from seriesfactory.config import Settings
from seriesfactory.core.time import NS_PER_DAY
from seriesfactory.errors import IntegrityError, MissingFileError
from seriesfactory.sources._fetch import Fetcher

__all__ = ["bybit_symbol", "fetch_days", "read_gzip"]


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


def read_gzip(path: Path, *, max_bytes: int) -> bytes:
    """The decompressed bytes (every gzip member), CRC-checked, at most ``max_bytes``."""
    try:
        with gzip.open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise IntegrityError(f"{path}: corrupt gzip ({exc}); delete it to re-download") from exc
    if len(data) > max_bytes:
        raise IntegrityError(f"{path}: over {max_bytes} bytes when inflated")
    return data
