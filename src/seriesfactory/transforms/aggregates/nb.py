"""Numba kernels of the series aggregation (numpy in, numpy out; ``api.py`` is the only caller).

State lives in two arrays so that a stream cut into any chunks gives identical
output and so that the state can be saved: ``si`` (int64[NI]) and ``sf``
(float64[NF]), indexed by the constants of ``layout.py``. Semantics and formulas are in
``docs/series.md``; ``reference.py`` is the plain-Python twin the tests compare.

Output arrays (capacity computed by the caller):

- ``out_ts`` int64[m]: bucket close time (time mode) / closing tick time (tick mode), ns
- ``out_start`` int64[m]: bucket start (time mode) / first tick time (tick mode), ns
- ``out_n`` int64[m]: ticks that contributed prices
- ``out_f`` float64[NFIELDS, m]: the fields in ``AGGREGATE_FIELDS`` order (rows ``AGG_*``)
"""

from __future__ import annotations

import math
from typing import Any

from seriesfactory._jit import kernel
from seriesfactory.schema.arrays import F64, I64
from seriesfactory.schema.outputs import (
    AGG_CLOSE,
    AGG_DISPERSION,
    AGG_DRIFT,
    AGG_HIGH,
    AGG_LOW,
    AGG_MID,
    AGG_OPEN,
    AGG_SPREAD,
    AGG_VASK,
    AGG_VBID,
    AGG_VELOCITY,
)
from seriesfactory.transforms.aggregates.layout import (  # the state's slots
    ERR_CROSSED,
    ERR_ORDER,
    ERR_PRICE,
    ERR_VOLUME,
    F_BRICK_REF,
    F_CLOSE,
    F_HIGH,
    F_LAST_SPREAD,
    F_LOW,
    F_OPEN,
    F_PENDING_MID,
    F_PREV_CLOSE,
    F_SD,
    F_SDD,
    F_ST,
    F_STD,
    F_STT,
    F_SUMM,
    F_SUMSPREAD,
    F_SUMW,
    F_SUMWM,
    F_VASK,
    F_VBID,
    I64_MAX,
    I_BUCKET,
    I_BUCKET_END,
    I_ERR,
    I_FILT_DEV,
    I_FILT_STALE,
    I_FIRST_T,
    I_LAST_T,
    I_LAST_TS,
    I_N,
    I_PENDING,
    I_SEEN,
    I_START_TS,
    I_STARTED,
    MODE_TICK,
    MODE_TIME,
)


@kernel
def _reset_bucket(si: I64, sf: F64) -> None:
    si[I_N] = 0
    for j in range(F_OPEN, F_STD + 1):
        sf[j] = 0.0


@kernel
def _emit(
    si: I64,
    sf: F64,
    row: int,
    ts_close: int,
    ts_start: int,
    out_ts: I64,
    out_start: I64,
    out_n: I64,
    out_f: F64,
) -> None:
    """Write the open bucket as row ``row`` (a flat candle when it has no price tick)."""
    n = si[I_N]
    out_ts[row] = ts_close
    out_start[row] = ts_start
    out_n[row] = n
    out_f[AGG_VBID, row] = sf[F_VBID]
    out_f[AGG_VASK, row] = sf[F_VASK]
    if n == 0:
        p = sf[F_PREV_CLOSE]
        out_f[AGG_OPEN, row] = p
        out_f[AGG_HIGH, row] = p
        out_f[AGG_LOW, row] = p
        out_f[AGG_CLOSE, row] = p
        out_f[AGG_MID, row] = p
        out_f[AGG_SPREAD, row] = sf[F_LAST_SPREAD]
        out_f[AGG_VELOCITY, row] = 0.0
        out_f[AGG_DISPERSION, row] = 0.0
        out_f[AGG_DRIFT, row] = 0.0
        return
    close = sf[F_CLOSE]
    out_f[AGG_OPEN, row] = sf[F_OPEN]
    out_f[AGG_HIGH, row] = sf[F_HIGH]
    out_f[AGG_LOW, row] = sf[F_LOW]
    out_f[AGG_CLOSE, row] = close
    if sf[F_SUMW] > 0.0:
        out_f[AGG_MID, row] = sf[F_SUMWM] / sf[F_SUMW]
    else:
        out_f[AGG_MID, row] = sf[F_SUMM] / n
    out_f[AGG_SPREAD, row] = sf[F_SUMSPREAD] / n
    out_f[AGG_VELOCITY, row] = math.sqrt(n)
    if n < 2:
        out_f[AGG_DISPERSION, row] = 0.0
        out_f[AGG_DRIFT, row] = 0.0
        return
    inv_n = 1.0 / n
    s_tt = sf[F_STT] - sf[F_ST] * sf[F_ST] * inv_n
    s_td = sf[F_STD] - sf[F_ST] * sf[F_SD] * inv_n
    s_dd = sf[F_SDD] - sf[F_SD] * sf[F_SD] * inv_n
    if s_tt > 0.0:
        slope = s_td / s_tt
        resid = (s_dd - s_td * slope) * inv_n
    else:
        slope = 0.0
        resid = s_dd * inv_n
    resid = max(resid, 0.0)
    out_f[AGG_DISPERSION, row] = math.sqrt(resid) / (sf[F_SUMM] * inv_n) * 100.0
    span_s = (si[I_LAST_T] - si[I_FIRST_T]) * 1e-9
    out_f[AGG_DRIFT, row] = slope * span_s / close * 100.0


