"""The backtest engine's kernel: book rows and trades merged in time order.

State lives in two arrays (``si`` int64, ``sf`` float64, named slots below), so a
stream fed in chunks split at any time gives the same fills and timeline as one
call. ``reference.py`` is the plain-Python twin; ``engine.py`` the only caller.
Semantics (``docs/backtest.md``):

* Events at the same nanosecond: trades before the book row (a trade at ``t``
  cannot react to a quote decided at ``t``).
* A quote decided at a row ``t`` reaches the venue at ``t + latency`` and rests until
  ``t + latency + validity``; only trades strictly after its arrival can fill it.
* ``through`` fills: a taker sell strictly below our bid (a taker buy strictly above
  our ask). ``at`` fills: also at our price, after the queue ahead of us (the level's
  size when the order arrived, reduced by trades at the price and capped by the
  level's later sizes: the risk-averse queue).
* A fill takes ``min(resting, trade qty, inventory room, cash room)``; afterwards the
  side is frozen for ``cooldown`` seconds.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from seriesfactory._jit import kernel
from seriesfactory.backtest.quoting import as_quote, on_tick

# -- parameters (P, float64)
P_ORDER_SIZE = 0
P_MAX_INV = 1
P_MAKER = 2  # fraction, not bps
P_COOLDOWN_NS = 3
P_VALIDITY_NS = 4
P_LATENCY_NS = 5
P_GAP_NS = 6
P_WARMUP_NS = 7
P_REQUOTE_NS = 8
P_HORIZON_S = 9
P_GAMMA = 10
P_GAMMA_MODE = 11
P_GAMMA_SCALE = 12
P_MAX_SHIFT_BPS = 13
P_MIN_SPREAD_BPS = 14
P_MAX_SPREAD_BPS = 15
P_TICK = 16
P_FILL_AT = 17  # 1 = at-price fills with the queue model
P_ROLLING = 18  # 1 = rolling horizon T - (t - t0) mod T
P_CASH_LIMIT = 19  # 1 = bids never spend more cash than there is
P_REQUOTE_TRADES = 20  # 1 = also requote after every trade (with the last usable row)
N_PARAMS = 21

# -- integer state (si)
I_BID_LIVE = 0
I_BID_TICK = 1
I_BID_ARRIVE = 2
I_BID_EXPIRE = 3
I_PB = 4  # pending bid: 1 = a message is on its way
I_PB_TICK = 5
I_PB_ARRIVE = 6
I_PB_EXPIRE = 7
I_ASK_LIVE = 8
I_ASK_TICK = 9
I_ASK_ARRIVE = 10
I_ASK_EXPIRE = 11
I_PA = 12
I_PA_TICK = 13
I_PA_ARRIVE = 14
I_PA_EXPIRE = 15
I_LAST_FILL_BID = 16  # -1 = never
I_LAST_FILL_ASK = 17
I_LAST_VALID_TS = 18  # last valid book row, -1 = none yet
I_RESUME_TS = 19  # quoting allowed from here; -1 = waiting for a valid row
I_CAL = 20  # index of the calibration in force, -1 = none yet
I_LAST_QUOTE_TS = 21  # -1 = never
I_HORIZON_T0 = 22  # start of the rolling horizon, -1 = not started
I_FILLS_BID = 23
I_FILLS_ASK = 24
I_LAST_TS = 25  # last event processed (the chunk check)
I_BOOK_OK = 26  # 1 = the last row was usable (a trade may requote from it)
N_SI = 27

# -- float state (sf)
F_INV = 0
F_CASH = 1
F_FEES = 2
F_BID_QTY = 3
F_BID_QUEUE = 4
F_PB_QTY = 5
F_PB_QUEUE = 6
F_ASK_QTY = 7
F_ASK_QUEUE = 8
F_PA_QTY = 9
F_PA_QUEUE = 10
F_MID = 11  # mid of the last valid row
N_SF = 12

# fill and timeline output columns
FILL_COLS = 7  # ts, side(+1 buy/-1 sell), price, qty, fee, inventory, cash
TL_COLS = 13  # ts, mid, bid, ask, reservation, inventory, sigma, kappa_bid, kappa_ask, gamma,
#               cash, fees, equity

EPS = 1e-12


def new_state(starting_cash: float) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Fresh ``(si, sf)`` for a run (and ``new_levels(depth)`` for its last-row levels)."""
    si = np.zeros(N_SI, np.int64)
    for k in (
        I_LAST_FILL_BID,
        I_LAST_FILL_ASK,
        I_LAST_VALID_TS,
        I_RESUME_TS,
        I_CAL,
        I_LAST_QUOTE_TS,
        I_HORIZON_T0,
        I_LAST_TS,
    ):
        si[k] = -1
    sf = np.zeros(N_SF, np.float64)
    sf[F_CASH] = starting_cash
    sf[F_MID] = np.nan
    return si, sf


