"""Numba kernels of the order-book and trade features (explicit state; see ``docs/features.md``).

Every kernel keeps what it must remember between calls in plain state arrays that the
caller owns, so a stream cut into any chunks gives the same rows, and the state can be
saved and restored. :mod:`seriesfactory.transforms.features.reference` holds a plain
Python twin of each kernel; the tests compare them.

Kernels
-------
:func:`ofi_rows`
    Multi-level order-flow imbalance (Cont–Kukanov–Stoikov rule at each level),
    summed over every book message of a grid row, its running sum (restarted at
    every gap) and its rolling sum over the last ``W`` rows.
:func:`trade_buckets`
    Trades into close-stamped time buckets ``(t - interval, t]``: OHLC, volumes,
    counts, notional, last trade.
:func:`rolling_stats`, :func:`window_features`, :func:`bvc_fraction`, :func:`vpin_pour`
    The trailing-window features over bucket rows and the two VPINs.
"""

from __future__ import annotations

import math

import numpy as np

from seriesfactory._jit import kernel

# --- ofi_rows state ---------------------------------------------------------------------------
# si: [prev_valid, gap_since_row, ring_count, ring_pos, prev_bid_tick(D), prev_ask_tick(D)]
OI_PREV_VALID, OI_GAP, OI_RCOUNT, OI_RPOS, OI_TICKS = 0, 1, 2, 3, 4
# sf: [prev_bid_qty(D), prev_ask_qty(D), acc(D), cum]
#: An absent ask level compares as this tick (above every price); an absent bid is -1.
ASK_ABSENT = np.iinfo(np.int64).max


