"""Trades and bars in and out of the store, in bulk.

Writes: the rows are encoded by numpy into PostgreSQL's binary ``COPY`` format
(fixed-width big-endian fields, no Python loop per row), copied into a
temporary staging table, then moved with ``INSERT … SELECT … ON CONFLICT DO
NOTHING``, so re-writing rows already stored changes nothing. Reads: ``COPY
(SELECT …) TO STDOUT (FORMAT BINARY)`` of fixed-width columns, decoded by numpy
into Arrow. The caller owns the transaction: a batch is committed with its
``ingest_log`` row (trades) or with its builder state (bars).

Times are stored with PostgreSQL's resolution, microseconds; every identifier is
composed with :mod:`psycopg.sql`, every value is a parameter or copied data.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from seriesfactory._jit import JIT_DISABLED
from seriesfactory.errors import DataError
from seriesfactory.schema import TS_TYPE
from seriesfactory.store.schema import ensure_partitions, uses_timescale

__all__ = [
    "TRADES_SCHEMA",
    "Coverage",
    "Store",
    "from_ns",
    "to_ns",
]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

#: Microseconds from 1970-01-01 to PostgreSQL's epoch, 2000-01-01 (UTC).
PG_EPOCH_US = 946_684_800_000_000
_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
_TRAILER = b"\xff\xff"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

#: What :meth:`Store.read_trades` returns.
TRADES_SCHEMA = pa.schema(
    [
        pa.field("ts", TS_TYPE, nullable=False),
        pa.field("price", pa.float64(), nullable=False),
        pa.field("qty", pa.float64(), nullable=False),
        pa.field("side", pa.int8(), nullable=False),
        pa.field("trade_id", pa.int64(), nullable=False),
    ]
)


def from_ns(ns: int) -> dt.datetime:
    """ns since the epoch -> an aware UTC datetime (microseconds, floored)."""
    return _EPOCH + dt.timedelta(microseconds=ns // 1000)


def to_ns(value: dt.datetime) -> int:
    """An aware datetime -> ns since the epoch."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


_CODES = {"i8": ">i8", "f8": ">f8", "i2": ">i2"}


def _row_dtype(codes: Sequence[str]) -> np.dtype[Any]:
    fields: list[tuple[str, str]] = [("n", ">i2")]
    for i, code in enumerate(codes):
        fields += [(f"l{i}", ">i4"), (f"v{i}", _CODES[code])]
    return np.dtype(fields)


def encode_copy(columns: Sequence[tuple[str, npt.NDArray[Any]]]) -> bytes:
    """Binary ``COPY`` data (header, rows, trailer) of NOT NULL fixed-width columns.

    ``columns`` are ``(code, values)`` with code ``i8`` (bigint or timestamptz in
    µs since 2000), ``f8`` (float8) or ``i2`` (smallint).
    """
    dtype = _row_dtype([c for c, _ in columns])
    n = len(columns[0][1]) if columns else 0
    rows = np.empty(n, dtype)
    rows["n"] = len(columns)
    for i, (code, values) in enumerate(columns):
        rows[f"l{i}"] = 8 if code != "i2" else 2
        rows[f"v{i}"] = values
    return _HEADER + rows.tobytes() + _TRAILER


def decode_copy(data: bytes | bytearray | memoryview, codes: Sequence[str]) -> np.ndarray:
    """Rows of binary ``COPY`` output whose fields are all NOT NULL and fixed-width."""
    view = memoryview(data)
    if bytes(view[:11]) != _HEADER[:11]:
        raise DataError("the server's COPY output has no binary header")
    ext = int.from_bytes(view[15:19], "big")
    body = view[19 + ext : len(view) - 2]
    dtype = _row_dtype(codes)
    if len(body) % dtype.itemsize:
        raise DataError("the server's COPY output does not hold whole fixed-width rows")
    return np.frombuffer(body, dtype)


def _us(ts_ns: I64) -> I64:
    return np.floor_divide(ts_ns, 1000) - PG_EPOCH_US


_ERRORS = {
    1: "has no binary header",
    2: "is cut short",
    3: "has a row of unexpected fields",
    4: "has a malformed numeric",
    5: "has more rows than its size allows",
}


