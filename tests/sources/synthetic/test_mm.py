"""mm(...): spec checks, determinism, the truth it claims, its recording through the book engine."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from seriesfactory.errors import SpecError
from seriesfactory.sources.spec import parse_sources
from seriesfactory.sources.synthetic import MARKET_MODELS
from seriesfactory.sources.synthetic.mm import MMModel, write_recording
from seriesfactory.transforms.book.api import rebuild

T0 = 1_700_000_000_000_000_000


def test_spec_and_ranges() -> None:
    spec = parse_sources("mm(0.5,10,0.5,10,1,0.1,60000)")[0]
    m = MARKET_MODELS[spec.name].from_spec(spec)
    assert m.spec() == "mm(0.5,10,0.5,10,1,0.1,60000)"
    with pytest.raises(SpecError, match="kappa_bid = 0 is out of range"):
        MMModel(0, 10, 0.5, 10, 1, 0.1, 60000)
    with pytest.raises(SpecError, match="power of ten"):
        MMModel(0.5, 10, 0.5, 10, 1, 0.25, 60000)
    with pytest.raises(SpecError, match="takes 7 arguments"):
        MMModel(0.5, 10)


def test_seeded_and_deterministic() -> None:
    m = MMModel(0.5, 10, 0.7, 5, 1, 0.1, 60000)
    a = m.generate(start_ns=T0, seconds=60, seed=4)
    b = m.generate(start_ns=T0, seconds=60, seed=4)
    c = m.generate(start_ns=T0, seconds=60, seed=5)
    assert np.array_equal(a.trades, b.trades) and np.array_equal(a.bid_sz, b.bid_sz)
    assert not np.array_equal(a.trades, c.trades)


def test_depths_rates_and_mid_moves_follow_the_parameters() -> None:
    m = MMModel(0.4, 20, 1.0, 10, 2, 0.1, 60000)
    g = m.generate(start_ns=T0, seconds=1800, seed=1)
    t = g.trades
    row = (t["ts"] - T0) // 100_000_000
    assert np.all((t["ts"] - T0) % 100_000_000 > 0)  # strictly between rows
    sells, buys = t["side"] < 0, t["side"] > 0
    j_sell = np.rint((g.bid_px[row[sells], 0] - t["price"][sells]) / 0.1)
    j_buy = np.rint((t["price"][buys] - g.ask_px[row[buys], 0]) / 0.1)
    assert sells.sum() / 1800 == pytest.approx(20, rel=0.03)
    assert buys.sum() / 1800 == pytest.approx(10, rel=0.04)
    # P(J >= 1) = e^{-κ}; mean of a geometric = e^{-κ} / (1 - e^{-κ})
    assert (j_sell >= 1).mean() == pytest.approx(math.exp(-0.4), abs=0.01)
    assert j_buy.mean() == pytest.approx(math.exp(-1) / (1 - math.exp(-1)), rel=0.05)
    moves = np.diff(g.bid_px[:, 0]) != 0
    assert moves.sum() / 1800 == pytest.approx(2, rel=0.05)
    assert np.allclose(g.ask_px[:, 0] - g.bid_px[:, 0], 0.1)


def test_recording_rebuilds_to_the_same_book_and_trades(tmp_path: Path) -> None:
    g = MMModel(0.5, 5, 0.5, 5, 1, 0.1, 60000).generate(start_ns=T0, seconds=30, seed=2)
    path = write_recording(g, tmp_path / "mm.gz")
    res = rebuild([str(path)], venue="binance", symbol="MMUSDT", interval_ns=100_000_000, depth=20)
    rows = res.rows
    idx = np.searchsorted(g.ts, rows.ts)
    assert rows.valid.all() and len(rows.ts) == len(g.ts) - 1
    np.testing.assert_array_equal(rows.bid_px, g.bid_px[idx])
    np.testing.assert_array_equal(rows.ask_qty, g.ask_sz[idx])
    np.testing.assert_array_equal(res.trades["price"], g.trades["price"])
    np.testing.assert_array_equal(res.trades["side"], g.trades["side"])


def test_stream_ticks_are_the_trades_with_the_touch() -> None:
    """``series --sources 'mm(...)'`` ticks: one per trade, the row's touch, the notional on
    the taker's side; the first hour is generate()'s, a shorter range a prefix of a longer."""
    m = MMModel(0.5, 10, 0.7, 5, 1, 0.1, 60000)
    g = m.generate(start_ns=T0, seconds=3600, seed=4)
    ticks = list(m.stream(start_ns=T0, end_ns=T0 + 5400 * 10**9, seed=4))
    assert len(ticks) == 2  # a one-hour block, then half an hour
    first = ticks[0]
    t = g.trades
    assert np.array_equal(first.ts, t["ts"])
    row = (t["ts"] - T0) // 100_000_000
    assert np.array_equal(first.bid, g.bid_px[row, 0]) and np.array_equal(
        first.ask, g.ask_px[row, 0]
    )
    sell = t["side"] < 0
    assert np.array_equal(first.vbid[sell], t["price"][sell] * t["qty"][sell])
    assert (first.vbid[~sell] == 0).all() and (first.vask[sell] == 0).all()
    # the second block continues the mid (one row's move at most) and stays in time order
    second = ticks[1]
    assert second.ts[0] > first.ts[-1] and (np.diff(second.ts) >= 0).all()
    assert abs(second.bid[0] - g.bid_px[-1, 0]) <= 0.1 + 1e-9 or second.ts[0] > T0 + 3600.1e9
    assert second.ts[-1] < T0 + 5400 * 10**9
    # a shorter range: the same first ticks
    short = next(iter(m.stream(start_ns=T0, end_ns=T0 + 60 * 10**9, seed=4)))
    assert np.array_equal(short.ts, first.ts[first.ts < T0 + 60 * 10**9])


def test_mm_is_a_series_source(tmp_path: Path) -> None:
    """``series``'s tick stage takes ``mm(...)`` like the price models (cached, seeded)."""
    from seriesfactory.pipeline.series import TicksRequest, build_ticks
    from seriesfactory.sources import resolve_model

    spec = "mm(0.5,10,0.5,10,1,0.1,60000)"
    req = TicksRequest(sources=spec, from_ns=T0, to_ns=T0 + 120 * 10**9, cache_dir=tmp_path, seed=3)
    res = build_ticks(req)
    assert res.generated
    again = build_ticks(req)
    assert not again.generated  # cached by spec, seed and range
    want = MMModel(0.5, 10, 0.5, 10, 1, 0.1, 60000).generate(start_ns=T0, seconds=3600, seed=3)
    tr = want.trades[want.trades["ts"] < T0 + 120 * 10**9]
    table = again.ticks.read()
    assert table.num_rows == len(tr)
    notional = tr["price"] * tr["qty"]
    got = table.column("vbid").to_numpy() + table.column("vask").to_numpy()
    np.testing.assert_allclose(got, notional, rtol=1e-12)
    with pytest.raises(SpecError, match="market model"):
        resolve_model(parse_sources(spec)[0])


@pytest.mark.slow
def test_series_command_on_mm(tmp_path: Path) -> None:
    """``seriesfactory series --sources 'mm(...)'``: one day of 1-minute bars from its trades."""
    import pyarrow.parquet as pq

    from seriesfactory.cli import main

    out = tmp_path / "out"
    args = ["series", "--sources", "mm(0.5,15,0.5,15,1,0.1,60000)", "--from", "2024-01-01",
            "--to", "2024-01-02", "--agg-step", "60000", "--cache-dir", str(tmp_path / "c"),
            "--output-dir", str(out), "--quiet"]  # fmt: skip
    assert main(args) == 0
    (path,) = out.glob("*mm-0.5-15*.parquet")
    t = pq.read_table(path)
    assert t.num_rows == 1440
    close = t.column("close").to_numpy()
    assert np.all(np.abs(close - 60000) < 100)  # σ = 0.1 USD/√s: about 30 USD over a day
