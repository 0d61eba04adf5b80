"""Exchange trades into ``raw_trades``: resumable, committed batch by batch.

Coinbase: the Advanced Trade ticker walked forward in windows of
``WINDOW_S`` seconds, widened up to a day over quiet spans (a window returning
the page limit is halved until it does not,
:func:`~seriesfactory.sources.coinbase.history.walk_window`). Binance
(spot, USDⓈ-M, COIN-M): the verified daily archives through the raw tier and
the trades tier (:func:`~seriesfactory.pipeline.exchange.ensure_trades`), the
days not archived yet from REST.

Each batch is one transaction: its trades and the ``ingest_log`` row saying
that every trade of its time span is stored. A rerun starts where the covered
spans end (:meth:`~seriesfactory.store.io.Coverage.resume`), so a crash loses
nothing committed and re-ingesting a range stores nothing twice. The last
``SETTLE_S`` seconds before now are left for the next run (trades may still be
arriving there): an ingest ends at now - ``SETTLE_S``, the next starts there.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from seriesfactory.config import Settings
from seriesfactory.core.time import NS_PER_DAY, NS_PER_MS, NS_PER_S, parse_duration_ns
from seriesfactory.errors import InputError
from seriesfactory.lake.trades import TradeStore
from seriesfactory.pipeline.exchange import ensure_trades, split_symbol
from seriesfactory.raw.download import Downloader
from seriesfactory.sources.binance.history import MARKETS
from seriesfactory.sources.coinbase import history as coinbase
from seriesfactory.store.io import Store

__all__ = [
    "SETTLE_S",
    "VENUES",
    "IngestResult",
    "Progress",
    "ingest",
    "ingest_settings",
    "pair_name",
    "parse_duration_s",
    "parse_when",
]

#: Venues the store ingests.
VENUES = ("coinbase", *MARKETS)
#: Seconds before now that are fetched but not yet marked covered.
SETTLE_S = 5
#: Widest Coinbase window, seconds (quiet spans; a busy window is ``WINDOW_S``).
MAX_WINDOW_S = 86_400
#: Rows per committed batch of an archive day.
BATCH_ROWS = 250_000


def parse_duration_s(text: str, option: str) -> float:
    """``'15m'`` -> 900.0 seconds (:func:`~seriesfactory.core.time.parse_duration_ns`)."""
    return parse_duration_ns(text, option=option) / NS_PER_S


def parse_when(text: str, option: str) -> int:
    """``YYYY-MM-DD`` (00:00 UTC), an ISO-8601 instant (UTC unless it says), or ``now``; ns."""
    value = text.strip()
    if value.lower() == "now":
        return time.time_ns()
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{option} {text!r} is not a date or time: give YYYY-MM-DD, an ISO-8601 UTC "
            "instant such as 2025-01-31T12:00:00Z, or now"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    delta = parsed - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * NS_PER_S + delta.microseconds * 1000


def pair_name(venue: str, symbol: str) -> str:
    """The venue's own spelling of ``symbol`` (validated: hostile text is refused)."""
    if venue not in VENUES:
        raise InputError(f"venue {venue!r}: the store ingests {', '.join(VENUES)}")
    if len(symbol) > 64:
        raise InputError(f"symbol {symbol[:20]!r}... is {len(symbol)} characters; at most 64")
    base, quote = split_symbol(venue, symbol)
    if venue == "coinbase":
        return coinbase.product_id(base, quote)
    from seriesfactory.sources._history_base import history_venue

    return history_venue(venue).symbol(base, quote)


def ingest_settings(settings: Settings) -> Settings:
    """``settings`` with the store's retry rule (2, 4, 8, 16 s) unless the user set one."""
    given = settings.model_fields_set
    update: dict[str, float | int] = {}
    if "download_retries" not in given:
        update["download_retries"] = 4
    if "backoff_base_s" not in given:
        update["backoff_base_s"] = 2.0
    if "backoff_max_s" not in given:
        update["backoff_max_s"] = 16.0
    return settings.model_copy(update=update) if update else settings