@kernel
def _close_time_buckets(
    si: I64,
    sf: F64,
    cur: int,
    upto: int,
    step_ns: int,
    rows: int,
    out_ts: I64,
    out_start: I64,
    out_n: I64,
    out_f: F64,
) -> int:
    """Emit open bucket ``cur`` and the empty buckets ``cur+1 .. upto-1``; return the row count."""
    _emit(si, sf, rows, (cur + 1) * step_ns, cur * step_ns, out_ts, out_start, out_n, out_f)
    rows += 1
    _reset_bucket(si, sf)
    for e in range(cur + 1, upto):
        _emit(si, sf, rows, (e + 1) * step_ns, e * step_ns, out_ts, out_start, out_n, out_f)
        rows += 1
    return rows


@kernel
def finish_time(
    si: I64, sf: F64, step_ns: int, end_ns: int, out_ts: I64, out_start: I64, out_n: I64, out_f: F64
) -> int:
    """Time mode: close the open bucket and emit empty buckets that start before ``end_ns``."""
    cur = si[I_BUCKET]
    if cur < 0 or si[I_STARTED] == 0:
        return 0
    upto = (end_ns - 1) // step_ns + 1
    upto = max(upto, cur + 1)
    rows = _close_time_buckets(si, sf, cur, upto, step_ns, 0, out_ts, out_start, out_n, out_f)
    si[I_BUCKET] = -1
    si[I_BUCKET_END] = I64_MAX
    return rows


@kernel
def advance_time(
    si: I64,
    sf: F64,
    step_ns: int,
    upto: int,
    max_rows: int,
    out_ts: I64,
    out_start: I64,
    out_n: I64,
    out_f: F64,
) -> int:
    """Time mode: close the open bucket and emit empty buckets before bucket ``upto``, at most
    ``max_rows`` rows; the bucket reached stays open (empty). Output is the same as when the
    next tick closes them, so a long gap can be emitted in bounded blocks."""
    cur = si[I_BUCKET]
    if cur < 0 or si[I_STARTED] == 0 or upto <= cur:
        return 0
    stop = min(upto, cur + max_rows)
    rows = _close_time_buckets(si, sf, cur, stop, step_ns, 0, out_ts, out_start, out_n, out_f)
    si[I_BUCKET] = stop
    si[I_BUCKET_END] = (stop + 1) * step_ns
    return rows


@kernel
def _load(si: I64, sf: F64) -> tuple[Any, ...]:
    """The per-tick state of :func:`aggregate_chunk` out of ``si``/``sf`` (see :func:`_store`)."""
    return (
        si[I_N], si[I_FIRST_T], si[I_LAST_T], si[I_STARTED], si[I_PENDING], si[I_SEEN],
        si[I_LAST_TS], si[I_FILT_DEV], si[I_FILT_STALE], si[I_BUCKET_END],
        sf[F_OPEN], sf[F_HIGH], sf[F_LOW], sf[F_CLOSE], sf[F_SUMW], sf[F_SUMWM], sf[F_SUMM],
        sf[F_SUMSPREAD], sf[F_VBID], sf[F_VASK], sf[F_ST], sf[F_STT], sf[F_SD], sf[F_SDD],
        sf[F_STD], sf[F_PREV_CLOSE], sf[F_LAST_SPREAD], sf[F_PENDING_MID],
    )  # fmt: skip


