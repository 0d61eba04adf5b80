"""The live recorder: keep WebSocket connections open and capture everything they deliver.

For each connection the venue plans (:class:`~seriesfactory.sources._ws_base.ConnPlan`)
one task loops: connect, write an ``open`` record, send the subscribe messages, fetch
the REST depth snapshots (Binance), then write every message as it arrives. When the
connection ends (closed by the server, a protocol ping unanswered within
``ping_timeout_s``, nothing received for ``stale_timeout_s``, or a sequence gap on a
venue that resyncs by reconnecting), it writes ``close``, waits

    delay_n = min(reconnect_max_delay_s, reconnect_delay_s * 2**(n-1)) * U(0.5, 1.0)

(:func:`seriesfactory.core.backoff.backoff_delay_s` with ``k = n - 1``)

seconds before failed attempt ``n`` (exponential backoff with jitter; ``n`` restarts at
1 once a connection delivers a message), and gives up after ``reconnect_attempts``
consecutive failures (0 = never). The new session starts with a ``gap`` record
``{"reason": ..., "from_ns": ..., "to_ns": ...}`` (what was lost: ``from_ns`` is the
last receive time before the loss, ``to_ns`` the reconnect time) followed by ``open``.

Every message is parsed once (orjson) after it is written: a message that is not JSON
is logged and stays in the capture; sequence breaks (see each venue's ``sequence``)
are written as ``gap`` records ``{"reason": "sequence", "key", "expected", "got"}`` and
resynced: Binance fetches a fresh REST snapshot, the others reconnect.

Only network failures reconnect. A storage failure (the capture writer's ``OSError``:
a read-only or missing folder, a full disk) stops the recorder at once with a
:class:`~seriesfactory.errors.CacheError` naming the file: retrying cannot help, and
everything already flushed stays readable (the live file keeps its ``.part`` name).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import websockets
from websockets.asyncio.client import ClientConnection, connect

from seriesfactory.core import progress
from seriesfactory.core.backoff import backoff_delay_s
from seriesfactory.errors import CacheError, NetworkError
from seriesfactory.raw.capture import CaptureWriter, RecordKind
from seriesfactory.raw.config import RecordConfig
from seriesfactory.sources._ws_base import ConnPlan, SequenceTracker, WsVenue, ws_venue

__all__ = ["RecordStats", "Recorder"]

log = logging.getLogger("seriesfactory.record")
#: Malformed messages logged one by one before the log goes quiet (they are counted).
_MAX_MALFORMED_LOGGED = 20
#: Seconds connections get to close after stop() before they are cancelled.
_STOP_GRACE_S = 3.0
#: Attempts at a REST snapshot that is older than the stream's first diff.
_SNAPSHOT_TRIES = 5


@dataclass
class RecordStats:
    """Counters of one recorder run."""

    messages: int = 0
    rest: int = 0
    connects: int = 0
    gaps: int = 0
    malformed: int = 0
    per_conn: dict[str, int] = field(default_factory=dict)
    #: Why the last connection ended or failed ("" when none did).
    last_reason: str = ""


class _GuardedWriter:
    """The capture writer, with storage failures turned into one :class:`CacheError`.

    The first ``OSError`` is kept; the recorder is told to stop, and every later
    call raises the same error without touching the disk again.
    """

    def __init__(self, writer: CaptureWriter, on_failure: Callable[[CacheError], None]) -> None:
        self.inner = writer
        self.failure: CacheError | None = None
        self._on_failure = on_failure

    def _fail(self, exc: OSError) -> CacheError:
        if self.failure is None:
            where = exc.filename or self.inner.live_path or self.inner.folder
            why = exc.strerror or str(exc)
            self.failure = CacheError(
                f"{where}: cannot write the capture ({why}); free space or fix the folder's "
                "permissions, then record again (what was written so far is kept)"
            )
            self._on_failure(self.failure)
        return self.failure

    def write(self, kind: RecordKind, data: str, **kw: Any) -> None:
        if self.failure is not None:
            raise self.failure
        try:
            self.inner.write(kind, data, **kw)
        except OSError as exc:
            raise self._fail(exc) from None

    def tick(self) -> None:
        if self.failure is not None:
            return
        try:
            self.inner.tick()
        except OSError as exc:
            self._fail(exc)

    def close(self) -> None:
        try:
            self.inner.close()
        except OSError as exc:
            self._fail(exc)

    @property
    def completed(self) -> list[Path]:
        return self.inner.completed


class _Session:
    """State of one live connection session."""

    def __init__(self, plan: ConnPlan) -> None:
        self.plan = plan
        self.tracker = SequenceTracker()
        self.first_diff: dict[str, asyncio.Future[int]] = {}
        #: Symbols whose snapshot still waits for the stream's first diff.
        self.awaiting: dict[str, asyncio.Future[int]] = {}
        self.last_recv_ns = time.time_ns()
        self.reconnect_reason: str | None = None


class Recorder:
    """Record one venue's streams for some symbols into a :class:`CaptureWriter`.

    Parameters
    ----------
    config:
        The validated run configuration.
    writer:
        Where records go; by default a writer under ``config.stream_root``.
    """

    def __init__(self, config: RecordConfig, *, writer: CaptureWriter | None = None) -> None:
        self.config = config
        self.venue: WsVenue = ws_venue(config.venue)
        symbols = config.symbols
        inner = writer or CaptureWriter(
            config.stream_root,
            venue=config.venue,
            key=self.venue.folder_key(symbols),
            rotate_s=config.rotate_hours * 3600.0,
            rotate_bytes=int(config.rotate_gb * 2**30),
            flush_s=config.flush_s,
        )
        self.writer = _GuardedWriter(inner, self._storage_failed)
        ws_url, api_url = config.resolved_urls()
        self.plans = self.venue.plan(
            symbols, config.resolved_streams(), ws_url=ws_url, api_url=api_url
        )
        self.stats = RecordStats()
        self._rng = random.Random()
        self._stop = asyncio.Event()
        self._up: set[str] = set()
        #: Why each connection last ended (for the "recorded nothing" report).
        self.last_reasons: dict[str, str] = {}

    def _storage_failed(self, error: CacheError) -> None:
        del error  # raised by run() once every connection is down
        self._stop.set()

    def stop(self) -> None:
        """Ask every connection to close; :meth:`run` then flushes and returns."""
        self._stop.set()

    async def run(self) -> RecordStats:
        """Record until :meth:`stop`, ``duration_s``, or a connection gives up.

        Raises
        ------
        NetworkError
            A connection failed ``reconnect_attempts`` times in a row.
        CacheError
            The capture could not be written (what was flushed before stays readable).
        """
        cfg = self.config
        timeout = httpx.Timeout(cfg.rest_timeout_s)
        async with httpx.AsyncClient(timeout=timeout) as http:
            tasks = [asyncio.create_task(self._connection(p, http)) for p in self.plans]
            helpers = [asyncio.create_task(self._ticker()), asyncio.create_task(self._heartbeat())]
            if cfg.duration_s is not None:
                helpers.append(asyncio.create_task(self._stop_after(cfg.duration_s)))
            helpers.append(asyncio.create_task(self._cancel_stragglers(tasks)))
            try:
                await asyncio.gather(*tasks)
            except CacheError:
                pass  # raised below, once the other connections are down
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if not self._stop.is_set() or (current is not None and current.cancelling()):
                    raise  # cancelled from outside, not a straggler after stop()
            finally:
                self._stop.set()
                for t in tasks + helpers:
                    t.cancel()
                await asyncio.gather(*tasks, *helpers, return_exceptions=True)
                self.writer.close()
        if self.writer.failure is not None:
            raise self.writer.failure
        return self.stats

    # -- helpers -----------------------------------------------------------------
    async def _cancel_stragglers(self, tasks: list[asyncio.Task[None]]) -> None:
        """After :meth:`stop`, give connections a grace period, then cancel them.

        A connection stuck in its opening handshake (up to ``open_timeout_s``) or a
        slow close would otherwise delay shutdown.
        """
        await self._stop.wait()
        await asyncio.sleep(_STOP_GRACE_S)
        for task in tasks:
            task.cancel()

    async def _stop_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._stop.set()

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            self.writer.tick()

    async def _heartbeat(self) -> None:
        last_msgs, last_t = 0, time.monotonic()
        while True:
            await asyncio.sleep(self.config.heartbeat_s)
            now = time.monotonic()
            msgs = self.stats.messages
            rate = (msgs - last_msgs) / max(now - last_t, 1e-9)
            log.info(
                "record %s: %.1f msg/s, %d messages, %d REST, %d/%d connections up, "
                "%d gaps, %d malformed, %d files done",
                self.config.venue, rate, msgs, self.stats.rest, len(self._up),
                len(self.plans), self.stats.gaps, self.stats.malformed,
                len(self.writer.completed),
            )  # fmt: skip
            last_msgs, last_t = msgs, now

    async def _sleep_or_stop(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)

    def _gap(self, conn: str, info: dict[str, Any]) -> None:
        self.stats.gaps += 1
        self.writer.write("gap", orjson.dumps(info).decode(), conn=conn)

    # -- one connection ----------------------------------------------------------
    async def _connection(self, plan: ConnPlan, http: httpx.AsyncClient) -> None:
        cfg = self.config
        failures = 0
        lost: tuple[str, int] | None = None  # (why, last receive ns) awaiting a gap record
        last_data_ns: int | None = None
        ever_open = False
        while not self._stop.is_set():
            session = _Session(plan)
            reason = "closed by server"
            delivered = False
            opened = False
            progress.current().notice(f"{plan.conn_id}: connecting to {plan.url}")
            try:
                async with connect(
                    plan.url,
                    ping_interval=cfg.ping_interval_s,
                    ping_timeout=cfg.ping_timeout_s,
                    open_timeout=cfg.open_timeout_s,
                    close_timeout=2.0,
                    max_size=None,
                    compression=None,
                ) as ws:
                    self.stats.connects += 1
                    if lost is not None:
                        gap = {"reason": lost[0], "from_ns": lost[1], "to_ns": time.time_ns()}
                        self._gap(plan.conn_id, gap)
                        lost = None
                    self.writer.write("open", "", conn=plan.conn_id, url=plan.url)
                    self._up.add(plan.conn_id)
                    ever_open = opened = True
                    progress.current().notice(f"{plan.conn_id}: connected")
                    delivered, reason = await self._session(ws, session, http)
            except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            finally:
                if plan.conn_id in self._up:
                    self._up.discard(plan.conn_id)
                    info = orjson.dumps({"reason": reason}).decode()
                    if self.writer.failure is None:
                        self.writer.write("close", info, conn=plan.conn_id, url=plan.url)
            self.last_reasons[plan.conn_id] = reason
            if self._stop.is_set():
                return
            if delivered:
                last_data_ns = session.last_recv_ns
            if ever_open:
                lost = (reason, session.last_recv_ns if last_data_ns is None else last_data_ns)
            if delivered:
                failures = 0
            failures += 1
            if cfg.reconnect_attempts and failures > cfg.reconnect_attempts:
                raise NetworkError(
                    f"{plan.conn_id}: gave up after {cfg.reconnect_attempts} reconnect attempts "
                    f"({plan.url}): {reason}; raise --reconnect-attempts (0 = forever)"
                )
            if session.reconnect_reason is not None and failures == 1:
                delay = 0.0  # a sequence resync: reconnect at once
            else:
                delay = backoff_delay_s(
                    failures - 1,
                    base_s=cfg.reconnect_delay_s,
                    cap_s=cfg.reconnect_max_delay_s,
                    rng=self._rng,
                )
            log.warning("%s: %s; reconnecting in %.2f s", plan.conn_id, reason, delay)
            self.stats.last_reason = reason
            state = "disconnected" if opened else "could not connect"
            progress.current().notice(
                f"{plan.conn_id}: {state}: {reason}; retrying in {delay:.1f} s"
            )
            await self._sleep_or_stop(delay)

    async def _session(
        self, ws: ClientConnection, session: _Session, http: httpx.AsyncClient
    ) -> tuple[bool, str]:
        """Pump one connection; return (delivered anything, why it ended)."""
        plan = session.plan
        for text in plan.subscribe:
            await ws.send(text)
        side = [asyncio.create_task(self._watchdog(ws, session))]
        if self.venue.app_ping_s is not None:
            every_s = self.config.app_ping_s or self.venue.app_ping_s
            side.append(asyncio.create_task(self._app_ping(ws, every_s)))
        for symbol, url in plan.snapshots:
            fut = asyncio.get_running_loop().create_future()
            session.first_diff[symbol] = session.awaiting[symbol] = fut
            side.append(asyncio.create_task(self._snapshot(http, session, symbol, url)))
        write = self.writer.write
        conn = plan.conn_id
        stats = self.stats
        inspect = self._inspect
        clock = time.time_ns
        count = 0
        try:
            async for frame in ws:
                now_ns = clock()
                session.last_recv_ns = now_ns
                text = frame if isinstance(frame, str) else frame.decode("utf-8", "surrogateescape")
                write("msg", text, conn=conn, recv_ns=now_ns)
                stats.messages += 1
                count += 1
                inspect(ws, session, text, http, side)
        except websockets.exceptions.ConnectionClosed as exc:
            return count > 0, f"connection closed: {exc}"
        finally:
            stats.per_conn[conn] = stats.per_conn.get(conn, 0) + count
            for task in side:
                task.cancel()
            await asyncio.gather(*side, return_exceptions=True)
        if self._stop.is_set():
            return count > 0, "stopped"
        return count > 0, session.reconnect_reason or "closed by server"

    def _inspect(
        self,
        ws: ClientConnection,
        session: _Session,
        text: str,
        http: httpx.AsyncClient,
        side: list[asyncio.Task[None]],
    ) -> None:
        """Parse and sequence-check one message; a gap triggers its venue's resync."""
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            self.stats.malformed += 1
            if self.stats.malformed <= _MAX_MALFORMED_LOGGED:
                log.warning(
                    "%s: message %d is not JSON (%s), kept raw: %.120r",
                    session.plan.conn_id, self.stats.messages, exc, text,
                )  # fmt: skip
            return
        venue = self.venue
        try:
            if session.awaiting:
                ready = venue.snapshot_ready(msg)
                if ready is not None:
                    fut = session.awaiting.pop(ready[0], None)
                    if fut is not None and not fut.done():
                        fut.set_result(ready[1])
            point = venue.sequence(msg)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # JSON, but not shaped as the venue documents: kept raw, logged, reported by
            # the book reader; the recorder carries on.
            self.stats.malformed += 1
            if self.stats.malformed <= _MAX_MALFORMED_LOGGED:
                log.warning(
                    "%s: message %d has a broken field (%s: %s), kept raw: %.120r",
                    session.plan.conn_id, self.stats.messages, type(exc).__name__, exc, text,
                )  # fmt: skip
            return
        if point is None:
            return
        gap = session.tracker.check(point)
        if gap is None:
            return
        self._gap(session.plan.conn_id, gap)
        log.warning("%s: sequence gap on %s: expected %d, got %d", session.plan.conn_id,
                    point.key, gap["expected"], gap["got"])  # fmt: skip
        if venue.on_gap == "resnapshot":
            url = dict(session.plan.snapshots).get(point.symbol)
            if url is not None:
                done = asyncio.get_running_loop().create_future()
                done.set_result(point.first)
                session.first_diff[point.symbol] = done
                side.append(asyncio.create_task(self._snapshot(http, session, point.symbol, url)))
            return
        if session.reconnect_reason is None:
            # Close politely and keep reading: what already arrived is still captured.
            session.reconnect_reason = f"sequence gap on {point.key}"
            side.append(asyncio.create_task(ws.close(1000, "resync")))
        return

    async def _watchdog(self, ws: ClientConnection, session: _Session) -> None:
        stale_ns = int(self.config.stale_timeout_s * 1e9)
        while True:
            if self._stop.is_set():
                await ws.close(1000, "recorder stopping")
                return
            if time.time_ns() - session.last_recv_ns > stale_ns:
                session.reconnect_reason = f"nothing received for {self.config.stale_timeout_s} s"
                await ws.close(1000, "stale")
                return
            await asyncio.sleep(0.1)

    async def _app_ping(self, ws: ClientConnection, every_s: float) -> None:
        text = self.venue.app_ping()
        while True:
            await asyncio.sleep(every_s)
            await ws.send(text)

    async def _snapshot(
        self, http: httpx.AsyncClient, session: _Session, symbol: str, url: str
    ) -> None:
        """Fetch a REST depth snapshot that covers the stream's first diff; record each body."""
        first = session.first_diff[symbol]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(first), timeout=self.config.stale_timeout_s)
        first_id = first.result() if first.done() else None
        conn = session.plan.conn_id
        for attempt in range(1, _SNAPSHOT_TRIES + 1):
            try:
                response = await http.get(url)
            except httpx.HTTPError as exc:
                log.warning("%s: REST snapshot %s failed: %s", conn, url, exc)
            else:
                if response.status_code == 200:
                    self.writer.write("rest", response.text, conn=conn, url=url)
                    self.stats.rest += 1
                    try:
                        snap_id = self.venue.snapshot_id(orjson.loads(response.content))
                    except orjson.JSONDecodeError:
                        snap_id = None
                        log.warning("%s: REST snapshot %s is not JSON (kept raw)", conn, url)
                    if snap_id is not None and (first_id is None or snap_id >= first_id):
                        return
                else:
                    log.warning("%s: REST snapshot %s: HTTP %d", conn, url, response.status_code)
            await asyncio.sleep(min(0.25 * 2**attempt, 5.0))
        log.error("%s: no usable REST snapshot for %s after %d tries", conn, symbol, attempt)