class Progress:
    """Trades, range covered, rate and ETA on standard error (rich on a terminal)."""

    def __init__(self, label: str, lo_ns: int, hi_ns: int, *, quiet: bool = False) -> None:
        import sys

        self.label, self.lo, self.hi, self.quiet = label, lo_ns, hi_ns, quiet
        self.trades = 0
        self.t0 = time.monotonic()
        self._last = 0.0
        self._rich = None
        if not quiet and sys.stderr.isatty():
            from rich.progress import Progress as RichProgress

            self._rich = RichProgress(transient=True)
            self._rich.start()
            self._task = self._rich.add_task(label, total=max(hi_ns - lo_ns, 1))

    def update(self, covered_ns: int, added: int) -> None:
        import sys

        self.trades += added
        if self.quiet:
            return
        done = max(0, min(covered_ns, self.hi) - self.lo)
        elapsed = time.monotonic() - self.t0
        rate = self.trades / elapsed if elapsed > 0 else 0.0
        frac = done / max(self.hi - self.lo, 1)
        eta = elapsed * (1 - frac) / frac if frac > 0 else float("nan")
        upto = dt.datetime.fromtimestamp(covered_ns / 1e9, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        text = f"{self.label}: {self.trades} trades to {upto} UTC, {rate:,.0f}/s, ETA {eta:,.0f} s"
        if self._rich is not None:
            self._rich.update(self._task, completed=done, description=text)
        elif time.monotonic() - self._last >= 5.0:
            print(text, file=sys.stderr)
            self._last = time.monotonic()

    def close(self) -> None:
        if self._rich is not None:
            self._rich.stop()


@dataclass(slots=True)
class IngestResult:
    """What one :func:`ingest` call stored."""

    source: str
    pair: str
    from_ns: int
    to_ns: int
    trades: int = 0
    inserted: int = 0
    batches: int = 0
    covered_to_ns: int = 0
    notes: list[str] = field(default_factory=list)


def ingest(
    store: Store, venue: str, symbol: str, from_ns: int, to_ns: int | None = None, *,
    settings: Settings, cache_dir: Path, stop: threading.Event | None = None,
    progress: Progress | None = None, on_bad_rows: str = "error",
) -> IngestResult:  # fmt: skip
    """Store every trade of ``venue``/``symbol`` in ``[from_ns, to_ns)`` (``to`` defaults to now).

    Starts where the covered spans holding ``from_ns`` end; commits every batch;
    returns early, after a committed batch, once ``stop`` is set.
    """
    pair = pair_name(venue, symbol)
    now = time.time_ns()
    end = min(to_ns if to_ns is not None else now, now - SETTLE_S * NS_PER_S)
    if to_ns is not None and to_ns <= from_ns:
        raise InputError("--from must be before --to (--to is exclusive)")
    # Every covered span starts and ends on a whole millisecond: a trade then falls on the same
    # side of every boundary whether its time came in milliseconds (Binance REST) or in
    # microseconds (Binance spot archives since 2025), so no trade is stored twice at two times.
    from_ns -= from_ns % NS_PER_MS
    end -= end % NS_PER_MS
    start = store.coverage(venue, pair).resume(from_ns)
    result = IngestResult(venue, pair, from_ns, end, covered_to_ns=start)
    if start >= end:
        return result
    settings = ingest_settings(settings)
    if venue == "coinbase":
        _coinbase(store, pair, start, end, settings, stop, progress, result)
    else:
        _binance(store, venue, pair, start, end, settings, cache_dir, stop, progress, result,
                 on_bad_rows)  # fmt: skip
    return result


def _commit(
    store: Store, result: IngestResult, table: pa.Table, lo: int, hi: int | None, note: str | None
) -> int:
    with store.transaction():
        inserted = store.write_trades(result.source, result.pair, table)
        if hi is not None:
            store.log_ingest(result.source, result.pair, lo, hi, table.num_rows, inserted, note)
    result.trades += table.num_rows
    result.inserted += inserted
    result.batches += 1
    if hi is not None:
        result.covered_to_ns = max(result.covered_to_ns, hi)
    return inserted


def _coinbase(
    store: Store, product: str, start: int, end: int, settings: Settings,
    stop: threading.Event | None, progress: Progress | None, result: IngestResult,
) -> None:  # fmt: skip
    pause = coinbase.rate_limiter(settings)
    s = start // NS_PER_S
    end_s = end // NS_PER_S
    width = coinbase.WINDOW_S
    with Downloader(settings) as dl:
        while s < end_s:
            if stop is not None and stop.is_set():
                return
            e = min(s + width, end_s)
            bodies = coinbase.walk_window(product, s, e, settings, dl, pause)
            parsed = coinbase.parse_ticker_lines(
                b"\n".join(bodies), name=f"coinbase {product} [{s}, {e})"
            ).table
            # quiet spans are walked in wider windows (up to a day), busy ones in narrower
            if len(bodies) == 1 and parsed.num_rows < coinbase.LIMIT // 4:
                width = min(width * 2, MAX_WINDOW_S)
            elif len(bodies) > 2:
                width = max(width // 2, coinbase.WINDOW_S)
            ts = parsed.column("ts").cast(pa.int64())
            lo_ns, hi_ns = s * NS_PER_S, e * NS_PER_S
            mask = pc.and_(pc.greater_equal(ts, lo_ns), pc.less(ts, hi_ns))
            table = parsed.filter(mask).select(["ts", "price", "qty", "side", "trade_id"])
            added = _commit(store, result, table, max(lo_ns, start), hi_ns, None)
            if progress is not None:
                progress.update(hi_ns, added)
            s = e


def _binance(
    store: Store, venue: str, symbol: str, start: int, end: int, settings: Settings,
    cache_dir: Path, stop: threading.Event | None, progress: Progress | None,
    result: IngestResult, on_bad_rows: str,
) -> None:  # fmt: skip
    base, quote = split_symbol(venue, symbol)
    day0 = start // NS_PER_DAY
    summary = ensure_trades(
        venue, base=base, quote=quote, from_ns=day0 * NS_PER_DAY, to_ns=end,
        cache_dir=cache_dir, settings=settings, on_bad_rows=on_bad_rows,
    )  # fmt: skip
    missing = set(summary.missing_days)
    tier = TradeStore(cache_dir, venue, summary.symbol)
    tables = {
        int(table.column("ts").cast(pa.int64())[0].as_py()) // NS_PER_DAY: table
        for table, _path in tier.read_range(start, end)
        if table.num_rows
    }
    for day in range(day0, (end - 1) // NS_PER_DAY + 1):
        if stop is not None and stop.is_set():
            return
        lo, hi = max(start, day * NS_PER_DAY), min(end, (day + 1) * NS_PER_DAY)
        table = tables.get(day)
        note = "no archive on the server" if day in missing else None
        if note:
            result.notes.append(f"{dt.date(1970, 1, 1) + dt.timedelta(days=day)}: {note}")
        if table is None:
            _commit_empty(store, result, lo, hi, note)
            if progress is not None:
                progress.update(hi, 0)
            continue
        table = table.select(["ts", "price", "qty", "side", "trade_id"])
        n = table.num_rows
        ts_all = table.column("ts").cast(pa.int64())
        cuts = list(range(0, n, BATCH_ROWS)) or [0]
        span_lo = lo
        for i, cut in enumerate(cuts):
            last = i == len(cuts) - 1
            # each batch covers up to the millisecond of the next batch's first trade: what a
            # crash leaves stored is covered, but for trades sharing that millisecond (fetched
            # again from the same source by the rerun, so stored once)
            span_hi = hi
            if not last:
                next_ts = int(ts_all[cut + BATCH_ROWS].as_py())
                span_hi = next_ts - next_ts % NS_PER_MS
            added = _commit(
                store, result, table.slice(cut, BATCH_ROWS), span_lo,
                span_hi if span_hi > span_lo else None, note,
            )  # fmt: skip
            span_lo = max(span_lo, span_hi)
            if progress is not None:
                progress.update(span_lo, added)
            if stop is not None and stop.is_set() and not last:
                return


def _commit_empty(store: Store, result: IngestResult, lo: int, hi: int, note: str | None) -> None:
    with store.transaction():
        store.log_ingest(result.source, result.pair, lo, hi, 0, 0, note)
    result.batches += 1
    result.covered_to_ns = max(result.covered_to_ns, hi)