def new_levels(depth: int) -> npt.NDArray[np.float64]:
    """The last usable row's levels (bid px, bid sz, ask px, ask sz), part of the state."""
    return np.full((4, depth), np.nan)


@kernel
def _level_size(
    px_row: npt.NDArray[np.float64], sz_row: npt.NDArray[np.float64], tick_k: int, tick: float
) -> float:
    """Size at ``tick_k`` ticks in one side of a row (0 when absent)."""
    for j in range(px_row.shape[0]):
        p = px_row[j]
        if not math.isnan(p) and round(p / tick) == tick_k:
            return sz_row[j]
    return 0.0


@kernel
def _promote(
    si: npt.NDArray[np.int64], sf: npt.NDArray[np.float64], side: int, t: int, strict: bool
) -> None:
    """Move the pending message of ``side`` (+1 bid, -1 ask) to the book once it arrived."""
    pb = I_PB if side > 0 else I_PA
    live = I_BID_LIVE if side > 0 else I_ASK_LIVE
    fq = F_PB_QTY if side > 0 else F_PA_QTY
    fl = F_BID_QTY if side > 0 else F_ASK_QTY
    if si[pb] == 0:
        return
    arrive = si[pb + 2]
    if arrive < t or (not strict and arrive == t):
        si[pb] = 0
        if sf[fq] > EPS:
            si[live] = 1
            si[live + 1] = si[pb + 1]
            si[live + 2] = arrive
            si[live + 3] = si[pb + 3]
            sf[fl] = sf[fq]
            sf[fl + 1] = sf[fq + 1]
        else:
            si[live] = 0


@kernel
def _submit(
    si: npt.NDArray[np.int64],
    sf: npt.NDArray[np.float64],
    side: int,
    tick_k: int,
    qty: float,
    queue: float,
    t: int,
    latency: int,
    validity: int,
) -> None:
    """Send a quote (``qty`` 0: a cancel) for ``side`` decided at ``t``."""
    pb = I_PB if side > 0 else I_PA
    live = I_BID_LIVE if side > 0 else I_ASK_LIVE
    fq = F_PB_QTY if side > 0 else F_PA_QTY
    fl = F_BID_QTY if side > 0 else F_ASK_QTY
    if qty > EPS and si[pb] == 0 and si[live] == 1 and si[live + 1] == tick_k:
        # the same price again: the order keeps its place; size and expiry refreshed
        sf[fl] = qty
        si[live + 3] = t + latency + validity
        return
    if qty <= EPS and si[pb] == 0 and si[live] == 0:
        return  # nothing to cancel
    si[pb] = 1
    si[pb + 1] = tick_k
    si[pb + 2] = t + latency
    si[pb + 3] = t + latency + validity
    sf[fq] = qty if qty > EPS else 0.0
    sf[fq + 1] = queue


