"""Avellaneda–Stoikov quotes: one numba function, shared by the engine's kernel.

Units (``docs/backtest.md``): the model works in **fractions of the mid**. With the
calibration's ``sigma`` (quote currency per √s) and ``kappa`` (per unit of quote
currency) at the current mid ``m``::

    s = sigma / m              (per √s)     k_side = kappa_side * m
    q = inventory / order_size (lots)       T = horizon seconds (fixed or rolling)
    g = gamma_eff(q)                        (dimensionless)
    shift = q g s^2 T                        (max_shift mode: clipped to ±max_shift_bps)
    d_side = g s^2 T + (2 / g) ln(1 + g / k_side)
    bid_rel = shift + d_bid / 2   (distance below the mid, as a fraction)
    ask_rel = -shift + d_ask / 2  (distance above the mid)
    each clipped to [min_spread_bps / 2, max_spread_bps / 2] * 1e-4
    bid = floor(m (1 - bid_rel) / tick) tick,  ask = ceil(m (1 + ask_rel) / tick) tick
    (a price within 1e-9 ticks of the grid counts as on it; ask >= bid + one tick)

``gamma_eff``: ``constant`` g = γ; ``inventory_scaled`` g = γ (1 + c |q_base| / max_inventory);
``max_shift`` g = γ and |shift| <= max_shift_bps * 1e-4. The reservation price is
``r = m (1 - shift)``.
"""

from __future__ import annotations

import math

from seriesfactory._jit import kernel

__all__ = ["GAMMA_CONSTANT", "GAMMA_INVENTORY_SCALED", "GAMMA_MAX_SHIFT", "GAMMA_MODES", "as_quote"]

GAMMA_CONSTANT = 0
GAMMA_INVENTORY_SCALED = 1
GAMMA_MAX_SHIFT = 2
#: ``gamma_mode`` names by code.
GAMMA_MODES = {
    "constant": GAMMA_CONSTANT,
    "inventory_scaled": GAMMA_INVENTORY_SCALED,
    "max_shift": GAMMA_MAX_SHIFT,
}


@kernel
def on_tick(k: float, tick: float) -> float:
    """``k`` ticks as a price: ``k / (1 / tick)`` for a tick below 1 (so 600003 ticks of 0.1
    is the double nearest 60000.3), else ``k * tick``."""
    if tick < 1.0:
        return k / round(1.0 / tick)
    return k * tick


@kernel
def as_quote(
    mid: float,
    sigma: float,
    kappa_bid: float,
    kappa_ask: float,
    inventory: float,
    order_size: float,
    max_inventory: float,
    horizon: float,
    gamma: float,
    gamma_mode: int,
    gamma_scale: float,
    max_shift_bps: float,
    min_spread_bps: float,
    max_spread_bps: float,
    tick: float,
) -> tuple[float, float, float, float]:
    """``(bid, ask, reservation, gamma_eff)`` in quote currency (see the module docstring)."""
    s = sigma / mid
    kb = kappa_bid * mid
    ka = kappa_ask * mid
    q = inventory / order_size
    g = gamma
    if gamma_mode == GAMMA_INVENTORY_SCALED:
        g = gamma * (1.0 + gamma_scale * abs(inventory) / max_inventory)
    var = g * s * s * horizon
    shift = q * var
    if gamma_mode == GAMMA_MAX_SHIFT:
        cap = max_shift_bps * 1e-4
        shift = min(max(shift, -cap), cap)
    d_bid = var + (2.0 / g) * math.log1p(g / kb)
    d_ask = var + (2.0 / g) * math.log1p(g / ka)
    lo = min_spread_bps * 0.5e-4
    hi = max_spread_bps * 0.5e-4
    bid_rel = min(max(shift + 0.5 * d_bid, lo), hi)
    ask_rel = min(max(-shift + 0.5 * d_ask, lo), hi)
    kb_t = float(math.floor(mid * (1.0 - bid_rel) / tick + 1e-9))
    ka_t = float(math.ceil(mid * (1.0 + ask_rel) / tick - 1e-9))
    if ka_t <= kb_t:
        ka_t = kb_t + 1.0
    bid = on_tick(kb_t, tick)
    ask = on_tick(ka_t, tick)
    return bid, ask, mid * (1.0 - shift), g
