"""The ticks and aggregates tiers: reuse, keys, and crash safety."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from seriesfactory.core.atomic import TMP_PREFIX, HashingWriter
from seriesfactory.pipeline.series import SeriesRequest, build_series, build_ticks
from seriesfactory.transforms.aggregates import AggregationParams

DAY = 86_400_000_000_000
FROM = 1_735_689_600_000_000_000


def request(tmp_path: Path, **kw: object) -> SeriesRequest:
    base = dict(
        sources="gbm(0.05,0.5,50000)",
        from_ns=FROM,
        to_ns=FROM + DAY,
        cache_dir=tmp_path / "cache",
        output_dir=tmp_path / "out",
        params=AggregationParams(mode="time", step=60_000),
    )
    base.update(kw)
    return SeriesRequest(**base)  # type: ignore[arg-type]


def files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_repeat_fields_and_step_reuse_the_tiers(tmp_path: Path) -> None:
    first = build_series(request(tmp_path))
    assert first.from_cache == {"ticks": False, "aggregates": False}
    again = build_series(request(tmp_path))
    assert again.from_cache == {"ticks": True, "aggregates": True}
    assert again.table.equals(first.table)
    fields = build_series(request(tmp_path, fields=("close",)))
    assert fields.from_cache == {"ticks": True, "aggregates": True}
    assert fields.table.column("close").equals(first.table.column("close"))
    step = build_series(request(tmp_path, params=AggregationParams(mode="time", step=300_000)))
    assert step.from_cache == {"ticks": True, "aggregates": False}
    seed = build_series(request(tmp_path, seed=1))
    assert seed.from_cache == {"ticks": False, "aggregates": False}


def test_cached_and_fresh_aggregates_are_identical(tmp_path: Path) -> None:
    a = build_series(request(tmp_path / "a"))
    build_series(request(tmp_path / "b"))
    b = build_series(request(tmp_path / "b"))  # second run: from the aggregates tier
    assert b.from_cache["aggregates"]
    assert a.table.equals(b.table)
    assert a.output.read_bytes() == b.output.read_bytes()
    assert a.counts == b.counts


def test_a_crash_while_writing_ticks_leaves_no_tick_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    req = request(tmp_path, to_ns=FROM + 3 * DAY)
    calls = {"n": 0}
    real = HashingWriter.hexdigest  # called as each day file is closed

    def crash_on_second_day(self: HashingWriter) -> str:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real(self)

    monkeypatch.setattr(HashingWriter, "hexdigest", crash_on_second_day)
    with pytest.raises(OSError, match="disk full"):
        build_ticks(req)
    monkeypatch.undo()
    cache = tmp_path / "cache"
    assert not list(cache.rglob("manifest.json"))  # no manifest: the set is incomplete
    assert not [p for p in files(cache) if p.name.startswith(TMP_PREFIX)]
    result = build_ticks(req)  # the next run rebuilds it whole
    assert result.generated and result.ticks.rows == 3 * 172_800


def test_a_crash_while_writing_the_output_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = build_series(request(tmp_path))
    before = first.output.read_bytes()

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("killed")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", boom)
    with pytest.raises(RuntimeError, match="killed"):
        build_series(request(tmp_path, params=AggregationParams(mode="time", step=60_000,
                                                                tick_ttl_ms=5)))  # fmt: skip
    assert first.output.read_bytes() == before  # same name: untouched
    assert not [p for p in files(tmp_path / "out") if p.name.startswith(TMP_PREFIX)]


def test_a_tick_set_with_a_missing_file_is_rebuilt(tmp_path: Path) -> None:
    first = build_ticks(request(tmp_path))
    first.ticks.files[0].path.unlink()
    again = build_ticks(request(tmp_path))
    assert again.generated
    assert again.ticks.content_hashes() == first.ticks.content_hashes()  # deterministic bytes


def test_request_is_frozen(tmp_path: Path) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        request(tmp_path).seed = 3  # type: ignore[misc]
