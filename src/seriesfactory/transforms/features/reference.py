"""Plain-Python twins of the feature kernels, written from the formulas (whole series, no state).

Slow and obvious on purpose: the property tests feed the same inputs to these and
to the numba kernels of :mod:`seriesfactory.transforms.features.nb` (in random
chunks) and require the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = [
    "ref_bvc",
    "ref_ofi",
    "ref_rolling",
    "ref_trade_buckets",
    "ref_vpin",
    "ref_window_features",
]

NAN = float("nan")
Level = tuple[int, float]  # (tick, size); tick -1 / size NaN: absent


def _cks(prev: Level, cur: Level, bid: bool) -> float:
    (p0, q0), (p1, q1) = prev, cur
    if bid:
        return (q1 if p1 >= p0 else 0.0) - (q0 if p1 <= p0 else 0.0)
    return -(q1 if p1 <= p0 else 0.0) + (q0 if p1 >= p0 else 0.0)


def _norm(level: Level, bid: bool) -> Level:
    tick, qty = level
    if tick < 0 or math.isnan(qty):
        return (-1, 0.0) if bid else (2**63 - 1, 0.0)
    return tick, qty


def ref_ofi(
    messages: Sequence[tuple[int, bool, Sequence[Level], Sequence[Level]]],
    rows: Sequence[tuple[int, bool]],
    window: int,
) -> list[tuple[list[float], float, float]]:
    """Per row ``(t, valid)``: ``(OFI per level, running sum, rolling sum of level 1)``.

    ``messages`` are ``(time, valid, bids, asks)`` with the top levels after each
    message; row ``t`` sums the per-message OFI of the messages with time in
    ``(previous row, t]`` (Cont–Kukanov–Stoikov at each level, only between two
    valid messages, and only those after the last invalid message of the row). The running
    sum restarts at every invalid message; the rolling
    sum covers the last ``window`` valid rows since the last gap (NaN until full).
    """
    depth = len(messages[0][2]) if messages else 0
    out: list[tuple[list[float], float, float]] = []
    cum = 0.0
    hist: list[float] = []
    i = 0
    prev: tuple[bool, Sequence[Level], Sequence[Level]] | None = None
    for t, valid_row in rows:
        acc = [0.0] * depth
        gap = False
        while i < len(messages) and messages[i][0] <= t:
            _, valid, bids, asks = messages[i]
            b = [_norm(x, True) for x in bids]
            a = [_norm(x, False) for x in asks]
            if valid and prev is not None and prev[0]:
                for k in range(depth):
                    e = _cks(prev[1][k], b[k], True) + _cks(prev[2][k], a[k], False)
                    acc[k] += e
                    if k == 0:
                        cum += e
            if not valid:
                cum = 0.0
                acc = [0.0] * depth
                gap = True
            prev = (valid, b, a)
            i += 1
        if not valid_row:
            out.append(([NAN] * depth, NAN, NAN))
            hist = []
            continue
        if gap:
            hist = []
        hist.append(acc[0])
        hist = hist[-window:]
        roll = NAN
        if len(hist) == window:
            roll = 0.0
            for v in hist:
                roll += v
        out.append((acc, cum, roll))
    return out


def ref_trade_buckets(
    trades: Sequence[tuple[int, float, float, int]],
    interval: int,
    end_ns: int,
    n_buckets: int = 1,
    bucket_volume: float | None = None,
    fit_rows: int = 1 << 62,
) -> list[dict[str, float]]:
    """Close-stamped buckets ``(t - interval, t]`` of ``(ts, price, qty, side)`` trades.

    ``vpin``: exact-side VPIN, ``V`` fitted on the first ``fit_rows`` buckets (unless
    given), then every trade poured on its own (see :func:`ref_vpin`).
    """
    v_size = bucket_volume
    fit = 0.0
    seen = 0
    pour: list[tuple[float, float]] = []  # (qty, buy share) of every trade poured
    vpin_now = NAN
    clamped: list[tuple[int, float, float, int]] = []
    last = -(2**63)
    for ts, p, q, s in trades:
        last = max(last, ts)
        clamped.append((last, p, q, s))
    if not clamped:
        return []
    first = -(-clamped[0][0] // interval) * interval
    stop = max(-(-clamped[-1][0] // interval) * interval - interval, end_ns)
    out: list[dict[str, float]] = []
    prev_close = NAN
    last_px = last_qty = NAN
    last_ts = -(2**63)
    t = first
    j = 0
    while t <= stop:
        inside: list[tuple[int, float, float, int]] = []
        while j < len(clamped) and clamped[j][0] <= t:
            inside.append(clamped[j])
            if v_size is not None:
                side = clamped[j][3]
                pour.append((clamped[j][2], 1.0 if side > 0 else 0.0 if side < 0 else 0.5))
            j += 1
        if v_size is not None and pour:
            got = ref_vpin([q for q, _ in pour], [f for _, f in pour], n_buckets, v_size, 1)
            vpin_now = got[-1]
        if v_size is None:
            fit += sum(x[2] for x in inside)
            seen += 1
            if seen >= fit_rows and fit > 0:
                v_size = fit / n_buckets
        if inside:
            prices = [x[1] for x in inside]
            o, h, lo, c = prices[0], max(prices), min(prices), prices[-1]
            prev_close = c
            last_ts, last_px, last_qty = inside[-1][0], inside[-1][1], inside[-1][2]
        else:
            o = h = lo = c = prev_close
        out.append(
            {
                "ts": t,
                "open": o,
                "high": h,
                "low": lo,
                "close": c,
                "volume": sum(x[2] for x in inside),
                "buy_volume": sum(x[2] for x in inside if x[3] > 0),
                "sell_volume": sum(x[2] for x in inside if x[3] < 0),
                "dollar_volume": sum(x[1] * x[2] for x in inside),
                "trade_count": len(inside),
                "buy_count": sum(1 for x in inside if x[3] > 0),
                "sell_count": sum(1 for x in inside if x[3] < 0),
                "last_trade_ts": last_ts,
                "last_trade_px": last_px,
                "last_trade_qty": last_qty,
                "vpin": vpin_now,
            }
        )
        t += interval
    return out


def ref_rolling(x: Any, w: int) -> list[tuple[float, float, float, float]]:
    """Trailing ``(mean, std ddof 1, min, max)`` over ``w`` rows, NaN values left out."""
    out = []
    for i in range(len(x)):
        if i - w + 1 < 0:
            out.append((NAN, NAN, NAN, NAN))
            continue
        vals = [v for v in x[i - w + 1 : i + 1] if not math.isnan(v)]
        if not vals:
            out.append((NAN, NAN, NAN, NAN))
            continue
        mean = sum(vals) / len(vals)
        std = (
            math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
            if len(vals) > 1
            else NAN
        )
        out.append((mean, std, min(vals), max(vals)))
    return out


def _pairs(xs: Any, ys: Any) -> list[tuple[float, float]]:
    return [(a, b) for a, b in zip(xs, ys, strict=True) if not (math.isnan(a) or math.isnan(b))]


def ref_ols_slope(x: Any, y: Any) -> float:
    """Least-squares slope of ``y`` on ``x`` with an intercept (NaN under 3 points)."""
    pts = _pairs(x, y)
    if len(pts) < 3:
        return NAN
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    if sxx == 0:
        return NAN
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx


def _cov_corr(x: Any, y: Any) -> tuple[float, float]:
    pts = _pairs(x, y)
    if len(pts) < 3:
        return NAN, NAN
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxy = sum((p[0] - mx) * (p[1] - my) for p in pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    syy = sum((p[1] - my) ** 2 for p in pts)
    corr = sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else NAN
    return sxy / (len(pts) - 1), corr


def ref_window_features(
    close: Any,
    log_return: Any,
    signed_volume: Any,
    dollar_volume: Any,
    trade_count: Any,
    w: int,
    short: int,
    long: int,
) -> list[list[float]]:
    """Per row: kyle_lambda, amihud, roll_spread, realized_vol, ret_autocorr, intensity."""
    n = len(close)
    dp = [NAN] + [close[i] - close[i - 1] for i in range(1, n)]
    out = []
    for i in range(n):
        row = [NAN] * 6
        lo = i - w + 1
        if lo >= 0:
            row[0] = ref_ols_slope(signed_volume[lo : i + 1], dp[lo : i + 1])
            r = [v for v in log_return[lo : i + 1] if not math.isnan(v)]
            am = [
                abs(log_return[k]) / dollar_volume[k]
                for k in range(lo, i + 1)
                if not math.isnan(log_return[k]) and dollar_volume[k] > 0
            ]
            row[1] = sum(am) / len(am) if am else NAN
            row[3] = math.sqrt(sum(v * v for v in r)) if r else NAN
            if lo >= 1:
                cov, _ = _cov_corr(dp[lo : i + 1], dp[lo - 1 : i])
                row[2] = 2 * math.sqrt(-cov) if cov < 0 else NAN
                row[4] = _cov_corr(log_return[lo : i + 1], log_return[lo - 1 : i])[1]
        if i - long + 1 >= 0:
            ms = sum(trade_count[i - short + 1 : i + 1]) / short
            ml = sum(trade_count[i - long + 1 : i + 1]) / long
            row[5] = math.log(ms / ml) if ms > 0 and ml > 0 else NAN
        out.append(row)
    return out


def ref_vpin(
    volume: Any,
    buy_share: Any,
    n_buckets: int,
    bucket_volume: float | None,
    fit_rows: int,
) -> list[float]:
    """VPIN after each row: equal-volume buckets, ``sum |B - S| / (n V)`` of the last n."""
    v_size = bucket_volume
    fit = 0.0
    seen = 0
    fill = buy = sell = 0.0
    done: list[float] = []
    out = []
    for v, f in zip(volume, buy_share, strict=True):
        if v_size is None:
            fit += 0.0 if math.isnan(v) else v
            seen += 1
            if seen >= fit_rows and fit > 0:
                v_size = fit / n_buckets
        elif v > 0 and not math.isnan(f):
            rem = v
            while rem > 0:
                room = v_size - fill
                if rem >= room:
                    buy += room * f
                    sell += room * (1 - f)
                    rem -= room
                    done.append(abs(buy - sell))
                    fill = buy = sell = 0.0
                else:
                    buy += rem * f
                    sell += rem * (1 - f)
                    fill += rem
                    rem = 0.0
        if v_size is not None and len(done) >= n_buckets:
            s = 0.0
            for x in done[-n_buckets:]:
                s += x
            out.append(s / (n_buckets * v_size))
        else:
            out.append(NAN)
    return out


def ref_bvc(close: Any, sigma_window: int) -> list[float]:
    """Bulk-volume buy share ``Phi(dp_i / sigma)``; sigma of the ``sigma_window`` changes before."""
    n = len(close)
    dp = [NAN] + [close[i] - close[i - 1] for i in range(1, n)]
    out = []
    for i in range(n):
        if i - sigma_window - 1 < 0 or math.isnan(dp[i]):
            out.append(NAN)
            continue
        past = [v for v in dp[i - sigma_window : i] if not math.isnan(v)]
        if len(past) < 2:
            out.append(NAN)
            continue
        mean = sum(past) / len(past)
        sigma = math.sqrt(sum((v - mean) ** 2 for v in past) / (len(past) - 1))
        if sigma > 0:
            out.append(0.5 * (1 + math.erf(dp[i] / (sigma * math.sqrt(2)))))
        else:
            out.append(1.0 if dp[i] > 0 else 0.0 if dp[i] < 0 else 0.5)
    return out