@kernel
def _store(
    si: I64, sf: F64, n: int, first_t: int, last_t: int, started: int, pending: int, seen: int,
    last_ts: int, filt_dev: int, filt_stale: int, bucket_end: int, op: float, hi: float,
    lo: float, cl: float, sumw: float, sumwm: float, summ: float, sumspread: float, vb: float,
    va: float, st: float, stt: float, sd: float, sdd: float, std: float, prev_close: float,
    last_spread: float, pending_mid: float,
) -> None:  # fmt: skip
    """The per-tick state of :func:`aggregate_chunk` back into ``si``/``sf`` (see :func:`_load`)."""
    si[I_N] = n
    si[I_FIRST_T] = first_t
    si[I_LAST_T] = last_t
    si[I_STARTED] = started
    si[I_PENDING] = pending
    si[I_SEEN] = seen
    si[I_LAST_TS] = last_ts
    si[I_FILT_DEV] = filt_dev
    si[I_FILT_STALE] = filt_stale
    si[I_BUCKET_END] = bucket_end
    sf[F_OPEN] = op
    sf[F_HIGH] = hi
    sf[F_LOW] = lo
    sf[F_CLOSE] = cl
    sf[F_SUMW] = sumw
    sf[F_SUMWM] = sumwm
    sf[F_SUMM] = summ
    sf[F_SUMSPREAD] = sumspread
    sf[F_VBID] = vb
    sf[F_VASK] = va
    sf[F_ST] = st
    sf[F_STT] = stt
    sf[F_SD] = sd
    sf[F_SDD] = sdd
    sf[F_STD] = std
    sf[F_PREV_CLOSE] = prev_close
    sf[F_LAST_SPREAD] = last_spread
    sf[F_PENDING_MID] = pending_mid


