"""Numba kernel of the López de Prado bars (numpy in, numpy out; ``api.py`` is the only caller).

One kernel, :func:`build_bars`, serves all ten bar types. Every piece of state
lives in two arrays, ``si`` (int64[NI]) and ``sf`` (float64[NF]), indexed by the
constants below, so that a stream cut into any chunks gives identical bars and
so that a builder can be saved and restored mid-bar. Inputs are validated by the
caller (finite positive prices, finite non-negative sizes, time never going
backwards); the kernel trusts them. Semantics and formulas: ``docs/bars.md``.
``reference.py`` is the plain-Python twin the tests compare against.

Array contract of :func:`build_bars`:

- ``ts`` int64[n] ns UTC, ``price`` float64[n] quote per base, ``qty`` float64[n]
  base units, ``side`` int8[n] aggressor side (+1 buy, -1 sell, 0 unknown);
- ``pf`` float64[NP]: parameters indexed by ``P_*``;
- ``out_i`` int64[3, n]: rows ``time_start``, ``time_end`` (ns), ``tick_count``;
- ``out_f`` float64[8, n]: rows ``open``, ``high``, ``low``, ``close``, ``volume``
  (base), ``dollar_volume`` (quote), ``buy_volume`` (base), ``threshold``
  (NaN for standard bars);
- returns the number of bars written (at most ``n``: a bar needs a trade).
"""

from __future__ import annotations

import math

import numpy as np

from seriesfactory._jit import kernel
from seriesfactory.schema.arrays import F64, I8, I64

# -- bar kinds (family = kind // 3 for the sampled kinds) ---------------------------------------
K_TIME = 0
K_TICK = 1
K_VOLUME = 2
K_DOLLAR = 3
K_TIB = 4
K_VIB = 5
K_DIB = 6
K_TRB = 7
K_VRB = 8
K_DRB = 9

SIGN_AUTO = 0  # the venue's aggressor side where non-zero, else the tick rule
SIGN_TICK_RULE = 1  # the tick rule for every trade

# -- parameters (float64[NP]) -------------------------------------------------------------------
P_THRESHOLD = 0  # standard bars: ticks / base units / quote units per bar
P_INTERVAL_NS = 1  # time bars: interval length in ns (exact below 2**53)
P_E0_TICKS = 2  # imbalance/run: initial expected bar length E0[T] (= warm-up length), trades
P_ALPHA = 3  # imbalance/run: EWMA weight 2 / (window + 1)
P_MIN_TICKS = 4  # imbalance/run: lower bound of E[T]
P_MAX_TICKS = 5  # imbalance/run: upper bound of E[T]
P_SIGN = 6  # SIGN_AUTO or SIGN_TICK_RULE
NP = 7

# -- int state ----------------------------------------------------------------------------------
I_N = 0  # trades in the open bar
I_START_TS = 1  # time of the open bar's first trade, ns
I_END_TS = 2  # time of the open bar's last trade, ns
I_BUCKET = 3  # time bars: index floor(ts / interval) of the open bar
I_HAVE_PRICE = 4  # 1 once a trade has been seen (tick rule has a previous price)
I_TICK_SIGN = 5  # last tick-rule sign (+1, -1; 0 before the first price change)
I_WARM_N = 6  # imbalance/run: trades seen during the warm-up
I_WARM = 7  # imbalance/run: 1 once the warm-up is over
I_BARS = 8  # bars emitted so far (whole stream)
NI = 9

# -- float state --------------------------------------------------------------------------------
F_OPEN = 0
F_HIGH = 1
F_LOW = 2
F_CLOSE = 3
F_VOLUME = 4  # sum qty, base units
F_DOLLAR = 5  # sum price * qty, quote units
F_BUY_VOLUME = 6  # sum qty of trades signed +1
F_CUM = 7  # standard bars: running total (ticks, base or quote units)
F_THETA = 8  # imbalance: sum b_t v_t; run: unused
F_RUN_BUY = 9  # run: sum v_t over b_t = +1
F_RUN_SELL = 10  # run: sum v_t over b_t = -1
F_PREV_PRICE = 11  # tick rule: price of the previous trade
F_E_T = 12  # E[T], expected trades per bar
F_E_BV = 13  # imbalance: E[b v] per trade; run: E[v 1{b=+1}] per trade
F_E_SV = 14  # run: E[v 1{b=-1}] per trade
F_WARM_A = 15  # warm-up sums: imbalance sum b v; run sum of buy v
F_WARM_B = 16  # run: warm-up sum of sell v
NF = 17


def new_state(pf: F64) -> tuple[I64, F64]:
    """A fresh state ``(si, sf)`` for the parameters ``pf``."""
    si = np.zeros(NI, dtype=np.int64)
    sf = np.zeros(NF, dtype=np.float64)
    sf[F_E_T] = pf[P_E0_TICKS]
    return si, sf


@kernel
def _emit(si: I64, sf: F64, row: int, threshold: float, out_i: I64, out_f: F64) -> None:
    """Write the open bar as row ``row`` and clear the bar (not the estimators)."""
    out_i[0, row] = si[I_START_TS]
    out_i[1, row] = si[I_END_TS]
    out_i[2, row] = si[I_N]
    out_f[0, row] = sf[F_OPEN]
    out_f[1, row] = sf[F_HIGH]
    out_f[2, row] = sf[F_LOW]
    out_f[3, row] = sf[F_CLOSE]
    out_f[4, row] = sf[F_VOLUME]
    out_f[5, row] = sf[F_DOLLAR]
    out_f[6, row] = sf[F_BUY_VOLUME]
    out_f[7, row] = threshold
    si[I_N] = 0
    si[I_BARS] += 1
    for j in range(F_OPEN, F_RUN_SELL + 1):
        sf[j] = 0.0


