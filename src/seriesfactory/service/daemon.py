"""The 24/7 loop: backfill, poll every ``--interval``, build bars inline, survive failures.

One cycle (:func:`run_cycle`, also ``pipeline run``) ingests each pair from where
its stored trades end up to now, builds its configured bars, and writes its
heartbeat. A pair that fails (HTTP errors past the retries, bad data) gets its
error in the heartbeat and does not stop the others. :func:`run_daemon` repeats
cycles every ``interval_s``; a lost database connection is retried with
backoff (1, 2, 4, … 60 s) until the server is back; SIGINT/SIGTERM let the
current batch commit, then the loop ends with status 0.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import psycopg

from seriesfactory.config import Settings
from seriesfactory.core.time import NS_PER_DAY, NS_PER_S
from seriesfactory.errors import InputError, SeriesFactoryError
from seriesfactory.service.bars import build_pair
from seriesfactory.service.ingest import VENUES, Progress, ingest, pair_name
from seriesfactory.store.db import StoreError, connect, mask_url
from seriesfactory.store.io import Store
from seriesfactory.store.schema import migrate
from seriesfactory.transforms.bars import BarSpec

__all__ = ["Job", "install_stop_handlers", "parse_job", "run_cycle", "run_daemon"]

Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class Job:
    """One pair to keep up to date: venue and the venue's symbol."""

    venue: str
    symbol: str


def parse_job(text: str, default_venue: str) -> Job:
    """``'ETH-USD'`` (on ``default_venue``) or ``'binance:BTCUSDT'`` -> :class:`Job`."""
    venue, sep, symbol = text.partition(":")
    if not sep:
        venue, symbol = default_venue, text
    venue = venue.strip().lower()
    if venue not in VENUES:
        raise InputError(
            f"pair {text[:40]!r}: venue {venue[:20]!r} is not one of {', '.join(VENUES)}"
        )
    return Job(venue, pair_name(venue, symbol.strip()))


def install_stop_handlers(stop: threading.Event) -> None:
    """SIGINT and SIGTERM set ``stop`` (the current batch commits, then the loop ends)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _default_since(settings: Settings) -> int:
    if settings.store_since:
        from seriesfactory.service.ingest import parse_when

        return parse_when(settings.store_since, "store_since")
    return time.time_ns() // NS_PER_DAY * NS_PER_DAY


def run_cycle(
    store: Store, jobs: Sequence[Job], specs: Sequence[BarSpec], *, settings: Settings,
    cache_dir: Path, since_ns: int | None = None, stop: threading.Event | None = None,
    log: Log = _stderr, quiet: bool = True,
) -> dict[Job, str | None]:  # fmt: skip
    """One poll of every pair; return each pair's error (``None`` when it went well).

    ``psycopg.OperationalError`` (the connection is gone) is raised for the caller
    to reconnect; every other failure stays with its pair.
    """
    outcome: dict[Job, str | None] = {}
    for job in jobs:
        if stop is not None and stop.is_set():
            break
        try:
            coverage = store.coverage(job.venue, job.symbol)
            start = since_ns
            if start is None:
                start = coverage.spans[0][0] if coverage.spans else _default_since(settings)
            now = time.time_ns()
            progress = Progress(f"{job.venue} {job.symbol}", start, now, quiet=quiet)
            try:
                result = ingest(
                    store, job.venue, job.symbol, start, None, settings=settings,
                    cache_dir=cache_dir, stop=stop, progress=progress,
                )  # fmt: skip
            finally:
                progress.close()
            if stop is not None and stop.is_set():
                break  # interrupted: what was fetched is committed; no poll to report
            bars = 0
            for spec in specs:
                bars += build_pair(store, job.venue, job.symbol, spec, stop=stop)
            lag = max(0.0, (time.time_ns() - result.covered_to_ns) / NS_PER_S)
            with store.transaction():
                store.heartbeat(job.venue, job.symbol, ok=True, trades_added=result.inserted,
                                lag_s=lag)  # fmt: skip
            log(
                f"{job.venue} {job.symbol}: +{result.inserted} trades, +{bars} bars, "
                f"lag {lag:.0f} s"
            )
            outcome[job] = None
        except (psycopg.OperationalError, psycopg.InterfaceError):
            raise
        except (SeriesFactoryError, psycopg.Error) as exc:
            message = mask_url(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            outcome[job] = message
            log(f"error: {job.venue} {job.symbol}: {message} (other pairs continue)")
            try:
                if store.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    store.conn.rollback()
                with store.transaction():
                    store.heartbeat(job.venue, job.symbol, ok=False, error=message[:1000])
            except psycopg.OperationalError:
                raise
            except psycopg.Error:
                pass
    return outcome


def run_daemon(
    url: str, jobs: Sequence[Job], specs: Sequence[BarSpec], *, interval_s: float,
    settings: Settings, cache_dir: Path, since_ns: int | None = None,
    duration_s: float | None = None, stop: threading.Event | None = None, log: Log = _stderr,
    cycles: int | None = None,
) -> int:  # fmt: skip
    """Poll forever (or ``duration_s``, or ``cycles`` cycles) until ``stop``; return 0."""
    stop = stop or threading.Event()
    deadline = time.monotonic() + duration_s if duration_s is not None else None
    conn: psycopg.Connection | None = None
    backoff = 1.0
    done = 0
    first = True
    lost = False
    try:
        while not stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = connect(url)
                    migrate(conn)
                    if lost:
                        log(f"reconnected to {mask_url(url)}")
                        lost = False
                store = Store(conn)
                try:
                    run_cycle(store, jobs, specs, settings=settings, cache_dir=cache_dir,
                              since_ns=since_ns if first else None, stop=stop, log=log)  # fmt: skip
                finally:
                    store.close()  # its second connection, if a long read opened one
                first = False
                backoff = 1.0
                done += 1
            except (psycopg.OperationalError, psycopg.InterfaceError, StoreError) as exc:
                text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                log(f"database unavailable ({mask_url(text)}); retrying in {backoff:.0f} s")
                if conn is not None:
                    conn.close()
                conn = None
                lost = True
                stop.wait(backoff)
                backoff = min(60.0, backoff * 2)
                continue
            if cycles is not None and done >= cycles:
                break
            wait = interval_s
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    break
            stop.wait(wait)
            if deadline is not None and time.monotonic() >= deadline:
                break
    finally:
        if conn is not None:
            conn.close()
    return 0
