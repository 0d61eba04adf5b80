"""Binance REST aggTrades for days not archived yet: paging by id, through ``series``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from seriesfactory.config import load_settings
from seriesfactory.core.time import NS_PER_DAY, NS_PER_MS
from seriesfactory.pipeline.series import SeriesRequest, build_series, build_ticks
from seriesfactory.sources.binance import rest
from seriesfactory.transforms.aggregates import AggregationParams


def test_yesterday_and_today_come_from_rest(
    mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rest, "PAGE_LIMIT", 200)
    now_ms = time.time_ns() // NS_PER_MS
    start_ms = (now_ms * NS_PER_MS // NS_PER_DAY - 1) * NS_PER_DAY // NS_PER_MS
    times = np.arange(start_ms + 7, now_ms - 60_000, 45_000)  # one every 45 s
    trades: list[dict[str, Any]] = [
        {"a": 5000 + i, "p": f"{42000 + i % 13}.25", "q": "0.002", "f": i, "l": i,
         "T": int(t), "m": bool(i % 2), "M": True}
        for i, t in enumerate(times)
    ]  # fmt: skip

    _serve(mirror, trades)
    settings = load_settings(env={}, binance_data_url=mirror.url, binance_spot_api_url=mirror.url,
                             binance_rest_requests_per_s=1e6)  # fmt: skip
    req = SeriesRequest(
        sources="binance",
        from_ns=start_ms * NS_PER_MS,
        to_ns=time.time_ns(),
        cache_dir=tmp_path / "c",
        output_dir=tmp_path / "o",
        params=AggregationParams(
            mode="time", step=3_600_000, tick_ttl_ms=3_600_000, tick_max_deviation=0.5
        ),
        settings=settings,
    )
    result = build_series(req)
    ticks = build_ticks(req).ticks.read()
    assert ticks.num_rows == len(trades)  # one tick per trade: all have distinct times
    total = sum(float(t["p"]) * 0.002 for t in trades)
    got = float(np.sum(ticks.column("vbid")) + np.sum(ticks.column("vask")))
    assert got == pytest.approx(total, rel=1e-12)
    assert result.table.num_rows >= 24
    paged = [p for p, _ in mirror.requests if p == "/api/v3/aggTrades"]
    assert len(paged) >= len(trades) // 200


DAY0_MS = 1_717_200_000_000 // 86_400_000 * 86_400_000  # 2024-06-01 00:00 UTC


def _dense(n: int, step_ms: int) -> list[dict[str, Any]]:
    return [
        {"a": 900 + i, "p": f"{61000 + i % 17}.5", "q": f"0.00{i % 9 + 1}", "f": i, "l": i,
         "T": DAY0_MS + 1_000 + i * step_ms, "m": i % 3 == 0, "M": True}
        for i in range(n)
    ]  # fmt: skip


def _serve(mirror, trades: list[dict[str, Any]]) -> None:
    def agg_trades(q: dict[str, str]) -> bytes:
        assert q["symbol"] == "BTCUSDT"
        limit = int(q["limit"])
        if "fromId" in q:
            hits = [t for t in trades if t["a"] >= int(q["fromId"])]
        else:
            assert int(q["endTime"]) - int(q["startTime"]) < 3_600_000  # the API's rule
            hits = [t for t in trades if int(q["startTime"]) <= t["T"] <= int(q["endTime"])]
        return json.dumps(hits[:limit]).encode()

    mirror.handlers["/api/v3/aggTrades"] = agg_trades


def test_a_busy_hour_is_paged_by_id_to_the_end_of_the_range(
    mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More trades in an hour than a page holds: the walk goes on by ``fromId`` and stops at
    the first page reaching the range's end; the parsed day holds each trade of the range once."""
    from seriesfactory.raw.download import Downloader

    monkeypatch.setattr(rest, "PAGE_LIMIT", 100)
    trades = _dense(1500, 4_000)  # one every 4 s: 900 an hour, 100 minutes in all
    _serve(mirror, trades)
    settings = load_settings(env={}, binance_spot_api_url=mirror.url,
                             binance_rest_requests_per_s=500.0)  # fmt: skip
    start_ns, end_ns = DAY0_MS * NS_PER_MS, (DAY0_MS + 3_000_000) * NS_PER_MS  # 50 min
    with Downloader(settings) as fetcher:
        path = rest.fetch_rest_day("spot", "BTCUSDT", start_ns, end_ns, cache_dir=tmp_path,
                                   settings=settings, downloader=fetcher)  # fmt: skip
    assert path == tmp_path / "raw/binance/rest/spot/aggTrades/BTCUSDT/2024-06-01.jsonl"
    pages = [p for p, _ in mirror.requests if p == "/api/v3/aggTrades"]
    inside = [t for t in trades if t["T"] < DAY0_MS + 3_000_000]
    assert len(pages) == len(inside) // 100 + 1  # one window, then by id past the end once
    parsed = rest.parse_rest_lines(path.read_bytes(), name=str(path), start_ns=start_ns,
                                   end_ns=end_ns, contract_size=None).table  # fmt: skip
    assert parsed.column("trade_id").to_pylist() == [t["a"] for t in inside]
    assert parsed.column("price").to_pylist() == [float(t["p"]) for t in inside]
    assert parsed.column("ts").cast(pa.int64()).to_pylist() == [t["T"] * NS_PER_MS for t in inside]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"<html>busy</html>", "/api/v3/aggTrades: response is not JSON"),
        (b'{"code": -1121, "msg": "Invalid symbol."}', "expected a list of trades, got {'code'"),
    ],
)
def test_a_page_that_is_not_a_list_of_trades_names_the_endpoint(
    mirror, tmp_path: Path, body: bytes, needle: str
) -> None:
    from seriesfactory.errors import SourceError
    from seriesfactory.raw.download import Downloader

    mirror.routes["/api/v3/aggTrades"] = body
    settings = load_settings(env={}, binance_spot_api_url=mirror.url)
    with Downloader(settings) as fetcher, pytest.raises(SourceError) as info:
        rest.fetch_rest_day("spot", "BTCUSDT", DAY0_MS * NS_PER_MS, (DAY0_MS + 60_000) * NS_PER_MS,
                            cache_dir=tmp_path, settings=settings, downloader=fetcher)  # fmt: skip
    assert str(info.value).startswith(mirror.url) and needle in str(info.value)
    assert not (tmp_path / "raw").exists()  # nothing half written


@pytest.mark.parametrize(
    ("lines", "needle"),
    [
        (b'[{"a": 1, "p": "1.5", "q": "2", "T": 1717200000000, "m": true}]\n[{"a": 2}]\n',
         "day.jsonl:2: bad aggTrades page ('T')"),
        (b'[{"a": 1, "p": "1.5", "q": "2", "T": 1717200000000, "m": "yes"}]\n', "not a boolean"),
        (b'[{"a": 1, "p": "1.5", "q": "2", "T": 1717200000009, "m": true},'
         b' {"a": 2, "p": "1.5", "q": "2", "T": 1717200000001, "m": true}]\n',
         "ids and times disagree"),
    ],
)  # fmt: skip
def test_a_bad_saved_page_is_a_data_error_naming_the_file(lines: bytes, needle: str) -> None:
    from seriesfactory.errors import DataError

    with pytest.raises(DataError) as info:
        rest.parse_rest_lines(lines, name="day.jsonl", start_ns=0, end_ns=2**62,
                              contract_size=None)  # fmt: skip
    assert "day.jsonl" in str(info.value) and needle in str(info.value), str(info.value)
