"""kill -9 of ``series``, ``download`` and ``bars build --state`` at seeded random points, then a
rerun: byte-identical outputs, and no leftovers once ``cache gc`` has run (issue 17, item 8).

Each killed run is a real process (the installed ``seriesfactory`` script) killed with SIGKILL
a seeded random delay after it began writing the cache; the mirror is the tests' local HTTP
server. Bounded: three kills
per command, each process waited for at most 60 s.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seriesfactory.cli import main

SCRIPT = str(Path(sys.executable).with_name("seriesfactory"))
GBM = "gbm(0.05,0.5,50000)"
KILLS = 3
TWO_HOURS = 2 * 3600


def _kill_after(args: list[str], delay_s: float, env: dict[str, str], started: Path) -> int:
    """Run the command; once ``started`` exists (the run has begun writing the cache), wait
    ``delay_s`` more and SIGKILL it (unless it has finished). Returns its exit status."""
    proc = subprocess.Popen(
        [SCRIPT, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        proc.wait(timeout=delay_s)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
    rc = proc.wait(timeout=60)
    assert rc in (0, -signal.SIGKILL)
    return rc


def _age(*roots: Path) -> None:
    """Move every file's time back two hours, as if the crash had happened long ago."""
    then = time.time() - TWO_HOURS
    for root in roots:
        for p in root.rglob("*"):
            os.utime(p, (then, then), follow_symlinks=False)


def _leftovers(*roots: Path) -> list[Path]:
    found = []
    for root in roots:
        found += [p for p in root.rglob("*") if p.name.startswith((".tmp-", ".partial-"))]
        if (root / "ticks").is_dir():  # every tick set complete
            for manifest_dir in (root / "ticks").rglob("*"):
                complete = (manifest_dir / "manifest.json").is_file()
                if manifest_dir.is_dir() and len(manifest_dir.name) == 16 and not complete:
                    found.append(manifest_dir)
    return found


def _outputs(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir()) if not p.name.startswith(".")}


def _gc(cache: Path) -> None:
    assert main(["cache", "gc", "--cache-dir", str(cache)]) == 0


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(KILLS))
def test_kill_series_then_rerun(tmp_path: Path, seed: int) -> None:
    args = ["series", "--sources", f"{GBM}|gbm(0.02,0.3,50000)", "--from", "2025-01-01",
            "--to", "2025-01-05", "--agg-step", "60000", "--quiet"]  # fmt: skip
    cache, out = tmp_path / "cache", tmp_path / "out"
    ref = ["--cache-dir", str(tmp_path / "ref"), "--output-dir", str(tmp_path / "want")]
    assert main([*args, *ref]) == 0
    where = ["--cache-dir", str(cache), "--output-dir", str(out)]
    delay = random.Random(seed).uniform(0.0, 2.0)
    _kill_after([*args, *where], delay, dict(os.environ), cache / "ticks")
    _age(tmp_path)
    assert main([*args, *where]) == 0
    assert _outputs(out) == _outputs(tmp_path / "want")
    _gc(cache)
    assert _leftovers(cache, out) == []


def _archives(mirror, days: list[str]) -> None:
    from seriesfactory.core.time import parse_date

    for k, day in enumerate(days):
        start_ms = parse_date(day, option="d") // 10**6
        rows = [f"{i},{42000 + (i * 7 + k) % 50}.5,0.{i % 97 + 1},{i},{i},{start_ms + i * 2_000},"
                f"{'true' if i % 3 else 'false'},true" for i in range(40_000)]  # fmt: skip
        rel = f"data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-{day}.zip"
        mirror.add_archive(mirror.roots[0], rel, "\n".join(rows) + "\n")
        mirror.faults["/" + rel] = ["slow"] * 50  # 0.3 s before each body: room to be killed


DAYS = [f"2024-01-0{d}" for d in range(1, 7)]
XSPAN = ["--from", "2024-01-01", "--to", "2024-01-07"]


@pytest.fixture
def env(mirror, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    _archives(mirror, DAYS)
    monkeypatch.setenv("SERIESFACTORY_BINANCE_DATA_URL", mirror.url)
    monkeypatch.setenv("SERIESFACTORY_BACKOFF_BASE_S", "0.001")
    return dict(os.environ)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(KILLS))
def test_kill_download_then_rerun(tmp_path: Path, env: dict[str, str], seed: int) -> None:
    args = ["download", *XSPAN]
    cache = tmp_path / "cache"
    assert main([*args, "--cache-dir", str(tmp_path / "ref")]) == 0
    delay = random.Random(seed).uniform(0.0, 1.5)
    _kill_after([*args, "--cache-dir", str(cache)], delay, env, cache / "raw")
    _age(tmp_path)
    assert main([*args, "--cache-dir", str(cache)]) == 0
    raw = sorted(p.relative_to(cache) for p in (cache / "raw").rglob("*.zip"))
    assert raw == sorted(
        p.relative_to(tmp_path / "ref") for p in (tmp_path / "ref" / "raw").rglob("*.zip")
    )
    for rel in raw:
        assert (cache / rel).read_bytes() == (tmp_path / "ref" / rel).read_bytes()
    _gc(cache)
    assert _leftovers(cache) == []


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(KILLS))
def test_kill_bars_build_with_state_then_rerun(
    tmp_path: Path, env: dict[str, str], seed: int
) -> None:
    bars = ["bars", "build", "--venue", "binance", "--symbol", "BTCUSDT", "--type", "dollar",
            "--threshold", "2e6", *XSPAN]  # fmt: skip
    want = ["--output", str(tmp_path / "want.parquet"), "--state", str(tmp_path / "want.json"),
            "--cache-dir", str(tmp_path / "ref")]  # fmt: skip
    assert main([*bars, *want]) == 0
    cache = tmp_path / "cache"
    got = ["--output", str(tmp_path / "got.parquet"), "--state", str(tmp_path / "got.json"),
           "--cache-dir", str(cache)]  # fmt: skip
    _kill_after([*bars, *got], random.Random(seed).uniform(0.0, 3.0), env, cache / "raw")
    if not (tmp_path / "got.json").exists():  # the state is saved last: the run did not finish
        _age(tmp_path)
        # the output may be in place already (written before the state): replace it explicitly
        assert main([*bars, *got, "--overwrite"]) == 0
    assert (tmp_path / "got.parquet").read_bytes() == (tmp_path / "want.parquet").read_bytes()
    assert (tmp_path / "got.json").read_bytes() == (tmp_path / "want.json").read_bytes()
    _gc(cache)
    assert _leftovers(cache, tmp_path) == []