def ofi_state(depth: int, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fresh ``(si, sf, ring)`` for :func:`ofi_rows` at ``depth`` levels and a ``window``."""
    si = np.zeros(OI_TICKS + 2 * depth, np.int64)
    sf = np.zeros(3 * depth + 1, np.float64)
    return si, sf, np.zeros(window, np.float64)


@kernel
def ofi_rows(
    m_ts: np.ndarray,
    m_valid: np.ndarray,
    m_bid_tick: np.ndarray,
    m_bid_qty: np.ndarray,
    m_ask_tick: np.ndarray,
    m_ask_qty: np.ndarray,
    r_ts: np.ndarray,
    r_valid: np.ndarray,
    final: bool,
    si: np.ndarray,
    sf: np.ndarray,
    ring: np.ndarray,
    out_levels: np.ndarray,
    out_cum: np.ndarray,
    out_roll: np.ndarray,
) -> int:
    """Apply messages ``[0, m)`` and write the rows they close; return the rows written.

    Row ``j`` (stamp ``r_ts[j]``) is written once a message with a later time is
    seen (or at once when ``final``): it holds the sum of the per-message OFI of the
    messages with time ``<= r_ts[j]`` since the row before. Per message ``n`` and
    level ``k`` (ticks ``P``, sizes ``q``; an absent level has size 0, bid tick -1,
    ask tick :data:`ASK_ABSENT`)::

        e = [Pb_n >= Pb_n-1] qb_n - [Pb_n <= Pb_n-1] qb_n-1
            - [Pa_n <= Pa_n-1] qa_n + [Pa_n >= Pa_n-1] qa_n-1

    ``e`` is 0 unless the book is valid after both messages (OFI never spans a gap);
    an invalid message restarts the row's sums, the running sum and the rolling window.
    """
    d = m_bid_tick.shape[1]
    w = ring.shape[0]
    n_rows = r_ts.shape[0]
    j = 0
    m = m_ts.shape[0]
    for i in range(m + 1):
        t_next = m_ts[i] if i < m else 0
        while j < n_rows and ((i == m and final) or (i < m and r_ts[j] < t_next)):
            if not r_valid[j]:
                for k in range(d):
                    out_levels[j, k] = np.nan
                out_cum[j] = np.nan
                out_roll[j] = np.nan
                si[OI_RCOUNT] = 0
            else:
                if si[OI_GAP] == 1:
                    si[OI_RCOUNT] = 0
                for k in range(d):
                    out_levels[j, k] = sf[2 * d + k]
                out_cum[j] = sf[3 * d]
                ring[si[OI_RPOS]] = sf[2 * d]
                si[OI_RPOS] = (si[OI_RPOS] + 1) % w
                if si[OI_RCOUNT] < w:
                    si[OI_RCOUNT] += 1
                if si[OI_RCOUNT] >= w:
                    s = 0.0
                    for k in range(w):
                        s += ring[(si[OI_RPOS] + k) % w]
                    out_roll[j] = s
                else:
                    out_roll[j] = np.nan
            for k in range(d):
                sf[2 * d + k] = 0.0
            si[OI_GAP] = 0
            j += 1
        if i == m:
            break
        valid = m_valid[i]
        if valid and si[OI_PREV_VALID] == 1:
            for k in range(d):
                pb = si[OI_TICKS + k]
                pa = si[OI_TICKS + d + k]
                qb0 = sf[k]
                qa0 = sf[d + k]
                b = m_bid_tick[i, k]
                a = m_ask_tick[i, k]
                qb = m_bid_qty[i, k]
                qa = m_ask_qty[i, k]
                if b < 0 or math.isnan(qb):
                    b = -1
                    qb = 0.0
                if a < 0 or math.isnan(qa):
                    a = ASK_ABSENT
                    qa = 0.0
                e = 0.0
                if b >= pb:
                    e += qb
                if b <= pb:
                    e -= qb0
                if a <= pa:
                    e -= qa
                if a >= pa:
                    e += qa0
                sf[2 * d + k] += e
                if k == 0:
                    sf[3 * d] += e
        if not valid:  # a gap: the row's sums and the running sum start again after it
            sf[3 * d] = 0.0
            for k in range(d):
                sf[2 * d + k] = 0.0
            si[OI_GAP] = 1
        si[OI_PREV_VALID] = 1 if valid else 0
        for k in range(d):
            b = m_bid_tick[i, k]
            a = m_ask_tick[i, k]
            qb = m_bid_qty[i, k]
            qa = m_ask_qty[i, k]
            absent_b = b < 0 or math.isnan(qb)
            absent_a = a < 0 or math.isnan(qa)
            si[OI_TICKS + k] = -1 if absent_b else b
            si[OI_TICKS + d + k] = ASK_ABSENT if absent_a else a
            sf[k] = 0.0 if absent_b else qb
            sf[d + k] = 0.0 if absent_a else qa
    return j


# --- trade_buckets state ----------------------------------------------------------------------
TI_END, TI_COUNT, TI_BUYS, TI_SELLS, TI_LAST_TS, TI_SEEN = 0, 1, 2, 3, 4, 5
TI_SIZE = 6
TF_OPEN, TF_HIGH, TF_LOW, TF_CLOSE, TF_VOL, TF_BUY, TF_SELL, TF_NOTIONAL = 0, 1, 2, 3, 4, 5, 6, 7
TF_PREV_CLOSE, TF_LAST_PX, TF_LAST_QTY = 8, 9, 10
TF_SIZE = 11
#: Columns of the bucket output matrix ``out_f`` (float64), in order.
BUCKET_FLOATS = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "buy_volume",
    "sell_volume",
    "dollar_volume",
    "last_trade_px",
    "last_trade_qty",
    "vpin",
)
#: Columns of the bucket output matrix ``out_i`` (int64), in order.
BUCKET_INTS = ("ts", "trade_count", "buy_count", "sell_count", "last_trade_ts")


def bucket_state() -> tuple[np.ndarray, np.ndarray]:
    """Fresh ``(si, sf)`` for :func:`trade_buckets`: no bucket open, no trade seen."""
    si = np.zeros(TI_SIZE, np.int64)
    si[TI_END] = -1
    si[TI_LAST_TS] = np.iinfo(np.int64).min
    sf = np.zeros(TF_SIZE, np.float64)
    sf[TF_PREV_CLOSE] = np.nan
    sf[TF_LAST_PX] = np.nan
    sf[TF_LAST_QTY] = np.nan
    return si, sf


@kernel
def _emit_bucket(
    si: np.ndarray, sf: np.ndarray, interval: int, r: int, out_i: np.ndarray, out_f: np.ndarray
) -> None:
    out_i[r, 0] = si[TI_END]
    out_i[r, 1] = si[TI_COUNT]
    out_i[r, 2] = si[TI_BUYS]
    out_i[r, 3] = si[TI_SELLS]
    out_i[r, 4] = si[TI_LAST_TS]
    if si[TI_COUNT] > 0:
        for k in range(4):
            out_f[r, k] = sf[k]
        sf[TF_PREV_CLOSE] = sf[TF_CLOSE]
    else:
        for k in range(4):
            out_f[r, k] = sf[TF_PREV_CLOSE]
    out_f[r, 4] = sf[TF_VOL]
    out_f[r, 5] = sf[TF_BUY]
    out_f[r, 6] = sf[TF_SELL]
    out_f[r, 7] = sf[TF_NOTIONAL]
    out_f[r, 8] = sf[TF_LAST_PX]
    out_f[r, 9] = sf[TF_LAST_QTY]
    si[TI_END] += interval
    si[TI_COUNT] = 0
    si[TI_BUYS] = 0
    si[TI_SELLS] = 0
    for k in range(TF_PREV_CLOSE):
        sf[k] = 0.0


@kernel
def trade_buckets(
    ts: np.ndarray,
    price: np.ndarray,
    qty: np.ndarray,
    side: np.ndarray,
    interval: int,
    end_ns: int,
    si: np.ndarray,
    sf: np.ndarray,
    out_i: np.ndarray,
    out_f: np.ndarray,
    v_si: np.ndarray,
    v_sf: np.ndarray,
    v_ring: np.ndarray,
    fit_rows: int,
) -> int:
    """Add trades ``[0, n)``; write every bucket that closed; return the buckets written.

    Trade times are clamped to be non-decreasing (``ts = max(ts, last ts)``). The
    bucket stamped ``t`` (a multiple of ``interval``) holds the trades with
    ``t - interval < ts <= t``; it is written when a later trade arrives, and the
    buckets stamped ``<= end_ns`` are written at the end of the call (pass
    ``end_ns = -1`` while the stream goes on). A bucket without trades repeats the
    previous close as its open, high, low and close.

    VPIN with the exact aggressor side (state ``v_si``/``v_sf``/``v_ring`` of
    :func:`vpin_state`): while ``V`` is unknown, each written bucket adds its volume
    to the fit (:func:`_vpin_fit_row`); after that every trade is poured on its own
    (share 1 buy, 0 sell, 0.5 unknown side). ``out_f[:, 10]`` is the VPIN after the
    last bucket completed by a trade of the written bucket or before.
    """
    r = 0
    for i in range(ts.shape[0]):
        t = ts[i]
        t = max(t, si[TI_LAST_TS])
        b = -((-t) // interval) * interval
        if si[TI_END] == -1:
            si[TI_END] = b
        while si[TI_END] < b:
            _emit_vpin(sf, v_si, v_sf, v_ring, fit_rows, r, out_f)
            _emit_bucket(si, sf, interval, r, out_i, out_f)
            r += 1
        si[TI_LAST_TS] = t
        p = price[i]
        q = qty[i]
        if si[TI_COUNT] == 0:
            sf[TF_OPEN] = p
            sf[TF_HIGH] = p
            sf[TF_LOW] = p
        else:
            sf[TF_HIGH] = max(sf[TF_HIGH], p)
            sf[TF_LOW] = min(sf[TF_LOW], p)
        sf[TF_CLOSE] = p
        sf[TF_VOL] += q
        sf[TF_NOTIONAL] += p * q
        si[TI_COUNT] += 1
        if side[i] > 0:
            sf[TF_BUY] += q
            si[TI_BUYS] += 1
        elif side[i] < 0:
            sf[TF_SELL] += q
            si[TI_SELLS] += 1
        sf[TF_LAST_PX] = p
        sf[TF_LAST_QTY] = q
        si[TI_SEEN] = 1
        if not math.isnan(v_sf[VF_V]):
            _vpin_pour_one(
                q, 1.0 if side[i] > 0 else (0.0 if side[i] < 0 else 0.5), v_si, v_sf, v_ring
            )
    while si[TI_END] != -1 and si[TI_END] <= end_ns:
        _emit_vpin(sf, v_si, v_sf, v_ring, fit_rows, r, out_f)
        _emit_bucket(si, sf, interval, r, out_i, out_f)
        r += 1
    return r


@kernel
def _emit_vpin(
    sf: np.ndarray,
    v_si: np.ndarray,
    v_sf: np.ndarray,
    v_ring: np.ndarray,
    fit_rows: int,
    r: int,
    out_f: np.ndarray,
) -> None:
    if math.isnan(v_sf[VF_V]):
        _vpin_fit_row(sf[TF_VOL], fit_rows, v_si, v_sf, v_ring.shape[0])
    out_f[r, 10] = v_sf[VF_VPIN]


# --- trailing windows -------------------------------------------------------------------------
@kernel
def rolling_stats(
    x: np.ndarray,
    start: int,
    w: int,
    out_mean: np.ndarray,
    out_std: np.ndarray,
    out_min: np.ndarray,
    out_max: np.ndarray,
) -> None:
    """Mean, std (ddof 1), min, max of ``x[i-w+1 .. i]`` for ``i >= start``, into ``out[i-start]``.

    NaN values are left out; a window that reaches before index 0 is NaN; mean, min
    and max need one value, std two.
    """
    for i in range(start, x.shape[0]):
        o = i - start
        out_mean[o] = np.nan
        out_std[o] = np.nan
        out_min[o] = np.nan
        out_max[o] = np.nan
        if i - w + 1 < 0:
            continue
        c = 0
        s = 0.0
        lo = np.inf
        hi = -np.inf
        for k in range(i - w + 1, i + 1):
            v = x[k]
            if not math.isnan(v):
                c += 1
                s += v
                lo = min(lo, v)
                hi = max(hi, v)
        if c == 0:
            continue
        mean = s / c
        out_mean[o] = mean
        out_min[o] = lo
        out_max[o] = hi
        if c >= 2:
            ss = 0.0
            for k in range(i - w + 1, i + 1):
                v = x[k]
                if not math.isnan(v):
                    ss += (v - mean) * (v - mean)
            out_std[o] = math.sqrt(ss / (c - 1))


@kernel
def _ols_slope(x: np.ndarray, y: np.ndarray, lo: int, hi: int) -> float:
    """Slope of the least-squares line ``y = a + b x`` over pairs ``[lo, hi)`` (finite only)."""
    c = 0
    sx = 0.0
    sy = 0.0
    for k in range(lo, hi):
        if x[k] == x[k] and y[k] == y[k]:
            c += 1
            sx += x[k]
            sy += y[k]
    if c < 3:
        return np.nan
    mx = sx / c
    my = sy / c
    sxx = 0.0
    sxy = 0.0
    for k in range(lo, hi):
        if x[k] == x[k] and y[k] == y[k]:
            sxx += (x[k] - mx) * (x[k] - mx)
            sxy += (x[k] - mx) * (y[k] - my)
    if sxx == 0.0:
        return np.nan
    return sxy / sxx


@kernel
def _cov_corr(x: np.ndarray, y: np.ndarray, lo: int, hi: int) -> tuple[float, float]:
    """Sample covariance (ddof 1) and Pearson correlation of finite pairs ``[lo, hi)``."""
    c = 0
    sx = 0.0
    sy = 0.0
    for k in range(lo, hi):
        if x[k] == x[k] and y[k] == y[k]:
            c += 1
            sx += x[k]
            sy += y[k]
    if c < 3:
        return np.nan, np.nan
    mx = sx / c
    my = sy / c
    sxx = 0.0
    syy = 0.0
    sxy = 0.0
    for k in range(lo, hi):
        if x[k] == x[k] and y[k] == y[k]:
            sxx += (x[k] - mx) * (x[k] - mx)
            syy += (y[k] - my) * (y[k] - my)
            sxy += (x[k] - mx) * (y[k] - my)
    cov = sxy / (c - 1)
    corr = sxy / math.sqrt(sxx * syy) if sxx > 0.0 and syy > 0.0 else np.nan
    return cov, corr


@kernel
def window_features(
    close: np.ndarray,
    log_return: np.ndarray,
    signed_volume: np.ndarray,
    dollar_volume: np.ndarray,
    trade_count: np.ndarray,
    start: int,
    w: int,
    short: int,
    long: int,
    out: np.ndarray,
) -> None:
    """Per row ``i >= start``, over the trailing ``w`` rows (``out[i-start, k]``):

    0 ``kyle_lambda`` (OLS slope of ``close`` changes on signed volume, with intercept),
    1 ``amihud`` (mean ``|r| / dollar_volume`` over rows with dollar volume > 0),
    2 ``roll_spread`` (``2 sqrt(-cov(dp_i, dp_i-1))``, NaN when the covariance is >= 0),
    3 ``realized_vol`` (``sqrt(sum r^2)``), 4 ``ret_autocorr`` (corr of ``r_i``, ``r_i-1``),
    5 ``intensity_momentum`` (``ln(mean count over short / mean count over long)``).
    A window reaching before index 0 gives NaN.
    """
    n = close.shape[0]
    dp = np.full(n, np.nan)
    for i in range(1, n):
        dp[i] = close[i] - close[i - 1]
    for i in range(start, n):
        o = i - start
        for k in range(6):
            out[o, k] = np.nan
        if i - w + 1 >= 0:
            lo = i - w + 1
            out[o, 0] = _ols_slope(signed_volume, dp, lo, i + 1)
            c = 0
            s = 0.0
            rv = 0.0
            rc = 0
            for k in range(lo, i + 1):
                r = log_return[k]
                if not math.isnan(r):
                    rv += r * r
                    rc += 1
                    if dollar_volume[k] > 0.0:
                        s += abs(r) / dollar_volume[k]
                        c += 1
            if c > 0:
                out[o, 1] = s / c
            if rc > 0:
                out[o, 3] = math.sqrt(rv)
            if lo >= 1:
                cov, _ = _cov_corr(dp[lo:], dp[lo - 1 :], 0, w)
                if cov < 0.0:
                    out[o, 2] = 2.0 * math.sqrt(-cov)
                _, corr = _cov_corr(log_return[lo:], log_return[lo - 1 :], 0, w)
                out[o, 4] = corr
        if i - long + 1 >= 0:
            ms = 0.0
            for k in range(i - short + 1, i + 1):
                ms += trade_count[k]
            ml = 0.0
            for k in range(i - long + 1, i + 1):
                ml += trade_count[k]
            if ms > 0.0 and ml > 0.0:
                out[o, 5] = math.log((ms / short) / (ml / long))


@kernel
def bvc_fraction(close: np.ndarray, start: int, sigma_window: int, out: np.ndarray) -> None:
    """Bulk-volume buy share ``Phi(dp_i / sigma)`` of rows ``i >= start`` into ``out[i-start]``.

    ``dp_i = close_i - close_i-1``; ``sigma`` is the sample std (ddof 1) of the
    ``sigma_window`` changes before row ``i`` (never including it). NaN until that
    window exists; with ``sigma = 0`` the share is 1, 0.5 or 0 by the sign of ``dp_i``.
    """
    for i in range(start, close.shape[0]):
        o = i - start
        out[o] = np.nan
        if i - sigma_window - 1 < 0:
            continue
        d = close[i] - close[i - 1]
        s = 0.0
        c = 0
        for k in range(i - sigma_window, i):
            v = close[k] - close[k - 1]
            if not math.isnan(v):
                s += v
                c += 1
        if c < 2 or math.isnan(d):
            continue
        mean = s / c
        ss = 0.0
        for k in range(i - sigma_window, i):
            v = close[k] - close[k - 1]
            if not math.isnan(v):
                ss += (v - mean) * (v - mean)
        sigma = math.sqrt(ss / (c - 1))
        if sigma > 0.0:
            out[o] = 0.5 * (1.0 + math.erf(d / (sigma * math.sqrt(2.0))))
        else:
            out[o] = 1.0 if d > 0 else (0.0 if d < 0 else 0.5)


# --- VPIN state: sf [V, fit volume, bucket buy, bucket sell, bucket fill, vpin];
#     si [rows, done, ring position]
VF_V, VF_FIT, VF_BUY, VF_SELL, VF_FILL, VF_VPIN = 0, 1, 2, 3, 4, 5
VI_ROWS, VI_DONE, VI_POS = 0, 1, 2


def vpin_state(
    n_buckets: int, bucket_volume: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fresh ``(si, sf, ring)`` for :func:`vpin_pour` (``bucket_volume`` None: fitted)."""
    sf = np.zeros(6, np.float64)
    sf[VF_V] = np.nan if bucket_volume is None else bucket_volume
    sf[VF_VPIN] = np.nan
    return np.zeros(3, np.int64), sf, np.zeros(n_buckets, np.float64)


@kernel
def _vpin_fit_row(v: float, fit_rows: int, si: np.ndarray, sf: np.ndarray, n: int) -> None:
    """One row while ``V`` is unknown: add its volume; fix ``V`` once ``fit_rows`` rows had some."""
    if not math.isnan(v):
        sf[VF_FIT] += v
    si[VI_ROWS] += 1
    if si[VI_ROWS] >= fit_rows and sf[VF_FIT] > 0.0:
        sf[VF_V] = sf[VF_FIT] / n


@kernel
def _vpin_pour_one(v: float, f: float, si: np.ndarray, sf: np.ndarray, ring: np.ndarray) -> None:
    """Pour volume ``v`` (buy share ``f``) into the open bucket, completing buckets as it fills."""
    if math.isnan(v) or not v > 0.0 or math.isnan(f):
        return
    n = ring.shape[0]
    bucket = sf[VF_V]
    rem = v
    while rem > 0.0:
        room = bucket - sf[VF_FILL]
        if rem >= room:
            sf[VF_BUY] += room * f
            sf[VF_SELL] += room * (1.0 - f)
            rem -= room
            ring[si[VI_POS]] = abs(sf[VF_BUY] - sf[VF_SELL])
            si[VI_POS] = (si[VI_POS] + 1) % n
            si[VI_DONE] += 1
            sf[VF_BUY] = 0.0
            sf[VF_SELL] = 0.0
            sf[VF_FILL] = 0.0
            if si[VI_DONE] >= n:
                s = 0.0
                for k in range(n):
                    s += ring[(si[VI_POS] + k) % n]
                sf[VF_VPIN] = s / (n * bucket)
        else:
            sf[VF_BUY] += rem * f
            sf[VF_SELL] += rem * (1.0 - f)
            sf[VF_FILL] += rem
            rem = 0.0


@kernel
def vpin_pour(
    volume: np.ndarray,
    buy_share: np.ndarray,
    fit_rows: int,
    si: np.ndarray,
    sf: np.ndarray,
    ring: np.ndarray,
    out: np.ndarray,
) -> None:
    """Pour each row's volume, in order, into equal-volume buckets; ``out[i]`` = VPIN after row i.

    While the bucket volume ``V`` is unknown (NaN), rows add their volume to the fit
    sum; after ``fit_rows`` rows (and at the first later row with volume) ``V`` is
    that sum over ``n`` (= ``len(ring)``) and pouring starts with the next row. A
    row's volume fills the open bucket, completing it (and more) as needed; a row
    splits ``buy_share`` / ``1 - buy_share`` into every bucket it touches (a NaN share
    leaves the row out). A completed bucket pushes ``|B - S|``; with ``n`` buckets
    done, VPIN = ``sum |B - S| / (n V)`` over the last ``n``.
    """
    for i in range(volume.shape[0]):
        if math.isnan(sf[VF_V]):
            _vpin_fit_row(volume[i], fit_rows, si, sf, ring.shape[0])
        else:
            _vpin_pour_one(volume[i], buy_share[i], si, sf, ring)
        out[i] = sf[VF_VPIN]
