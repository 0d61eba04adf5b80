"""Binance REST aggTrades for days not archived yet: paging by id, through ``series``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
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
