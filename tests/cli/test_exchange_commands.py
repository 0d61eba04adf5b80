"""``download``, ``trades`` and ``cache ls|gc|clear`` through the CLI entry point."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from seriesfactory.cli import main
from seriesfactory.raw import cache as raw_cache

DAY1 = "data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-01.zip"
DAY2 = "data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-02.zip"


def _csv(start_ms: int, n: int, bad_line: int | None = None) -> str:
    flag = ["false", "true"]
    rows = [f"{i},{100 + i % 7}.5,1.25,{i},{i},{start_ms + i * 1000},{flag[i % 2]},true"
            for i in range(n)]  # fmt: skip
    if bad_line is not None:
        rows[bad_line - 1] = rows[bad_line - 1].replace(".5,1.25", ".5,-1.25")
    return "\n".join(rows) + "\n"


@pytest.fixture
def env(mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    mirror.add_archive(mirror.roots[0], DAY1, _csv(1704067200000, 500))
    mirror.add_archive(mirror.roots[0], DAY2, _csv(1704153600000, 500, bad_line=3))
    monkeypatch.setenv("SERIESFACTORY_BINANCE_DATA_URL", mirror.url)
    monkeypatch.setenv("SERIESFACTORY_BACKOFF_BASE_S", "0.001")
    return tmp_path


def test_download_then_cache_ls_gc_clear(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = env / "c"
    args = ["download", "--from", "2024-01-01", "--to", "2024-01-04", "--cache-dir", str(cache)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "2 archive(s) verified; 1 day(s) not on the server" in out
    assert (cache / "raw" / "binance" / DAY1).is_file()
    assert (cache / "raw" / "binance" / (DAY1 + ".sha256")).is_file()  # a side file
    assert main(["cache", "ls", "--cache-dir", str(cache)]) == 0
    assert "2 raw file(s)" in capsys.readouterr().out
    # make DAY1 old: retention removes it with its checksum
    old = time.time() - 40 * 86_400
    for p in (cache / "raw" / "binance").rglob("*2024-01-01*"):
        os.utime(p, (old, old))
    assert main(["cache", "gc", "--cache-dir", str(cache)]) == 0
    assert "removed 1 expired" in capsys.readouterr().out
    assert not [p.name for p in (cache / "raw" / "binance").rglob("*2024-01-01*")]
    assert (cache / "raw" / "binance" / DAY2).is_file()
    assert main(["cache", "clear", "--yes", "--cache-dir", str(cache)]) == 0
    assert not (cache / "raw").exists()


def test_trades_export_with_bad_rows(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["trades", "--from", "2024-01-01", "--to", "2024-01-03", "--cache-dir", str(env / "c"),
            "--output-dir", str(env / "o")]  # fmt: skip
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "BTCUSDT-aggTrades-2024-01-02.csv:3: quantity must be >= 0" in err
    assert main([*args, "--on-bad-rows", "skip"]) == 0
    assert "999 trades; 1 bad row(s) skipped" in capsys.readouterr().out
    table = pq.read_table(env / "o" / "btc-usdt_binance_20240101-20240103_aggtrades.parquet")
    assert "recv_ts" not in table.column_names  # null in every history file: dropped
    assert table.num_rows == 999 and table.column("side").to_pylist()[:2] == [1, -1]


def test_gc_size_limit_evicts_least_recently_used(tmp_path: Path) -> None:
    root = tmp_path / "raw" / "v"
    root.mkdir(parents=True)
    now = time.time()
    for i, name in enumerate(["a.zip", "b.zip", "c.zip"]):
        p = root / name
        p.write_bytes(b"x" * 100)
        p.with_name(name + ".CHECKSUM").write_bytes(b"y" * 10)
        for f in (p, p.with_name(name + ".CHECKSUM")):
            os.utime(f, (now - 100 + i, now - 100 + i))
    raw_cache.touch(root / "a.zip")  # a is now the most recently used
    report = raw_cache.gc(tmp_path, retention_days=30, max_bytes=200)
    assert (report.removed_expired, report.removed_lru) == (0, 2)
    assert sorted(p.name for p in root.iterdir()) == ["a.zip", "a.zip.CHECKSUM"]
    assert report.freed_bytes == 220 and report.kept_bytes == 110


def test_download_real_klines_in_both_eras_as_candles(
    mirror, shared_real, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERIESFACTORY_BINANCE_DATA_URL", mirror.url)
    for day, interval, rows, first_open in [
        ("2020-01-01", "1m", 1440, 1577836800000),  # millisecond era
        ("2026-05-08", "1h", 24, 1778198400000),  # microsecond era
    ]:
        nxt = "2020-01-02" if day.startswith("2020") else "2026-05-09"
        args = ["download", "--kind", "klines", "--interval", interval, "--from", day,
                "--to", nxt, "--cache-dir", str(tmp_path / "c"),
                "--output-dir", str(tmp_path / "k")]  # fmt: skip
        assert main(args) == 0
        name = f"btc-usdt_binance_{day.replace('-', '')}-{nxt.replace('-', '')}_klines-{interval}"
        table = pq.read_table(tmp_path / "k" / f"{name}.parquet")
        assert table.num_rows == rows
        opens = table.column("open_time").cast("int64").to_numpy()
        assert opens[0] == first_open * 10**6
        assert (table.column("high").to_numpy() >= table.column("low").to_numpy()).all()


def test_cache_clear_every_tier_or_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    cache = tmp_path / "c"
    for tier in ("raw/binance", "trades/x", "ticks/gbm", "aggregates"):
        (cache / tier).mkdir(parents=True)
        (cache / tier / "f.bin").write_bytes(b"1234")
    # "n" at the prompt, and no answer at all: exit 1, nothing removed
    for answer in ("n\n", ""):
        monkeypatch.setattr("sys.stdin", io.StringIO(answer))
        assert main(["cache", "clear", "--cache-dir", str(cache)]) == 1
        assert capsys.readouterr().err.strip().endswith("error: nothing removed")
        assert all((cache / t).is_dir() for t in ("raw", "trades", "ticks", "aggregates"))
    args = ["cache", "clear", "--yes", "--cache-dir", str(cache)]
    assert main([*args, "--tier", "ticks"]) == 0
    assert capsys.readouterr().out == "ticks: freed 4 bytes\n"
    assert not (cache / "ticks").exists()
    assert (cache / "raw").is_dir()
    assert main([*args, "--tier", "parquet"]) == 2
    assert "--tier 'parquet' is unknown; use one of raw, trades, ticks, aggregates" in (
        capsys.readouterr().err
    )
    assert main(args) == 0
    assert not any((cache / t).exists() for t in ("raw", "trades", "ticks", "aggregates"))


@pytest.mark.parametrize("quiet", [False, True])
def test_a_retry_says_so_at_once_unless_quiet(
    env: Path, mirror, capsys: pytest.CaptureFixture[str], quiet: bool
) -> None:
    mirror.faults["/" + DAY1] = ["500"]
    args = ["download", "--from", "2024-01-01", "--to", "2024-01-02", "--cache-dir", str(env / "c")]
    assert main([*args, *(["--quiet"] if quiet else [])]) == 0
    err = capsys.readouterr().err
    if quiet:
        assert err == ""
    else:
        assert err.startswith("retrying 1/")
        assert f"{DAY1}: HTTP 500" in err.splitlines()[0]
