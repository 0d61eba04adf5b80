"""Days the server has no file for are reported, never silently dropped; archives hashed once."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from seriesfactory.cli import main
from seriesfactory.config import Settings, load_settings
from seriesfactory.core.time import NS_PER_DAY, parse_date
from seriesfactory.errors import SourceError
from seriesfactory.pipeline.exchange import ensure_trades
from seriesfactory.pipeline.missing import missing_days_warning
from seriesfactory.raw.download import Downloader


def _settings(mirror) -> Settings:
    return load_settings(
        env={}, binance_data_url=mirror.url, bybit_data_url=mirror.url, backoff_base_s=0.001
    )


def _spot(mirror, day: str, n: int = 50) -> str:
    start_ms = parse_date(day, option="d") // 10**6
    rows = [f"{i},{100 + i % 7}.5,1.25,{i},{i},{start_ms + i * 1000},false,true" for i in range(n)]
    rel = f"data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-{day}.zip"
    mirror.add_archive(mirror.roots[0], rel, "\n".join(rows) + "\n")
    return rel


def _day(text: str) -> int:
    return parse_date(text, option="d") // NS_PER_DAY


def _ensure(mirror, tmp_path: Path, venue: str, to: str):
    return ensure_trades(
        venue, base="BTC", quote="USDT", from_ns=parse_date("2024-01-01", option="f"),
        to_ns=parse_date(to, option="t"), cache_dir=tmp_path / "c", settings=_settings(mirror),
    )  # fmt: skip


def test_binance_gap_day_is_returned_and_warned(mirror, tmp_path: Path) -> None:
    _spot(mirror, "2024-01-01")
    _spot(mirror, "2024-01-03")
    summary = _ensure(mirror, tmp_path, "binance", "2024-01-05")
    assert summary.missing_days == [_day("2024-01-02"), _day("2024-01-04")]
    assert summary.missing_dates() == ["2024-01-02", "2024-01-04"]
    assert len(summary.records) == 2
    assert summary.warning() == (
        "warning: no file on the server, taken as days without data: "
        "binance BTCUSDT: 2024-01-02, 2024-01-04"
    )
    # a second run (everything cached) reports the same days
    assert _ensure(mirror, tmp_path, "binance", "2024-01-05").missing_days == summary.missing_days


def test_no_day_at_all_is_an_error(mirror, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no trade file of BTCUSDT exists for the range"):
        _ensure(mirror, tmp_path, "binance", "2024-01-03")


def test_bybit_gap_day_is_returned(mirror, tmp_path: Path) -> None:
    mirror.add_bybit_day("2024-01-02", 5, sides="buy")
    summary = _ensure(mirror, tmp_path, "bybit", "2024-01-04")
    assert summary.missing_dates() == ["2024-01-01", "2024-01-03"]
    assert summary.records[0].rows == 5


def test_warning_walks_rebased_legs_and_is_none_without_gaps() -> None:
    leg = {"venue": "bybit", "symbol": "ETHUSDT", "missing_days": ["2024-01-02"]}
    full = {"venue": "bybit", "symbol": "BTCUSDT", "missing_days": []}
    assert missing_days_warning([{"venue": "bybit", "legs": [full, leg]}]) == (
        "warning: no file on the server, taken as days without data: bybit ETHUSDT: 2024-01-02"
    )
    assert missing_days_warning([full, {"venue": "synthetic"}]) is None


@pytest.mark.parametrize("command", ["series", "trades", "bars"])
def test_cli_prints_one_warning_line(
    command: str, mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    _spot(mirror, "2024-01-01")
    monkeypatch.setenv("SERIESFACTORY_BINANCE_DATA_URL", mirror.url)
    common = ["--from", "2024-01-01", "--to", "2024-01-03", "--cache-dir", str(tmp_path / "c")]
    argv = {
        "series": ["series", "--sources", "binance", "--agg-step", "3600000", "--quiet",
                   "--tick-max-deviation", "1", "--output-dir", str(tmp_path / "o")],
        "trades": ["trades", "--output-dir", str(tmp_path / "o")],
        "bars": ["bars", "build", "--venue", "binance", "--symbol", "BTCUSDT", "--type", "tick",
                 "--threshold", "10", "--output", str(tmp_path / "b.parquet")],
    }[command]  # fmt: skip
    assert main([*argv, *common]) == 0
    lines = [x for x in capsys.readouterr().err.splitlines() if "warning" in x]
    assert lines == [
        "warning: no file on the server, taken as days without data: binance BTCUSDT: 2024-01-02"
    ]


def test_verified_archive_is_read_for_its_hash_once(
    mirror, tmp_path: Path, hash_reads: list[str]
) -> None:
    rel = _spot(mirror, "2024-01-01")
    digest = hashlib.sha256((mirror.roots[0] / rel).read_bytes()).hexdigest()
    # downloaded and hashed, then reused from the cache: the remembered hash each time
    for _ in range(3):
        assert _ensure(mirror, tmp_path, "binance", "2024-01-02").raw_hashes() == [digest]
    assert hash_reads == [Path(rel).name]
    # the archive replaced under the same name (new inode): read again and checked
    path = tmp_path / "c" / "raw" / "binance" / rel
    copy = path.with_name("copy")
    copy.write_bytes(path.read_bytes())
    copy.replace(path)
    assert _ensure(mirror, tmp_path, "binance", "2024-01-02").raw_hashes() == [digest]
    assert hash_reads == [Path(rel).name] * 2
    # the downloader hands its verified hash on, so callers need not read the file
    with Downloader(_settings(mirror)) as dl:
        dest = dl.fetch_verified(f"{mirror.url}/{rel}", tmp_path / "a.zip")
        assert dl.verified_sha256 == {dest: digest}
