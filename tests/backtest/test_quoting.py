"""Hand-computed Avellaneda–Stoikov quotes: each gamma mode, the clamps, tick rounding.

Common inputs: mid 100, σ = 0.05 per √s (s = σ/mid = 5e-4), κ_bid = 20 and κ_ask = 10
per unit of price (k = κ·mid = 2000 and 1000), γ = 1, T = 100 s, inventory 0.02 with
order size 0.01 (q = 2 lots), max inventory 0.04.

constant: var = γ s² T = 2.5e-5; shift = q var = 5e-5
  d_bid = 2.5e-5 + 2 ln(1 + 1/2000) = 1.02475e-3 -> bid_rel = 5e-5 + 5.12375e-4 = 5.62375e-4
  d_ask = 2.5e-5 + 2 ln(1.001) = 2.0240007e-3 -> ask_rel = -5e-5 + 1.0120003e-3 = 9.620003e-4
  bid = 100 (1 - 5.62375e-4) = 99.9437625 -> down to 99.9437 (tick 1e-4)
  ask = 100 (1 + 9.620003e-4) = 100.0962000 -> up to 100.0963; r = 100 (1 - 5e-5) = 99.995
inventory_scaled (scale 1): g = 1 (1 + 0.02/0.04) = 1.5; var = 3.75e-5; shift = 7.5e-5
  bid_rel = 7.5e-5 + (3.75e-5 + (2/1.5) ln(1 + 1.5/2000)) / 2 = 5.9356e-4 -> 99.94064 -> 99.9406
  ask_rel = -7.5e-5 + (3.75e-5 + (2/1.5) ln(1.0015)) / 2 = 9.4300e-4 -> 100.094300 -> 100.0944
max_shift (0.2 bps): shift = min(5e-5, 2e-5) = 2e-5
  bid_rel = 5.32375e-4 -> 99.9467625 -> 99.9467; ask_rel = 9.920003e-4 -> 100.0992 -> 100.0993
"""

from __future__ import annotations

import math

import pytest

from seriesfactory.backtest.quoting import (
    GAMMA_CONSTANT,
    GAMMA_INVENTORY_SCALED,
    GAMMA_MAX_SHIFT,
    as_quote,
)

BASE = {
    "mid": 100.0,
    "sigma": 0.05,
    "kappa_bid": 20.0,
    "kappa_ask": 10.0,
    "inventory": 0.02,
    "order_size": 0.01,
    "max_inventory": 0.04,
    "horizon": 100.0,
    "gamma": 1.0,
    "gamma_scale": 1.0,
    "max_shift_bps": 0.2,
    "min_spread_bps": 0.0,
    "max_spread_bps": 200.0,
    "tick": 0.0001,
}


@pytest.mark.parametrize(
    ("mode", "bid", "ask", "res", "gamma"),
    [
        (GAMMA_CONSTANT, 99.9437, 100.0963, 99.995, 1.0),
        (GAMMA_INVENTORY_SCALED, 99.9406, 100.0944, 99.9925, 1.5),
        (GAMMA_MAX_SHIFT, 99.9467, 100.0993, 99.998, 1.0),
    ],
)
def test_each_gamma_mode(mode: int, bid: float, ask: float, res: float, gamma: float) -> None:
    b, a, r, g = as_quote(gamma_mode=mode, **BASE)
    assert (b, a) == (bid, ask)
    assert r == pytest.approx(res, abs=1e-9)
    assert g == gamma


def test_flat_inventory_is_symmetric_in_the_shift() -> None:
    b, a, r, _ = as_quote(gamma_mode=GAMMA_CONSTANT, **{**BASE, "inventory": 0.0})
    assert r == 100.0
    # bid_rel = 5.12375e-4 -> 99.9487625 -> 99.9487; ask_rel = 1.0120003e-3 -> 100.1012
    assert (b, a) == (99.9487, 100.1013)


@pytest.mark.parametrize(
    ("change", "bid", "ask"),
    [
        ({"tick": 0.01}, 99.94, 100.10),  # 99.9437625 down, 100.0962 up
        ({"tick": 0.01, "min_spread_bps": 20.0}, 99.90, 100.10),  # each side >= 10 bps
        ({"tick": 0.01, "max_spread_bps": 10.0}, 99.95, 100.05),  # each side <= 5 bps
        ({"tick": 1.0}, 99.0, 101.0),
    ],
)
def test_clamps_and_tick_rounding(change: dict[str, float], bid: float, ask: float) -> None:
    b, a, _, _ = as_quote(gamma_mode=GAMMA_CONSTANT, **{**BASE, **change})
    assert (b, a) == (bid, ask)


def test_prices_are_the_nearest_doubles_of_the_grid() -> None:
    b, a, _, _ = as_quote(gamma_mode=GAMMA_CONSTANT, **{**BASE, "mid": 60000.05, "tick": 0.1})
    assert repr(b).count(".") == 1 and len(repr(b).split(".")[1]) == 1
    assert len(repr(a).split(".")[1]) == 1


def test_extended_defaults_give_a_few_bps_on_btc_and_eth() -> None:
    """docs/backtest.md's worked example: γ 0.1, T 1800 s, κ e-folding over 2 bps."""
    for mid, tick in ((60000.0, 0.1), (3000.0, 0.01)):
        sigma = 0.89e-4 * mid  # 50 % a year
        kappa = 1.0 / (2e-4 * mid)  # the fill rate falls e-fold every 2 bps
        b, a, r, _ = as_quote(
            mid,
            sigma,
            kappa,
            kappa,
            0.0,
            0.01,
            0.1,
            1800.0,
            0.1,
            GAMMA_CONSTANT,
            1.0,
            10.0,
            3.0,
            200.0,
            tick,
        )
        spread_bps = (a - b) / mid * 1e4
        assert 3.9 < spread_bps < 4.2
        assert r == mid
        assert math.isclose((b + a) / 2, mid, rel_tol=2e-6)