@kernel
def _decide(
    t: int,
    mid: float,
    lr: npt.NDArray[np.float64],
    cal_ts: npt.NDArray[np.int64],
    cal_sigma: npt.NDArray[np.float64],
    cal_kb: npt.NDArray[np.float64],
    cal_ka: npt.NDArray[np.float64],
    prm: npt.NDArray[np.float64],
    si: npt.NDArray[np.int64],
    sf: npt.NDArray[np.float64],
    timeline: npt.NDArray[np.float64],
    nt: int,
) -> int:
    """A quote decision at ``t`` with the last usable row's levels ``lr`` (bid px, bid sz,
    ask px, ask sz); writes one timeline row unless the requote interval says wait."""
    tick = prm[P_TICK]
    latency = int(prm[P_LATENCY_NS])
    validity = int(prm[P_VALIDITY_NS])
    requote = int(prm[P_REQUOTE_NS])
    maker = prm[P_MAKER]
    size = prm[P_ORDER_SIZE]
    max_inv = prm[P_MAX_INV]
    while si[I_CAL] + 1 < cal_ts.shape[0] and cal_ts[si[I_CAL] + 1] <= t:
        si[I_CAL] += 1
    if requote > 0 and si[I_LAST_QUOTE_TS] >= 0 and t < si[I_LAST_QUOTE_TS] + requote:
        return nt
    si[I_LAST_QUOTE_TS] = t
    inv = sf[F_INV]
    c = si[I_CAL]
    quoting = t >= si[I_RESUME_TS] and c >= 0
    bid = np.nan
    ask = np.nan
    res = np.nan
    g = np.nan
    sig = np.nan
    kb = np.nan
    ka = np.nan
    if quoting:
        sig = cal_sigma[c]
        kb = cal_kb[c]
        ka = cal_ka[c]
        horizon = prm[P_HORIZON_S]
        if prm[P_ROLLING] > 0.5:
            if si[I_HORIZON_T0] < 0:
                si[I_HORIZON_T0] = t
            el = (t - si[I_HORIZON_T0]) % int(horizon * 1e9)
            horizon = horizon - el / 1e9
        bid, ask, res, g = as_quote(
            mid,
            sig,
            kb,
            ka,
            inv,
            size,
            max_inv,
            horizon,
            prm[P_GAMMA],
            int(prm[P_GAMMA_MODE]),
            prm[P_GAMMA_SCALE],
            prm[P_MAX_SHIFT_BPS],
            prm[P_MIN_SPREAD_BPS],
            prm[P_MAX_SPREAD_BPS],
            tick,
        )
        qb = min(size, max_inv - inv)
        if prm[P_CASH_LIMIT] > 0.5:
            qb = min(qb, (sf[F_CASH] - sf[F_FEES]) / (bid * (1.0 + maker)))
        qa = min(size, max_inv + inv)
        kbid = round(bid / tick)
        kask = round(ask / tick)
        if qb > EPS:
            queue = _level_size(lr[0], lr[1], kbid, tick)
            _submit(si, sf, 1, kbid, qb, queue, t, latency, validity)
        else:
            bid = np.nan
            _submit(si, sf, 1, 0, 0.0, 0.0, t, latency, validity)
        if qa > EPS:
            queue = _level_size(lr[2], lr[3], kask, tick)
            _submit(si, sf, -1, kask, qa, queue, t, latency, validity)
        else:
            ask = np.nan
            _submit(si, sf, -1, 0, 0.0, 0.0, t, latency, validity)
    else:
        _submit(si, sf, 1, 0, 0.0, 0.0, t, latency, validity)
        _submit(si, sf, -1, 0, 0.0, 0.0, t, latency, validity)
    timeline[nt, 0] = t
    timeline[nt, 1] = mid
    timeline[nt, 2] = bid
    timeline[nt, 3] = ask
    timeline[nt, 4] = res
    timeline[nt, 5] = inv
    timeline[nt, 6] = sig
    timeline[nt, 7] = kb
    timeline[nt, 8] = ka
    timeline[nt, 9] = g
    timeline[nt, 10] = sf[F_CASH]
    timeline[nt, 11] = sf[F_FEES]
    timeline[nt, 12] = sf[F_CASH] + inv * mid - sf[F_FEES]
    nt += 1
    return nt


