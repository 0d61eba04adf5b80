"""Results never depend on cache history: any sequence of requests on one cache gives each
request the same bytes as on a fresh cache (issue 17, item 0)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seriesfactory.config import Settings, load_settings
from seriesfactory.core.time import NS_PER_DAY, NS_PER_MS, parse_date
from seriesfactory.pipeline.series import SeriesRequest, build_series
from seriesfactory.transforms.aggregates import AggregationParams

DAY0 = parse_date("2026-05-06", option="d")


def _settings(mirror) -> Settings:
    return load_settings(env={}, binance_data_url=mirror.url, backoff_base_s=0.001)


def _add_day(mirror, day: str, n: int = 8640) -> None:
    start = parse_date(day, option="d") // 10**6
    rng = np.random.default_rng(int(start % 1000))
    price = 80000 + np.cumsum(rng.normal(0, 3, n))
    rows = [
        f"{i},{price[i]:.2f},{rng.random():.5f},{i},{i},{start + i * 10_000},"
        f"{'true' if rng.random() < 0.5 else 'false'},true"
        for i in range(n)
    ]
    rel = f"data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-{day}.zip"
    mirror.add_archive(mirror.roots[0], rel, "\n".join(rows) + "\n")


def _request(
    mirror, cache: Path, out: Path, from_day: int, to_day: int, step: int, mode: str = "time"
) -> SeriesRequest:
    return SeriesRequest(
        sources="binance",
        from_ns=DAY0 + from_day * NS_PER_DAY,
        to_ns=DAY0 + to_day * NS_PER_DAY,
        cache_dir=cache,
        output_dir=out,
        params=AggregationParams(mode=mode, step=step, tick_ttl_ms=600_000),  # type: ignore[arg-type]
        settings=_settings(mirror),
    )


def test_a_shorter_range_is_not_served_a_longer_ranges_entry(mirror, tmp_path: Path) -> None:
    """Data only for 05-07: [05-07, 05-09) then [05-07, 05-08) on one cache (the report)."""
    _add_day(mirror, "2026-05-07")
    long = build_series(_request(mirror, tmp_path / "c", tmp_path / "o1", 1, 3, 600_000))
    short = build_series(_request(mirror, tmp_path / "c", tmp_path / "o2", 1, 2, 600_000))
    fresh = build_series(_request(mirror, tmp_path / "f", tmp_path / "o3", 1, 2, 600_000))
    assert long.rows == 288 and fresh.rows == short.rows == 144
    again = build_series(_request(mirror, tmp_path / "c", tmp_path / "o4", 1, 2, 600_000))
    assert again.from_cache["aggregates"]  # an entry of its own now serves it
    assert short.output.read_bytes() == fresh.output.read_bytes()
    start = pq.read_table(short.output).column("timestamp").cast("int64").to_numpy() * NS_PER_MS
    assert start.max() - 600_000 * NS_PER_MS < DAY0 + 2 * NS_PER_DAY


RANGES = [(a, b) for a, b in itertools.combinations(range(4), 2) if a <= 2 and b >= 2]  # a data day


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(
        st.tuples(st.sampled_from(RANGES), st.sampled_from([600_000, 3_600_000])),
        min_size=2,
        max_size=4,
    )
)
def test_any_request_sequence_gives_fresh_cache_bytes(mirror, tmp_path_factory, requests) -> None:
    if not (mirror.roots[0] / "data").exists():
        _add_day(mirror, "2026-05-07")
        _add_day(mirror, "2026-05-08")
    shared = tmp_path_factory.mktemp("shared")
    for i, ((a, b), step) in enumerate(requests):
        got = build_series(_request(mirror, shared / "cache", shared / f"o{i}", a, b, step))
        alone = tmp_path_factory.mktemp("fresh")
        want = build_series(_request(mirror, alone / "cache", alone / "o", a, b, step))
        assert got.output.read_bytes() == want.output.read_bytes(), (i, requests)
