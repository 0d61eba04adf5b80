"""The daemon and the ingest under kill -9, SIGTERM and a PostgreSQL restart (real processes).

The reference is one uninterrupted cycle over the same trades in another database:
after any crash and a rerun, the stored trades equal the mirror's set exactly and
the bars (imbalance and run bars included) equal the reference's.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from seriesfactory.config import load_settings
from seriesfactory.service.bars import bar_type_name, parse_bar_spec
from seriesfactory.service.daemon import Job, run_daemon
from seriesfactory.store import cluster

from .conftest import CoinbaseTape, stored

pytestmark = pytest.mark.slow

BARS = ["tick 40", "dollar 300000", "time 5m", "tib ewma 5 expected 30", "trb ewma 5 expected 30"]
CLI = str(Path(sys.executable).parent / "seriesfactory")


def _config(tmp_path: Path, mirror, rate: float = 25.0) -> Path:
    cfg = tmp_path / "seriesfactory.toml"
    bars = ", ".join(f'"{b}"' for b in BARS)
    cfg.write_text(
        f'coinbase_api_url = "{mirror.url}"\ncoinbase_requests_per_s = {rate}\n'
        f"backoff_base_s = 0.05\nstore_bars = [{bars}]\n"
    )
    return cfg


@pytest.fixture
def tape(mirror) -> CoinbaseTape:
    now = time.time()
    t = CoinbaseTape.generate("ETH-USD", now - 3 * 3600, now - 20, 6000, seed=11)
    t.serve(mirror)
    return t


def _since(tape: CoinbaseTape) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(tape.times[0]) - 60))


def _bars(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as c:
        return c.execute(
            "SELECT bar_type, time_start, time_end, open, high, low, close, vwap, volume,"
            " dollar_volume, buy_volume, tick_count, threshold FROM bars"
            " ORDER BY bar_type, time_start"
        ).fetchall()


def _states(url: str) -> dict[str, object]:
    with psycopg.connect(url) as c:
        rows = c.execute("SELECT bar_type, state FROM builder_state").fetchall()
    return {r[0]: r[1] for r in rows}


def _reference(url: str, tape: CoinbaseTape, cfg: Path, tmp_path: Path) -> list[tuple[object, ...]]:
    settings = load_settings(cfg, env={})
    specs = [parse_bar_spec(b) for b in BARS]
    from seriesfactory.service.ingest import parse_when

    run_daemon(
        url,
        [Job("coinbase", "ETH-USD")],
        specs,
        interval_s=3600,
        settings=settings,
        cache_dir=tmp_path / "ref-cache",
        since_ns=parse_when(_since(tape), "f"),
        cycles=1,
        log=lambda m: None,
    )
    bars = _bars(url)
    kinds = {b[0] for b in bars}
    assert kinds == {bar_type_name(s) for s in specs}  # every configured type produced bars
    return bars


def _env(db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERIESFACTORY_")}
    env["SERIESFACTORY_DATABASE_URL"] = db_url
    return env


def _wait(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _count(url: str, sql: str) -> int:
    try:
        with psycopg.connect(url) as c:
            row = c.execute(sql).fetchone()
            return int(row[0]) if row else 0
    except psycopg.Error:
        return 0


def _second_db(pg) -> tuple[str, Callable[[], None]]:
    import uuid

    name = f"r_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg.url, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(pg.url, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return pg.url_for(name), drop


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_daemon_kill9_at_random_points_then_rerun_is_exact(
    seed: int, mirror, tape, pg, db_url: str, tmp_path: Path
) -> None:
    cfg = _config(tmp_path, mirror)
    ref_url, drop = _second_db(pg)
    try:
        reference = _reference(ref_url, tape, cfg, tmp_path)
        ref_states = _states(ref_url)
    finally:
        drop()
    args = [
        CLI,
        "daemon",
        "ETH-USD",
        "--interval",
        "1h",
        "--from",
        _since(tape),
        "--config",
        str(cfg),
        "--cache-dir",
        str(tmp_path / "c"),
    ]
    rng = random.Random(seed)
    proc = subprocess.Popen(args, env=_env(db_url), stderr=subprocess.DEVNULL)
    try:
        _wait(lambda: _count(db_url, "SELECT count(*) FROM ingest_log") >= 1, 60, "a first batch")
        time.sleep(rng.uniform(0.0, 1.5))
    finally:
        proc.kill()  # SIGKILL: no cleanup of any kind
        proc.wait(timeout=30)
    killed_at = _count(db_url, "SELECT count(*) FROM raw_trades")
    restart = time.time()
    proc2 = subprocess.Popen(args, env=_env(db_url), stderr=subprocess.PIPE, text=True)
    try:
        _wait(
            lambda: (
                _count(
                    db_url,
                    f"SELECT count(*) FROM heartbeat WHERE last_poll > to_timestamp({restart})",
                )
                == 1
            ),
            120,
            "a completed cycle after the restart",
        )
    finally:
        proc2.send_signal(signal.SIGTERM)
        _, err = proc2.communicate(timeout=60)
    assert proc2.returncode == 0, err[-2000:]
    with psycopg.connect(db_url) as c:
        assert stored(c, "coinbase", "ETH-USD") == tape.expected()
        assert c.execute("SELECT count(*) FROM raw_trades").fetchone() == (len(tape.expected()),)
    assert killed_at <= len(tape.expected())
    assert _bars(db_url) == reference
    assert _states(db_url) == ref_states


@pytest.mark.parametrize("seed", [4, 5])
def test_ingest_kill9_then_rerun_stores_the_mirror_set_exactly(
    seed: int, mirror, tape, db_url: str, tmp_path: Path
) -> None:
    cfg = _config(tmp_path, mirror)
    args = [
        CLI,
        "ingest",
        "coinbase",
        "ETH-USD",
        "--from",
        _since(tape),
        "--config",
        str(cfg),
        "--quiet",
    ]
    proc = subprocess.Popen(args, env=_env(db_url), stderr=subprocess.DEVNULL)
    try:
        _wait(lambda: _count(db_url, "SELECT count(*) FROM ingest_log") >= 1, 60, "a first batch")
        time.sleep(random.Random(seed).uniform(0.0, 1.0))
    finally:
        proc.kill()
        proc.wait(timeout=30)
    done = subprocess.run(
        args, env=_env(db_url), capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    with psycopg.connect(db_url) as c:
        assert stored(c, "coinbase", "ETH-USD") == tape.expected()
        assert c.execute("SELECT count(*) FROM raw_trades").fetchone() == (len(tape.expected()),)


def test_daemon_survives_a_postgresql_restart_and_a_failing_pair(
    mirror, tape, tmp_path: Path
) -> None:
    root = Path(tempfile.mkdtemp(prefix="sf-pg2-", dir="/tmp"))
    os.chmod(root, 0o755)
    own = cluster.up(root / "pg", ephemeral=True)
    cfg = _config(tmp_path, mirror, rate=1000.0)
    # BTC-USD has no handler: the mirror answers 404 and that pair fails every cycle
    args = [
        CLI,
        "daemon",
        "ETH-USD",
        "BTC-USD",
        "--interval",
        "1s",
        "--from",
        _since(tape),
        "--config",
        str(cfg),
        "--cache-dir",
        str(tmp_path / "c"),
    ]
    proc = subprocess.Popen(args, env=_env(own.url), stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or []), daemon=True)
    reader.start()
    try:
        _wait(
            lambda: (
                _count(own.url, "SELECT count(*) FROM heartbeat WHERE last_poll IS NOT NULL") == 1
            ),
            120,
            "the first cycle",
        )
        cluster.down(own.data_dir)
        time.sleep(2.0)
        cluster.up(own.data_dir, port=own.port)
        new_id = tape.add(time.time())  # a trade arriving while the server was down
        _wait(
            lambda: (
                _count(own.url, f"SELECT count(*) FROM raw_trades WHERE trade_id = {new_id}") == 1
            ),
            90,
            "the trade after the restart",
        )
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        reader.join(timeout=10)
        assert proc.returncode == 0, "".join(lines)[-2000:]
        text = "".join(lines)
        assert "database unavailable" in text and "reconnected" in text, text
        assert "error: coinbase BTC-USD" in text  # the failing pair is reported, ETH-USD goes on
        with psycopg.connect(own.url) as c:
            assert stored(c, "coinbase", "ETH-USD") == tape.expected()
            err = c.execute("SELECT last_error FROM heartbeat WHERE pair = 'BTC-USD'").fetchone()
            assert err is not None and err[0], (err, text[-3000:])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        reader.join(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()
        cluster.down(own.data_dir)
        shutil.rmtree(root, ignore_errors=True)
