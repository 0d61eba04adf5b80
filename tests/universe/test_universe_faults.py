"""Faults of universe jobs: a Dask worker killed mid-job, the client interrupted.

Real parts: a real Dask cluster started for the test (``dask scheduler`` and two ``dask worker``
processes on 127.0.0.1, without nannies so a killed worker stays dead), the CLI in a child
process, the local mirror slowed down so the job is still running when the fault comes.
Every wait is bounded.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seriesfactory.cli import main

from .conftest import DAYS, agg_csv, rel, start_cluster, stop_cluster

CLI = [sys.executable, "-c", "import sys; from seriesfactory.cli import main; sys.exit(main())"]
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]
TEMP_PREFIXES = (".tmp-", ".partial-")


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _keys(cache: Path) -> list[str]:
    """Names in the derived tiers, temporaries of killed writers left out (ignored by readers)."""
    return sorted(
        str(p.relative_to(cache))
        for tier in ("ticks", "aggregates", "trades")
        for p in (cache / tier).rglob("*")
        if p.is_file() and not p.name.startswith(TEMP_PREFIXES)
    )


@pytest.fixture
def slow_universe(universe):
    """Four symbols x three days; every archive is served slowly on its first request."""
    m = universe.mirror
    for day in DAYS:
        m.add_archive(m.roots[0], rel("XRPUSDT", day), agg_csv("XRPUSDT", day, 400))
    for symbol in SYMBOLS:
        for day in DAYS:
            m.faults["/" + rel(symbol, day)] = ["slow"]
    return universe


def _args(universe, root: Path, scheduler: str) -> list[str]:
    return ["series", "--sources", "binance", "--agg-step", "60000", *universe.span(),
            "--symbols", ",".join(SYMBOLS), "--scheduler", scheduler,
            "--cache-dir", str(root / "cache"), "--output-dir", str(root / "out"),
            "--quiet"]  # fmt: skip


def _reference(universe, tmp_path: Path) -> tuple[dict[str, str], list[str]]:
    root = tmp_path / "reference"
    assert main(_args(universe, root, "sync")) == 0
    return _digests(root / "out"), _keys(root / "cache")


def _wait_for(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.05)


def _raw_files(root: Path) -> list[Path]:
    raw = root / "cache" / "raw"
    return [p for p in raw.rglob("*.zip")] if raw.is_dir() else []


@pytest.mark.slow  # > 20 s: a cluster or child processes over a slowed mirror
def test_a_worker_killed_mid_job_changes_nothing(slow_universe, tmp_path: Path) -> None:
    cluster = start_cluster(tmp_path / "dask")
    try:
        root = tmp_path / "cluster"
        child = subprocess.Popen(
            [*CLI, *_args(slow_universe, root, cluster.address)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            _wait_for(lambda: len(_raw_files(root)) >= 1, 120, "the first raw file")
            cluster.workers[0].send_signal(signal.SIGKILL)
            cluster.workers[0].wait(timeout=10)
            out, err = child.communicate(timeout=300)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=10)
        assert child.returncode == 0, err.decode()[-2000:]
        assert len(out.decode().split()) == len(SYMBOLS)
        assert cluster.workers[1].poll() is None  # the survivor did the rest
    finally:
        stop_cluster(cluster)
    reference = _reference(slow_universe, tmp_path)
    assert (_digests(root / "out"), _keys(root / "cache")) == reference


@pytest.mark.slow  # > 20 s: a cluster or child processes over a slowed mirror
def test_an_interrupted_client_leaves_no_partial_output_and_a_rerun_completes(
    slow_universe, tmp_path: Path
) -> None:
    root = tmp_path / "interrupted"
    child = subprocess.Popen(
        [*CLI, *_args(slow_universe, root, "processes")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for(lambda: len(_raw_files(root)) >= 1, 120, "the first raw file")
        os.killpg(child.pid, signal.SIGINT)  # as Ctrl-C does: the whole process group
        err = child.communicate(timeout=120)[1]
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=10)
    assert child.returncode == 130, err.decode()[-2000:]
    assert "error: interrupted; what was written is whole" in err.decode()
    reference = _reference(slow_universe, tmp_path)
    out = root / "out"
    done = _digests(out) if out.is_dir() else {}
    # nothing half-written: no temporary name, and whatever was published is whole
    assert not [n for n in done if Path(n).name.startswith(TEMP_PREFIXES)]
    assert all(reference[0][n] == d for n, d in done.items())
    assert len(done) < len(SYMBOLS)
    fetched = len(_raw_files(root))
    # the rerun continues from the tiers built: it downloads only what is missing
    requests = len(slow_universe.mirror.requests)
    assert main(_args(slow_universe, root, "processes")) == 0
    zips = [p for p, _ in slow_universe.mirror.requests[requests:] if p.endswith(".zip")]
    assert len(zips) <= 2 * len(SYMBOLS) * len(DAYS) - fetched  # reference run's requests excluded
    assert (_digests(out), _keys(root / "cache")) == reference


@pytest.mark.slow  # > 20 s: a cluster or child processes over a slowed mirror
def test_two_jobs_writing_the_same_tiers_at_once_agree(slow_universe, tmp_path: Path) -> None:
    """Concurrent writers of one tier file (a task run twice): each publishes whole files."""
    root = tmp_path / "shared"
    children = [
        subprocess.Popen(
            [*CLI, *_args(slow_universe, root, "sync")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    try:
        errors = [child.communicate(timeout=300)[1].decode() for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=10)
    assert [c.returncode for c in children] == [0, 0], errors
    reference = _reference(slow_universe, tmp_path)
    assert (_digests(root / "out"), _keys(root / "cache")) == reference
    leftovers = [p for p in (root / "cache").rglob("*") if p.name.startswith(TEMP_PREFIXES)]
    assert leftovers == []


@pytest.mark.slow  # > 20 s: a cluster job over a slowed mirror, interrupted, then rerun
def test_an_interrupted_cluster_client_cancels_and_a_rerun_completes(
    slow_universe, dask_cluster, tmp_path: Path
) -> None:
    root = tmp_path / "interrupted-tcp"
    child = subprocess.Popen(
        [*CLI, *_args(slow_universe, root, dask_cluster.address)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        _wait_for(lambda: len(_raw_files(root)) >= 1, 120, "the first raw file")
        child.send_signal(signal.SIGINT)
        err = child.communicate(timeout=120)[1].decode()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    assert child.returncode == 130, err[-2000:]
    assert "error: interrupted; what was written is whole" in err
    reference = _reference(slow_universe, tmp_path)
    out = root / "out"
    done = _digests(out) if out.is_dir() else {}
    assert all(reference[0][n] == d for n, d in done.items())  # whatever is there is whole
    assert main(_args(slow_universe, root, dask_cluster.address)) == 0
    assert (_digests(out), _keys(root / "cache")) == reference