@kernel
def run(
    row_ts: npt.NDArray[np.int64],
    row_valid: npt.NDArray[np.bool_],
    bid_px: npt.NDArray[np.float64],
    bid_sz: npt.NDArray[np.float64],
    ask_px: npt.NDArray[np.float64],
    ask_sz: npt.NDArray[np.float64],
    tr_ts: npt.NDArray[np.int64],
    tr_tick: npt.NDArray[np.int64],
    tr_qty: npt.NDArray[np.float64],
    tr_side: npt.NDArray[np.int8],
    cal_ts: npt.NDArray[np.int64],
    cal_sigma: npt.NDArray[np.float64],
    cal_kb: npt.NDArray[np.float64],
    cal_ka: npt.NDArray[np.float64],
    prm: npt.NDArray[np.float64],
    si: npt.NDArray[np.int64],
    sf: npt.NDArray[np.float64],
    lr: npt.NDArray[np.float64],
    fills: npt.NDArray[np.float64],
    timeline: npt.NDArray[np.float64],
) -> tuple[int, int]:
    """Process every row and trade given; return ``(fills written, timeline rows written)``."""
    n = row_ts.shape[0]
    m = tr_ts.shape[0]
    tick = prm[P_TICK]
    cooldown = int(prm[P_COOLDOWN_NS])
    gap = int(prm[P_GAP_NS])
    warmup = int(prm[P_WARMUP_NS])
    maker = prm[P_MAKER]
    max_inv = prm[P_MAX_INV]
    fill_at = prm[P_FILL_AT] > 0.5
    nf = 0
    nt = 0
    i = 0
    j = 0
    while i < n or j < m:
        if j < m and (i >= n or tr_ts[j] <= row_ts[i]):
            # ---- a trade
            t = int(tr_ts[j])
            side = tr_side[j]
            si[I_LAST_TS] = t
            if side != 0:
                our = 1 if side < 0 else -1  # a taker sell fills our bid
                _promote(si, sf, our, t, True)
                live = I_BID_LIVE if our > 0 else I_ASK_LIVE
                fl = F_BID_QTY if our > 0 else F_ASK_QTY
                last = I_LAST_FILL_BID if our > 0 else I_LAST_FILL_ASK
                if si[live] == 1 and si[live + 3] <= t:
                    si[live] = 0  # expired
                if si[live] == 1 and (si[last] < 0 or t >= si[last] + cooldown):
                    k = int(si[live + 1])
                    through = tr_tick[j] < k if our > 0 else tr_tick[j] > k
                    avail = 0.0
                    if through:
                        avail = tr_qty[j]
                    elif fill_at and tr_tick[j] == k:
                        q = sf[fl + 1]
                        avail = tr_qty[j] - q
                        sf[fl + 1] = max(q - tr_qty[j], 0.0)
                    if avail > EPS:
                        px = on_tick(float(k), tick)
                        qty = min(sf[fl], avail)
                        inv = sf[F_INV]
                        if our > 0:
                            qty = min(qty, max_inv - inv)
                            if prm[P_CASH_LIMIT] > 0.5:
                                room = (sf[F_CASH] - sf[F_FEES]) / (px * (1.0 + maker))
                                qty = min(qty, room)
                        else:
                            qty = min(qty, max_inv + inv)
                        if qty > EPS:
                            fee = px * qty * maker
                            sf[F_INV] = inv + our * qty
                            sf[F_CASH] -= our * px * qty
                            sf[F_FEES] += fee
                            sf[fl] -= qty
                            if sf[fl] <= EPS:
                                si[live] = 0
                            si[last] = t
                            if our > 0:
                                si[I_FILLS_BID] += 1
                            else:
                                si[I_FILLS_ASK] += 1
                            fills[nf, 0] = t
                            fills[nf, 1] = our
                            fills[nf, 2] = px
                            fills[nf, 3] = qty
                            fills[nf, 4] = fee
                            fills[nf, 5] = sf[F_INV]
                            fills[nf, 6] = sf[F_CASH]
                            nf += 1
            if prm[P_REQUOTE_TRADES] > 0.5 and si[I_BOOK_OK] == 1:
                nt = _decide(
                    t, sf[F_MID], lr, cal_ts, cal_sigma, cal_kb, cal_ka, prm, si, sf, timeline, nt
                )
            j += 1
            continue
        # ---- a book row
        t = int(row_ts[i])
        si[I_LAST_TS] = t
        b1 = bid_px[i, 0]
        a1 = ask_px[i, 0]
        ok = row_valid[i] and not math.isnan(b1) and not math.isnan(a1) and a1 > b1
        _promote(si, sf, 1, t, False)
        _promote(si, sf, -1, t, False)
        for s in (1, -1):
            live = I_BID_LIVE if s > 0 else I_ASK_LIVE
            if si[live] == 1 and si[live + 3] <= t:
                si[live] = 0
        if not ok:
            # no trusted book: cancel at once, wait for a valid row and the warm-up
            si[I_BID_LIVE] = 0
            si[I_ASK_LIVE] = 0
            si[I_PB] = 0
            si[I_PA] = 0
            si[I_RESUME_TS] = -1
            si[I_BOOK_OK] = 0
            i += 1
            continue
        mid = 0.5 * (b1 + a1)
        sf[F_MID] = mid
        if si[I_RESUME_TS] < 0 or (si[I_LAST_VALID_TS] >= 0 and t - si[I_LAST_VALID_TS] > gap):
            si[I_RESUME_TS] = t + warmup
        si[I_LAST_VALID_TS] = t
        if fill_at:  # risk-averse queue: never more ahead of us than the level holds
            for s in (1, -1):
                live = I_BID_LIVE if s > 0 else I_ASK_LIVE
                fl = F_BID_QTY if s > 0 else F_ASK_QTY
                if si[live] == 1:
                    if s > 0:
                        lvl = _level_size(bid_px[i], bid_sz[i], int(si[live + 1]), tick)
                    else:
                        lvl = _level_size(ask_px[i], ask_sz[i], int(si[live + 1]), tick)
                    sf[fl + 1] = min(sf[fl + 1], lvl)
        lr[0, :] = bid_px[i]
        lr[1, :] = bid_sz[i]
        lr[2, :] = ask_px[i]
        lr[3, :] = ask_sz[i]
        si[I_BOOK_OK] = 1
        nt = _decide(t, mid, lr, cal_ts, cal_sigma, cal_kb, cal_ka, prm, si, sf, timeline, nt)
        i += 1
    return nf, nt
