"""Exchange history into the cache tiers: raw files -> trades tier, raw files -> ticks tier.

Both start from the verified raw files of a range (downloaded when missing).
:func:`ensure_trades` ingests each into the trades tier once (``trades``,
``bars``); :func:`venue_ticks` parses them straight into a tick set
(``lake/ticks.py``, for ``series`` and ``ticks``) whose key is the SHA-256 of
the venue, symbol, range, bad-row policy and the raw files' content hashes, so
a changed archive gives a new tick set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from seriesfactory.config import Settings
from seriesfactory.core import progress
from seriesfactory.core.atomic import key_sha256
from seriesfactory.core.names import check_asset, check_symbol
from seriesfactory.core.storage import Remote
from seriesfactory.core.threads import prefetch
from seriesfactory.errors import DataError, InputError, SourceError
from seriesfactory.lake.shared import SharedTrades, lake_key
from seriesfactory.lake.ticks import TickSet, write_tick_set
from seriesfactory.lake.trades import IngestRecord, TradeStore
from seriesfactory.pipeline.missing import day_dates, missing_days_warning
from seriesfactory.raw import cache as raw_cache
from seriesfactory.raw.archives import read_pieces
from seriesfactory.raw.download import Downloader
from seriesfactory.raw.hashes import raw_sha256
from seriesfactory.schema import TickArrays
from seriesfactory.schema.trades import ParsedTrades
from seriesfactory.sources._history_base import (
    ArchiveKind,
    HistoryVenue,
    TradeFiles,
    history_venue,
)
from seriesfactory.transforms.ticks import TickBuilder

I64 = np.ndarray[Any, np.dtype[np.int64]]

__all__ = [
    "IngestSummary",
    "VenueTicks",
    "ensure_trades",
    "split_symbol",
    "venue_ticks",
    "venue_trades",
]

#: Bumped whenever the trades-to-ticks rules change (part of every tick-set key).
TICKS_RULES_VERSION = 1


@dataclass(slots=True)
class IngestSummary:
    """What :func:`ensure_trades` did: raw files used, new ingestions, bad rows skipped."""

    venue: str
    symbol: str
    records: list[IngestRecord] = field(default_factory=list)
    ingested: int = 0
    #: Day indices (days since 1970-01-01 UTC) of the range the server has no file for.
    missing_days: list[int] = field(default_factory=list)

    @property
    def bad_rows(self) -> int:
        return sum(r.bad_rows for r in self.records)

    def raw_hashes(self) -> list[str]:
        return [r.raw_sha256 for r in self.records]

    def missing_dates(self) -> list[str]:
        return day_dates(self.missing_days)

    def warning(self) -> str | None:
        """The one warning line naming :attr:`missing_days` (``None`` when there are none)."""
        info = {"venue": self.venue, "symbol": self.symbol, "missing_days": self.missing_dates()}
        return missing_days_warning([info])


@dataclass(slots=True)
class VenueTicks:
    ticks: TickSet
    info: dict[str, Any]
    generated: bool


def _venue(name: str) -> HistoryVenue:
    """The history venue called ``name`` (an unknown name is a :class:`SourceError`)."""
    return history_venue(name)


def _parse(files: TradeFiles, path: Path, max_bytes: int) -> Iterator[ParsedTrades]:
    """A raw file's trades: the raw tier opens it, the venue parses its pieces."""
    pieces = read_pieces(path, files.container(path), max_bytes=max_bytes)
    return files.parse(path, pieces)


def _trades_symbol(venue: str, *, base: str, quote: str, kind: ArchiveKind) -> str:
    """The checked venue symbol of ``base/quote`` whose trades are asked for."""
    history = _venue(venue)
    if kind == "klines":
        raise InputError("klines are candles, not trades; use 'download --kind klines'")
    check_asset(base, option="--base", venue=venue)
    check_asset(quote, option="--quote", venue=venue)
    return check_symbol(history.symbol(base, quote), venue=venue)


