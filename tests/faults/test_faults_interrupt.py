"""Ctrl-C (SIGINT) of a running command: one line, exit status 130, nothing half-written kept,
and a rerun finishes with the bytes of an uninterrupted run.

Before, typer turned the interrupt into a silent exit status 130, and an interrupt landing in
a numba call came out as a ``SystemError`` traceback. Each case is a real process (the
installed ``seriesfactory`` script) sent SIGINT a seeded delay after it began writing the
cache. Bounded: two interrupts, each process waited for at most 60 s.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from seriesfactory.cli import main

SCRIPT = str(Path(sys.executable).with_name("seriesfactory"))
LINE = "error: interrupted; what was written is whole: run again to finish"


def _series(cache: Path, out: Path) -> list[str]:
    return [
        "series", "--sources", "gbm(0.05,0.5,50000)", "--from", "2024-01-01", "--to",
        "2024-03-01", "--agg-step", "60000", "--cache-dir", str(cache), "--output-dir",
        str(out), "--quiet",
    ]  # fmt: skip


def _leftovers(*roots: Path) -> list[Path]:
    return [p for r in roots for p in r.rglob("*") if p.name.startswith((".tmp-", ".partial-"))]


def test_ctrl_c_ends_series_in_one_line_and_a_rerun_finishes(tmp_path: Path) -> None:
    rng = random.Random(20261130)
    clean_cache, clean_out = tmp_path / "clean-cache", tmp_path / "clean-out"
    assert main(_series(clean_cache, clean_out)) == 0
    expected = {p.name: p.read_bytes() for p in clean_out.iterdir()}
    cache, out = tmp_path / "cache", tmp_path / "out"
    cache.mkdir()
    interrupted = 0
    for _ in range(2):
        proc = subprocess.Popen(
            [SCRIPT, *_series(cache, out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        before = set(cache.rglob("*"))
        deadline = time.monotonic() + 60
        while set(cache.rglob("*")) <= before and proc.poll() is None:  # writing this run
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.8))
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        lines = err.decode().strip().splitlines()
        if proc.returncode == 130:
            interrupted += 1
            assert lines == [LINE], lines  # no traceback, no SystemError
            assert not _leftovers(cache, out)
        else:  # finished before the signal landed
            assert proc.returncode == 0, lines
    assert interrupted >= 1
    assert main(_series(cache, out)) == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == expected
    assert not _leftovers(cache, out)
