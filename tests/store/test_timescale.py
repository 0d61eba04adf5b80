"""The TimescaleDB path of the store, as far as this machine allows.

With the extension available to the server (``pg_available_extensions``), the
real path runs: ``CREATE EXTENSION``, migration 1 makes hypertables with a
compression policy, and trades go in and out. Without it (the development
machine: TimescaleDB cannot be installed there), everything but the four
TimescaleDB statements runs for real: the detection query, the plain (not
partitioned) tables the path creates, writes and reads through them with the
store in its TimescaleDB mode, the migration rolled back whole when a statement
fails, and each statement checked against the catalog (the tables and columns it
names exist, the time column is NOT NULL timestamptz, every unique index holds it
as TimescaleDB requires). Not testable here: that TimescaleDB accepts these
statements, the chunks it creates and the compression job it runs.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import psycopg
import pyarrow as pa
import pytest

from seriesfactory.schema import TS_TYPE
from seriesfactory.store.io import Store
from seriesfactory.store.schema import (
    TIMESCALE_SQL,
    create_tables,
    ensure_partitions,
    migrate,
    schema_info,
    uses_timescale,
)

T0 = 1_735_689_600 * 10**9


def _available(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    return row is not None


def _trades(n: int) -> pa.Table:
    rng = np.random.default_rng(2)
    ts = T0 + np.sort(rng.integers(0, 70 * 86_400 * 10**6, n)) * 1000  # three months, µs
    return pa.table(
        {
            "ts": pa.array(ts).cast(TS_TYPE),
            "price": np.round(rng.uniform(100, 200, n), 2),
            "qty": np.round(rng.exponential(1, n), 6),
            "side": rng.choice(np.array([-1, 1], np.int8), n),
            "trade_id": np.arange(n, dtype=np.int64),
        }
    )


def _roundtrip(conn: psycopg.Connection) -> None:
    store = Store(conn)
    assert store.timescale or not _available(conn)
    store.timescale = True  # the store as it runs over hypertables
    table = _trades(5_000)
    with store.transaction():
        assert store.write_trades("coinbase", "ETH-USD", table) == 5_000  # plain COPY path
    with store.transaction():
        assert store.write_trades("coinbase", "ETH-USD", table) == 0  # staged, all conflicts
    back = store.read_trades("coinbase", "ETH-USD", T0, T0 + 80 * 86_400 * 10**9)
    store.close()
    assert back.column("trade_id").to_pylist() == table.column("trade_id").to_pylist()
    assert back.column("price").to_pylist() == table.column("price").to_pylist()


def _column(conn: psycopg.Connection, table: str, column: str) -> tuple[str, bool, int]:
    row = conn.execute(
        "SELECT format_type(atttypid, atttypmod), attnotnull, attnum FROM pg_attribute"
        " WHERE attrelid = to_regclass(%s) AND attname = %s AND NOT attisdropped",
        (table, column),
    ).fetchone()
    assert row is not None, f"{table}.{column} does not exist"
    return str(row[0]), bool(row[1]), int(row[2])


def test_detection_says_no_here_and_the_plain_path_is_migrated(conn: psycopg.Connection) -> None:
    assert uses_timescale(conn) is False
    info = schema_info(conn)
    assert info.timescale is False and info.partitions == {"raw_trades": 0, "bars": 0}


def test_the_timescale_path(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        if _available(conn):  # the real path
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            assert uses_timescale(conn)
            assert migrate(conn) == [1]
            rows = conn.execute(
                "SELECT hypertable_name, compression_enabled"
                " FROM timescaledb_information.hypertables ORDER BY 1"
            ).fetchall()
            assert rows == [("bars", False), ("raw_trades", True)]
            jobs = conn.execute(
                "SELECT count(*) FROM timescaledb_information.jobs"
                " WHERE proc_name = 'policy_compression' AND hypertable_name = 'raw_trades'"
            ).fetchone()
            assert jobs == (1,)
            _roundtrip(conn)
            return

        # not installable here: migration 1 with the TimescaleDB path fails on its first
        # TimescaleDB statement and leaves nothing behind (one transaction)
        with pytest.raises(psycopg.errors.UndefinedFunction, match="create_hypertable"):
            migrate(conn, timescale=True)
        left = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE tablename IN ('raw_trades', 'bars')"
        ).fetchone()
        assert left == (0,)

        # the tables the path creates (no PARTITION BY), checked against each statement
        with conn.transaction(), conn.cursor() as cur:
            create_tables(cur, partitioned=False)
        checked = 0
        for statement in TIMESCALE_SQL:
            if m := re.fullmatch(r"SELECT create_hypertable\('(\w+)', '(\w+)'\)", statement):
                table, column = m.groups()
                kind, not_null, attnum = _column(conn, table, column)
                assert (kind, not_null) == ("timestamp with time zone", True)
                unique = conn.execute(
                    "SELECT indkey::text FROM pg_index WHERE indrelid = to_regclass(%s)"
                    " AND indisunique",
                    (table,),
                ).fetchall()
                assert unique and all(str(attnum) in k.split() for (k,) in unique), unique
                checked += 1
            elif m := re.fullmatch(
                r"ALTER TABLE (\w+) SET \(timescaledb\.compress, "
                r"timescaledb\.compress_segmentby = '([^']+)', "
                r"timescaledb\.compress_orderby = '([^']+)'\)",
                statement,
            ):
                table, segment, order = m.groups()
                for column in [*segment.split(","), *order.split(",")]:
                    _column(conn, table, column.strip())
                checked += 1
            elif m := re.fullmatch(
                r"SELECT add_compression_policy\('(\w+)', INTERVAL '([^']+)'\)", statement
            ):
                table, interval = m.groups()
                row = conn.execute("SELECT %s::interval = '7 days'", (interval,)).fetchone()
                assert row == (True,) and _column(conn, table, "timestamp")
                checked += 1
        assert checked == len(TIMESCALE_SQL)  # no statement went unchecked

        # the store over these tables, in its TimescaleDB mode: no partitions are made
        with conn.transaction():
            lo, hi = dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
            made = ensure_partitions(conn, "raw_trades", lo, hi, timescale=True)
        assert made == 0
        _roundtrip(conn)
        parts = conn.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'raw_trades'::regclass"
        ).fetchone()
        assert parts == (0,)
