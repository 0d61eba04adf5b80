"""cache gc handles every tick-set layout and temporary leftovers (issue 17, items 0 and 9)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from seriesfactory.cli import main
from seriesfactory.core.atomic import atomic_write_bytes
from seriesfactory.lake import derived
from seriesfactory.pipeline.series import SeriesRequest, build_series
from seriesfactory.transforms.aggregates import AggregationParams

DAY = 86_400_000_000_000
FROM = 1_735_689_600_000_000_000  # 2025-01-01
OLD_S = time.time() - 40 * 86_400
TWO_HOURS_AGO = time.time() - 2 * 3600


def _request(cache: Path, out: Path, sources: str) -> SeriesRequest:
    return SeriesRequest(
        sources=sources, from_ns=FROM, to_ns=FROM + DAY, cache_dir=cache, output_dir=out,
        params=AggregationParams(mode="time", step=60_000),
    )  # fmt: skip


def _age_all(root: Path, when: float = OLD_S) -> None:
    for p in root.rglob("*"):
        os.utime(p, (when, when))


def test_gc_removes_merged_tick_sets_whole(tmp_path: Path, capsys) -> None:
    cache = tmp_path / "cache"
    build_series(_request(cache, tmp_path / "o", "gbm(0.05,0.5,50000)|gbm(0.01,0.3,50000)"))
    sets = [e for e in derived.list_derived(cache) if e.tier == "ticks"]
    assert any(e.path.parent.name == "merged" for e in sets) and len(sets) == 3
    _age_all(cache)
    report = derived.gc_derived(cache, retention_days=30)
    assert report.removed_tick_sets == 3 and report.removed_aggregates == 1
    assert [p for p in (cache / "ticks").rglob("*") if p.is_file()] == []
    assert [p for p in (cache / "aggregates").rglob("*") if p.is_file()] == []
    assert main(["cache", "ls", "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    assert "ticks: 0 tick set(s), 0 file(s), 0 bytes" in out
    assert "aggregates: 0 file(s), 0 bytes" in out


def test_temporary_files_are_not_data_and_gc_removes_old_ones(tmp_path: Path, capsys) -> None:
    cache = tmp_path / "cache"
    build_series(_request(cache, tmp_path / "o", "gbm(0.05,0.5,50000)"))
    (tick_set,) = [e.path for e in derived.list_derived(cache) if e.tier == "ticks"]
    (agg,) = [e.path for e in derived.list_derived(cache) if e.tier == "aggregates"]
    old_tick = tick_set / "2025" / "01" / ".tmp-0123456789ab-20250101.parquet"
    old_agg = agg.with_name(".tmp-0123456789ab-" + agg.name)
    young = agg.with_name(".tmp-ba9876543210-" + agg.name)
    for p in (old_tick, old_agg, young):
        p.write_bytes(b"")
    for p in (old_tick, old_agg):
        os.utime(p, (TWO_HOURS_AGO, TWO_HOURS_AGO))
    before = derived.tier_usage(cache)
    assert main(["cache", "ls", "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    assert f"aggregates: {before['aggregates'][0]} file(s)" in out
    assert before["aggregates"][0] == 2  # the entry and its seal, no temporary file
    assert "temporary: 3 file(s)" in out
    assert main(["cache", "gc", "--cache-dir", str(cache)]) == 0
    assert "2 stale temporary file(s)" in capsys.readouterr().out
    assert not old_tick.exists() and not old_agg.exists() and young.exists()  # a live writer's


def test_a_rerun_removes_its_own_stale_temporary_files(tmp_path: Path) -> None:
    final = tmp_path / "d" / "x.parquet"
    final.parent.mkdir()
    stale = final.with_name(".tmp-0123456789ab-x.parquet")
    fresh = final.with_name(".tmp-ba9876543210-x.parquet")
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    os.utime(stale, (TWO_HOURS_AGO, TWO_HOURS_AGO))
    atomic_write_bytes(final, b"whole")
    assert final.read_bytes() == b"whole" and not stale.exists() and fresh.exists()