def decode_trades(data: npt.NDArray[Any], n: int) -> pa.Table:
    """Binary ``COPY`` rows (timestamptz, int8, numeric, numeric, text) -> :data:`TRADES_SCHEMA`."""
    from seriesfactory.store import nb

    cap = max(0, (n - nb.HEADER_LEN) // nb.MIN_ROW_BYTES + 1)
    ts = np.empty(cap, np.int64)
    ids = np.empty(cap, np.int64)
    price = np.empty(cap, np.float64)
    size = np.empty(cap, np.float64)
    side = np.empty(cap, np.int8)
    flags = np.empty(cap, np.uint8)
    off_p = np.empty(cap, np.int64)
    off_s = np.empty(cap, np.int64)
    rows, err, where = nb.parse_trades(data, n, ts, ids, price, size, side, flags, off_p, off_s,
                                       _P10)  # fmt: skip
    if err:
        raise DataError(f"the server's COPY output {_ERRORS.get(err, '?')} (byte {where})")
    flags = flags[:rows]
    for bit, values, offsets in ((nb.FLAG_PRICE, price, off_p), (nb.FLAG_SIZE, size, off_s)):
        todo = np.flatnonzero(flags & bit)
        if todo.size:  # beyond the exact fast path: decimal text, parsed correctly rounded
            text, offs = nb.numeric_text(data, offsets[todo])
            strings = pa.StringArray.from_buffers(todo.size, pa.py_buffer(offs), pa.py_buffer(text))
            values[todo] = strings.cast(pa.float64()).to_numpy()
    return pa.Table.from_arrays(
        [
            pa.array(ts[:rows], pa.int64()).cast(TS_TYPE),
            pa.array(price[:rows]),
            pa.array(size[:rows]),
            pa.array(side[:rows]),
            pa.array(ids[:rows]),
        ],
        schema=TRADES_SCHEMA,
    )


#: Ranges at least this long are read as two halves on two connections at once.
SPLIT_NS = 3_600 * 10**9
_P10 = np.array([10.0**k for k in range(23)])
_LIBPQ: list[tuple[int, int] | None] = []


def _libpq() -> tuple[int, int] | None:
    """Addresses of ``PQgetCopyData`` and ``PQfreemem`` in the libpq psycopg uses, if known.

    psycopg's "binary" build bundles its libpq (``psycopg_binary.libs``), the "c"
    build links the system's, the "python" one loads it with ctypes: the loaded
    library is found in ``/proc/self/maps`` and opened again by path (the same
    instance). ``None`` (read through psycopg's iteration) when it is not exactly
    one library or its version differs from psycopg's.
    """
    if _LIBPQ:
        return _LIBPQ[0]
    found: tuple[int, int] | None = None
    try:
        import ctypes

        from psycopg import pq

        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = {
                line.split(None, 5)[-1].strip()
                for line in maps
                if "/libpq" in line and ".so" in line
            }
        if pq.__impl__ == "binary":
            paths = {p for p in paths if "psycopg_binary" in p}
        if len(paths) == 1:
            lib = ctypes.CDLL(paths.pop())
            lib.PQlibVersion.restype = ctypes.c_int
            if lib.PQlibVersion() == pq.version():
                get = ctypes.cast(lib.PQgetCopyData, ctypes.c_void_p).value
                free = ctypes.cast(lib.PQfreemem, ctypes.c_void_p).value
                if get and free:
                    found = (int(get), int(free))
    except (OSError, AttributeError, ImportError):
        found = None
    _LIBPQ.append(found)
    return found


@dataclass(frozen=True, slots=True)
class Coverage:
    """Spans of time whose trades are all stored, per ``ingest_log`` (merged, ns)."""

    spans: list[tuple[int, int]]

    def resume(self, since_ns: int) -> int:
        """The first instant at or after ``since_ns`` not covered yet."""
        cursor = since_ns
        for lo, hi in self.spans:
            if lo <= cursor < hi:
                cursor = hi
        return cursor

    def end_from(self, start_ns: int | None) -> int | None:
        """End of the contiguous covered run holding ``start_ns`` (first span when ``None``)."""
        if not self.spans:
            return None
        if start_ns is None:
            return self.spans[0][1]
        for lo, hi in self.spans:
            if lo <= start_ns <= hi:
                return hi
        return None


class Store:
    """The store's reads and writes over one connection (the caller owns transactions)."""

    def __init__(self, conn: psycopg.Connection) -> None:
        if not conn.autocommit:
            # Lone statements must not open a transaction that would turn every later
            # ``transaction()`` into a savepoint and keep the batches uncommitted.
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.commit()
            conn.autocommit = True
        self.conn = conn
        self.timescale = uses_timescale(conn)
        self._months: dict[str, set[tuple[int, int]]] = {"raw_trades": set(), "bars": set()}
        self._staged: set[str] = set()
        #: Read through libpq by the numba kernels (else psycopg's COPY iteration).
        self.fast_copy = not JIT_DISABLED
        self._copy_bufs = [np.empty(1 << 22, np.uint8), np.empty(1 << 22, np.uint8)]
        self._helper_conn: psycopg.Connection | None = None
        self._helper_failed = False

    # -- partitions --------------------------------------------------------------------------
    def _partitions(self, table: str, lo_ns: int, hi_ns: int) -> None:
        lo, hi = from_ns(lo_ns), from_ns(hi_ns)
        months = set()
        y, m = lo.year, lo.month
        while (y, m) <= (hi.year, hi.month):
            months.add((y, m))
            y, m = (y + m // 12, m % 12 + 1)
        if months <= self._months[table]:
            return
        ensure_partitions(self.conn, table, lo, hi, timescale=self.timescale)
        self._months[table] |= months

    def forget_partitions(self) -> None:
        """Drop the caches of known partitions and staging tables (after a rollback)."""
        for known in self._months.values():
            known.clear()
        self._staged.clear()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction; a rollback also forgets what it may have created."""
        try:
            with self.conn.transaction():
                yield
        except BaseException:
            self.forget_partitions()
            raise

    # -- trades ------------------------------------------------------------------------------
    def _stage(self, name: str, ddl: str) -> None:
        if name in self._staged:
            return
        self.conn.execute(ddl)
        self._staged.add(name)

    def write_trades(self, source: str, pair: str, table: pa.Table) -> int:
        """Insert ``table`` (``ts``, ``price``, ``qty``, ``side``, ``trade_id``); return rows new.

        Rows already stored (same source, pair, time and trade id) are left as they are.
        """
        n = table.num_rows
        if n == 0:
            return 0
        ids = table.column("trade_id")
        if ids.null_count:
            raise DataError(f"{source} {pair}: {ids.null_count} trade(s) without a trade id")
        ts = table.column("ts").cast(pa.int64()).to_numpy()
        self._stage(
            "sf_stage_trades",
            "CREATE TEMP TABLE IF NOT EXISTS sf_stage_trades (ts timestamptz, trade_id bigint,"
            " price float8, size float8, side smallint) ON COMMIT DELETE ROWS",
        )
        payload = encode_copy(
            [
                ("i8", _us(ts)),
                ("i8", ids.to_numpy()),
                ("f8", table.column("price").to_numpy()),
                ("f8", table.column("qty").to_numpy()),
                ("i2", table.column("side").to_numpy().astype(np.int16)),
            ]
        )
        conn = self.conn
        lo_ns = int(ts.min())
        if self._past_max(source, pair, lo_ns):
            self._partitions("raw_trades", lo_ns, int(ts.max()))
            try:
                with conn.transaction():  # a savepoint: a clash falls back to the staged path
                    return self._plain_copy(source, pair, table)
            except psycopg.errors.UniqueViolation:
                pass
        conn.execute("TRUNCATE sf_stage_trades")
        with conn.cursor() as cur:
            with cur.copy("COPY sf_stage_trades FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(payload)
            self._partitions("raw_trades", int(ts.min()), int(ts.max()))
            cur.execute(
                "INSERT INTO raw_trades (timestamp, trade_id, source, pair, price, size, side)"
                " SELECT ts, trade_id, %s, %s, price::text::numeric, size::text::numeric,"
                " CASE side WHEN 1 THEN 'buy' WHEN -1 THEN 'sell' END FROM sf_stage_trades"
                " ON CONFLICT DO NOTHING",
                (source, pair),
            )
            return max(cur.rowcount, 0)

    def _past_max(self, source: str, pair: str, lo_ns: int) -> bool:
        """Whether every row from ``lo_ns`` on is newer than the pair's newest stored trade."""
        if not source or not pair or any(c in t for t in (source, pair) for c in '\t\n\r\\",'):
            return False  # names the text COPY or CSV writer would have to escape: staged path
        row = self.conn.execute(
            "SELECT max(timestamp) FROM raw_trades WHERE source = %s AND pair = %s",
            (source, pair),
        ).fetchone()
        return row is None or row[0] is None or to_ns(row[0]) < lo_ns // 1000 * 1000

    def _plain_copy(self, source: str, pair: str, table: pa.Table) -> int:
        """Text ``COPY`` straight into ``raw_trades`` (no staging, no conflict handling).

        Used for rows past the pair's stored maximum, where nothing can conflict;
        prices and sizes are written as the shortest decimal that reads back as
        the same float64, as on the staged path.
        """
        n = table.num_rows
        side = table.column("side")
        text_side = pc.if_else(
            pc.equal(side, 1),
            "buy",
            pc.if_else(pc.equal(side, -1), "sell", pa.scalar(None, pa.string())),
        )
        ts_us = pc.divide(table.column("ts").cast(pa.int64()), 1000)
        out = pa.table(
            {
                "t": ts_us.cast(pa.timestamp("us", tz="UTC")),
                "i": table.column("trade_id"),
                "s": pa.repeat(pa.scalar(source), n),
                "p": pa.repeat(pa.scalar(pair), n),
                "x": table.column("price").cast(pa.string()),
                "q": table.column("qty").cast(pa.string()),
                "d": text_side,
            }
        )
        buf = io.BytesIO()
        pacsv.write_csv(
            out, buf, pacsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
        )
        with self.conn.cursor() as cur:
            with cur.copy(
                "COPY raw_trades (timestamp, trade_id, source, pair, price, size, side)"
                " FROM STDIN (NULL '')"
            ) as copy:
                copy.write(buf.getbuffer())
            return cur.rowcount if cur.rowcount >= 0 else n

    def read_trades(
        self, source: str, pair: str, from_ns_: int | None = None, to_ns_: int | None = None
    ) -> pa.Table:
        """Trades of ``[from, to)`` in (time, trade id) order, via binary ``COPY``, as Arrow.

        The columns travel as stored (``numeric`` in binary, no cast on the
        server) and :mod:`seriesfactory.store.nb` drains and decodes them. A range
        of an hour or more, read outside a transaction, is read as two halves at
        once on this connection and a second one (the server's side of a COPY is
        most of the cost): ``docs/store.md``, *Writes and reads*.
        """
        if (
            from_ns_ is not None
            and to_ns_ is not None
            and to_ns_ - from_ns_ >= SPLIT_NS
            and self.fast_copy
            and _libpq() is not None  # psycopg's own iteration would hold the GIL: one reader
            and self.conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        ):
            helper = self._helper()
            if helper is not None:
                return self._read_split(helper, source, pair, from_ns_, to_ns_)
        return self._read(self.conn, 0, source, pair, from_ns_, to_ns_)

    def _read_split(
        self, helper: psycopg.Connection, source: str, pair: str, lo: int, hi: int
    ) -> pa.Table:
        """``[lo, mid)`` on the helper connection in a thread while ``[mid, hi)`` is read here."""
        import threading

        mid = lo + (hi - lo) // 2
        got: list[pa.Table | BaseException] = []

        def first_half() -> None:
            try:
                got.append(self._read(helper, 1, source, pair, lo, mid))
            except BaseException as exc:  # handed to the caller's thread
                got.append(exc)

        worker = threading.Thread(target=first_half, name="sf-store-read", daemon=True)
        worker.start()
        try:
            second = self._read(self.conn, 0, source, pair, mid, hi)
        finally:
            worker.join()
        first = got[0]
        if isinstance(first, BaseException):
            if isinstance(first, psycopg.Error):
                self._drop_helper()
            raise first
        return pa.concat_tables([first, second])

    def _helper(self) -> psycopg.Connection | None:
        """The second connection (same server, user and database), opened on first use."""
        if self._helper_conn is None and not self._helper_failed:
            info = self.conn.info
            try:
                self._helper_conn = psycopg.connect(
                    info.dsn, autocommit=True, password=info.password or None
                )
            except psycopg.Error:
                self._helper_failed = True  # e.g. no connection slot left: read on one
                return None
            weakref.finalize(self, self._helper_conn.close)
        return self._helper_conn

    def _drop_helper(self) -> None:
        if self._helper_conn is not None:
            self._helper_conn.close()
            self._helper_conn = None

    def close(self) -> None:
        """Close the second connection, if one was opened (the caller closes its own)."""
        self._drop_helper()

    def _read(
        self, conn: psycopg.Connection, lane: int, source: str, pair: str,
        from_ns_: int | None, to_ns_: int | None,
    ) -> pa.Table:  # fmt: skip
        from psycopg import sql

        lo = from_ns(from_ns_) if from_ns_ is not None else None
        hi = from_ns(to_ns_) if to_ns_ is not None else None
        stmt = sql.SQL(
            "COPY (SELECT timestamp, trade_id, price, size, side"
            " FROM raw_trades WHERE source = {} AND pair = {}"
            " AND ({}::timestamptz IS NULL OR timestamp >= {})"
            " AND ({}::timestamptz IS NULL OR timestamp < {})"
            " ORDER BY timestamp, trade_id) TO STDOUT (FORMAT BINARY)"
        ).format(
            sql.Literal(source), sql.Literal(pair), sql.Literal(lo), sql.Literal(lo),
            sql.Literal(hi), sql.Literal(hi),
        )  # fmt: skip
        with conn.cursor() as cur, cur.copy(stmt) as copy:
            libpq = _libpq() if self.fast_copy else None
            ptr = getattr(conn.pgconn, "pgconn_ptr", None)
            if libpq is not None and ptr:
                data, n = self._drain(int(ptr), lane, copy, libpq)
            else:
                buf = bytearray()
                for chunk in copy:
                    buf += chunk
                data, n = np.frombuffer(buf, np.uint8), len(buf)
        return decode_trades(data, n)

    def _drain(
        self, ptr: int, lane: int, copy: psycopg.Copy, libpq: tuple[int, int]
    ) -> tuple[npt.NDArray[Any], int]:
        """The COPY's bytes through :func:`nb.drain`; psycopg then reads the end of it."""
        from seriesfactory.store import nb

        out = self._copy_bufs[lane]
        slot = np.zeros(1, np.uint64)
        get, free = np.uint64(libpq[0]), np.uint64(libpq[1])
        pos, pending = 0, 0
        while True:
            pos, code = nb.drain(get, free, np.uint64(ptr), out, pos, slot, pending)
            if code == 0:
                break
            if code > 0:  # the next message does not fit: grow, keep what is there
                bigger = np.empty(max(2 * out.size, pos + code), np.uint8)
                bigger[:pos] = out[:pos]
                out = self._copy_bufs[lane] = bigger
                pending = code
                continue
            self._copy_failed(copy.connection, code)
        if copy.read():
            raise DataError("the server's COPY output goes on after its trailer")
        return out, pos

    @staticmethod
    def _copy_failed(conn: psycopg.Connection, code: int) -> None:
        """Raise the error that ended a COPY early (server error or lost connection)."""
        pgconn = conn.pgconn
        message = pgconn.error_message.decode("utf-8", "replace").strip()
        if code == -1:  # the server ended the COPY with an error: collect it
            while (result := pgconn.get_result()) is not None:
                if result.error_message:
                    message = result.error_message.decode("utf-8", "replace").strip()
        raise psycopg.OperationalError(
            f"reading trades by COPY failed: {message or 'connection lost'}"
        )

    def iter_trades(
        self, source: str, pair: str, from_ns_: int, to_ns_: int, *, step_ns: int = 86_400 * 10**9
    ) -> Iterator[pa.Table]:
        """:meth:`read_trades` of ``[from, to)`` in consecutive spans of ``step_ns``.

        The next span is read in a thread while the caller works on the current one
        (the server's side of the read overlaps the caller's), so the caller must not
        use this store while iterating; closing the iterator waits for that read.
        """
        import threading

        spans = []
        lo = from_ns_
        while lo < to_ns_:
            hi = min(to_ns_, lo + step_ns)
            spans.append((lo, hi))
            lo = hi
        if not spans:
            return

        def start(span: tuple[int, int]) -> tuple[threading.Thread, list[Any]]:
            box: list[Any] = []

            def read() -> None:
                try:
                    box.append(self.read_trades(source, pair, *span))
                except BaseException as exc:  # handed to the caller's thread
                    box.append(exc)

            thread = threading.Thread(target=read, name="sf-store-prefetch", daemon=True)
            thread.start()
            return thread, box

        pending = start(spans[0])
        try:
            for i in range(len(spans)):
                thread, box = pending
                thread.join()
                got = box[0]
                if isinstance(got, BaseException):
                    raise got
                if i + 1 < len(spans):
                    pending = start(spans[i + 1])
                if got.num_rows:
                    yield got
        finally:
            pending[0].join()

    # -- coverage (ingest_log) ---------------------------------------------------------------
    def log_ingest(
        self, source: str, pair: str, lo_ns: int, hi_ns: int, trades: int, inserted: int,
        note: str | None = None,
    ) -> None:  # fmt: skip
        """Record that every trade of ``[lo, hi)`` is stored (same transaction as the trades)."""
        if hi_ns <= lo_ns:
            return
        self.conn.execute(
            "INSERT INTO ingest_log (source, pair, from_ts, to_ts, trades, inserted, note)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (source, pair, from_ns(lo_ns), from_ns(hi_ns), trades, inserted, note),
        )

    def coverage(self, source: str, pair: str) -> Coverage:
        rows = self.conn.execute(
            "SELECT from_ts, to_ts FROM ingest_log WHERE source = %s AND pair = %s"
            " ORDER BY from_ts, to_ts",
            (source, pair),
        ).fetchall()
        spans: list[tuple[int, int]] = []
        for lo_t, hi_t in rows:
            lo, hi = to_ns(lo_t), to_ns(hi_t)
            if spans and lo <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(spans[-1][1], hi))
            else:
                spans.append((lo, hi))
        return Coverage(spans)

    # -- bars and builder state ---------------------------------------------------------------
    def load_state(
        self, bar_type: str, source: str, pair: str
    ) -> tuple[dict[str, Any], int] | None:
        """``(builder state, cursor ns)`` saved for the bar type, or ``None``."""
        row = self.conn.execute(
            "SELECT state, cursor_ts FROM builder_state"
            " WHERE bar_type = %s AND source = %s AND pair = %s",
            (bar_type, source, pair),
        ).fetchone()
        if row is None:
            return None
        return dict(row[0]), to_ns(row[1])

    def write_bars(
        self, bar_type: str, source: str, pair: str, bars: pa.Table, *,
        state: dict[str, Any], cursor_ns: int, spec: dict[str, Any],
    ) -> int:  # fmt: skip
        """Insert closed bars and save the builder state (the caller commits both together)."""
        inserted = 0
        if bars.num_rows:
            start = bars.column("time_start").cast(pa.int64()).to_numpy()
            end = bars.column("time_end").cast(pa.int64()).to_numpy()
            thr = (
                bars.column("threshold").to_numpy()
                if "threshold" in bars.column_names
                else np.full(bars.num_rows, np.nan)
            )
            cols: list[tuple[str, npt.NDArray[Any]]] = [("i8", _us(start)), ("i8", _us(end))]
            for name in ("open", "high", "low", "close", "volume", "dollar_volume", "buy_volume"):
                cols.append(("f8", bars.column(name).to_numpy()))
            cols += [("i8", bars.column("tick_count").to_numpy()), ("f8", thr)]
            self._stage(
                "sf_stage_bars",
                "CREATE TEMP TABLE IF NOT EXISTS sf_stage_bars (time_start timestamptz,"
                " time_end timestamptz, open float8, high float8, low float8, close float8,"
                " volume float8, dollar_volume float8, buy_volume float8, tick_count bigint,"
                " threshold float8) ON COMMIT DELETE ROWS",
            )
            self.conn.execute("TRUNCATE sf_stage_bars")
            with self.conn.cursor() as cur:
                with cur.copy("COPY sf_stage_bars FROM STDIN (FORMAT BINARY)") as copy:
                    copy.write(encode_copy(cols))
                self._partitions("bars", int(start.min()), int(start.max()))
                cur.execute(
                    "INSERT INTO bars (time_start, time_end, bar_type, source, pair, open, high,"
                    " low, close, vwap, volume, dollar_volume, buy_volume, tick_count, time_span,"
                    " threshold, metadata)"
                    " SELECT time_start, time_end, %s, %s, %s, open, high, low, close,"
                    " CASE WHEN volume > 0 THEN dollar_volume / volume END, volume,"
                    " dollar_volume, buy_volume, tick_count, time_end - time_start,"
                    " NULLIF(threshold, 'NaN'), %s::jsonb FROM sf_stage_bars"
                    " ON CONFLICT DO NOTHING",
                    (bar_type, source, pair, json.dumps({"spec": spec})),
                )
                inserted = max(cur.rowcount, 0)
        self.conn.execute(
            "INSERT INTO builder_state (bar_type, source, pair, spec, state, cursor_ts, bars)"
            " VALUES (%s, %s, %s, %s::jsonb, %s::jsonb, %s, %s)"
            " ON CONFLICT (bar_type, source, pair) DO UPDATE SET spec = EXCLUDED.spec,"
            " state = EXCLUDED.state, cursor_ts = EXCLUDED.cursor_ts,"
            " bars = builder_state.bars + EXCLUDED.bars, updated_at = now()",
            (bar_type, source, pair, json.dumps(spec), json.dumps(state), from_ns(cursor_ns),
             inserted),
        )  # fmt: skip
        return inserted

    def read_bars(self, bar_type: str, source: str | None, pair: str) -> pa.Table:
        """Stored bars of one type and pair in time order, via binary ``COPY``, as Arrow."""
        from psycopg import sql

        stmt = sql.SQL(
            "COPY (SELECT time_start, time_end, open, high, low, close,"
            " coalesce(vwap, 'NaN'), volume, dollar_volume, buy_volume, tick_count,"
            " coalesce(threshold, 'NaN') FROM bars WHERE bar_type = {} AND pair = {}"
            " AND ({}::text IS NULL OR source = {}) ORDER BY source, time_start)"
            " TO STDOUT (FORMAT BINARY)"
        ).format(sql.Literal(bar_type), sql.Literal(pair), sql.Literal(source), sql.Literal(source))
        buf = bytearray()
        with self.conn.cursor() as cur, cur.copy(stmt) as copy:
            for chunk in copy:
                buf += chunk
        codes = ["i8", "i8", *["f8"] * 8, "i8", "f8"]
        rows = decode_copy(buf, codes)
        start = (rows["v0"].astype(np.int64) + PG_EPOCH_US) * 1000
        end = (rows["v1"].astype(np.int64) + PG_EPOCH_US) * 1000
        names = ["open", "high", "low", "close", "vwap", "volume", "dollar_volume", "buy_volume"]
        arrays: list[Any] = [
            pa.array(start, pa.int64()).cast(TS_TYPE),
            pa.array(end, pa.int64()).cast(TS_TYPE),
            pa.array((end - start) / 1e9),
        ]
        arrays += [pa.array(rows[f"v{i + 2}"].astype(np.float64)) for i in range(len(names))]
        arrays.append(pa.array(rows["v10"].astype(np.int64)))
        arrays.append(pa.array(rows["v11"].astype(np.float64)))
        return pa.Table.from_arrays(
            arrays, names=["time_start", "time_end", "time_span", *names, "tick_count", "threshold"]
        )

    # -- heartbeat ---------------------------------------------------------------------------
    def heartbeat(
        self, source: str, pair: str, *, ok: bool, trades_added: int = 0,
        lag_s: float | None = None, error: str | None = None,
    ) -> None:  # fmt: skip
        """Upsert the pair's heartbeat: a success sets ``last_poll``, a failure ``last_error``."""
        self.conn.execute(
            "INSERT INTO heartbeat AS h (source, pair, last_poll, trades_added, lag_s, last_error)"
            " VALUES (%s, %s, CASE WHEN %s THEN now() END, %s, %s, %s)"
            " ON CONFLICT (source, pair) DO UPDATE SET"
            " last_poll = coalesce(EXCLUDED.last_poll, h.last_poll),"
            " trades_added = CASE WHEN %s THEN EXCLUDED.trades_added ELSE h.trades_added END,"
            " lag_s = coalesce(EXCLUDED.lag_s, h.lag_s), last_error = EXCLUDED.last_error,"
            " updated_at = now()",
            (source, pair, ok, trades_added, lag_s, error, ok),
        )
