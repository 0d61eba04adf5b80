"""Ingestion from the local Coinbase and Binance mirrors into a real PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import psycopg
import pytest

from seriesfactory.cli import main
from seriesfactory.config import load_settings
from seriesfactory.errors import DataError, NetworkError
from seriesfactory.service.ingest import ingest, ingest_settings, parse_duration_s, parse_when
from seriesfactory.store.io import Store, to_ns

from .conftest import TICKER, CoinbaseTape, stored

DAY = 1_704_067_200  # 2024-01-01T00:00:00Z
EXCHANGE_INFO = json.dumps(
    {"symbols": [{"symbol": "BTCUSD_PERP", "contractSize": 100, "pair": "BTCUSD"}]}
).encode()


def _settings(mirror, **kw):
    return load_settings(
        env={},
        coinbase_api_url=mirror.url,
        binance_data_url=mirror.url,
        binance_coinm_api_url=mirror.url,
        coinbase_requests_per_s=1e6,
        backoff_base_s=0.01,
        **kw,
    )


def test_coinbase_walk_splits_full_windows_and_resumes(mirror, conn, tmp_path: Path) -> None:
    # 2,500 trades in the first hour (each full window is halved), a few after
    tape = CoinbaseTape.generate("ETH-USD", DAY, DAY + 3600, 2500, seed=1)
    for k in range(30):
        tape.add(DAY + 3600 + 200 * k + 0.25)
    tape.serve(mirror)
    store = Store(conn)
    settings = _settings(mirror)
    first = ingest(
        store,
        "coinbase",
        "ETH-USD",
        DAY * 10**9,
        (DAY + 3 * 3600) * 10**9,
        settings=settings,
        cache_dir=tmp_path,
    )
    assert first.inserted == 2530 and stored(conn, "coinbase", "ETH-USD") == tape.expected()
    assert store.coverage("coinbase", "ETH-USD").spans == [(DAY * 10**9, (DAY + 3 * 3600) * 10**9)]
    n = len(mirror.requests)
    again = ingest(
        store,
        "coinbase",
        "ETH-USD",
        DAY * 10**9,
        (DAY + 3 * 3600) * 10**9,
        settings=settings,
        cache_dir=tmp_path,
    )
    assert (again.inserted, again.batches, len(mirror.requests)) == (
        0,
        0,
        n,
    )  # resumed: nothing to do
    # a longer range continues where the stored trades end
    tape.add(DAY + 4 * 3600 + 1.5)
    more = ingest(
        store,
        "coinbase",
        "ETH-USD",
        DAY * 10**9,
        (DAY + 5 * 3600) * 10**9,
        settings=settings,
        cache_dir=tmp_path,
    )
    assert more.inserted == 1 and stored(conn, "coinbase", "ETH-USD") == tape.expected()
    first_new = mirror.requests[n][0]
    assert first_new == TICKER.format("ETH-USD")
    count = conn.execute("SELECT count(*) FROM raw_trades").fetchone()
    assert count == (2531,)  # none doubled


def test_real_recorded_coinbase_body(mirror, conn, tmp_path: Path, shared_real: Path) -> None:
    body = (shared_real / "coinbase" / "nautilus" / "http_ticker.json").read_bytes()
    t0 = 1775521737  # its trades: 2026-04-07 00:28:57..58
    mirror.handlers[TICKER.format("BTC-USD")] = lambda q: (
        body if int(q["start"]) <= t0 < int(q["end"]) else b'{"trades": []}'
    )
    store = Store(conn)
    got = ingest(
        store,
        "coinbase",
        "BTC-USD",
        (t0 - 1800) * 10**9,
        (t0 + 1800) * 10**9,
        settings=_settings(mirror),
        cache_dir=tmp_path,
    )
    assert got.inserted == 3
    rows = conn.execute(
        "SELECT trade_id, price::text, size::text, side FROM raw_trades"
        " ORDER BY timestamp, trade_id"
    ).fetchall()
    doc = json.loads(body)["trades"][::-1]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (int(t["trade_id"]), t["price"], t["size"]) for t in doc
    ]  # the exchange's decimals exactly
    assert [r[3] for r in rows] == ["sell", "buy", "buy"]  # maker SELL = taker buy


@pytest.mark.parametrize("fault", ["500", "429", "slow", "truncate"])
def test_mirror_faults_are_retried(mirror, conn, tmp_path: Path, fault: str) -> None:
    tape = CoinbaseTape.generate("SOL-USD", DAY, DAY + 7200, 300, seed=2)
    tape.serve(mirror)
    path = TICKER.format("SOL-USD")
    mirror.faults[path] = [fault, fault]
    got = ingest(
        Store(conn),
        "coinbase",
        "SOL-USD",
        DAY * 10**9,
        (DAY + 7200) * 10**9,
        settings=_settings(mirror),
        cache_dir=tmp_path,
    )
    assert got.inserted == 300 and stored(conn, "coinbase", "SOL-USD") == tape.expected()
    assert mirror.faults[path] == []


def test_persistent_failure_is_a_clear_error_and_keeps_committed_batches(
    mirror, conn, tmp_path: Path, capsys, db_url: str
) -> None:
    tape = CoinbaseTape.generate("ETH-USD", DAY, DAY + 3 * 3600, 600, seed=3)
    path = TICKER.format("ETH-USD")

    def flaky(q: dict[str, str]) -> bytes:
        # after the first hour's window is served, the server answers 500 to everything
        mirror.faults[path] = ["500"] * 50
        return tape.handler(q)

    mirror.handlers[path] = flaky
    settings = _settings(mirror, download_retries=2)
    with pytest.raises(NetworkError, match="gave up after 2 retries"):
        ingest(
            Store(conn),
            "coinbase",
            "ETH-USD",
            DAY * 10**9,
            (DAY + 3 * 3600) * 10**9,
            settings=settings,
            cache_dir=tmp_path,
        )
    first_hour = {x for x in tape.expected() if x[1] < (DAY + 3600) * 10**6}
    assert stored(conn, "coinbase", "ETH-USD") == first_hour  # the committed window is kept
    # the CLI: one error line, exit 1
    cfg = tmp_path / "sf.toml"
    cfg.write_text(
        f'coinbase_api_url = "{mirror.url}"\ncoinbase_requests_per_s = 1000000.0\n'
        "backoff_base_s = 0.01\ndownload_retries = 1\n"
    )
    code = main(
        [
            "ingest",
            "coinbase",
            "ETH-USD",
            "--since",
            "2024-01-01",
            "--until",
            "2024-01-01T03:00:00Z",
            "--database-url",
            db_url,
            "--config",
            str(cfg),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1


def test_retry_rule_defaults_to_2_4_8_16_seconds() -> None:
    s = ingest_settings(load_settings(env={}))
    assert (s.download_retries, s.backoff_base_s, s.backoff_max_s) == (4, 2.0, 16.0)
    assert [min(s.backoff_max_s, s.backoff_base_s * 2**k) for k in range(4)] == [2, 4, 8, 16]
    kept = ingest_settings(load_settings(env={}, backoff_base_s=0.5))
    assert kept.backoff_base_s == 0.5  # the user's own choice wins


def test_binance_coinm_real_archive_via_the_raw_tier(
    mirror, conn, tmp_path: Path, shared_real
) -> None:
    mirror.routes["/dapi/v1/exchangeInfo"] = EXCHANGE_INFO
    store = Store(conn)
    lo, hi = parse_when("2026-05-08", "f"), parse_when("2026-05-09", "t")
    got = ingest(
        store,
        "binance-coinm",
        "BTCUSD_PERP",
        lo,
        hi,
        settings=_settings(mirror),
        cache_dir=tmp_path,
    )
    from seriesfactory.lake.trades import TradeStore

    tier = next(TradeStore(tmp_path, "binance-coinm", "BTCUSD_PERP").read_range(lo, hi))[0]
    assert got.inserted == tier.num_rows > 100_000
    assert (tmp_path / "raw").is_dir()
    back = store.read_trades("binance-coinm", "BTCUSD_PERP")
    assert back.column("trade_id").to_pylist() == tier.column("trade_id").to_pylist()
    assert np.array_equal(back.column("price").to_numpy(), tier.column("price").to_numpy())
    assert np.array_equal(back.column("qty").to_numpy(), tier.column("qty").to_numpy())
    again = ingest(
        store,
        "binance-coinm",
        "BTCUSD_PERP",
        lo,
        hi,
        settings=_settings(mirror),
        cache_dir=tmp_path,
    )
    assert again.inserted == 0 and again.batches == 0


def test_binance_spot_cli_and_missing_day(mirror, db_url: str, tmp_path: Path, capsys) -> None:
    rows = []
    start = DAY * 1000
    for i in range(500):
        rows.append(f"{i},{40000 + i % 7}.5,0.0{i % 9 + 1},{i},{i},{start + i * 1000},true,true")
    rel = "data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-01.zip"
    mirror.add_archive(mirror.roots[0], rel, "\n".join(rows) + "\n")
    cfg = tmp_path / "sf.toml"
    cfg.write_text(f'binance_data_url = "{mirror.url}"\nbackoff_base_s = 0.01\n')
    args = [
        "ingest",
        "binance",
        "BTCUSDT",
        "--from",
        "2024-01-01",
        "--to",
        "2024-01-03",
        "--database-url",
        db_url,
        "--config",
        str(cfg),
        "--cache-dir",
        str(tmp_path / "c"),
    ]
    assert main(args) == 0
    out = capsys.readouterr()
    assert "500 new trades" in out.out and "2024-01-02: no archive" in out.err
    assert main(args) == 0
    assert "0 new trades" in capsys.readouterr().out
    with psycopg.connect(db_url) as c:
        assert c.execute(
            "SELECT count(*), count(DISTINCT trade_id) FROM raw_trades"
        ).fetchone() == (500, 500)
        side = c.execute("SELECT DISTINCT side FROM raw_trades").fetchall()
        assert side == [("sell",)]  # buyer is maker -> taker sold


def test_bad_input_is_one_line(db_url: str, capsys) -> None:
    for args in (
        ["ingest", "kraken", "ETH-USD", "--from", "2024-01-01"],
        ["ingest", "coinbase", "ETH-USD", "--from", "yesterday"],
        ["ingest", "coinbase", "ETH-USD", "--from", "2024-01-02", "--to", "2024-01-01"],
        ["ingest", "coinbase", "ETH-USD"],
        ["status", "--gap", "0s"],
        ["daemon", "ETH-USD", "--interval", "-5m"],
    ):
        code = main([*args, "--database-url", db_url])
        err = capsys.readouterr().err
        assert code == 2, args
        assert err.startswith("error: ") and err.count("\n") == 1, (args, err)


def test_duration_and_time_parsing_hand_examples() -> None:
    assert parse_duration_s("15m", "--interval") == 900.0
    assert parse_duration_s("1.5", "--gap") == 1.5
    assert parse_duration_s("100ms", "--gap") == 0.1
    assert parse_when("2024-01-01", "--from") == DAY * 10**9
    assert parse_when("2024-01-01T00:00:01.5Z", "--from") == DAY * 10**9 + 1_500_000_000
    assert abs(parse_when("now", "--to") - time.time_ns()) < 10**10


def test_binance_usdm_beside_spot_same_symbol(mirror, conn, tmp_path: Path) -> None:
    start = DAY * 1000
    rows = [
        f"{i},{50000 + i % 5}.1,0.00{i % 7 + 1},{i},{i},{start + i * 500},false" for i in range(300)
    ]
    header = (
        "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n"
    )
    rel = "data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-01.zip"
    mirror.add_archive(mirror.roots[0], rel, header + "\n".join(rows) + "\n")
    spot = [f"{i},{40000 + i % 5}.5,0.01,{i},{i},{start + i * 700},true,true" for i in range(200)]
    rel = "data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-01.zip"
    mirror.add_archive(mirror.roots[0], rel, "\n".join(spot) + "\n")
    store = Store(conn)
    lo, hi = DAY * 10**9, (DAY + 86_400) * 10**9
    um = ingest(
        store,
        "binance-usdm",
        "BTCUSDT",
        lo,
        hi,
        settings=_settings(mirror, binance_usdm_api_url=mirror.url),
        cache_dir=tmp_path,
    )
    sp = ingest(store, "binance", "BTCUSDT", lo, hi, settings=_settings(mirror), cache_dir=tmp_path)
    assert (um.inserted, sp.inserted) == (300, 200)  # same symbol and ids, two venues: both kept
    got = conn.execute(
        "SELECT source, count(*), min(side), max(side) FROM raw_trades GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert got == [("binance", 200, "sell", "sell"), ("binance-usdm", 300, "buy", "buy")]


class _StopAfter(threading.Event):
    """A stop event that reads as set from its ``n``-th check on (a stop between batches)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.checks, self.n = 0, n

    def is_set(self) -> bool:
        self.checks += 1
        return self.checks >= self.n


