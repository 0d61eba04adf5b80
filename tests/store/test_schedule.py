"""``pipeline schedule``: the configured pairs polled once per tick, a failing pair not stopping it.

A real process against the session's PostgreSQL and the local Coinbase mirror,
bounded by ``--duration`` (and a hard timeout).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from .conftest import CoinbaseTape, stored

CLI = str(Path(sys.executable).parent / "seriesfactory")


@pytest.mark.slow
def test_pipeline_schedule_runs_each_pair_once_per_tick(mirror, db_url: str, tmp_path) -> None:
    now = time.time()
    tape = CoinbaseTape.generate("ETH-USD", now - 2 * 3600, now - 30, 2000, seed=5)
    tape.serve(mirror)
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(tape.times[0]) - 60))
    cfg = tmp_path / "seriesfactory.toml"
    # BTC-USD has no handler on the mirror: it answers 404, that pair fails on every tick
    cfg.write_text(
        f'coinbase_api_url = "{mirror.url}"\ncoinbase_requests_per_s = 1000.0\n'
        f'backoff_base_s = 0.05\ndatabase_url = "{db_url}"\nstore_since = "{since}"\n'
        'store_pairs = ["ETH-USD", "BTC-USD"]\nstore_bars = ["tick 40"]\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERIESFACTORY_")}
    interval = 1.0
    args = [CLI, "pipeline", "schedule", "--interval", "1s", "--duration", "8s",
            "--config", str(cfg), "--cache-dir", str(tmp_path / "c")]  # fmt: skip
    proc = subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True)
    stamped: list[tuple[float, str]] = []

    def read() -> None:
        for line in proc.stderr or []:
            stamped.append((time.monotonic(), line))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    added: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while not any("ETH-USD: +" in ln for _, ln in stamped) and time.monotonic() < deadline:
            time.sleep(0.05)
        # a trade arriving after the first tick, inside the span it left open (its last
        # SETTLE_S = 5 s): a later tick stores it once it is 5 s old
        added.append(tape.add(time.time() - 4.0))
        proc.wait(timeout=120)
        reader.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        if proc.stderr is not None:
            proc.stderr.close()
    text = "".join(ln for _, ln in stamped)
    assert proc.returncode == 0, text[-2000:]
    ok = [t for t, ln in stamped if ln.startswith("coinbase ETH-USD: +")]
    bad = [t for t, ln in stamped if ln.startswith("error: coinbase BTC-USD")]
    # every tick ran each pair exactly once, the failing one included, and ticks are an
    # interval apart (the wait starts when a cycle ends)
    assert len(ok) == len(bad) >= 2, text[-2000:]
    assert all(b - a >= interval * 0.9 for a, b in itertools.pairwise(ok)), ok
    assert all(a <= b for a, b in zip(ok, bad, strict=True))  # ETH-USD first, as configured
    with psycopg.connect(db_url) as conn:
        assert stored(conn, "coinbase", "ETH-USD") == tape.expected()  # the late trade too
        assert added[0] in {i for i, _ in stored(conn, "coinbase", "ETH-USD")}
        beat = conn.execute(
            "SELECT pair, last_poll IS NOT NULL, last_error IS NOT NULL FROM heartbeat"
            " ORDER BY pair"
        ).fetchall()
        assert beat == [("BTC-USD", False, True), ("ETH-USD", True, False)]
        bars = conn.execute("SELECT count(*) FROM bars WHERE bar_type = 'tick_40'").fetchone()
        assert bars is not None and bars[0] == (len(tape.ids)) // 40
