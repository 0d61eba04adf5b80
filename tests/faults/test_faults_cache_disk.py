"""Full disk and read-only folders for every writer of the cache tiers and the series outputs:
one line, nothing partial published, existing entries intact (issue 17, item 8).

A full disk is a real small tmpfs (mounted for the test: needs root; skipped, saying why,
where mounting is not allowed).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from seriesfactory.cli import main
from seriesfactory.lake.trades import TradeStore

GBM = "gbm(0.05,0.5,50000)"
SPAN = ["--from", "2025-01-01", "--to", "2025-01-03"]
SERIES = ["series", "--sources", GBM, *SPAN, "--agg-step", "60000", "--quiet"]
TICKS = ["ticks", "--sources", GBM, *SPAN]


def _mount(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True, check=False, timeout=20,
    )  # fmt: skip
    return done.returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs (a real file system that fills up)."""
    path = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    if not _mount(path, "16m"):
        pytest.skip("cannot mount a tmpfs here (needs root and mount permission)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, timeout=20)


def _fill(disk: Path, leave: int) -> None:
    """Fill ``disk`` until ``leave`` bytes are free."""
    free = shutil.disk_usage(disk).free
    with open(disk / "filler", "wb") as fh, contextlib.suppress(OSError):
        fh.write(b"\0" * max(free - leave, 0))


def _unfill(disk: Path) -> None:
    (disk / "filler").unlink(missing_ok=True)


def _one_error_line(capsys, *words: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert "Traceback" not in err[0]
    for w in words:
        assert w in err[0], err[0]
    return err[0]


def _published(root: Path) -> list[Path]:
    """Files that readers would take as data (no temporary or partial names)."""
    return sorted(
        p for p in root.rglob("*")
        if p.is_file() and not p.name.startswith((".tmp-", ".partial-")) and p.name != "filler"
    )  # fmt: skip


def _temps(root: Path) -> list[Path]:
    return [p for p in root.rglob(".tmp-*") if p.is_file()]


def _run(args: list[str], cache: Path, out: Path) -> int:
    return main([*args, "--cache-dir", str(cache), "--output-dir", str(out)])


@pytest.mark.parametrize("leave", [200_000, 2_000_000, 5_000_000])
def test_ticks_tier_full(small_disk: Path, tmp_path: Path, capsys, leave: int) -> None:
    """Two days of ticks need ~8.6 MB: the tick set cannot be completed."""
    cache = small_disk / "cache"
    _fill(small_disk, leave)
    assert _run(SERIES, cache, tmp_path / "out") == 1
    _one_error_line(capsys, "cannot write", "No space left on device")
    assert not list(cache.rglob("manifest.json")) and not _temps(small_disk)
    assert not (tmp_path / "out").exists() or not _published(tmp_path / "out")
    # with space again, the run completes and equals a run on a roomy disk
    _unfill(small_disk)
    assert _run(SERIES, cache, tmp_path / "out") == 0
    assert _run(SERIES, tmp_path / "roomy", tmp_path / "want") == 0
    (got,) = _published(tmp_path / "out")
    (want,) = _published(tmp_path / "want")
    assert got.read_bytes() == want.read_bytes()


def test_aggregates_tier_full_keeps_the_tick_set(small_disk: Path, tmp_path: Path, capsys) -> None:
    cache = small_disk / "cache"
    assert _run(TICKS, cache, tmp_path / "t") == 0
    before = {p: p.read_bytes() for p in _published(cache)}
    _fill(small_disk, 4_000)
    assert _run(SERIES, cache, tmp_path / "out") == 1
    _one_error_line(capsys, "cannot write", "aggregates")
    assert {p: p.read_bytes() for p in _published(cache)} == before  # intact, nothing added
    assert not _temps(small_disk)


def test_output_folder_full(small_disk: Path, tmp_path: Path, capsys) -> None:
    cache = tmp_path / "cache"
    out = small_disk / "out"
    _fill(small_disk, 4_000)
    for fmt in ("parquet", "csv"):
        assert _run([*SERIES, "--out-format", fmt], cache, out) == 1
        _one_error_line(capsys, "cannot write", str(out))
        assert not _published(out) and not _temps(small_disk)
    assert _published(cache)  # the cache tiers were written before the output failed


def _archives(mirror, days: tuple[str, ...]) -> None:
    from seriesfactory.core.time import parse_date

    for k, day in enumerate(days):
        start_ms = parse_date(day, option="d") // 10**6
        rows = [f"{i},{42000 + (i * 7 + k) % 50}.5,0.{i % 97 + 1},{i},{i},{start_ms + i * 20_000},"
                f"{'true' if i % 3 else 'false'},true" for i in range(4000)]  # fmt: skip
        rel = f"data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-{day}.zip"
        mirror.add_archive(mirror.roots[0], rel, "\n".join(rows) + "\n")


@pytest.fixture
def exchange(mirror, monkeypatch: pytest.MonkeyPatch):
    _archives(mirror, ("2024-01-01", "2024-01-02"))
    monkeypatch.setenv("SERIESFACTORY_BINANCE_DATA_URL", mirror.url)
    monkeypatch.setenv("SERIESFACTORY_BACKOFF_BASE_S", "0.001")
    return mirror


XSPAN = ["--from", "2024-01-01", "--to", "2024-01-03"]


def test_raw_tier_full(small_disk: Path, tmp_path: Path, capsys, exchange) -> None:
    cache = small_disk / "cache"
    _fill(small_disk, 8_000)
    args = ["download", *XSPAN, "--cache-dir", str(cache)]
    assert main(args) == 1
    _one_error_line(capsys, "cannot write", "No space left on device")
    for p in _published(cache):  # only whole files: small checksum files that fitted
        assert p.name.endswith(".CHECKSUM") and p.read_text().endswith(".zip\n")
    _unfill(small_disk)
    assert main(args) == 0  # resumes and completes


def test_trades_tier_full_keeps_the_raw_files(
    small_disk: Path, tmp_path: Path, capsys, exchange
) -> None:
    cache = small_disk / "cache"
    assert main(["download", *XSPAN, "--cache-dir", str(cache)]) == 0
    before = {p: p.read_bytes() for p in _published(cache)}
    _fill(small_disk, 6_000)
    trades = ["trades", *XSPAN, "--cache-dir", str(cache), "--output-dir", str(tmp_path / "o")]
    assert main(trades) == 1
    _one_error_line(capsys, "cannot write", "trades")
    after = {p: p.read_bytes() for p in _published(cache)}
    assert {p: b for p, b in after.items() if "trades" not in p.parts} == before
    assert not _temps(small_disk)
    # a raw file is ingested all or nothing: a record is written last, and the days of any
    # record present are whole and verified (a day file without a record is re-ingested)
    store = TradeStore(cache, "binance", "BTCUSDT")
    for p in after:
        if p.parent.name == "_ingested":
            rec = store.record(json.loads(p.read_text())["raw_sha256"])
            assert rec is not None
            assert all(store.read_day(store.day_path(d)).num_rows for d in rec.days)
    _unfill(small_disk)
    assert main(trades) == 0
    roomy = [
        "trades",
        *XSPAN,
        "--cache-dir",
        str(tmp_path / "c2"),
        "--output-dir",
        str(tmp_path / "w"),
    ]
    assert main(roomy) == 0
    (got,) = _published(tmp_path / "o")
    (want,) = _published(tmp_path / "w")
    assert got.read_bytes() == want.read_bytes()


def test_read_only_cache_is_one_line(tmp_path: Path, capsys) -> None:
    if os.geteuid() == 0:
        # root ignores permission bits: a read-only bind... use a read-only tmpfs instead
        ro = tmp_path / "ro"
        if not _mount(ro, "1m"):
            pytest.skip("cannot mount a tmpfs here")
        try:
            subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True, timeout=20)
            assert _run(SERIES, ro / "cache", tmp_path / "out") == 1
            _one_error_line(capsys, "cannot write", "Read-only file system")
        finally:
            subprocess.run(["umount", "-l", str(ro)], check=False, timeout=20)
        return
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert _run(SERIES, ro / "cache", tmp_path / "out") == 1
        _one_error_line(capsys, "cannot write", "Permission denied")
    finally:
        ro.chmod(0o700)


def test_a_populated_read_only_cache_still_serves(small_disk: Path, tmp_path: Path, capsys) -> None:
    cache = small_disk / "cache"
    assert _run(SERIES, cache, tmp_path / "a") == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True, timeout=20)
    assert _run(SERIES, cache, tmp_path / "b") == 0  # served from the tiers, nothing written
    (a,) = _published(tmp_path / "a")
    (b,) = _published(tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()
    other = [*SERIES[:-2], "300000", "--quiet"]  # another step needs a new aggregates entry
    assert _run(other, cache, tmp_path / "c") == 1
    _one_error_line(capsys, "cannot write", "Read-only file system")
