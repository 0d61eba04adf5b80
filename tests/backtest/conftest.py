"""Shared builders for the backtest tests: hand-made markets and small mm(...) markets."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from seriesfactory.backtest.data import Market
from seriesfactory.sources.synthetic.mm import MMModel

T0 = 1_700_000_000_000_000_000
S = 1_000_000_000


def hand_market(
    rows_s: list[float],
    trades: list[tuple[float, float, float, int]],
    *,
    bid: float = 99.99,
    ask: float = 100.01,
    valid: list[bool] | None = None,
    levels: list[tuple[float, float]] | None = None,
) -> Market:
    """Rows at ``T0 + s`` seconds with a one-level book (plus ``levels`` on the bid side);
    trades ``(s, price, qty, side)``."""
    n = len(rows_s)
    extra = levels or []
    d = 1 + len(extra)
    bp = np.full((n, d), np.nan)
    bs = np.full((n, d), np.nan)
    ap = np.full((n, d), np.nan)
    az = np.full((n, d), np.nan)
    bp[:, 0], bs[:, 0], ap[:, 0], az[:, 0] = bid, 1.0, ask, 1.0
    for k, (p, q) in enumerate(extra, start=1):
        bp[:, k], bs[:, k] = p, q
    ts = np.array([T0 + round(s * S) for s in rows_s], np.int64)
    return Market(
        ts,
        np.array(valid if valid is not None else [True] * n, bool),
        bp,
        bs,
        ap,
        az,
        np.array([T0 + round(t[0] * S) for t in trades], np.int64),
        np.array([t[1] for t in trades], np.float64),
        np.array([t[2] for t in trades], np.float64),
        np.array([t[3] for t in trades], np.int8),
        0.01,
    )


def mm_market(
    seconds: float = 600.0,
    seed: int = 1,
    spec: tuple[float, ...] = (0.3, 5.0, 0.3, 5.0, 1.0, 0.1, 60000.0),
) -> Market:
    g = MMModel(*spec).generate(start_ns=T0, seconds=seconds, seed=seed)
    t = g.trades
    return Market(
        g.ts,
        np.ones(len(g.ts), bool),
        g.bid_px,
        g.bid_sz,
        g.ask_px,
        g.ask_sz,
        t["ts"],
        t["price"],
        t["qty"],
        t["side"],
        g.tick,
    )


@pytest.fixture(scope="session")
def small_mm() -> Market:
    return mm_market()


@pytest.fixture(scope="session")
def make_mm() -> Callable[..., Market]:
    return mm_market
