"""Plain-Python twin of :func:`seriesfactory.backtest.nb.run`, written for clarity.

Same semantics (``docs/backtest.md``), one object per resting or travelling order;
property tests compare it with the kernel on generated streams.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from seriesfactory.backtest import nb

__all__ = ["reference_run"]

EPS = 1e-12


@dataclass
class _Order:
    tick: int
    qty: float
    queue: float
    arrive: int
    expire: int


def _price(k: int, tick: float) -> float:
    return k / round(1.0 / tick) if tick < 1.0 else k * tick


def _quote(
    mid: float,
    sigma: float,
    kb: float,
    ka: float,
    inv: float,
    p: npt.NDArray[np.float64],
    horizon: float,
) -> tuple[float, float, float, float]:
    size, max_inv, gamma = p[nb.P_ORDER_SIZE], p[nb.P_MAX_INV], p[nb.P_GAMMA]
    mode, tick = int(p[nb.P_GAMMA_MODE]), p[nb.P_TICK]
    g = gamma * (1.0 + p[nb.P_GAMMA_SCALE] * abs(inv) / max_inv) if mode == 1 else gamma
    s = sigma / mid
    var = g * s * s * horizon
    shift = (inv / size) * var
    if mode == 2:
        cap = p[nb.P_MAX_SHIFT_BPS] * 1e-4
        shift = min(max(shift, -cap), cap)
    lo, hi = p[nb.P_MIN_SPREAD_BPS] * 0.5e-4, p[nb.P_MAX_SPREAD_BPS] * 0.5e-4
    bid_rel = min(max(shift + 0.5 * (var + (2.0 / g) * math.log1p(g / (kb * mid))), lo), hi)
    ask_rel = min(max(-shift + 0.5 * (var + (2.0 / g) * math.log1p(g / (ka * mid))), lo), hi)
    kbid = math.floor(mid * (1.0 - bid_rel) / tick + 1e-9)
    kask = math.ceil(mid * (1.0 + ask_rel) / tick - 1e-9)
    if kask <= kbid:
        kask = kbid + 1
    return _price(kbid, tick), _price(kask, tick), mid * (1.0 - shift), g


def _level(px: npt.NDArray[np.float64], sz: npt.NDArray[np.float64], k: int, tick: float) -> float:
    for p, s in zip(px, sz, strict=True):
        if not math.isnan(p) and round(p / tick) == k:
            return float(s)
    return 0.0


def reference_run(
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
    p: npt.NDArray[np.float64],
    starting_cash: float,
) -> tuple[list[tuple[float, ...]], list[tuple[float, ...]]]:
    """The fills and timeline rows of one whole run (columns as in ``nb``)."""
    tick = p[nb.P_TICK]
    lat, val = int(p[nb.P_LATENCY_NS]), int(p[nb.P_VALIDITY_NS])
    cooldown, requote = int(p[nb.P_COOLDOWN_NS]), int(p[nb.P_REQUOTE_NS])
    gap, warmup = int(p[nb.P_GAP_NS]), int(p[nb.P_WARMUP_NS])
    maker, size, max_inv = p[nb.P_MAKER], p[nb.P_ORDER_SIZE], p[nb.P_MAX_INV]
    fill_at, cash_limit = p[nb.P_FILL_AT] > 0.5, p[nb.P_CASH_LIMIT] > 0.5
    live: dict[int, _Order | None] = {1: None, -1: None}
    pending: dict[int, _Order | None] = {1: None, -1: None}
    last_fill = {1: -1, -1: -1}
    inv, cash, fees = 0.0, starting_cash, 0.0
    last_valid, resume, cal, last_quote, h0 = -1, -1, -1, -1, -1
    fills: list[tuple[float, ...]] = []
    timeline: list[tuple[float, ...]] = []
    requote_trades = p[nb.P_REQUOTE_TRADES] > 0.5
    book_ok = False
    last_mid = math.nan
    levels: tuple[npt.NDArray[np.float64], ...] = ()

    def promote(side: int, t: int, strict: bool) -> None:
        o = pending[side]
        if o is not None and (o.arrive < t or (not strict and o.arrive == t)):
            pending[side] = None
            live[side] = o if o.qty > EPS else None

    def submit(side: int, k: int, qty: float, queue: float, t: int) -> None:
        cur = live[side]
        if qty > EPS and pending[side] is None and cur is not None and cur.tick == k:
            cur.qty = qty
            cur.expire = t + lat + val
            return
        if qty <= EPS and pending[side] is None and cur is None:
            return
        pending[side] = _Order(k, qty if qty > EPS else 0.0, queue, t + lat, t + lat + val)

    def decide(t: int, mid: float, lv: tuple[npt.NDArray[np.float64], ...]) -> None:
        nonlocal cal, last_quote, h0
        while cal + 1 < len(cal_ts) and cal_ts[cal + 1] <= t:
            cal += 1
        if requote > 0 and last_quote >= 0 and t < last_quote + requote:
            return
        last_quote = t
        nan = math.nan
        bid = ask = res = g = sig = kb = ka = nan
        if t >= resume and cal >= 0:
            sig, kb, ka = float(cal_sigma[cal]), float(cal_kb[cal]), float(cal_ka[cal])
            horizon = p[nb.P_HORIZON_S]
            if p[nb.P_ROLLING] > 0.5:
                if h0 < 0:
                    h0 = t
                horizon = horizon - ((t - h0) % int(horizon * 1e9)) / 1e9
            bid, ask, res, g = _quote(mid, sig, kb, ka, inv, p, horizon)
            qb = min(size, max_inv - inv)
            if cash_limit:
                qb = min(qb, (cash - fees) / (bid * (1.0 + maker)))
            qa = min(size, max_inv + inv)
            kbid, kask = round(bid / tick), round(ask / tick)
            if qb > EPS:
                submit(1, kbid, qb, _level(lv[0], lv[1], kbid, tick), t)
            else:
                bid = nan
                submit(1, 0, 0.0, 0.0, t)
            if qa > EPS:
                submit(-1, kask, qa, _level(lv[2], lv[3], kask, tick), t)
            else:
                ask = nan
                submit(-1, 0, 0.0, 0.0, t)
        else:
            submit(1, 0, 0.0, 0.0, t)
            submit(-1, 0, 0.0, 0.0, t)
        timeline.append(
            (t, mid, bid, ask, res, inv, sig, kb, ka, g, cash, fees, cash + inv * mid - fees)
        )

    events = sorted(
        [(int(t), 0, j) for j, t in enumerate(tr_ts)]
        + [(int(t), 1, i) for i, t in enumerate(row_ts)]
    )

    def on_trade(idx: int, t: int) -> None:
        nonlocal inv, cash, fees
        o: _Order | None
        if tr_side[idx] == 0:
            return
        our = 1 if tr_side[idx] < 0 else -1
        promote(our, t, True)
        o = live[our]
        if o is not None and o.expire <= t:
            live[our] = o = None
        if o is None or not (last_fill[our] < 0 or t >= last_fill[our] + cooldown):
            return
        tk = int(tr_tick[idx])
        avail = 0.0
        if (tk < o.tick) if our > 0 else (tk > o.tick):
            avail = float(tr_qty[idx])
        elif fill_at and tk == o.tick:
            avail = float(tr_qty[idx]) - o.queue
            o.queue = max(o.queue - float(tr_qty[idx]), 0.0)
        if avail <= EPS:
            return
        px = _price(o.tick, tick)
        qty = min(o.qty, avail)
        if our > 0:
            qty = min(qty, max_inv - inv)
            if cash_limit:
                qty = min(qty, (cash - fees) / (px * (1.0 + maker)))
        else:
            qty = min(qty, max_inv + inv)
        if qty <= EPS:
            return
        fee = px * qty * maker
        inv += our * qty
        cash -= our * px * qty
        fees += fee
        o.qty -= qty
        if o.qty <= EPS:
            live[our] = None
        last_fill[our] = t
        fills.append((t, our, px, qty, fee, inv, cash))

    for t, kind, idx in events:
        if kind == 0:
            on_trade(idx, t)
            if requote_trades and book_ok:
                decide(t, last_mid, levels)
            continue
        i = idx
        b1, a1 = bid_px[i, 0], ask_px[i, 0]
        ok = bool(row_valid[i]) and not math.isnan(b1) and not math.isnan(a1) and a1 > b1
        promote(1, t, False)
        promote(-1, t, False)
        for s in (1, -1):
            if live[s] is not None and live[s].expire <= t:  # type: ignore[union-attr]
                live[s] = None
        if not ok:
            live = {1: None, -1: None}
            pending = {1: None, -1: None}
            resume = -1
            book_ok = False
            continue
        mid = 0.5 * (b1 + a1)
        if resume < 0 or (last_valid >= 0 and t - last_valid > gap):
            resume = t + warmup
        last_valid = t
        if fill_at:
            for s, px_, sz_ in ((1, bid_px, bid_sz), (-1, ask_px, ask_sz)):
                o = live[s]
                if o is not None:
                    o.queue = min(o.queue, _level(px_[i], sz_[i], o.tick, tick))
        book_ok = True
        last_mid = mid
        levels = (bid_px[i], bid_sz[i], ask_px[i], ask_sz[i])
        decide(t, mid, levels)
    return fills, timeline