@kernel
def _update_expected_ticks(sf: F64, pf: F64, ticks: int) -> None:
    """E[T] <- clamp((1 - a) E[T] + a T, min, max)."""
    a = pf[P_ALPHA]
    e_t = (1.0 - a) * sf[F_E_T] + a * ticks
    sf[F_E_T] = min(max(e_t, pf[P_MIN_TICKS]), pf[P_MAX_TICKS])


@kernel
def build_bars(
    kind: int,
    pf: F64,
    ts: I64,
    price: F64,
    qty: F64,
    side: I8,
    si: I64,
    sf: F64,
    out_i: I64,
    out_f: F64,
) -> int:
    """Feed trades into the builder state; write closed bars; return how many."""
    rows = 0
    interval_ns = np.int64(pf[P_INTERVAL_NS])
    threshold = pf[P_THRESHOLD]
    e0 = np.int64(pf[P_E0_TICKS])
    alpha = pf[P_ALPHA]
    use_side = np.int64(pf[P_SIGN]) == SIGN_AUTO
    for i in range(ts.shape[0]):
        t = ts[i]
        p = price[i]
        q = qty[i]
        # -- sign: tick rule always advances; the venue side wins where known (auto) --
        if si[I_HAVE_PRICE] == 1:
            if p > sf[F_PREV_PRICE]:
                si[I_TICK_SIGN] = 1
            elif p < sf[F_PREV_PRICE]:
                si[I_TICK_SIGN] = -1
        si[I_HAVE_PRICE] = 1
        sf[F_PREV_PRICE] = p
        b = si[I_TICK_SIGN]
        if use_side and side[i] != 0:
            b = np.int64(side[i])
        # -- time bars close when a trade falls in a later interval --
        if kind == K_TIME:
            bucket = t // interval_ns
            if si[I_N] > 0 and bucket != si[I_BUCKET]:
                _emit(si, sf, rows, math.nan, out_i, out_f)
                rows += 1
            si[I_BUCKET] = bucket
        # -- add the trade to the open bar --
        dv = p * q
        if si[I_N] == 0:
            si[I_START_TS] = t
            sf[F_OPEN] = p
            sf[F_HIGH] = p
            sf[F_LOW] = p
        else:
            sf[F_HIGH] = max(sf[F_HIGH], p)
            sf[F_LOW] = min(sf[F_LOW], p)
        sf[F_CLOSE] = p
        si[I_END_TS] = t
        si[I_N] += 1
        sf[F_VOLUME] += q
        sf[F_DOLLAR] += dv
        if b > 0:
            sf[F_BUY_VOLUME] += q
        if kind == K_TIME:
            continue
        # -- standard bars: close at the trade whose running total reaches the threshold --
        if kind <= K_DOLLAR:
            if kind == K_TICK:
                sf[F_CUM] += 1.0
            elif kind == K_VOLUME:
                sf[F_CUM] += q
            else:
                sf[F_CUM] += dv
            if sf[F_CUM] >= threshold:
                _emit(si, sf, rows, math.nan, out_i, out_f)
                rows += 1
            continue
        # -- imbalance and run bars --
        measure = (kind - K_TIB) % 3  # 0 tick, 1 volume, 2 dollar
        v = 1.0 if measure == 0 else (q if measure == 1 else dv)
        imbalance = kind <= K_DIB
        if imbalance:
            sf[F_THETA] += b * v
        elif b > 0:
            sf[F_RUN_BUY] += v
        elif b < 0:
            sf[F_RUN_SELL] += v
        if si[I_WARM] == 0:
            si[I_WARM_N] += 1
            if imbalance:
                sf[F_WARM_A] += b * v
            elif b > 0:
                sf[F_WARM_A] += v
            elif b < 0:
                sf[F_WARM_B] += v
            if si[I_WARM_N] < e0:
                continue
            si[I_WARM] = 1
            sf[F_E_BV] = sf[F_WARM_A] / si[I_WARM_N]
            sf[F_E_SV] = sf[F_WARM_B] / si[I_WARM_N]
        if imbalance:
            bar_threshold = sf[F_E_T] * abs(sf[F_E_BV])
            theta = abs(sf[F_THETA])
        else:
            bar_threshold = sf[F_E_T] * max(sf[F_E_BV], sf[F_E_SV])
            theta = max(sf[F_RUN_BUY], sf[F_RUN_SELL])
        # a bar never closes on zero imbalance (a zero threshold would close every trade)
        closes = theta >= bar_threshold and theta > 0.0
        if not closes:
            continue
        n = si[I_N]
        if imbalance:
            sf[F_E_BV] = (1.0 - alpha) * sf[F_E_BV] + alpha * (sf[F_THETA] / n)
        else:
            sf[F_E_BV] = (1.0 - alpha) * sf[F_E_BV] + alpha * (sf[F_RUN_BUY] / n)
            sf[F_E_SV] = (1.0 - alpha) * sf[F_E_SV] + alpha * (sf[F_RUN_SELL] / n)
        _update_expected_ticks(sf, pf, n)
        _emit(si, sf, rows, bar_threshold, out_i, out_f)
        rows += 1
    return rows
