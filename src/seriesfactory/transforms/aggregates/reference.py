"""Plain-Python twin of the aggregation kernels, written for clarity, not speed.

It collects each bucket's ticks in lists and computes every field with its
closed-form definition (``docs/series.md``). The tests run it beside the
numba kernels on the same input and compare every field.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["ReferenceRow", "reference_aggregate"]


@dataclass
class ReferenceRow:
    timestamp_ns: int
    start_ns: int
    tick_count: int
    values: dict[str, float]


@dataclass
class _Bucket:
    start_ns: int
    times: list[int] = field(default_factory=list)
    mids: list[float] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    spreads: list[float] = field(default_factory=list)
    vbid: float = 0.0
    vask: float = 0.0

    def deviates(self, mid: float, prev_close: float, max_dev: float) -> bool:
        """``|mid / ref - 1| > d`` for ref the running mid, as ``|mid * den - num| > d * num``."""
        if not self.mids:
            num, den = prev_close, 1.0
        elif sum(self.weights) > 0:
            num = sum(w * m for w, m in zip(self.weights, self.mids, strict=True))
            den = sum(self.weights)
        else:
            num, den = sum(self.mids), float(len(self.mids))
        return abs(mid * den - num) > max_dev * num

    def running_mid(self, prev_close: float) -> float:
        if not self.mids:
            return prev_close
        total = sum(self.weights)
        if total > 0:
            return sum(w * m for w, m in zip(self.weights, self.mids, strict=True)) / total
        return sum(self.mids) / len(self.mids)


def _row(bucket: _Bucket, close_ns: int, prev_close: float, last_spread: float) -> ReferenceRow:
    n = len(bucket.mids)
    if n == 0:
        p = prev_close
        values = dict(
            open=p, high=p, low=p, close=p, mid=p, spread=last_spread,
            vbid=bucket.vbid, vask=bucket.vask, velocity=0.0, dispersion=0.0, drift=0.0,
        )  # fmt: skip
        return ReferenceRow(close_ns, bucket.start_ns, 0, values)
    mids = bucket.mids
    close = mids[-1]
    t = [(x - bucket.times[0]) / 1e9 for x in bucket.times]
    mean_t = sum(t) / n
    mean_m = sum(mids) / n
    stt = sum((a - mean_t) ** 2 for a in t)
    stm = sum((a - mean_t) * (b - mean_m) for a, b in zip(t, mids, strict=True))
    slope = stm / stt if stt > 0 else 0.0
    intercept = mean_m - slope * mean_t
    resid = [b - (intercept + slope * a) for a, b in zip(t, mids, strict=True)]
    disp = math.sqrt(sum(r * r for r in resid) / n) / mean_m * 100.0 if n > 1 else 0.0
    drift = slope * (t[-1] - t[0]) / close * 100.0 if n > 1 else 0.0
    values = dict(
        open=mids[0], high=max(mids), low=min(mids), close=close,
        mid=bucket.running_mid(prev_close), spread=sum(bucket.spreads) / n,
        vbid=bucket.vbid, vask=bucket.vask, velocity=math.sqrt(n),
        dispersion=disp, drift=drift,
    )  # fmt: skip
    return ReferenceRow(close_ns, bucket.start_ns, n, values)


def reference_aggregate(
    ts: Sequence[int],
    bid: Sequence[float],
    ask: Sequence[float],
    vbid: Sequence[float],
    vask: Sequence[float],
    *,
    mode: str,
    step: float,
    end_ns: int,
    tick_ttl_ms: float = 100.0,
    tick_max_deviation: float = 0.001,
    age_ns: Sequence[int] | None = None,
) -> tuple[list[ReferenceRow], dict[str, int]]:
    """Aggregate ticks; return the rows and the filter counts."""
    rows: list[ReferenceRow] = []
    ttl_ns = round(tick_ttl_ms * 1e6)
    step_ns = round(step * 1e6) if mode == "time" else 0
    started = False
    prev_close = 0.0
    last_spread = 0.0
    brick_ref = 0.0
    pending: float | None = None
    removed_dev = 0
    stale_count = 0
    bucket: _Bucket | None = None
    bucket_k = 0

    for i, t in enumerate(ts):
        mid = (bid[i] + ask[i]) / 2
        if mode == "time":
            k = t // step_ns
            if bucket is None:
                bucket, bucket_k = _Bucket(k * step_ns), k
            elif k > bucket_k:
                if started:
                    rows.append(_row(bucket, (bucket_k + 1) * step_ns, prev_close, last_spread))
                    for e in range(bucket_k + 1, k):
                        rows.append(_row(_Bucket(e * step_ns), (e + 1) * step_ns, prev_close,
                                         last_spread))  # fmt: skip
                bucket, bucket_k = _Bucket(k * step_ns), k
        elif bucket is None:
            bucket = _Bucket(t)
        if age_ns is not None and age_ns[i] > ttl_ns and started:
            stale_count += 1
            bucket.vbid += vbid[i]
            bucket.vask += vask[i]
            continue
        if started:
            confirmed = pending is not None and abs(mid - pending) <= tick_max_deviation * pending
            outlier = bucket.deviates(mid, prev_close, tick_max_deviation) and (
                abs(mid - prev_close) > tick_max_deviation * prev_close
            )
            if outlier and not confirmed:
                removed_dev += 1
                pending = mid
                continue
            pending = None
        if not started:
            brick_ref = mid
        started = True
        bucket.vbid += vbid[i]
        bucket.vask += vask[i]
        bucket.times.append(t)
        bucket.mids.append(mid)
        bucket.weights.append(vbid[i] + vask[i])
        bucket.spreads.append((ask[i] - bid[i]) / mid)
        prev_close = mid
        last_spread = (ask[i] - bid[i]) / mid
        if mode == "tick" and (mid > brick_ref * (1 + step) or mid < brick_ref * (1 - step)):
            rows.append(_row(bucket, t, prev_close, last_spread))
            bucket = None
            brick_ref = mid

    if mode == "time" and bucket is not None and started:
        rows.append(_row(bucket, (bucket_k + 1) * step_ns, prev_close, last_spread))
        last_k = (end_ns - 1) // step_ns
        for e in range(bucket_k + 1, last_k + 1):
            rows.append(_row(_Bucket(e * step_ns), (e + 1) * step_ns, prev_close, last_spread))
    return rows, {"deviation": removed_dev, "stale": stale_count}