def _raw_files(
    venue: str, *, base: str, quote: str, from_ns: int, to_ns: int, cache_dir: Path,
    settings: Settings, on_bad_rows: str, kind: ArchiveKind, downloader: Downloader | None,
    skip: Callable[[str], bool] | None = None, empty_ok: bool = False,
) -> tuple[str, TradeFiles]:  # fmt: skip
    """The venue symbol and the verified raw files of the range (downloaded if missing,
    except those whose published checksum passes ``skip``: ``TradeFiles.skipped``)."""
    history = _venue(venue)
    symbol = _trades_symbol(venue, base=base, quote=quote, kind=kind)
    with downloader or Downloader(settings) as dl:
        files = history.trade_files(
            symbol, from_ns, to_ns, cache_dir=cache_dir, settings=settings, fetcher=dl,
            kind=kind, on_bad_rows=on_bad_rows, skip=skip,
        )  # fmt: skip
    if not files.paths and not empty_ok:
        raise SourceError(
            f"{venue}: no trade file of {symbol} exists for the range on the server; "
            "check the pair, the dates and the mirror URL"
        )
    for path in files.paths:
        # A verified archive's hash is known from its checksum check; any other
        # raw file's is remembered beside it while the file is unchanged.
        if path not in files.sha256:
            files.sha256[path] = raw_sha256(path)
        if path not in files.skipped:
            raw_cache.touch(path)
    return symbol, files


def ensure_trades(
    venue: str, *, base: str, quote: str, from_ns: int, to_ns: int, cache_dir: Path,
    settings: Settings, on_bad_rows: str = "error", kind: ArchiveKind = "aggTrades",
    downloader: Downloader | None = None, lake: Remote | None = None, empty_ok: bool = False,
) -> IngestSummary:  # fmt: skip
    """Make sure the trades tier holds ``[from_ns, to_ns)`` of ``venue``; return a summary.

    Binance: verified ``kind`` archives; Bybit: the daily trading files (raw
    trades, ``kind`` is ignored). A day whose file the server does not have
    holds no data and is listed in ``summary.missing_days``; a range without
    any file is an error (with ``empty_ok``, an empty summary).

    With ``lake`` (an object store, docs/scale.md) the trades tier that counts is the
    published one there: a raw file whose record is published is not ingested again, nor
    downloaded when the venue publishes its checksum (the record is looked up by the
    checksum's SHA-256 first); one that is not is ingested into the local tier under
    ``cache_dir`` and published.
    """
    shared = None
    if lake is not None:
        symbol = _trades_symbol(venue, base=base, quote=quote, kind=kind)
        shared = SharedTrades(lake, venue, symbol)
    #: Published records looked up, by raw SHA-256 (None: not published, or without seals).
    found: dict[str, IngestRecord | None] = {}

    def lookup(sha: str) -> IngestRecord | None:
        assert shared is not None
        if sha not in found:
            rec = shared.record(sha)
            found[sha] = rec if rec is not None and len(rec.seals) == len(rec.days) else None
        return found[sha]

    def published(sha: str) -> bool:
        """The raw file need not be downloaded: its record is published, with its seals."""
        return lookup(sha) is not None

    symbol, files = _raw_files(
        venue, base=base, quote=quote, from_ns=from_ns, to_ns=to_ns, cache_dir=cache_dir,
        settings=settings, on_bad_rows=on_bad_rows, kind=kind, downloader=downloader,
        skip=published if shared is not None else None, empty_ok=empty_ok,
    )  # fmt: skip
    store = TradeStore(cache_dir, venue, symbol)
    summary = IngestSummary(venue, symbol, missing_days=files.missing_days)
    if shared is not None:
        published_recs = {p: lookup(files.sha256[p]) for p in files.paths}
        todo = [p for p in files.paths if published_recs[p] is None]
    else:
        todo = [p for p in files.paths if store.record(files.sha256[p]) is None]
    task = progress.current().task(
        f"ingesting {venue} {symbol} trades", total=len(todo), unit="days"
    ) if todo else None  # fmt: skip
    for path in files.paths:
        sha = files.sha256[path]
        rec = published_recs[path] if shared is not None else None
        if rec is None:
            rec = store.record(sha)
        fresh = rec is None
        if rec is None:
            lines: list[int] = []

            def tables(pieces: Iterator[ParsedTrades], lines: list[int]) -> Iterator[pa.Table]:
                for parsed in pieces:
                    lines.extend(b.line for b in parsed.bad_rows)
                    yield parsed.table

            pieces = tables(_parse(files, path, settings.max_member_bytes), lines)
            rec = store.ingest_stream(pieces, raw_sha256=sha, raw_name=path.name, bad_lines=lines)
            summary.ingested += 1
            if task is not None:
                task.advance(1)
        if shared is not None and published_recs[path] is None:
            shared.publish(store, rec)  # day files first, the record (its manifest) last
        if not fresh and rec.bad_rows and on_bad_rows != "skip":
            raise DataError(
                f"{rec.bad_rows} malformed row(s) (skipped by an earlier run); fix or remove the "
                "file, or pass --on-bad-rows=skip",
                path=str(path),
                line=rec.bad_lines[0] if rec.bad_lines else None,
            )
        summary.records.append(rec)
    if task is not None:
        task.close()
    return summary


