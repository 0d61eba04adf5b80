"""Several model sources through ``series``: merged prices and added volumes (no network)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seriesfactory.core.time import parse_date
from seriesfactory.pipeline.series import SeriesRequest, build_series
from seriesfactory.transforms.aggregates import AggregationParams


def _req(tmp_path: Path, sources: str, ttl_ms: float = 100.0, **kw) -> SeriesRequest:
    return SeriesRequest(
        sources=sources,
        from_ns=parse_date("2025-01-01", option="f"),
        to_ns=parse_date("2025-01-01", option="f") + 3_600 * 10**9,
        cache_dir=tmp_path / "c",
        output_dir=tmp_path / "o",
        params=AggregationParams(
            mode="time", step=60_000, tick_ttl_ms=ttl_ms, tick_max_deviation=0.5
        ),
        **kw,
    )


def test_identical_sources_keep_prices_and_add_volumes(tmp_path: Path) -> None:
    one = build_series(_req(tmp_path, "gbm(0,0.5,100)"))
    for mode in ("static", "volume", "mixed"):
        two = build_series(
            _req(tmp_path, "gbm(0,0.5,100)|gbm(0,0.5,100)", weights=(0.7, 0.3), weight_mode=mode)
        )
        parts = "_w0.7-0.3" if mode == "static" else f"_{mode}_w0.7-0.3"
        span = "20250101-20250101t010000"
        name = f"btc-usdt_gbm-0-0.5-100+gbm-0-0.5-100_{span}_time-60000_dev0.5{parts}.parquet"
        assert two.output.name == name
        np.testing.assert_allclose(two.table.column("close"), one.table.column("close"), rtol=1e-12)
        np.testing.assert_allclose(
            two.table.column("vask").to_numpy(), 2 * one.table.column("vask").to_numpy(), rtol=1e-12
        )


def test_different_sources_give_a_price_between_them(tmp_path: Path) -> None:
    low = (
        build_series(_req(tmp_path, "gbm(0,0.01,100)", ttl_ms=1000.0))
        .table.column("close")
        .to_numpy()
    )
    high = (
        build_series(_req(tmp_path, "gbm(0,0.01,200)", ttl_ms=1000.0))
        .table.column("close")
        .to_numpy()
    )
    src = "gbm(0,0.01,100)|gbm(0,0.01,200)"
    # both tick every 500 ms at the same instants; with a TTL above 500 ms the other
    # source's quote stays fresh, and a bucket's last tick (source 2's) blends both 3:1
    both = build_series(_req(tmp_path, src, ttl_ms=1000.0, weights=(3.0, 1.0)))
    mid = both.table.column("close").to_numpy()
    np.testing.assert_allclose(mid, 0.75 * low + 0.25 * high, rtol=1e-9)
