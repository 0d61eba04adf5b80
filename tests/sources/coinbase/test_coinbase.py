"""Coinbase: the maker-side convention on real recordings; REST walk and series end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from seriesfactory.config import load_settings
from seriesfactory.core.time import parse_date
from seriesfactory.errors import SourceError
from seriesfactory.pipeline.series import SeriesRequest, build_series
from seriesfactory.sources.coinbase import history
from seriesfactory.sources.coinbase.history import parse_ticker_lines
from seriesfactory.transforms.aggregates import AggregationParams


def test_real_rest_body_side_is_the_maker_side(shared_real: Path) -> None:
    body = (shared_real / "coinbase" / "nautilus" / "http_ticker.json").read_bytes()
    doc = json.loads(body)
    t = parse_ticker_lines(body, name="http_ticker.json").table
    assert t.column("trade_id").to_pylist() == [995098661, 995098662, 995098663]  # oldest first
    # "SELL" (maker) = taker buy; the newest SELL printed at best_ask, not best_bid
    assert t.column("side").to_pylist() == [-1, 1, 1]
    assert t.column("price").to_pylist()[-1] == float(doc["best_ask"]) != float(doc["best_bid"])
    assert t.column("ts").cast("int64").to_pylist()[0] == 1775521737296283000


def test_recorded_feed_matches_print_on_the_makers_side_of_the_book(shared_real: Path) -> None:
    """Legacy feed (level2 + matches): a 'sell' match prints at the ask, a 'buy' at the bid."""
    books: dict[str, dict[str, dict[float, float]]] = {}
    at_maker = at_taker = 0
    path = shared_real / "coinbase" / "cryptofeed" / "COINBASE.ws.28.0"
    for raw in path.read_text().splitlines():
        _head, sep, payload = raw.partition(": ")
        if not sep or not payload.startswith("{"):
            continue
        msg = json.loads(payload)
        kind, pid = msg.get("type"), msg.get("product_id")
        if kind == "snapshot":
            books[pid] = {
                "buy": {float(p): float(q) for p, q in msg["bids"]},
                "sell": {float(p): float(q) for p, q in msg["asks"]},
            }
        elif kind == "l2update" and pid in books:
            for side, price, size in msg["changes"]:
                level = books[pid][side]
                if float(size) == 0:
                    level.pop(float(price), None)
                else:
                    level[float(price)] = float(size)
        elif kind == "match" and pid in books and books[pid]["buy"] and books[pid]["sell"]:
            bid, ask = max(books[pid]["buy"]), min(books[pid]["sell"])
            price = float(msg["price"])
            maker_quote = ask if msg["side"] == "sell" else bid
            taker_quote = bid if msg["side"] == "sell" else ask
            if bid < ask:
                at_maker += abs(price - maker_quote) < abs(price - taker_quote)
                at_taker += abs(price - taker_quote) < abs(price - maker_quote)
    # 90 of 97 nearer the maker's quote, 3 nearer the taker's (book lags a message), 4 ties
    assert (at_maker, at_taker) == (90, 3)


def test_rest_walk_splits_full_windows_and_series_runs(
    mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(history, "LIMIT", 50)
    day0 = parse_date("2024-01-01", option="d") // 10**9
    rng = np.random.default_rng(5)
    # 300 trades in the first hour (windows split down), then one a minute
    times = sorted([day0 + rng.uniform(0, 3600) for _ in range(300)]
                   + [day0 + 3600 + 60 * i + 0.5 for i in range(1380)])  # fmt: skip
    trades = [
        {"trade_id": str(1000 + i), "product_id": "BTC-USD", "price": f"{40000 + i % 50}.5",
         "size": "0.01", "time": np.datetime_as_string(np.datetime64(int(t * 1e6), "us")) + "Z",
         "side": "SELL" if i % 3 else "BUY", "bid": "", "ask": "", "exchange": "coinbase"}
        for i, t in enumerate(times)
    ]  # fmt: skip

    def ticker(q: dict[str, str]) -> bytes:
        s, e, limit = int(q["start"]), int(q["end"]), int(q["limit"])
        hits = [t for t, x in zip(times, trades, strict=True) if s <= t < e][::-1][:limit]
        return json.dumps({"trades": [trades[times.index(t)] for t in hits]}).encode()

    mirror.handlers["/api/v3/brokerage/market/products/BTC-USD/ticker"] = ticker
    req = SeriesRequest(
        sources="coinbase",
        quote="USD",
        from_ns=parse_date("2024-01-01", option="f"),
        to_ns=parse_date("2024-01-02", option="t"),
        cache_dir=tmp_path / "c",
        output_dir=tmp_path / "o",
        params=AggregationParams(
            mode="time", step=3_600_000, tick_ttl_ms=3_600_000, tick_max_deviation=0.5
        ),
        settings=load_settings(env={}, coinbase_api_url=mirror.url, coinbase_requests_per_s=1e6),
    )
    result = build_series(req)
    raw = tmp_path / "c" / "raw" / "coinbase" / "ticker" / "BTC-USD" / "2024-01-01.jsonl"
    parsed = parse_ticker_lines(raw.read_bytes(), name="x").table
    assert parsed.num_rows == len(times)  # every trade once, none lost by the splitting
    assert parsed.column("side").to_pylist()[:3] == [-1, 1, 1]  # BUY maker = taker sell
    volume = float(np.sum(result.table.column("vbid")) + np.sum(result.table.column("vask")))
    assert volume == pytest.approx(sum(float(x["price"]) * 0.01 for x in trades), rel=1e-9)
    n = len(mirror.requests)
    build_series(req)
    assert len(mirror.requests) == n


def test_today_is_fetched_up_to_now_on_every_run(mirror, tmp_path: Path) -> None:
    import time

    from seriesfactory.pipeline.series import TicksRequest, build_ticks

    now_s = time.time()
    today_s = int(now_s // 86_400 * 86_400)
    # trades spread over today so far, plus yesterday's last minute
    span = max(now_s - 5 - today_s, 0.0)
    times = sorted([today_s - 30.0, today_s - 10.0]
                   + [today_s + span * (i + 0.5) / 40 for i in range(40)])  # fmt: skip
    trades = [
        {"trade_id": str(500 + i), "product_id": "BTC-USD", "price": f"{30000 + i}.25",
         "size": "0.5", "time": np.datetime_as_string(np.datetime64(int(t * 1e6), "us")) + "Z",
         "side": "BUY" if i % 2 else "SELL"}
        for i, t in enumerate(times)
    ]  # fmt: skip

    def ticker(q: dict[str, str]) -> bytes:
        s, e = int(q["start"]), int(q["end"])
        hits = [x for t, x in zip(times, trades, strict=True) if s <= t < e][::-1]
        return json.dumps({"trades": hits}).encode()

    path = "/api/v3/brokerage/market/products/BTC-USD/ticker"
    mirror.handlers[path] = ticker
    settings = load_settings(env={}, coinbase_api_url=mirror.url, coinbase_requests_per_s=1e6)
    req = TicksRequest(sources="coinbase", quote="USD", from_ns=(today_s - 86_400) * 10**9,
                       to_ns=time.time_ns(), cache_dir=tmp_path, settings=settings)  # fmt: skip
    first = build_ticks(req)
    assert first.ticks.rows == len(times)  # every trade a tick (no two share a time and side)
    folder = tmp_path / "raw" / "coinbase" / "ticker" / "BTC-USD"
    date = np.datetime_as_string(np.datetime64(today_s, "s"), unit="D")
    day_files = [f"{date}.partial.jsonl", np.datetime_as_string(
        np.datetime64(today_s - 86_400, "s"), unit="D") + ".jsonl"]  # fmt: skip
    # each with its remembered hash (raw/hashes.py)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        day_files + [f"{name}.sha256" for name in day_files]
    )
    asked = mirror.count(path)
    build_ticks(req)
    # yesterday is reused; today is walked again (its windows up to now)
    assert 0 < mirror.count(path) - asked <= 24
    late = TicksRequest(sources="coinbase", quote="USD", from_ns=req.from_ns,
                        to_ns=(today_s + 86_400 * 2) * 10**9, cache_dir=tmp_path,
                        settings=settings)  # fmt: skip
    with pytest.raises(SourceError, match="past today"):
        build_ticks(late)
