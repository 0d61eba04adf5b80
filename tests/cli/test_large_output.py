"""A request that will write a very large output says so before it starts (issue 17, item 0)."""

from __future__ import annotations

from pathlib import Path

import pytest

from seriesfactory.cli import main
from seriesfactory.pipeline import series


def test_large_output_is_announced_with_rows_and_bytes(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["series", "--sources", "gbm(0.05,0.5,50000)", "--from", "2025-01-01",
            "--to", "2025-01-02", "--agg-step", "1000", "--quiet",
            "--cache-dir", str(tmp_path / "c"), "--output-dir", str(tmp_path / "o")]  # fmt: skip
    assert main(args) == 0
    assert capsys.readouterr().err == ""  # 86,400 rows: not large
    monkeypatch.setattr(series, "LARGE_OUTPUT_BYTES", 1_000_000)
    assert main(args) == 0
    err = capsys.readouterr().err.strip().splitlines()
    # 86,400 buckets x 12 values x 8 bytes
    assert err == [
        "warning: this output will hold up to 86,400 rows, about 8.3 MB (parquet); "
        "a larger --agg-step or a shorter range makes it smaller"
    ]


def test_estimates() -> None:
    from seriesfactory.transforms.aggregates import AggregationParams

    day = 86_400_000_000_000
    req = series.SeriesRequest(
        sources="gbm(0.05,0.5,50000)", from_ns=0, to_ns=day,
        params=AggregationParams(mode="time", step=1),
    )  # fmt: skip
    assert series.estimate_rows(req, 10) == 86_400_000
    assert series.estimate_bytes(req, 86_400_000) == 86_400_000 * 8 * 12
