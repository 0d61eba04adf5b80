"""The daemon loop in this process (fast, measured by coverage): waiting for its database,
a failing pair beside a working one, SIGTERM ending the loop with status 0, bad pairs.

``test_daemon.py`` drives the same loop as a real process under kill -9 and a PostgreSQL
restart (slow); these tests pin the behaviours one cycle shows, against the session's real
PostgreSQL cluster and Coinbase trades served by the local mirror on 127.0.0.1.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from seriesfactory.cli import main
from seriesfactory.config import load_settings
from seriesfactory.service.bars import parse_bar_spec
from seriesfactory.service.daemon import Job, run_daemon
from seriesfactory.service.ingest import parse_when

from .conftest import CoinbaseTape, stored


@pytest.fixture
def tape(mirror) -> CoinbaseTape:
    now = time.time()
    t = CoinbaseTape.generate("ETH-USD", now - 1800, now - 20, 300, seed=5)
    t.serve(mirror)
    return t


@pytest.fixture
def cfg(tmp_path: Path, mirror) -> Path:
    path = tmp_path / "seriesfactory.toml"
    path.write_text(
        f'coinbase_api_url = "{mirror.url}"\ncoinbase_requests_per_s = 1000.0\n'
        'backoff_base_s = 0.01\ndownload_retries = 1\nstore_bars = ["tick 25"]\n'
    )
    return path


@pytest.fixture
def restore_signals() -> Iterator[None]:
    """The daemon installs SIGINT/SIGTERM handlers; give pytest its own back afterwards."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def _since(tape: CoinbaseTape) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(tape.times[0]) - 60))


def test_daemon_waits_for_its_database_and_a_failing_pair_does_not_stop_the_other(
    pg, mirror, tape: CoinbaseTape, cfg: Path, tmp_path: Path
) -> None:
    name = f"late_{uuid.uuid4().hex[:10]}"
    url = pg.url_for(name)  # the database does not exist yet: the first connection fails
    lines: list[str] = []

    def log(message: str) -> None:
        lines.append(message)
        if message.startswith("database unavailable") and len(lines) == 1:
            with psycopg.connect(pg.url, autocommit=True) as c:  # the database comes up
                c.execute(f'CREATE DATABASE "{name}"')

    # BTC-USD has no handler on the mirror: every request of it is a 404
    jobs = [Job("coinbase", "BTC-USD"), Job("coinbase", "ETH-USD")]
    try:
        code = run_daemon(
            url, jobs, [parse_bar_spec("tick 25")], interval_s=3600,
            settings=load_settings(cfg, env={}), cache_dir=tmp_path / "cache",
            since_ns=parse_when(_since(tape), "--from"), cycles=1, log=log,
        )  # fmt: skip
        assert code == 0
        assert lines[0].startswith("database unavailable") and "retrying in 1 s" in lines[0]
        assert lines[1] == f"reconnected to {url}"
        failed = [m for m in lines if m.startswith("error: coinbase BTC-USD: ")]
        assert len(failed) == 1 and failed[0].endswith("(other pairs continue)"), lines
        n = len(tape.expected())
        assert f"coinbase ETH-USD: +{n} trades, +{n // 25} bars, lag " in lines[-1], lines
        with psycopg.connect(url) as c:
            assert stored(c, "coinbase", "ETH-USD") == tape.expected()
            beats: dict[str, str | None] = dict(
                c.execute("SELECT pair, last_error FROM heartbeat").fetchall()
            )
            assert beats["ETH-USD"] is None
            assert beats["BTC-USD"] and "404" in beats["BTC-USD"], beats
            assert c.execute("SELECT count(*) FROM bars").fetchone() == (n // 25,)
    finally:
        with psycopg.connect(pg.url, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_sigterm_ends_the_daemon_command_with_status_0_after_its_cycle(
    db_url: str, mirror, tape: CoinbaseTape, cfg: Path, tmp_path: Path, capsys, restore_signals
) -> None:
    def beat() -> bool:
        try:
            with psycopg.connect(db_url) as c:
                row = c.execute("SELECT count(*) FROM heartbeat WHERE last_error IS NULL")
                return (row.fetchone() or (0,))[0] == 1
        except psycopg.Error:
            return False

    sent = threading.Event()

    def terminate_after_the_first_cycle() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not beat():
            time.sleep(0.05)
        sent.set()
        os.kill(os.getpid(), signal.SIGTERM)  # always sent, so the loop never waits its hour

    killer = threading.Thread(target=terminate_after_the_first_cycle, daemon=True)
    killer.start()
    started = time.monotonic()
    code = main(
        ["daemon", "ETH-USD", "--interval", "1h", "--from", _since(tape), "--config", str(cfg),
         "--database-url", db_url, "--cache-dir", str(tmp_path / "cache")]
    )  # fmt: skip
    killer.join(timeout=10)
    err = capsys.readouterr().err
    assert sent.is_set() and code == 0, err
    assert time.monotonic() - started < 300  # stopped by the signal, not by the 1 h interval
    assert err.startswith("daemon: coinbase:ETH-USD every 1h into postgresql://"), err
    assert err.rstrip().endswith("daemon: stopped"), err
    with psycopg.connect(db_url) as c:
        assert stored(c, "coinbase", "ETH-USD") == tape.expected()


def test_duration_ends_the_daemon_and_store_since_is_where_an_empty_store_starts(
    db_url: str, mirror, tape: CoinbaseTape, cfg: Path, tmp_path: Path, capsys, restore_signals
) -> None:
    with cfg.open("a") as f:
        f.write(f'store_since = "{_since(tape)}"\n')
    code = main(
        ["daemon", "ETH-USD", "--interval", "1s", "--duration", "2s", "--config", str(cfg),
         "--database-url", db_url, "--cache-dir", str(tmp_path / "cache")]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0 and err.rstrip().endswith("daemon: stopped"), err
    cycles = [line for line in err.splitlines() if line.startswith("coinbase ETH-USD: +")]
    n = len(tape.expected())
    assert cycles[0].startswith(f"coinbase ETH-USD: +{n} trades, +{n // 25} bars"), err
    assert len(cycles) >= 2 and all(c.startswith("coinbase ETH-USD: +0 trades") for c in cycles[1:])
    with psycopg.connect(db_url) as c:
        assert stored(c, "coinbase", "ETH-USD") == tape.expected()


def test_a_pair_on_an_unknown_venue_is_one_line_and_status_2(
    db_url: str, capsys, restore_signals
) -> None:
    code = main(["daemon", "ETH-USD", "kraken:XBTUSD", "--database-url", db_url])
    err = capsys.readouterr().err
    expected = "error: pair 'kraken:XBTUSD': venue 'kraken' is not one of coinbase, binance"
    assert code == 2 and err.startswith(expected) and err.count("\n") == 1, err
    assert "Traceback" not in err


def test_a_stop_before_the_cycle_fetches_nothing(
    conn: psycopg.Connection, mirror, tape: CoinbaseTape, cfg: Path, tmp_path: Path
) -> None:
    from seriesfactory.service.daemon import run_cycle
    from seriesfactory.store.io import Store

    stop = threading.Event()
    stop.set()  # SIGTERM arrived before the first pair
    settings = load_settings(cfg, env={})
    got = run_cycle(Store(conn), [Job("coinbase", "ETH-USD")], [], settings=settings,
                    cache_dir=tmp_path / "cache", stop=stop, log=lambda m: None)  # fmt: skip
    assert got == {}
    assert mirror.requests == [] and conn.execute("SELECT count(*) FROM heartbeat").fetchone() == (
        0,
    )
