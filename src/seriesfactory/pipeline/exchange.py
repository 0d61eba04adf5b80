"""Exchange history into the cache tiers: raw archives -> trades tier -> ticks tier.

:func:`ensure_trades` downloads (or reuses) the verified archives covering a
range and ingests each into the trades tier once; :func:`venue_ticks` then
turns the trades of the range into a tick set (``lake/ticks.py``) whose key is
the SHA-256 of the venue, symbol, range, bad-row policy and the raw files'
content hashes, so a changed archive gives a new tick set.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seriesfactory._time import NS_PER_DAY
from seriesfactory.config import Settings
from seriesfactory.errors import DataError, InputError, SourceError
from seriesfactory.lake.atomic import file_sha256, key_sha256
from seriesfactory.lake.ticks import TickSet, write_tick_set
from seriesfactory.lake.trades import IngestRecord, TradeStore
from seriesfactory.raw import cache as raw_cache
from seriesfactory.raw.download import Downloader
from seriesfactory.sources.binance.history import (
    MARKETS,
    ArchiveKind,
    contract_size,
    fetch_archives,
    plan_archives,
    read_single_member,
    symbol_for,
)
from seriesfactory.sources.binance.parse import parse_trades_csv
from seriesfactory.sources.synthetic.base import TickArrays
from seriesfactory.transforms.ticks import TickBuilder

__all__ = ["IngestSummary", "VenueTicks", "ensure_trades", "venue_ticks"]

#: Bumped whenever the trades-to-ticks rules change (part of every tick-set key).
TICKS_RULES_VERSION = 1


@dataclass(slots=True)
class IngestSummary:
    """What :func:`ensure_trades` did: raw files used, new ingestions, bad rows skipped."""

    venue: str
    symbol: str
    records: list[IngestRecord] = field(default_factory=list)
    ingested: int = 0

    @property
    def bad_rows(self) -> int:
        return sum(r.bad_rows for r in self.records)

    def raw_hashes(self) -> list[str]:
        return [r.raw_sha256 for r in self.records]


@dataclass(slots=True)
class VenueTicks:
    ticks: TickSet
    info: dict[str, Any]
    generated: bool
    summary: IngestSummary


def _check_venue(venue: str) -> None:
    if venue not in MARKETS:
        raise SourceError(
            f"source {venue!r}: historical data is available for {', '.join(MARKETS)}"
        )


def ensure_trades(
    venue: str,
    *,
    base: str,
    quote: str,
    from_ns: int,
    to_ns: int,
    cache_dir: Path,
    settings: Settings,
    on_bad_rows: str = "error",
    kind: ArchiveKind = "aggTrades",
    downloader: Downloader | None = None,
) -> IngestSummary:
    """Make sure the trades tier holds ``[from_ns, to_ns)`` of ``venue``; return a summary."""
    _check_venue(venue)
    if kind == "klines":
        raise InputError("klines are candles, not trades; use 'download --kind klines'")
    market = MARKETS[venue]
    symbol = symbol_for(market, base, quote)
    today = time.time_ns() // NS_PER_DAY
    plan, recent = plan_archives(market, kind, symbol, from_ns, to_ns, today_index=today)
    if recent:
        raise SourceError(
            f"{venue}: days from today (UTC) on are not archived yet and the REST fallback is "
            "not available in this version; end the range at --to <today's date>"
        )
    store = TradeStore(cache_dir, venue, symbol)
    summary = IngestSummary(venue, symbol)
    with downloader or Downloader(settings) as dl:
        fetched = fetch_archives(
            plan,
            cache_dir=cache_dir,
            settings=settings,
            downloader=dl,
            market=market,
            kind=kind,
            symbol=symbol,
        )
        size = (
            contract_size(symbol, cache_dir=cache_dir, settings=settings, downloader=dl)
            if market == "coinm"
            else None
        )
    if not fetched:
        raise SourceError(
            f"{venue}: no {kind} archive of {symbol} exists for the range on "
            f"{settings.binance_data_url}; check the pair, the dates and the mirror URL"
        )
    for _archive, path in fetched:
        raw_cache.touch(path)
        sha = file_sha256(path)
        rec = store.record(sha)
        if rec is None:
            member, data = read_single_member(path, max_bytes=settings.max_member_bytes)
            parsed = parse_trades_csv(
                data,
                name=f"{path}!{member}",
                market=market,
                kind=kind,
                contract_size=size,
                on_bad_rows=on_bad_rows,
            )
            lines = [b.line for b in parsed.bad_rows]
            rec = store.ingest(parsed.table, raw_sha256=sha, raw_name=path.name, bad_lines=lines)
            summary.ingested += 1
        elif rec.bad_rows and on_bad_rows != "skip":
            raise DataError(
                f"{rec.bad_rows} malformed row(s) (skipped by an earlier run); fix or remove the "
                "file, or pass --on-bad-rows=skip",
                path=str(path),
                line=rec.bad_lines[0] if rec.bad_lines else None,
            )
        summary.records.append(rec)
    return summary


def trade_tick_chunks(
    store: TradeStore, from_ns: int, to_ns: int
) -> Iterator[tuple[TickArrays, np.ndarray[Any, Any]]]:
    """Trades of the range through a :class:`TickBuilder`, one chunk per trade day."""
    builder = TickBuilder()
    for table, source in store.read_range(from_ns, to_ns):
        if table.num_rows == 0:
            continue
        price = table.column("price").to_numpy()
        qty = table.column("qty").to_numpy()
        ts = table.column("ts").cast("int64").to_numpy()
        side = table.column("side").to_numpy()
        ticks, age = builder.update(ts, price, price * qty, side, source=source)
        if len(ticks):
            yield ticks, age
    ticks, age = builder.finish()
    if len(ticks):
        yield ticks, age


def venue_ticks(
    venue: str,
    *,
    base: str,
    quote: str,
    from_ns: int,
    to_ns: int,
    cache_dir: Path,
    settings: Settings,
    on_bad_rows: str = "error",
    downloader: Downloader | None = None,
) -> VenueTicks:
    """The tick set of ``venue`` over ``[from_ns, to_ns)`` (built from aggTrades if missing)."""
    summary = ensure_trades(
        venue,
        base=base,
        quote=quote,
        from_ns=from_ns,
        to_ns=to_ns,
        cache_dir=cache_dir,
        settings=settings,
        on_bad_rows=on_bad_rows,
        downloader=downloader,
    )
    info: dict[str, Any] = {
        "venue": venue,
        "symbol": summary.symbol,
        "kind": "aggTrades",
        "from_ns": from_ns,
        "to_ns": to_ns,
        "on_bad_rows": on_bad_rows,
        "rules": TICKS_RULES_VERSION,
        "raw": [{"name": r.raw_name, "sha256": r.raw_sha256} for r in summary.records],
    }
    key = key_sha256(info)
    info["bad_rows"] = summary.bad_rows
    root = cache_dir / "ticks" / venue / summary.symbol / key[:16]
    existing = TickSet.open(root)
    if existing is not None:
        return VenueTicks(existing, info, False, summary)
    store = TradeStore(cache_dir, venue, summary.symbol)
    chunks = trade_tick_chunks(store, from_ns, to_ns)
    ticks = write_tick_set(root, key=key, chunks=chunks, info=info)
    return VenueTicks(ticks, info, True, summary)
