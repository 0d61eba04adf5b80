"""Venue WebSocket modules: plans (URLs, subscriptions, snapshots), sequences on real data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.replay_server import feed_from_cryptofeed_v3, feed_from_hftbacktest

from seriesfactory.errors import ConfigError
from seriesfactory.sources._ws_base import (
    ConnPlan,
    SeqPoint,
    SequenceTracker,
    WsVenue,
    ws_venue,
    ws_venue_names,
)

#: The shared real data (as in tests/conftest.py), for a module-scoped fixture.
SHARED_REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"


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
    tracker = SequenceTracker()
    seen = breaks = 0
    for text in messages:
        point = v.sequence(orjson.loads(text))
        if point is None:
            continue
        assert isinstance(point, SeqPoint)
        seen += 1
        breaks += tracker.check(point) is not None
    return seen, breaks


@pytest.fixture(scope="module")
def spot_diffs() -> list[SeqPoint]:
    path = SHARED_REAL / "binance/hftbacktest/spot/btcusdt_20240808.gz"
    if not path.exists():
        pytest.skip(f"{path} is absent: the recorded real data lives only in ../shared")
    venue = ws_venue("binance")
    points = [venue.sequence(orjson.loads(m)) for m in feed_from_hftbacktest(path, 4000).messages]
    return [p for p in points if p is not None]


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_gaps_are_exactly_the_runs_of_dropped_diffs(
    spot_diffs: list[SeqPoint], data: st.DataObject
) -> None:
    """Drop and duplicate real diffs at random: one gap per run of consecutive drops."""
    n = len(spot_diffs)
    drop = data.draw(st.sets(st.integers(1, n - 2), max_size=30))
    dup = data.draw(st.sets(st.integers(0, n - 1), max_size=30)) - drop
    stream = [p for i, p in enumerate(spot_diffs) if i not in drop for _ in range(1 + (i in dup))]
    tracker = SequenceTracker()
    gaps = [g for p in stream if (g := tracker.check(p)) is not None]
    runs = sorted(i for i in drop if i - 1 not in drop)
    assert [g["expected"] for g in gaps] == [spot_diffs[i].first for i in runs]
    after = [min(j for j in range(i, n) if j not in drop) for i in runs]
    assert [g["got"] for g in gaps] == [spot_diffs[j].first for j in after]


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
