"""Venue WebSocket modules: plans (URLs, subscriptions, snapshots), sequences on real data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from seriesfactory.errors import ConfigError
from seriesfactory.raw.replay_server import feed_from_cryptofeed_v3, feed_from_hftbacktest
from seriesfactory.sources._ws_base import ConnPlan, SeqPoint, WsVenue, ws_venue, ws_venue_names


def test_registry_lists_every_venue() -> None:
    assert ws_venue_names() == ("binance", "binance-usdm", "bybit", "coinbase", "extended")
    with pytest.raises(ConfigError, match="unknown venue 'okx'"):
        ws_venue("okx")


def test_an_incomplete_venue_is_refused_at_definition() -> None:
    with pytest.raises(TypeError, match="Half is incomplete: define default_streams, sequence"):

        class Half(WsVenue):
            name = "half"
            ws_url = "wss://x"
            ws_env = ("X",)

            def plan(self, *a: Any, **k: Any) -> list[ConnPlan]:
                return []


def test_binance_plan_combines_streams_and_snapshots_only_diff_depth() -> None:
    (plan,) = ws_venue("binance").plan(
        ["btcusdt", "ETHUSDT"], ["depth@100ms", "trade"], ws_url="ws://h/", api_url="http://r/"
    )
    assert plan.url == (
        "ws://h/stream?streams=btcusdt@depth@100ms/btcusdt@trade/ethusdt@depth@100ms/ethusdt@trade"
    )
    assert plan.subscribe == ()
    assert plan.snapshots == (
        ("BTCUSDT", "http://r/api/v3/depth?symbol=BTCUSDT&limit=1000"),
        ("ETHUSDT", "http://r/api/v3/depth?symbol=ETHUSDT&limit=1000"),
    )
    (partial,) = ws_venue("binance-usdm").plan(
        ["btcusdt"], ["depth20@100ms"], ws_url="ws://h", api_url="http://r"
    )
    assert partial.snapshots == ()  # a partial-depth stream is a whole book each time


def test_other_plans() -> None:
    (cb,) = ws_venue("coinbase").plan(["btc-usd"], ["level2"], ws_url="ws://c", api_url="")
    assert [orjson.loads(s) for s in cb.subscribe] == [
        {"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "level2"},
        {"type": "subscribe", "product_ids": ["BTC-USD"], "channel": "heartbeats"},
    ]
    topics = [f"s{i}" for i in range(12)]
    (bb,) = ws_venue("bybit").plan(["btcusdt"], topics, ws_url="ws://b", api_url="")
    assert [len(orjson.loads(s)["args"]) for s in bb.subscribe] == [10, 2]  # 10 per request
    ex = ws_venue("extended").plan(
        ["btc-usd"], ["orderbooks", "publicTrades"], ws_url="ws://e/v1/", api_url=""
    )
    assert [p.url for p in ex] == ["ws://e/v1/orderbooks/BTC-USD", "ws://e/v1/publicTrades/BTC-USD"]
    with pytest.raises(ConfigError, match="extended: unknown stream 'trades'"):
        ws_venue("extended").plan(["btc-usd"], ["trades"], ws_url="ws://e", api_url="")


def _chain_breaks(venue: str, messages: list[str]) -> tuple[int, int]:
    """(messages with a sequence, breaks) along each key, as the recorder checks them."""
    v = ws_venue(venue)
    last: dict[str, int] = {}
    seen = breaks = 0
    for text in messages:
        point = v.sequence(orjson.loads(text))
        if point is None:
            continue
        assert isinstance(point, SeqPoint)
        seen += 1
        prev = last.get(point.key)
        if prev is not None and not point.reset and point.first != prev + 1:
            breaks += 1
        last[point.key] = point.last
    return seen, breaks


@pytest.mark.parametrize("market", ["spot", "usdm"])
def test_binance_real_diffs_chain_without_breaks(shared_real: Path, market: str) -> None:
    path = shared_real / f"binance/hftbacktest/{market}/btcusdt_20240808.gz"
    feed = feed_from_hftbacktest(path, 10**6)
    seen, breaks = _chain_breaks("binance" if market == "spot" else "binance-usdm", feed.messages)
    assert (seen, breaks) == ({"spot": 3451, "usdm": 6551}[market], 0)
    # Removing one diff in the middle makes exactly one break.
    diffs = [i for i, m in enumerate(feed.messages) if "depthUpdate" in m]
    holed = feed.messages[: diffs[100]] + feed.messages[diffs[100] + 1 :]
    assert _chain_breaks("binance" if market == "spot" else "binance-usdm", holed)[1] == 1
    first = ws_venue("binance").snapshot_ready(orjson.loads(feed.messages[diffs[0]]))
    assert first == ("BTCUSDT", orjson.loads(feed.messages[diffs[0]])["data"]["U"])


def test_bybit_and_coinbase_real_sequences(shared_real: Path) -> None:
    bybit = feed_from_cryptofeed_v3(
        shared_real / "bybit/cryptofeed-v3/BYBIT.jsonl.zst", "BYBIT.ws.2", 10**6
    )
    seen, breaks = _chain_breaks("bybit", bybit.messages)
    assert seen > 1000 and breaks == 0
    cb_path = shared_real / "coinbase/cryptofeed-v3/COINBASE.jsonl.zst"
    coinbase = feed_from_cryptofeed_v3(cb_path, "COINBASE.ws.2", 10**6)
    assert _chain_breaks("coinbase", coinbase.messages) == (1030, 0)
    assert ws_venue("bybit").app_ping() == '{"op":"ping"}'
