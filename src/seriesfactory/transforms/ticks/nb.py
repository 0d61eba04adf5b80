"""Numba kernel: taker trades -> ticks (numpy in, numpy out; ``api.py`` is the only caller).

State (saveable; any chunking of the trade stream gives identical output):

- ``si`` int64[NI]: pending group (flag, time, side), which sides are known and
  when each was last set (ns);
- ``sf`` float64[NF]: pending group's last price and summed notional, the
  current bid and ask.

Inputs (one chunk, time-ordered): ``ts`` int64 ns, ``price`` float64 (quote
per base), ``notional`` float64 (quote currency, ``price * qty_base``),
``side`` int8 (+1 taker buy, -1 taker sell; never 0).

Outputs (capacity ``len(ts) + 1``): ``out_ts``, ``out_bid``, ``out_ask``,
``out_vbid``, ``out_vask`` (quote notional of market sells / buys) and
``out_age`` (ns since the carried side was last set). Rules: ``docs/sources.md``.
"""

from __future__ import annotations

import numpy as np

from seriesfactory._jit import kernel
from seriesfactory.schema.arrays import F64, I8, I64

I_PENDING = 0  # 1 while a group of same-side, same-time trades is open
I_P_TS = 1
I_P_SIDE = 2
I_HAVE_BID = 3
I_HAVE_ASK = 4
I_BID_TS = 5  # when the bid was last set by a trade (or moved by the crossing guard)
I_ASK_TS = 6
NI = 7

F_P_PRICE = 0  # price of the group's last trade
F_P_NOTIONAL = 1  # summed quote notional of the group
F_BID = 2
F_ASK = 3
NF = 4


def new_state() -> tuple[I64, F64]:
    return np.zeros(NI, np.int64), np.zeros(NF, np.float64)


BACKWARDS = 1
BAD_SIDE = 2


@kernel
def check_trades(ts: I64, side: I8, last_ts: int) -> int:
    """0 when ``ts`` never goes below ``last_ts`` or back and every side is +1 or -1.

    Otherwise :data:`BACKWARDS` or :data:`BAD_SIDE` (the first problem found).
    """
    prev = last_ts
    for i in range(ts.shape[0]):
        if ts[i] < prev:
            return BACKWARDS
        if side[i] != 1 and side[i] != -1:
            return BAD_SIDE
        prev = ts[i]
    return 0


@kernel
def trades_to_ticks_chunk(
    ts: I64,
    price: F64,
    notional: F64,
    side: I8,
    flush: bool,
    si: I64,
    sf: F64,
    out_ts: I64,
    out_bid: F64,
    out_ask: F64,
    out_vbid: F64,
    out_vask: F64,
    out_age: I64,
) -> int:
    """Feed one chunk; emit a tick per closed group (and the open one if ``flush``)."""
    m = 0
    n = ts.shape[0]
    for i in range(n + 1):
        last = i == n
        if last and not flush:
            break
        if si[I_PENDING] == 1 and (last or ts[i] != si[I_P_TS] or side[i] != si[I_P_SIDE]):
            t = si[I_P_TS]
            p = sf[F_P_PRICE]
            v = sf[F_P_NOTIONAL]
            if si[I_P_SIDE] < 0:  # market sell: its price is the bid
                sf[F_BID] = p
                si[I_BID_TS] = t
                si[I_HAVE_BID] = 1
                if si[I_HAVE_ASK] == 1 and sf[F_ASK] < p:  # crossing guard
                    sf[F_ASK] = p
                    si[I_ASK_TS] = t
                out_vbid[m] = v
                out_vask[m] = 0.0
            else:  # market buy: its price is the ask
                sf[F_ASK] = p
                si[I_ASK_TS] = t
                si[I_HAVE_ASK] = 1
                if si[I_HAVE_BID] == 1 and sf[F_BID] > p:
                    sf[F_BID] = p
                    si[I_BID_TS] = t
                out_vbid[m] = 0.0
                out_vask[m] = v
            both = si[I_HAVE_BID] == 1 and si[I_HAVE_ASK] == 1
            out_ts[m] = t
            out_bid[m] = sf[F_BID] if si[I_HAVE_BID] == 1 else p
            out_ask[m] = sf[F_ASK] if si[I_HAVE_ASK] == 1 else p
            if both:
                out_age[m] = t - min(si[I_BID_TS], si[I_ASK_TS])
            else:
                out_age[m] = 0
            m += 1
            si[I_PENDING] = 0
        if last:
            break
        if si[I_PENDING] == 0:
            si[I_PENDING] = 1
            si[I_P_TS] = ts[i]
            si[I_P_SIDE] = side[i]
            sf[F_P_PRICE] = price[i]
            sf[F_P_NOTIONAL] = notional[i]
        else:
            sf[F_P_PRICE] = price[i]
            sf[F_P_NOTIONAL] += notional[i]
    return m
