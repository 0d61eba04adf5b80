"""The derived tiers: last use refreshed by every hit, gc by retention, cache ls / gc output."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from seriesfactory.cli import main
from seriesfactory.lake import derived
from seriesfactory.lake.ticks import MANIFEST
from seriesfactory.pipeline.series import SeriesRequest, build_series
from seriesfactory.transforms.aggregates import AggregationParams

DAY = 86_400_000_000_000
FROM = 1_735_689_600_000_000_000  # 2025-01-01
OLD_S = time.time() - 40 * 86_400


def _request(cache: Path, out: Path, step: int = 60_000, days: int = 1) -> SeriesRequest:
    return SeriesRequest(
        sources="gbm(0.05,0.5,50000)", from_ns=FROM, to_ns=FROM + days * DAY, cache_dir=cache,
        output_dir=out, params=AggregationParams(mode="time", step=step),
    )  # fmt: skip


def _age(path: Path) -> None:
    os.utime(path, (OLD_S, OLD_S))


def test_hits_refresh_the_last_use_and_gc_keeps_what_is_used(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    build_series(_request(cache, tmp_path / "o"))
    (ticks, agg) = sorted(derived.list_derived(cache), key=lambda e: e.tier, reverse=True)
    assert (ticks.tier, agg.tier) == ("ticks", "aggregates")
    assert ticks.size_bytes == sum(p.stat().st_size for p in ticks.path.rglob("*") if p.is_file())
    seal = agg.path.with_name(agg.path.name + ".seal")
    assert agg.path.suffix == ".parquet"
    assert agg.size_bytes == agg.path.stat().st_size + seal.stat().st_size
    _age(ticks.path / MANIFEST)
    _age(agg.path)
    # served from both tiers: both marked used now, so gc keeps them
    again = build_series(_request(cache, tmp_path / "o"))
    assert again.from_cache == {"ticks": True, "aggregates": True}
    assert all(e.last_used_s > time.time() - 60 for e in derived.list_derived(cache))
    report = derived.gc_derived(cache, retention_days=30)
    assert (report.removed_tick_sets, report.removed_aggregates, report.freed_bytes) == (0, 0, 0)


def test_gc_removes_unused_sets_and_aggregates_which_are_then_rebuilt(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = build_series(_request(cache, tmp_path / "o"))
    build_series(_request(cache, tmp_path / "o", days=2))  # a second tick set, used now
    entries = derived.list_derived(cache)
    assert [e.tier for e in entries].count("ticks") == 2
    # the one-day set (one day file) is left unused
    old_set = next(
        e for e in entries if e.tier == "ticks" and len(list(e.path.rglob("*.parquet"))) == 1
    )
    old_agg = min((e for e in entries if e.tier == "aggregates"), key=lambda e: e.size_bytes)
    _age(old_set.path / MANIFEST)
    _age(old_agg.path)
    # an abandoned folder without a manifest counts from its newest file
    stale = cache / "ticks" / "synthetic" / "gbm" / "0123456789abcdef"
    (stale / "2025" / "01").mkdir(parents=True)
    (stale / "2025" / "01" / "20250101.parquet").write_bytes(b"x" * 10)
    _age(stale / "2025" / "01" / "20250101.parquet")
    report = derived.gc_derived(cache, retention_days=30)
    assert (report.removed_tick_sets, report.removed_aggregates) == (2, 1)
    assert report.freed_bytes == old_set.size_bytes + old_agg.size_bytes + 10
    assert not old_set.path.exists() and not stale.exists() and not old_agg.path.exists()
    left = derived.list_derived(cache)
    assert [e.tier for e in left] == ["ticks", "aggregates"]
    rebuilt = build_series(_request(cache, tmp_path / "o2"))
    assert rebuilt.from_cache == {"ticks": False, "aggregates": False}
    assert rebuilt.table.equals(first.table)


def test_cache_ls_and_gc_print_every_tier(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "cache"
    build_series(_request(cache, tmp_path / "o"))
    assert main(["cache", "ls", "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out.splitlines()
    usage = derived.tier_usage(cache)
    assert out[0] == "0 raw file(s), 0 bytes"
    assert out[1] == "trades: 0 file(s), 0 bytes"
    files, size = usage["ticks"]
    assert out[2].startswith(f"ticks: 1 tick set(s), {files} file(s), {size:,} bytes, oldest use ")
    files, size = usage["aggregates"]
    assert out[3].startswith(f"aggregates: {files} file(s), {size:,} bytes, oldest use ")
    assert main(["cache", "gc", "--cache-dir", str(cache), "--derived-retention-days", "0"]) == 0
    printed = capsys.readouterr().out
    assert "ticks and aggregates: removed 1 tick set(s) and 1 aggregates file(s)" in printed
    assert derived.list_derived(cache) == []
