"""The event engine on hand-made streams: fills, latency, cooldown, expiry, gaps, accounting.

Every hand-made market quotes at exactly mid ± 10 bps: min_spread_bps = max_spread_bps =
20 clamps both sides, so the bid is 99.90 and the ask 100.10 around a mid of 100
(whatever σ and κ are). Calibration: one refit in force from the first row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from seriesfactory.backtest.calibration import Calibration
from seriesfactory.backtest.config import BacktestConfig
from seriesfactory.backtest.data import Market
from seriesfactory.backtest.engine import run_backtest

from .conftest import T0, hand_market

ROWS = [float(s) for s in range(0, 21)]


def _cal(ts: int) -> Calibration:
    return Calibration(
        ts - 1,
        ts,
        100.0,
        0.01,
        0.01,
        0.01,
        0.01,
        5.0,
        5.0,
        5.0,
        1.0,
        1.0,
        1.0,
        5.0,
        5.0,
        5.0,
        1.0,
        1.0,
        1.0,
        100,
        100,
        0,
        0,
        100,
    )


def _run(mk: Market, **kw: Any) -> Any:
    base = {
        "min_spread_bps": 20.0,
        "max_spread_bps": 20.0,
        "warmup_period_seconds": 0.0,
        "fill_cooldown_seconds": 0.0,
        "order_size": 1.0,
        "max_inventory": 10.0,
        "starting_cash": 1000.0,
        "maker_fee_bps": 1.0,
    }
    cfg = BacktestConfig(**{**base, **kw})
    return run_backtest(mk, cfg, calibrations=[_cal(int(mk.ts[0]))])


def _fills(res: Any) -> list[tuple[float, int, float, float]]:
    return [((f[0] - T0) / 1e9, int(f[1]), f[2], f[3]) for f in res.fills]


def test_quotes_are_mid_plus_minus_ten_bps() -> None:
    res = _run(hand_market(ROWS, [(0.5, 99.0, 1.0, 1)]))
    tl = res.timeline
    assert np.all(tl[:, 2] == 99.9) and np.all(tl[:, 3] == 100.1)


def test_through_fills_only_strictly_beyond_our_price() -> None:
    trades = [
        (1.5, 99.90, 1.0, -1),
        (2.5, 99.89, 1.0, -1),
        (3.5, 100.10, 1.0, 1),
        (4.5, 100.11, 1.0, 1),
    ]
    res = _run(hand_market(ROWS, trades))
    assert _fills(res) == [(2.5, 1, 99.9, 1.0), (4.5, -1, 100.1, 1.0)]
    assert res.summary["fills_bid"] == 1 and res.summary["fills_ask"] == 1


def test_at_price_fills_after_the_queue_ahead() -> None:
    # a bid level at 99.90 holding 0.5 ahead of us: a 0.3 sell leaves 0.2 ahead, the next
    # 0.3 sell fills us 0.1; a trade through the price fills regardless of the queue
    trades = [(1.2, 99.90, 0.3, -1), (1.4, 99.90, 0.3, -1), (2.5, 99.80, 0.4, -1)]
    res = _run(hand_market(ROWS, trades, levels=[(99.90, 0.5)]), fill_model="at")
    got = _fills(res)
    assert [(t, s, p) for t, s, p, _ in got] == [(1.4, 1, 99.9), (2.5, 1, 99.9)]
    assert got[0][3] == pytest.approx(0.1) and got[1][3] == pytest.approx(0.4)
    # without the level nobody is ahead: the first at-price trade fills
    res = _run(hand_market(ROWS, trades[:1]), fill_model="at")
    assert _fills(res) == [(1.2, 1, 99.9, 0.3)]


def test_partial_fill_by_the_trade_size_and_the_rest_remains() -> None:
    trades = [(1.2, 99.0, 0.4, -1), (1.4, 99.0, 5.0, -1)]
    res = _run(hand_market(ROWS, trades))
    got = _fills(res)
    assert [q for *_, q in got] == pytest.approx([0.4, 0.6])


def test_cooldown_is_per_side() -> None:
    trades = [
        (1.5, 99.0, 1.0, -1),
        (3.5, 99.0, 1.0, -1),
        (3.6, 101.0, 1.0, 1),
        (12.0, 99.0, 1.0, -1),
    ]
    res = _run(hand_market(ROWS, trades), fill_cooldown_seconds=10.0)
    assert [(t, s) for t, s, *_ in _fills(res)] == [(1.5, 1), (3.6, -1), (12.0, 1)]


def test_quotes_expire_without_fresh_rows() -> None:
    rows = [0.0, 1.0, 2.0]
    trades = [(5.0, 99.0, 1.0, -1)]
    assert _fills(_run(hand_market(rows, trades), quote_validity_seconds=2.5)) == []
    assert len(_fills(_run(hand_market(rows, trades), quote_validity_seconds=10.0))) == 1


def test_latency_delays_the_quote() -> None:
    trades = [(0.3, 99.0, 1.0, -1), (0.6, 99.0, 1.0, -1)]
    res = _run(hand_market([0.0, 5.0], trades), latency_seconds=0.5)
    assert [t for t, *_ in _fills(res)] == [0.6]


def test_a_trade_at_the_quote_time_does_not_fill_it() -> None:
    res = _run(hand_market([0.0, 1.0, 2.0], [(0.0, 99.0, 1.0, -1), (1.0, 99.0, 1.0, -1)]))
    assert [t for t, *_ in _fills(res)] == [1.0]  # the row at 0 s quoted; at 1.0 s it is live


def test_inventory_limit_caps_fills() -> None:
    trades = [(0.5 + k, 99.0, 1.0, -1) for k in range(5)]
    res = _run(hand_market(ROWS, trades), max_inventory=2.5)
    assert [q for *_, q in _fills(res)] == pytest.approx([1.0, 1.0, 0.5])
    assert np.isnan(res.timeline[-1, 2])  # no bid at the limit; the ask still quotes
    assert res.timeline[-1, 3] == 100.1


def test_warm_up_after_a_time_gap_and_after_invalid_rows() -> None:
    rows = [float(s) for s in range(0, 11)] + [float(s) for s in range(100, 141)]
    res = _run(hand_market(rows, []), gap_threshold_seconds=30.0, warmup_period_seconds=20.0)
    tl = res.timeline
    t = (tl[:, 0] - T0) / 1e9
    quoting = ~np.isnan(tl[:, 2])
    assert not quoting[t < 20].any() and not quoting[(t >= 100) & (t < 120)].any()
    assert quoting[(t >= 120)].all()
    valid = [True] * 10 + [False] * 3 + [True] * 30
    res = _run(
        hand_market([float(s) for s in range(43)], [], valid=valid), warmup_period_seconds=5.0
    )
    t = (res.timeline[:, 0] - T0) / 1e9
    q = ~np.isnan(res.timeline[:, 2])
    assert list(t[~q]) == [0, 1, 2, 3, 4, 13, 14, 15, 16, 17]  # invalid rows write no row


def test_invalid_rows_cancel_resting_quotes() -> None:
    valid = [True, True, False, False, True]
    res = _run(hand_market([0, 1, 2, 3, 4], [(2.5, 99.0, 1.0, -1)], valid=valid))
    assert _fills(res) == []


def test_accounting_identities_at_every_step(small_mm: Market) -> None:
    res = run_backtest(
        small_mm,
        BacktestConfig(
            min_spread_bps=0.0,
            fill_cooldown_seconds=1.0,
            warmup_period_seconds=60,
            calibration_window_seconds=60,
            recalibration_interval_seconds=30,
            risk_aversion_gamma=1000.0,
        ),
    )
    f, tl = res.fills, res.timeline
    assert len(f) > 50
    cash, inv, fees = 100_000.0, 0.0, 0.0
    for _ts, side, px, qty, fee, inv_after, cash_after in f:
        inv += side * qty
        cash -= side * px * qty
        fees += fee
        assert fee == pytest.approx(px * qty * 1.5e-4, rel=1e-12)
        assert inv_after == pytest.approx(inv, abs=1e-12)
        assert cash_after == pytest.approx(cash, rel=1e-15)
        assert abs(inv_after) <= 0.1 + 1e-12
    # the timeline: equity = cash + inventory * mid - fees, with the state of the moment
    np.testing.assert_allclose(
        tl[:, 12], tl[:, 10] + tl[:, 5] * tl[:, 1] - tl[:, 11], rtol=0, atol=1e-9
    )
    # and the summary's PnL is the final equity less the starting cash
    mid_end = float(small_mm.mid[-1])
    assert res.summary["pnl"] == pytest.approx(cash + inv * mid_end - fees - 100_000.0)
    assert res.summary["fees"] == pytest.approx(fees)


def test_flatten_at_end_pays_the_taker_fee(small_mm: Market) -> None:
    kw = dict(
        min_spread_bps=0.0,
        fill_cooldown_seconds=1.0,
        warmup_period_seconds=60,
        calibration_window_seconds=60,
        risk_aversion_gamma=1000.0,
    )
    a = run_backtest(small_mm, BacktestConfig(**kw)).summary
    b = run_backtest(small_mm, BacktestConfig(**kw, flatten_at_end=True)).summary
    inv = a["final_inventory"]
    assert inv != 0 and b["final_inventory"] == 0
    taker = abs(inv) * float(small_mm.mid[-1]) * 4.5e-4
    assert b["pnl"] == pytest.approx(a["pnl"] - taker)


def test_requote_on_trades_decides_after_each_trade() -> None:
    trades = [(0.5, 100.2, 1.0, 1), (0.7, 99.0, 1.0, -1)]
    res = _run(hand_market([0.0, 1.0, 2.0], trades), requote_on_trades=True)
    t = [(x - T0) / 1e9 for x in res.timeline[:, 0]]
    assert t == [0.0, 0.5, 0.7, 1.0, 2.0]
    # the buy at 0.5 s lifts our ask (inventory -1), the sell at 0.7 s hits our bid (back to 0);
    # each decision right after a trade sees the inventory that trade left
    assert list(res.timeline[:, 5]) == [0.0, -1.0, 0.0, 0.0, 0.0]
    assert [(s, p) for _, s, p, _ in _fills(res)] == [(-1, 100.1), (1, 99.9)]
