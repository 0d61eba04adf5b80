"""Numba kernels: several tick sources into one, and two legs into a cross (re-basing).

numpy in, numpy out; ``api.py`` is the only caller. Formulas: ``docs/sources.md``.

``merge_chunk`` input: ticks of every source merged on time (ties in source
order): ``ts`` int64 ns, ``src`` int64 source index, ``bid``/``ask`` float64,
``vbid``/``vask`` float64 quote notional, ``age`` int64 ns. State: ``si``
int64[3, S] (has quote, quote time = ts - age, volume time) and ``sf``
float64[3, S] (bid, ask, decayed volume).

``cross_chunk`` input: ticks of leg 0 (BASE-X) and leg 1 (QUOTE-X) merged on
time, ``src`` = leg. State: ``si`` int64[2, 2] (has quote, quote time), ``sf``
float64[2, 2] (bid, ask).

Outputs (capacity = input length): ``out_ts``, ``out_bid``, ``out_ask``,
``out_vbid``, ``out_vask``, ``out_age``; the return value is the row count.
"""

from __future__ import annotations

import math

from seriesfactory._jit import kernel
from seriesfactory.schema.arrays import F64, I64

WEIGHT_STATIC = 0
WEIGHT_VOLUME = 1
WEIGHT_MIXED = 2

S_HAS = 0
S_QUOTE_TS = 1
S_VOL_TS = 2
F_BID = 0
F_ASK = 1
F_VOL = 2


@kernel
def merge_chunk(
    ts: I64,
    src: I64,
    bid: F64,
    ask: F64,
    vbid: F64,
    vask: F64,
    age: I64,
    static_w: F64,
    mode: int,
    ttl_ns: int,
    tau_ns: float,
    si: I64,
    sf: F64,
    out_ts: I64,
    out_bid: F64,
    out_ask: F64,
    out_vbid: F64,
    out_vask: F64,
    out_age: I64,
) -> int:
    """One output tick per input tick: the weighted quote of the fresh sources."""
    n_src = static_w.shape[0]
    for i in range(ts.shape[0]):
        t = ts[i]
        s = src[i]
        si[S_HAS, s] = 1
        si[S_QUOTE_TS, s] = t - age[i]
        sf[F_BID, s] = bid[i]
        sf[F_ASK, s] = ask[i]
        # decayed volume: V <- V * exp(-(t - t_prev) / tau) + this tick's notional
        sf[F_VOL, s] *= math.exp(-(t - si[S_VOL_TS, s]) / tau_ns)
        sf[F_VOL, s] += vbid[i] + vask[i]
        si[S_VOL_TS, s] = t
        wsum = 0.0
        for pass_ in range(2):
            num_b = 0.0
            num_a = 0.0
            den = 0.0
            oldest = 0
            for j in range(n_src):
                if si[S_HAS, j] == 0 or (j != s and t - si[S_QUOTE_TS, j] > ttl_ns):
                    continue
                if mode == WEIGHT_STATIC or pass_ == 1:
                    w = static_w[j] if mode != WEIGHT_VOLUME else 1.0
                else:
                    vol = sf[F_VOL, j] * math.exp(-(t - si[S_VOL_TS, j]) / tau_ns)
                    w = vol if mode == WEIGHT_VOLUME else static_w[j] * vol
                num_b += w * sf[F_BID, j]
                num_a += w * sf[F_ASK, j]
                den += w
                oldest = max(oldest, t - si[S_QUOTE_TS, j])
            wsum = den
            if wsum > 0.0:
                break
        out_ts[i] = t
        out_bid[i] = num_b / wsum
        out_ask[i] = num_a / wsum
        out_vbid[i] = vbid[i]
        out_vask[i] = vask[i]
        out_age[i] = oldest
    return ts.shape[0]


@kernel
def cross_chunk(
    ts: I64,
    src: I64,
    bid: F64,
    ask: F64,
    vbid: F64,
    vask: F64,
    age: I64,
    si: I64,
    sf: F64,
    out_ts: I64,
    out_bid: F64,
    out_ask: F64,
    out_vbid: F64,
    out_vask: F64,
    out_age: I64,
) -> int:
    """BASE/QUOTE from BASE-X (leg 0) and QUOTE-X (leg 1), once both legs are known."""
    m = 0
    for i in range(ts.shape[0]):
        t = ts[i]
        s = src[i]
        si[S_HAS, s] = 1
        si[S_QUOTE_TS, s] = t - age[i]
        sf[F_BID, s] = bid[i]
        sf[F_ASK, s] = ask[i]
        if si[S_HAS, 0] == 0 or si[S_HAS, 1] == 0:
            continue
        out_ts[m] = t
        out_bid[m] = sf[F_BID, 0] / sf[F_ASK, 1]
        out_ask[m] = sf[F_ASK, 0] / sf[F_BID, 1]
        if s == 0:  # a market sell of BASE sells BASE/QUOTE
            out_vbid[m] = 0.5 * vbid[i]
            out_vask[m] = 0.5 * vask[i]
        else:  # a market sell of QUOTE buys BASE/QUOTE
            out_vbid[m] = 0.5 * vask[i]
            out_vask[m] = 0.5 * vbid[i]
        out_age[m] = t - min(si[S_QUOTE_TS, 0], si[S_QUOTE_TS, 1])
        m += 1
    return m