#: Quote assets recognised at the end of a concatenated symbol, longest first.
_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "BTC", "ETH", "BNB", "EUR", "TRY")


def split_symbol(venue: str, symbol: str) -> tuple[str, str]:
    """``(base, quote)`` of a venue symbol: ``BTCUSDT``, ``BTCUSD_PERP``, ``BTC-USD``, ``BTC/USDT``.

    ``BASE/QUOTE`` and ``BASE-QUOTE`` are taken as written. A concatenated
    symbol is split at the longest known quote asset at its end (``_QUOTES``)
    and checked by rebuilding the venue's symbol from the split (the table in
    ``docs/sources.md``); one that does not round-trip is an error that asks
    for the ``BASE/QUOTE`` form.
    """
    history = _venue(venue)
    if len(symbol) > 64 or ".." in symbol or "\\" in symbol or symbol.count("/") > 1:
        check_symbol(symbol, venue=venue)  # refused with the reason
    text = symbol.strip().upper()
    own = None if "/" in text else history.split_symbol(text)
    if "/" in text:
        base, _, quote = text.partition("/")
    elif own is not None:
        base, quote = own
    elif "-" in text:
        base, _, quote = text.partition("-")
    else:
        quote = next((q for q in _QUOTES if text.endswith(q) and len(text) > len(q)), "")
        base = text[: len(text) - len(quote)]
    if base and quote:
        check_asset(base, option="--symbol", venue=venue)
        check_asset(quote, option="--symbol", venue=venue)
    if not base or not quote:
        raise InputError(
            f"--symbol {symbol!r}: cannot tell base from quote on {venue}; "
            "write it as BASE/QUOTE, e.g. BTC/USDT"
        )
    expected = history.symbol(base, quote)
    if "/" not in text and "-" not in text and expected != text:
        raise InputError(
            f"--symbol {symbol!r} is not a {venue} symbol (expected e.g. {expected}); "
            "write it as BASE/QUOTE"
        )
    return base, quote


def venue_trades(
    venue: str, *, base: str, quote: str, from_ns: int, to_ns: int, cache_dir: Path,
    settings: Settings, on_bad_rows: str = "error", kind: ArchiveKind = "aggTrades",
    lake: Remote | None = None,
) -> tuple[IngestSummary, Iterator[tuple[pa.Table, str]]]:  # fmt: skip
    """Fill the trades tier for ``[from_ns, to_ns)`` (:func:`ensure_trades`), then read it.

    Returns the ingest summary and an iterator of ``(trades, day file)``, one
    time-ordered ``TRADE_SCHEMA`` table per UTC day, so at most one day of
    trades is in memory at a time. ``side`` is the taker side (+1 buy, -1 sell).
    With ``lake`` the days are read from the object store (lake/shared.py; ranged reads).
    """

    def ensure() -> IngestSummary:
        return ensure_trades(
            venue, base=base, quote=quote, from_ns=from_ns, to_ns=to_ns, cache_dir=cache_dir,
            settings=settings, on_bad_rows=on_bad_rows, kind=kind, lake=lake,
        )  # fmt: skip

    summary = ensure()

    # A damaged day file is evicted by the reader; ensure() then re-ingests its raw file
    # (and, with a lake, publishes it again).
    def repair() -> None:
        ensure()

    if lake is not None:
        shared = SharedTrades(lake, venue, summary.symbol)
        listed = {day for rec in summary.records for day in rec.days}  # must be in the lake
        return summary, shared.read_range(from_ns, to_ns, repair=repair, listed=listed)
    store = TradeStore(cache_dir, venue, summary.symbol)
    return summary, store.read_range(from_ns, to_ns, repair=repair)


def _concat(parts: list[tuple[TickArrays, I64]]) -> tuple[TickArrays, I64]:
    if len(parts) == 1:
        return parts[0]
    ticks = TickArrays(*(np.concatenate(cols) for cols in zip(*(t for t, _ in parts), strict=True)))
    return ticks, np.concatenate([a for _, a in parts])


