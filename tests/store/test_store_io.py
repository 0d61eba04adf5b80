"""Migrations, binary COPY writes and reads, masking, hostile names: on a real PostgreSQL."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seriesfactory.cli import main
from seriesfactory.schema import TS_TYPE
from seriesfactory.store.db import mask_url
from seriesfactory.store.io import Store, decode_copy, encode_copy
from seriesfactory.store.schema import MIGRATIONS, migrate, schema_info

TABLES = {"raw_trades", "bars", "builder_state", "ingest_log", "heartbeat", "schema_version"}


def _trades(n: int, seed: int = 0, t0: int = 1_735_689_600 * 10**9) -> pa.Table:
    rng = np.random.default_rng(seed)
    ts = t0 + np.sort(rng.integers(0, 40 * 86_400 * 10**6, n)) * 1000  # µs, over two months
    return pa.table(
        {
            "ts": pa.array(ts).cast(TS_TYPE),
            "price": np.round(rng.uniform(1000, 3000, n), 2),
            "qty": np.round(rng.exponential(0.5, n), 8),
            "side": rng.choice(np.array([-1, 1], np.int8), n),
            "trade_id": rng.permutation(np.arange(7, 7 + n, dtype=np.int64)),
        }
    )


def test_migrations_from_empty_then_idempotent(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        assert schema_info(conn).version == 0
        assert migrate(conn) == [m.version for m in MIGRATIONS]
        assert migrate(conn) == []
        names = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables").fetchall()}
        assert names >= TABLES
        info = schema_info(conn)
        assert (info.version, info.timescale) == (MIGRATIONS[-1].version, False)
        rows = conn.execute("SELECT version, name FROM schema_version").fetchall()
        assert len(rows) == len(MIGRATIONS)
    # the CLI: init and migrate again are no-ops; status names the storage path
    assert main(["db", "init", "--database-url", db_url]) == 0
    assert main(["db", "migrate", "--database-url", db_url]) == 0


def test_write_read_roundtrip_partitions_and_reingest(conn: psycopg.Connection) -> None:
    store = Store(conn)
    table = _trades(20_000)
    with store.transaction():
        assert store.write_trades("coinbase", "ETH-USD", table) == 20_000
    with store.transaction():
        assert store.write_trades("coinbase", "ETH-USD", table) == 0  # ON CONFLICT DO NOTHING
    back = store.read_trades("coinbase", "ETH-USD")
    want = table.sort_by([("ts", "ascending"), ("trade_id", "ascending")])
    for name in want.column_names:
        assert back.column(name).equals(want.column(name)), name
    # exact decimals: the float's 15 significant digits are the exchange's number
    price = conn.execute("SELECT price::text FROM raw_trades ORDER BY timestamp LIMIT 1").fetchone()
    assert price is not None and float(price[0]) == want.column("price")[0].as_py()
    assert schema_info(conn).partitions["raw_trades"] == 2  # January and February 2025
    sides = conn.execute("SELECT DISTINCT side FROM raw_trades ORDER BY 1").fetchall()
    assert [s[0] for s in sides] == ["buy", "sell"]


def test_copy_codec_hand_example() -> None:
    data = encode_copy(
        [("i8", np.array([1, -2])), ("f8", np.array([0.5, 2.0])), ("i2", np.array([3, -1]))]
    )
    # header 19 bytes; a row: 2 (count) + 4+8 + 4+8 + 4+2 = 32 bytes; trailer 2 bytes
    assert len(data) == 19 + 2 * 32 + 2
    assert data[19:21] == b"\x00\x03" and data[21:25] == b"\x00\x00\x00\x08"
    assert data[25:33] == (1).to_bytes(8, "big")
    rows = decode_copy(data, ["i8", "f8", "i2"])
    assert rows["v0"].tolist() == [1, -2] and rows["v1"].tolist() == [0.5, 2.0]
    assert rows["v2"].tolist() == [3, -1]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cuts=st.lists(st.integers(0, 600), max_size=5), repeat=st.integers(0, 2))
def test_ingesting_twice_equals_once_for_any_batching(
    conn: psycopg.Connection, cuts, repeat
) -> None:
    conn.execute("TRUNCATE raw_trades")
    conn.commit()
    store = Store(conn)
    table = _trades(600, seed=3)
    bounds = sorted({0, 600, *cuts})
    for _ in range(1 + repeat):
        for lo, hi in itertools.pairwise(bounds):
            with store.transaction():
                store.write_trades("coinbase", "ETH-USD", table.slice(lo, hi - lo))
    once = store.read_trades("coinbase", "ETH-USD")
    assert once.num_rows == 600
    assert sorted(once.column("trade_id").to_pylist()) == sorted(
        table.column("trade_id").to_pylist()
    )


HOSTILE = [
    "ETH-USD'); DROP TABLE raw_trades;--",
    'x"; DELETE FROM bars; --',
    "Ξ-€ ünïcødé 🚀",
    "P" * 5000,
    "tab\there back\\slash\nnewline",
]


@pytest.mark.parametrize("pair", HOSTILE)
def test_hostile_pair_names_are_data_not_sql(conn: psycopg.Connection, pair: str) -> None:
    store = Store(conn)
    with store.transaction():
        assert store.write_trades("coinbase", pair, _trades(50)) == 50
        store.log_ingest("coinbase", pair, 0, 10**9, 50, 50, pair)
        store.heartbeat("coinbase", pair, ok=False, error=pair)
    assert store.read_trades("coinbase", pair).num_rows == 50
    assert store.coverage("coinbase", pair).spans == [(0, 10**9)]
    assert conn.execute("SELECT count(*) FROM raw_trades").fetchone() == (50,)
    assert store.read_bars(pair, None, pair).num_rows == 0


@pytest.mark.parametrize("pair", HOSTILE[:3])
def test_hostile_names_on_the_command_line_are_one_line(
    db_url: str, capsys, pair: str, tmp_path: Path
) -> None:
    code = main(["ingest", "coinbase", pair, "--from", "2025-01-01", "--database-url", db_url])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    code = main(
        [
            "bars",
            "export",
            "--store",
            "postgres",
            "--type",
            pair,
            "--symbol",
            pair,
            "--output",
            str(tmp_path / "x.parquet"),  # not an existing file: that would be refused first
            "--database-url",
            db_url,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT to_regclass('raw_trades') IS NOT NULL").fetchone() == (True,)


def test_mask_url_hand_examples() -> None:
    assert mask_url("postgresql://bob:s3cr%40t@db:5432/x") == "postgresql://bob:***@db:5432/x"
    assert mask_url("postgresql://bob@db/x?password=hunter2&sslmode=require") == (
        "postgresql://bob@db/x?password=***&sslmode=require"
    )
    assert (
        mask_url("host=db user=bob password='a b' dbname=x")
        == "host=db user=bob password=*** dbname=x"
    )
    assert mask_url("postgresql://db/x") == "postgresql://db/x"


def test_wrong_database_url_is_one_clear_line_with_the_password_masked(
    tmp_path, capsys, pg
) -> None:
    bad = f"postgresql://bob:hunter2@127.0.0.1:{pg.port}/no_such_db"
    assert main(["db", "status", "--database-url", bad]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot connect") and "hunter2" not in err and "***" in err
    assert err.count("\n") == 1
    cfg = tmp_path / "sf.toml"
    cfg.write_text('database_url = "postgresql://eve:topsecret@127.0.0.1:1/x"\n')
    assert main(["status", "--config", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert "topsecret" not in err and "127.0.0.1:1" in err and err.count("\n") == 1
    assert main(["db", "status", "--database-url", "postgresql://a:pw@h:notaport/x"]) != 0
    err = capsys.readouterr().err
    assert "pw@" not in err and err.startswith("error: ")


def test_coverage_spans_hand_examples() -> None:
    from seriesfactory.store.io import Coverage

    cov = Coverage([(10, 20), (20, 35), (50, 60)])  # merged runs: [10, 35) and [50, 60)
    assert [cov.resume(t) for t in (0, 10, 19, 20, 35, 49, 55, 60)] == [
        0,
        35,
        35,
        35,
        35,
        49,
        60,
        60,
    ]
    assert cov.end_from(None) == 20  # the first span's end
    assert [cov.end_from(t) for t in (10, 20, 40, 50, 60)] == [20, 20, None, 60, 60]
    assert Coverage([]).end_from(None) is None and Coverage([]).resume(7) == 7


def test_decode_copy_refuses_what_is_not_whole_rows() -> None:
    from seriesfactory.errors import DataError

    data = encode_copy([("i8", np.array([1, 2], np.int64)), ("f8", np.array([0.5, 1.5]))])
    rows = decode_copy(data, ["i8", "f8"])
    assert rows["v0"].tolist() == [1, 2] and rows["v1"].tolist() == [0.5, 1.5]
    with pytest.raises(DataError, match="has no binary header"):
        decode_copy(b"COPY" + data[4:], ["i8", "f8"])
    with pytest.raises(DataError, match="does not hold whole fixed-width rows"):
        decode_copy(data, ["i8", "f8", "i2"])