def _duplicates(conn: psycopg.Connection) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT source, pair, trade_id, count(*) FROM raw_trades GROUP BY 1, 2, 3"
        " HAVING count(*) > 1"
    ).fetchall()


def test_the_key_with_the_time_lets_no_duplicate_in(
    mirror, conn, tmp_path: Path, monkeypatch
) -> None:
    """Overlapping re-ingests and a stop between batches: every trade id stored once.

    The key is ``(source, pair, timestamp, trade_id)`` (a partitioned table needs
    the time in it). A trade id could only be stored twice if it came back with
    another time: the same source always gives the same time, and coverage spans
    end on whole milliseconds, so a trade's millisecond (REST) and microsecond
    (spot archive) times fall on the same side of every span boundary.
    """
    monkeypatch.setattr("seriesfactory.service.ingest.BATCH_ROWS", 100)
    day_us = 1_735_689_600 * 10**6  # 2025-01-01: spot archives in microseconds
    rows = [  # three trades per millisecond, so batch cuts fall inside a millisecond
        f"{i},{90000 + i % 7}.5,0.0{i % 9 + 1},{i},{i},{day_us + (i // 3) * 1000 + i % 3},true,true"
        for i in range(500)
    ]
    rel = "data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2025-01-01.zip"
    mirror.add_archive(mirror.roots[0], rel, "\n".join(rows) + "\n")
    store = Store(conn)
    lo, hi = day_us * 1000, day_us * 1000 + 86_400 * 10**9
    settings = _settings(mirror)
    # stopped after the first batch of 100: covered up to the millisecond of trade 100
    first = ingest(store, "binance", "BTCUSDT", lo, hi, settings=settings, cache_dir=tmp_path,
                   stop=_StopAfter(2))  # fmt: skip
    assert first.inserted == 100
    spans = conn.execute("SELECT from_ts, to_ts FROM ingest_log ORDER BY id").fetchall()
    cut_ns = (day_us + (100 // 3) * 1000) * 1000  # trade 100 is the 2nd of its millisecond
    assert [(to_ns(a), to_ns(b)) for a, b in spans] == [(lo, cut_ns)]
    # the rerun fetches from that millisecond: trade 99 (same millisecond) again, stored once
    again = ingest(store, "binance", "BTCUSDT", lo, hi, settings=settings, cache_dir=tmp_path)
    assert again.inserted == 400 and again.trades == 401
    assert _duplicates(conn) == []
    every = conn.execute("SELECT from_ts, to_ts FROM ingest_log").fetchall()
    assert all(to_ns(b) % 10**6 == 0 for _, b in every)  # whole milliseconds
    # an overlapping re-ingest with the coverage forgotten: every row conflicts, none is new
    conn.execute("DELETE FROM ingest_log")
    third = ingest(store, "binance", "BTCUSDT", lo + 10**9 // 7, hi, settings=settings,
                   cache_dir=tmp_path)  # fmt: skip
    assert third.inserted == 0 and third.trades > 0
    assert _duplicates(conn) == []
    assert conn.execute("SELECT count(*) FROM raw_trades").fetchone() == (500,)


def test_a_trade_id_that_is_not_an_integer_is_refused_not_coerced(
    mirror, conn, tmp_path: Path
) -> None:
    now = int(time.time())
    body = json.dumps(
        {
            "trades": [
                {"trade_id": "5f3c2a1e-9b7d-4c2e-8f1a-0d9e8c7b6a54", "product_id": "UUID-USD",
                 "price": "10.5", "size": "1", "side": "BUY",
                 "time": time.strftime("%Y-%m-%dT%H:%M:%S.5Z", time.gmtime(now - 600))},
            ]
        }
    ).encode()  # fmt: skip
    mirror.handlers[TICKER.format("UUID-USD")] = lambda q: body
    with pytest.raises(DataError, match="bad trade"):
        ingest(Store(conn), "coinbase", "UUID-USD", (now - 3600) * 10**9, (now - 60) * 10**9,
               settings=_settings(mirror), cache_dir=tmp_path)  # fmt: skip
    assert conn.execute("SELECT count(*) FROM raw_trades").fetchone() == (0,)


def test_progress_line_hand_example(capsys) -> None:
    from seriesfactory.service.ingest import Progress

    lo = DAY * 10**9
    progress = Progress("coinbase ETH-USD", lo, lo + 4 * 3600 * 10**9)  # not a terminal: lines
    progress.t0 = time.monotonic() - 10.0  # 10 s elapsed
    # a quarter of the range in 10 s with 500 trades: 50 trades/s, ETA 10 × 0.75 / 0.25 = 30 s
    progress.update(lo + 3600 * 10**9, 500)
    progress.update(lo + 2 * 3600 * 10**9, 100)  # within 5 s of the last line: not printed
    progress.close()
    err = capsys.readouterr().err.splitlines()
    assert err == ["coinbase ETH-USD: 500 trades to 2024-01-01 01:00:00 UTC, 50/s, ETA 30 s"]
    quiet = Progress("x", lo, lo + 10, quiet=True)
    quiet.update(lo + 5, 3)
    assert quiet.trades == 3 and capsys.readouterr().err == ""