def _tick_chunks(
    files: TradeFiles,
    from_ns: int,
    to_ns: int,
    info: dict[str, Any],
    *,
    max_bytes: int,
    chunk_rows: int = 1 << 20,
) -> Iterator[tuple[TickArrays, I64]]:
    """The raw files' trades in ``[from_ns, to_ns)`` through one :class:`TickBuilder`.

    Yields ``(ticks, age_ns)`` of about ``chunk_rows`` each (one Parquet row
    group); adds the bad rows skipped to ``info["bad_rows"]`` as it goes.
    """
    builder = TickBuilder()
    held: list[tuple[TickArrays, I64]] = []
    rows = 0
    where = f"{info.get('venue', '')} {info.get('symbol', '')}".strip()
    task = progress.current().task(
        f"building {where} ticks from trades", total=len(files.paths), unit="days"
    )
    for path in files.paths:
        for parsed in _parse(files, path, max_bytes):
            info["bad_rows"] += len(parsed.bad_rows)
            table = parsed.table
            ts = table.column("ts").cast(pa.int64()).to_numpy()
            lo, hi = (int(i) for i in np.searchsorted(ts, (from_ns, to_ns)))
            if hi <= lo:
                continue
            price = table.column("price").to_numpy()[lo:hi]
            qty = table.column("qty").to_numpy()[lo:hi]
            side = table.column("side").to_numpy()[lo:hi]
            got = builder.update(ts[lo:hi], price, price * qty, side, source=str(path))
            if len(got[0]):
                held.append(got)
                rows += len(got[0])
            if rows >= chunk_rows:
                yield _concat(held)
                held, rows = [], 0
        task.advance(1)
    task.close()
    got = builder.finish()
    if len(got[0]):
        held.append(got)
    if held:
        yield _concat(held)


def venue_ticks(
    venue: str, *, base: str, quote: str, from_ns: int, to_ns: int, cache_dir: Path,
    settings: Settings, on_bad_rows: str = "error", downloader: Downloader | None = None,
) -> VenueTicks:  # fmt: skip
    """The tick set of ``venue`` over ``[from_ns, to_ns)``, built from its raw files if missing.

    Binance: aggTrades archives (REST aggTrades for days not archived yet).
    The raw files are parsed straight into ticks (the trades tier is not
    needed); inflating, parsing with the trades-to-ticks kernel, and writing
    run as three overlapping stages.

    Inside a :func:`~seriesfactory.lake.shared.shared_lake` (``--cache-dir s3://…``) the
    set's key is first computed from the archives' published checksums alone, without
    downloading them: a set published (or held here) under that key is used as it is, and
    the archives are downloaded only when it is not (docs/scale.md).
    """
    checksums_first = lake_key(cache_dir / "ticks") is not None
    while True:
        symbol, files = _raw_files(
            venue, base=base, quote=quote, from_ns=from_ns, to_ns=to_ns, cache_dir=cache_dir,
            settings=settings, on_bad_rows=on_bad_rows, kind="aggTrades", downloader=downloader,
            skip=(lambda _sha: True) if checksums_first else None,
        )  # fmt: skip
        info: dict[str, Any] = {
            "venue": venue,
            "symbol": symbol,
            "kind": _venue(venue).trade_kind,
            "from_ns": from_ns,
            "to_ns": to_ns,
            "on_bad_rows": on_bad_rows,
            "rules": TICKS_RULES_VERSION,
            "raw": [{"name": p.name, "sha256": files.sha256[p]} for p in files.paths],
        }
        key = key_sha256(info)
        info["missing_days"] = day_dates(files.missing_days)
        root = cache_dir / "ticks" / venue / symbol / key[:16]
        existing = TickSet.open(root)
        if existing is not None:
            info["bad_rows"] = int(existing.info.get("bad_rows", 0))
            return VenueTicks(existing, info, False)
        if not files.skipped:
            break
        checksums_first = False  # not published: the archives are needed after all
    # Counted while the chunks are consumed; the manifest (with ``info``) is written after.
    info["bad_rows"] = 0
    chunks = prefetch(
        _tick_chunks(files, from_ns, to_ns, info, max_bytes=settings.max_member_bytes)
    )
    return VenueTicks(write_tick_set(root, key=key, chunks=chunks, info=info), info, True)