@kernel
def aggregate_chunk(
    ts: I64,
    bid: F64,
    ask: F64,
    vbid: F64,
    vask: F64,
    age: I64,
    mode: int,
    step_ns: int,
    step_ratio: float,
    ttl_ns: int,
    max_dev: float,
    si: I64,
    sf: F64,
    out_ts: I64,
    out_start: I64,
    out_n: I64,
    out_f: F64,
) -> int:
    """Feed one chunk of ticks; write the buckets it completes; return how many.

    ``age`` is int64[n] (ns since the older side of each tick's quote was
    observed) or int64[0] when every quote is fresh. A tick that breaks the
    input contract stops the chunk: the return value is then ``-1 - i`` for row
    ``i`` and ``si[I_ERR]`` says why.
    """
    rows = 0
    has_age = age.shape[0] > 0
    si[I_ERR] = 0
    # The state read and written by every tick lives in local variables (registers) while the
    # chunk streams through, and in si/sf around the rarer steps that use the arrays (a bucket
    # emitted or reset) and at the end: the same operations in the same order as through the
    # arrays, so the same bits, in ~25 % less time (the arrays may alias, so every
    # access through them was a load and a store). _load/_store are the only copies.
    (n, first_t, last_t, started, pending, seen, last_ts, filt_dev, filt_stale, bucket_end,
     op, hi, lo, cl, sumw, sumwm, summ, sumspread, vb, va, st, stt, sd, sdd, std,
     prev_close, last_spread, pending_mid) = _load(si, sf)  # fmt: skip
    for i in range(ts.shape[0]):
        t = ts[i]
        b = bid[i]
        a = ask[i]
        vbi = vbid[i]
        vai = vask[i]
        if t < last_ts:
            err = ERR_ORDER
        elif not (b > 0.0 and a > 0.0 and math.isfinite(b) and math.isfinite(a)):
            err = ERR_PRICE
        elif a < b:
            err = ERR_CROSSED
        elif not (vbi >= 0.0 and vai >= 0.0 and math.isfinite(vbi) and math.isfinite(vai)):
            err = ERR_VOLUME
        else:
            err = 0
        if err != 0:
            _store(si, sf, n, first_t, last_t, started, pending, seen, last_ts, filt_dev,
                   filt_stale, bucket_end, op, hi, lo, cl, sumw, sumwm, summ, sumspread, vb, va,
                   st, stt, sd, sdd, std, prev_close, last_spread, pending_mid)  # fmt: skip
            si[I_ERR] = err
            return -1 - i
        seen += 1
        last_ts = t
        mid = 0.5 * (b + a)
        # -- time mode: close the open bucket (and empty ones) when t leaves it ------------
        if mode == MODE_TIME:
            if t >= bucket_end:  # only then the (slow) integer division
                _store(si, sf, n, first_t, last_t, started, pending, seen, last_ts, filt_dev,
                       filt_stale, bucket_end, op, hi, lo, cl, sumw, sumwm, summ, sumspread, vb,
                       va, st, stt, sd, sdd, std, prev_close, last_spread, pending_mid)  # fmt: skip
                k = t // step_ns
                cur = si[I_BUCKET]
                if cur < 0:
                    _reset_bucket(si, sf)
                elif si[I_STARTED] == 1:
                    rows = _close_time_buckets(
                        si, sf, cur, k, step_ns, rows, out_ts, out_start, out_n, out_f
                    )
                else:
                    _reset_bucket(si, sf)
                si[I_BUCKET] = k
                si[I_BUCKET_END] = (k + 1) * step_ns
                (n, first_t, last_t, started, pending, seen, last_ts, filt_dev, filt_stale,
                 bucket_end, op, hi, lo, cl, sumw, sumwm, summ, sumspread, vb, va, st, stt, sd,
                 sdd, std, prev_close, last_spread, pending_mid) = _load(si, sf)  # fmt: skip
        elif si[I_BUCKET] < 0:
            si[I_BUCKET] = 1
            si[I_START_TS] = t
            n = 0  # _reset_bucket, on the locals
            op = hi = lo = cl = sumw = sumwm = summ = sumspread = 0.0
            vb = va = st = stt = sd = sdd = std = 0.0
        # -- quality filters ---------------------------------------------------------------
        stale = has_age and age[i] > ttl_ns and started == 1
        if stale:
            filt_stale += 1
            vb += vbi
            va += vai
            continue
        if started == 1:
            last = prev_close  # the last accepted mid
            # |mid / ref - 1| > max_dev for ref = the bucket's running mid field (its previous
            # close before its first price tick), written without a division: ref = num / den
            if n == 0:
                num = prev_close
                den = 1.0
            elif sumw > 0.0:
                num = sumwm
                den = sumw
            else:
                num = summ
                den = float(n)
            if abs(mid * den - num) > max_dev * num and abs(mid - last) > max_dev * last:
                confirmed = pending == 1 and abs(mid - pending_mid) <= max_dev * pending_mid
                if not confirmed:
                    filt_dev += 1
                    pending = 1
                    pending_mid = mid
                    continue
            pending = 0
        # -- accept ---------------------------------------------------------------------------
        first = started == 0
        vb += vbi
        va += vai
        rel_spread = (a - b) / mid
        weight = vbi + vai
        if n == 0:
            op = mid
            hi = mid
            lo = mid
            first_t = t
        else:
            hi = max(hi, mid)
            lo = min(lo, mid)
        cl = mid
        last_t = t
        sumw += weight
        sumwm += weight * mid
        summ += mid
        sumspread += rel_spread
        n += 1
        tt = (t - first_t) * 1e-9
        d = mid - op
        st += tt
        stt += tt * tt
        sd += d
        sdd += d * d
        std += tt * d
        prev_close = mid
        last_spread = rel_spread
        started = 1
        if mode == MODE_TICK:
            if first:
                sf[F_BRICK_REF] = mid
            ref = sf[F_BRICK_REF]
            if mid > ref * (1.0 + step_ratio) or mid < ref * (1.0 - step_ratio):
                _store(si, sf, n, first_t, last_t, started, pending, seen, last_ts, filt_dev,
                       filt_stale, bucket_end, op, hi, lo, cl, sumw, sumwm, summ, sumspread, vb,
                       va, st, stt, sd, sdd, std, prev_close, last_spread, pending_mid)  # fmt: skip
                _emit(si, sf, rows, t, si[I_START_TS], out_ts, out_start, out_n, out_f)
                rows += 1
                _reset_bucket(si, sf)
                sf[F_BRICK_REF] = mid
                si[I_BUCKET] = -1
                (n, first_t, last_t, started, pending, seen, last_ts, filt_dev, filt_stale,
                 bucket_end, op, hi, lo, cl, sumw, sumwm, summ, sumspread, vb, va, st, stt, sd,
                 sdd, std, prev_close, last_spread, pending_mid) = _load(si, sf)  # fmt: skip
    _store(si, sf, n, first_t, last_t, started, pending, seen, last_ts, filt_dev, filt_stale,
           bucket_end, op, hi, lo, cl, sumw, sumwm, summ, sumspread, vb, va, st, stt, sd, sdd,
           std, prev_close, last_spread, pending_mid)  # fmt: skip
    return rows
