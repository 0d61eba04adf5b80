"""Versioned migrations of the store (``docs/store.md`` lists every table and column).

Each migration runs in its own transaction, under an advisory lock (two
migrators never interleave), and records itself in ``schema_version``;
re-running :func:`migrate` on an up-to-date database does nothing.

Time-series tables (``raw_trades``, ``bars``) are TimescaleDB hypertables with a
compression policy when the ``timescaledb`` extension is installed, else native
range-partitioned tables whose monthly partitions :func:`ensure_partitions`
creates on demand, in the writing transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import sql

__all__ = [
    "MIGRATIONS",
    "TIMESCALE_SQL",
    "SchemaInfo",
    "ensure_partitions",
    "migrate",
    "schema_info",
    "uses_timescale",
]

#: Key of the advisory lock that serialises migrations and partition creation.
LOCK_KEY = 0x5E1E5FAC


def _tables(cur: psycopg.Cursor, *, timescale: bool) -> None:
    create_tables(cur, partitioned=not timescale)
    if timescale:
        for statement in TIMESCALE_SQL:
            cur.execute(statement)


def create_tables(cur: psycopg.Cursor, *, partitioned: bool) -> None:
    """The tables of migration 1: range-partitioned by time, or plain (to become hypertables)."""
    part_trades = " PARTITION BY RANGE (timestamp)" if partitioned else ""
    part_bars = " PARTITION BY RANGE (time_start)" if partitioned else ""
    cur.execute(
        f"""
        CREATE TABLE raw_trades (
            timestamp   timestamptz NOT NULL,
            trade_id    bigint      NOT NULL,
            source      text        NOT NULL,
            pair        text        NOT NULL,
            price       numeric     NOT NULL CHECK (price > 0),
            size        numeric     NOT NULL CHECK (size >= 0),
            side        text        CHECK (side IN ('buy', 'sell')),
            UNIQUE (source, pair, timestamp, trade_id)
        ){part_trades}
        """
    )
    cur.execute(
        f"""
        CREATE TABLE bars (
            time_start    timestamptz      NOT NULL,
            time_end      timestamptz      NOT NULL,
            bar_type      text             NOT NULL,
            source        text             NOT NULL,
            pair          text             NOT NULL,
            open          double precision NOT NULL,
            high          double precision NOT NULL,
            low           double precision NOT NULL,
            close         double precision NOT NULL,
            vwap          double precision,
            volume        double precision NOT NULL,
            dollar_volume double precision NOT NULL,
            buy_volume    double precision NOT NULL,
            tick_count    bigint           NOT NULL,
            time_span     interval         NOT NULL,
            threshold     double precision,
            metadata      jsonb,
            UNIQUE (bar_type, source, pair, time_start)
        ){part_bars}
        """
    )
    cur.execute(
        """
        CREATE TABLE builder_state (
            bar_type   text        NOT NULL,
            source     text        NOT NULL,
            pair       text        NOT NULL,
            spec       jsonb       NOT NULL,
            state      jsonb       NOT NULL,
            cursor_ts  timestamptz NOT NULL,
            bars       bigint      NOT NULL DEFAULT 0,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (bar_type, source, pair)
        )
        """
    )
    cur.execute(
        """
        CREATE TABLE ingest_log (
            id        bigserial   PRIMARY KEY,
            source    text        NOT NULL,
            pair      text        NOT NULL,
            from_ts   timestamptz NOT NULL,
            to_ts     timestamptz NOT NULL,
            trades    bigint      NOT NULL,
            inserted  bigint      NOT NULL,
            note      text,
            logged_at timestamptz NOT NULL DEFAULT now(),
            CHECK (from_ts < to_ts)
        )
        """
    )
    cur.execute("CREATE INDEX ingest_log_pair ON ingest_log (source, pair, from_ts)")
    cur.execute(
        """
        CREATE TABLE heartbeat (
            source        text        NOT NULL,
            pair          text        NOT NULL,
            last_poll     timestamptz,
            trades_added  bigint      NOT NULL DEFAULT 0,
            lag_s         double precision,
            last_error    text,
            updated_at    timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (source, pair)
        )
        """
    )


#: What migration 1 runs after creating the tables when TimescaleDB is installed (the tables are
#: then created without ``PARTITION BY``): hypertables, and compression after 7 days.
TIMESCALE_SQL: tuple[str, ...] = (
    "SELECT create_hypertable('raw_trades', 'timestamp')",
    "SELECT create_hypertable('bars', 'time_start')",
    "ALTER TABLE raw_trades SET (timescaledb.compress, "
    "timescaledb.compress_segmentby = 'source, pair', "
    "timescaledb.compress_orderby = 'timestamp, trade_id')",
    "SELECT add_compression_policy('raw_trades', INTERVAL '7 days')",
)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    apply: Callable[[psycopg.Cursor, bool], None]


#: Every migration, in order; a new one is appended with the next version.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "raw_trades, bars, builder_state, ingest_log, heartbeat",
        lambda cur, ts: _tables(cur, timescale=ts),
    ),
)


def uses_timescale(conn: psycopg.Connection) -> bool:
    """Whether the ``timescaledb`` extension is installed in this database."""
    row = conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    return row is not None


def _current(conn: psycopg.Connection) -> int:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version integer PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: psycopg.Connection, *, timescale: bool | None = None) -> list[int]:
    """Apply the missing migrations, one transaction each; return the versions applied.

    ``timescale`` (default: whether the extension is installed, :func:`uses_timescale`)
    picks hypertables or native partitions.
    """
    applied: list[int] = []
    for migration in MIGRATIONS:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            if _current(conn) >= migration.version:
                continue
            if timescale is None:
                timescale = uses_timescale(conn)
            with conn.cursor() as cur:
                migration.apply(cur, timescale)
            conn.execute(
                "INSERT INTO schema_version (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
            applied.append(migration.version)
    return applied


@dataclass(frozen=True, slots=True)
class SchemaInfo:
    version: int
    latest: int
    timescale: bool
    partitions: dict[str, int]


def schema_info(conn: psycopg.Connection) -> SchemaInfo:
    """The applied version, the latest known, the storage path and partition counts."""
    exists = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    version = 0
    if exists and exists[0]:
        row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
        version = int(row[0]) if row else 0
    parts: dict[str, int] = {}
    for table in ("raw_trades", "bars"):
        row = conn.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = to_regclass(%s)", (table,)
        ).fetchone()
        parts[table] = int(row[0]) if row else 0
    return SchemaInfo(version, MIGRATIONS[-1].version, uses_timescale(conn), parts)


def _month_start(ts: dt.datetime) -> dt.datetime:
    return dt.datetime(ts.year, ts.month, 1, tzinfo=dt.UTC)


def _next_month(ts: dt.datetime) -> dt.datetime:
    return dt.datetime(ts.year + ts.month // 12, ts.month % 12 + 1, 1, tzinfo=dt.UTC)


def ensure_partitions(
    conn: psycopg.Connection, table: str, lo: dt.datetime, hi: dt.datetime, *, timescale: bool
) -> int:
    """Create the monthly partitions of ``table`` covering ``[lo, hi]``; return how many.

    Runs inside the caller's transaction (so a rolled-back write leaves no empty
    partition behind) under the advisory lock; TimescaleDB manages its own chunks.
    """
    if timescale:
        return 0
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
    created = 0
    month = _month_start(lo.astimezone(dt.UTC))
    while month <= hi:
        name = f"{table}_p{month:%Y_%m}"
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()
        if not (exists and exists[0]):
            conn.execute(
                sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                    sql.Identifier(name),
                    sql.Identifier(table),
                    sql.Literal(month),
                    sql.Literal(_next_month(month)),
                )
            )
            created += 1
        month = _next_month(month)
    return created
