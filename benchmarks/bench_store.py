"""The PostgreSQL store: ingest from the trades tier, what each choice buys, reading back.

Usage::

    .venv/bin/python benchmarks/bench_store.py [--rows 10000000] [--slice 1000000]

Starts its own throwaway cluster (``seriesfactory.store.cluster``, durable
settings: fsync on), writes ``--rows`` synthetic trades (a random walk, integer
ids, one day file per ~1 M trades) into a trades tier, then in one run:

* ours: the trades tier into ``raw_trades`` through ``Store.write_trades``
  (committed batches of 250,000; a batch past the pair's stored maximum is a
  text COPY straight into the table, any other goes through binary COPY into a
  temporary table and ``INSERT … SELECT … ON CONFLICT DO NOTHING``) — trades/s
  and peak RSS; then the same trades again (all stored: staged path, all conflicts);
* the peer: ``executemany`` of ``INSERT … ON CONFLICT DO NOTHING`` in batches of
  1,000 into the Arcana schema (text id, numeric price/size,
  ``UNIQUE (source, trade_id)``), on the first ``--slice`` trades;
* the floor: binary COPY into an unlogged table without any index;
* the choices, each on ``--slice`` trades into a fresh table: text vs binary
  COPY, bigint vs text ids, float8 vs numeric, partitions vs one table, batch
  size, a plain COPY (no staging, no conflict handling: ranges past a pair's
  stored maximum), and a re-ingest where every row conflicts;
* reading every trade back (binary COPY into Arrow, day by day; each day as two
  halves on two connections) and building dollar bars; then, reading only, on
  the first ``--slice`` trades' days: ours, psycopg's own COPY iteration (the
  previous reader), and the peer: ``SELECT`` + ``fetchall`` (rows as Python
  tuples), with the ratio.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from seriesfactory.lake.trades import TradeStore
from seriesfactory.schema import TRADE_SCHEMA
from seriesfactory.store import cluster
from seriesfactory.store.io import Store, _us, encode_copy, from_ns
from seriesfactory.store.schema import migrate
from seriesfactory.transforms.bars import BarBuilder, BarSpec

T0 = 1_735_689_600 * 10**9  # 2025-01-01
DAY = 86_400 * 10**9


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_tier(cache: Path, rows: int, per_day: int = 1_000_000) -> TradeStore:
    store = TradeStore(cache, "bench", "BTCUSDT")
    rng = np.random.default_rng(7)
    done = 0
    day = 0

    def pieces():
        nonlocal done, day
        while done < rows:
            n = min(per_day, rows - done)
            ts = T0 + day * DAY + np.sort(rng.integers(0, DAY // 1000, n)) * 1000
            price = np.round(60_000 + np.cumsum(rng.normal(0, 2.0, n)), 2)
            yield pa.Table.from_arrays(
                [
                    pa.array(ts, pa.int64()).cast(TRADE_SCHEMA.field("ts").type),
                    pa.nulls(n, TRADE_SCHEMA.field("recv_ts").type),
                    pa.array(price),
                    pa.array(np.round(rng.exponential(0.05, n), 5)),
                    pa.array(rng.choice(np.array([-1, 1], np.int8), n)),
                    pa.array(np.arange(done, done + n, dtype=np.int64)),
                ],
                schema=TRADE_SCHEMA,
            )
            done += n
            day += 1

    store.ingest_stream(pieces(), raw_sha256="0" * 64, raw_name="bench", bad_lines=[])
    return store


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def fresh(conn: psycopg.Connection, ddl: str) -> None:
    conn.execute("DROP TABLE IF EXISTS v CASCADE")
    conn.execute(ddl)


VARIANT = (
    "CREATE TABLE v (timestamp timestamptz NOT NULL, trade_id {id} NOT NULL, source text NOT NULL,"
    " pair text NOT NULL, price {num} NOT NULL, size {num} NOT NULL, side text,"
    " UNIQUE (source, pair, timestamp, trade_id)){part}"
)


def stage(conn: psycopg.Connection, t: pa.Table, *, text: bool = False) -> None:
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS st (ts timestamptz, trade_id bigint, price float8,"
        " size float8, side smallint)"
    )
    conn.execute("TRUNCATE st")
    with conn.cursor() as cur:
        if text:
            buf = io.BytesIO()
            csv = pa.table(
                {
                    "ts": t.column("ts"),
                    "trade_id": t.column("trade_id"),
                    "price": t.column("price"),
                    "size": t.column("qty"),
                    "side": t.column("side").cast(pa.int16()),
                }
            )
            pacsv.write_csv(csv, buf, pacsv.WriteOptions(include_header=False))
            with cur.copy("COPY st FROM STDIN (FORMAT csv)") as copy:
                copy.write(buf.getvalue())
        else:
            with cur.copy("COPY st FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(
                    encode_copy(
                        [
                            ("i8", _us(t.column("ts").cast(pa.int64()).to_numpy())),
                            ("i8", t.column("trade_id").to_numpy()),
                            ("f8", t.column("price").to_numpy()),
                            ("f8", t.column("qty").to_numpy()),
                            ("i2", t.column("side").to_numpy().astype(np.int16)),
                        ]
                    )
                )


def insert(
    conn: psycopg.Connection, *, text_id: bool, numeric: bool, conflict: bool = True
) -> None:
    idc = "trade_id::text" if text_id else "trade_id"
    num = "::text::numeric" if numeric else ""
    conn.execute(
        f"INSERT INTO v SELECT ts, {idc}, 'bench', 'BTCUSDT', price{num}, size{num},"
        " CASE side WHEN 1 THEN 'buy' WHEN -1 THEN 'sell' END FROM st"
        + (" ON CONFLICT DO NOTHING" if conflict else "")
    )


def variant(
    conn, t: pa.Table, *, batch: int, text_copy=False, text_id=False, numeric=True, parts=False
) -> float:
    part = " PARTITION BY RANGE (timestamp)" if parts else ""
    fresh(
        conn,
        VARIANT.format(
            id="text" if text_id else "bigint", num="numeric" if numeric else "float8", part=part
        ),
    )
    if parts:
        conn.execute(
            "CREATE TABLE v_p PARTITION OF v FOR VALUES FROM ('2024-01-01') TO ('2026-01-01')"
        )

    def run() -> None:
        for lo in range(0, t.num_rows, batch):
            with conn.transaction():
                stage(conn, t.slice(lo, batch), text=text_copy)
                insert(conn, text_id=text_id, numeric=numeric)

    return t.num_rows / timed(run)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--slice", type=int, default=1_000_000)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sf-bench-", dir="/tmp"))
    os.chmod(root, 0o755)
    pg = cluster.up(root / "pg")
    try:
        t = time.perf_counter()
        tier = make_tier(root / "cache", args.rows)
        print(f"trades tier: {args.rows:,} trades in {time.perf_counter() - t:.1f} s")
        conn = psycopg.connect(pg.url, autocommit=True)
        migrate(conn)
        store = Store(conn)
        rss0 = peak_rss_mb()

        # -- ours, end to end over the whole tier ------------------------------------------
        def ours() -> None:
            for day, _ in tier.read_range(0, 2**62):
                table = day.select(["ts", "price", "qty", "side", "trade_id"])
                for lo in range(0, table.num_rows, 250_000):
                    with store.transaction():
                        store.write_trades("bench", "BTCUSDT", table.slice(lo, 250_000))

        ours_rate = args.rows / timed(ours)
        print(
            f"ours: trades tier -> raw_trades     {ours_rate:12,.0f} trades/s"
            f"  (peak RSS {peak_rss_mb():,.0f} MB, {rss0:,.0f} MB before)"
        )
        again = args.rows / timed(ours)
        print(f"ours again (all stored, staged path) {again:11,.0f} trades/s")
        first = next(tier.read_range(0, 2**62))[0].slice(0, args.slice)
        first = first.select(["ts", "price", "qty", "side", "trade_id"])
        n = first.num_rows

        # -- the peer: executemany, Arcana schema ----------------------------------------------
        conn.execute("DROP TABLE IF EXISTS arcana")
        conn.execute(
            "CREATE TABLE arcana (timestamp timestamptz NOT NULL, trade_id text NOT NULL,"
            " source text NOT NULL, pair text NOT NULL, price numeric NOT NULL,"
            " size numeric NOT NULL, side text, UNIQUE (source, trade_id))"
        )

        def peer() -> None:
            ts = first.column("ts").to_pylist()
            ids = [str(x) for x in first.column("trade_id").to_pylist()]
            px = [str(x) for x in first.column("price").to_pylist()]
            sz = [str(x) for x in first.column("qty").to_pylist()]
            sd = ["buy" if x == 1 else "sell" for x in first.column("side").to_pylist()]
            with conn.cursor() as cur:
                for lo in range(0, n, 1000):
                    rows = list(
                        zip(
                            ts[lo : lo + 1000],
                            ids[lo : lo + 1000],
                            px[lo : lo + 1000],
                            sz[lo : lo + 1000],
                            sd[lo : lo + 1000],
                            strict=True,
                        )
                    )
                    with conn.transaction():
                        cur.executemany(
                            "INSERT INTO arcana VALUES (%s, %s, 'coinbase', 'ETH-USD', %s, %s, %s)"
                            " ON CONFLICT DO NOTHING",
                            rows,
                        )

        peer_rate = n / timed(peer)
        print(f"peer: executemany x1000 (Arcana)    {peer_rate:12,.0f} trades/s  on {n:,}")
        print(f"ratio ours / peer: {ours_rate / peer_rate:.2f}x")

        # -- the floor ----------------------------------------------------------------------
        conn.execute("DROP TABLE IF EXISTS floor")
        conn.execute(
            "CREATE UNLOGGED TABLE floor (ts timestamptz, trade_id bigint, price float8,"
            " size float8, side smallint)"
        )

        def floor() -> None:
            with conn.cursor() as cur, cur.copy("COPY floor FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(
                    encode_copy(
                        [
                            ("i8", _us(first.column("ts").cast(pa.int64()).to_numpy())),
                            ("i8", first.column("trade_id").to_numpy()),
                            ("f8", first.column("price").to_numpy()),
                            ("f8", first.column("qty").to_numpy()),
                            ("i2", first.column("side").to_numpy().astype(np.int16)),
                        ]
                    )
                )

        floor_rate = n / timed(floor)
        print(f"floor: COPY, unlogged, no index     {floor_rate:12,.0f} trades/s")

        # -- server-side cost of the chosen schema (staging already filled) -----------------
        fresh(conn, VARIANT.format(id="bigint", num="numeric", part=""))
        stage(conn, first)
        server = n / timed(lambda: insert(conn, text_id=False, numeric=True))
        print(
            f"server side alone: INSERT…SELECT…ON CONFLICT from staging {server:12,.0f} trades/s;"
            f" ours end to end takes {server / ours_rate:.2f}x its time per trade (aim <= 1.5x)"
        )
        reingest = n / timed(lambda: insert(conn, text_id=False, numeric=True))
        print(f"re-ingest (every row conflicts)     {reingest:12,.0f} trades/s")

        # -- what each choice buys (1 slice each, fresh table) ------------------------------
        base = dict(batch=250_000)
        rows = [
            ("binary COPY, bigint, numeric, 250k batches", variant(conn, first, **base)),
            ("text (CSV) COPY instead of binary", variant(conn, first, text_copy=True, **base)),
            ("text trade_id instead of bigint", variant(conn, first, text_id=True, **base)),
            ("float8 instead of numeric", variant(conn, first, numeric=False, **base)),
            ("monthly partition instead of one table", variant(conn, first, parts=True, **base)),
            ("batches of 10,000", variant(conn, first, batch=10_000)),
            ("batches of 1,000,000", variant(conn, first, batch=1_000_000)),
        ]
        fresh(conn, VARIANT.format(id="bigint", num="float8", part=""))

        def plain() -> None:
            cols = "(timestamp, trade_id, source, pair, price, size, side)"
            with conn.cursor() as cur, cur.copy(f"COPY v {cols} FROM STDIN") as copy:
                copy.set_types(["timestamptz", "int8", "text", "text", "float8", "float8", "text"])
                buf = io.BytesIO()
                pacsv.write_csv(
                    pa.table(
                        {
                            "a": first.column("ts"),
                            "b": first.column("trade_id"),
                            "c": pa.array(["bench"] * n),
                            "d": pa.array(["BTCUSDT"] * n),
                            "e": first.column("price"),
                            "f": first.column("qty"),
                            "g": pa.array(
                                np.where(first.column("side").to_numpy() > 0, "buy", "sell")
                            ),
                        }
                    ),
                    buf,
                    pacsv.WriteOptions(include_header=False, delimiter="\t"),
                )
                copy.write(buf.getvalue())

        rows.append(("plain COPY into the table (past the max)", n / timed(plain)))
        for name, rate in rows:
            print(f"  {name:45s} {rate:12,.0f} trades/s")

        # -- reading back + dollar bars -----------------------------------------------------
        conn.execute("DROP TABLE IF EXISTS v, arcana, floor CASCADE")
        conn.execute("VACUUM ANALYZE raw_trades")
        conn.execute("CHECKPOINT")  # the ingest's dirty pages flushed before timing reads
        builder = BarBuilder(BarSpec(type="dollar", threshold=5_000_000.0))
        got = {"rows": 0, "bars": 0}

        def read_back() -> None:
            for table in store.iter_trades(
                "bench", "BTCUSDT", T0, T0 + -(-args.rows // 1_000_000) * DAY
            ):
                bars = builder.update(
                    table.column("ts").cast(pa.int64()).to_numpy(),
                    table.column("price").to_numpy(),
                    table.column("qty").to_numpy(),
                    table.column("side").to_numpy(),
                )
                got["rows"] += table.num_rows
                got["bars"] += bars.rows

        builder.update(np.array([0], np.int64), np.ones(1), np.ones(1), np.ones(1, np.int8))
        store.read_trades("bench", "BTCUSDT", T0, T0 + 10**9)  # kernels loaded/compiled
        builder = BarBuilder(BarSpec(type="dollar", threshold=5_000_000.0))  # compiled, fresh
        elapsed = timed(read_back)
        read_rate = got["rows"] / elapsed
        print(
            f"read back (binary COPY -> Arrow) + dollar bars: {got['rows']:,} trades, "
            f"{got['bars']:,} bars, {read_rate:,.0f} trades/s (peak RSS {peak_rss_mb():,.0f} MB)"
        )
        ours_bars = got["bars"]

        # -- the read-back peers, on the first --slice trades' days ---------------------------
        days = max(1, args.slice // 1_000_000)
        span = (T0, T0 + days * DAY)

        def read_only() -> None:
            got["rows"] = sum(t.num_rows for t in store.iter_trades("bench", "BTCUSDT", *span))

        elapsed = timed(read_only)
        ours_read = got["rows"] / elapsed
        store.fast_copy = False  # psycopg's own COPY iteration, numeric cast on the server

        def peer_read() -> None:
            n = 0
            with conn.cursor() as cur:
                for lo in range(span[0], span[1], DAY):
                    cur.execute(
                        "SELECT timestamp, trade_id, price::float8, size::float8, side"
                        " FROM raw_trades WHERE source = 'bench' AND pair = 'BTCUSDT'"
                        " AND timestamp >= %s AND timestamp < %s ORDER BY timestamp, trade_id",
                        (from_ns(lo), from_ns(lo + DAY)),
                    )
                    n += len(cur.fetchall())
            got["rows"] = n

        elapsed = timed(read_only)
        iter_rate = got["rows"] / elapsed
        store.fast_copy = True
        elapsed = timed(peer_read)
        peer_rate_read = got["rows"] / elapsed
        print(
            f"read only, {got['rows']:,} trades: ours {ours_read:,.0f} trades/s;"
            f" psycopg COPY iteration {iter_rate:,.0f} ({ours_read / iter_rate:.2f}x);"
            f" peer: SELECT + fetchall (rows as Python tuples) {peer_rate_read:,.0f}"
            f" (ratio ours / peer {ours_read / peer_rate_read:.2f}x)"
        )
        assert ours_bars > 0
        conn.close()
    finally:
        cluster.down(pg.data_dir)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
