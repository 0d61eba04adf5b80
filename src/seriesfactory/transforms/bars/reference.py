"""Plain-Python twin of ``nb.py``, written for reading, not speed; the tests compare the two.

:func:`reference_bars` takes a list of trades ``(ts_ns, price, qty_base, side)``
and returns closed bars as dicts with the kernel's fields (plus ``is_partial``
when ``emit_partial``). It follows ``docs/bars.md`` line by line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from seriesfactory.transforms.bars.spec import BarSpec, parse_interval_ns

__all__ = ["Trade", "reference_bars"]

Trade = tuple[int, float, float, int]


@dataclass
class _Bar:
    trades: list[Trade] = field(default_factory=list)
    signs: list[int] = field(default_factory=list)

    def row(self, threshold: float, partial: bool) -> dict[str, float | int | bool]:
        prices = [t[1] for t in self.trades]
        volume = 0.0
        dollar = 0.0
        buy = 0.0
        for (_, p, q, _), b in zip(self.trades, self.signs, strict=True):
            volume += q
            dollar += p * q
            if b > 0:
                buy += q
        return {
            "time_start": self.trades[0][0],
            "time_end": self.trades[-1][0],
            "tick_count": len(self.trades),
            "open": prices[0],
            "high": max(prices),
            "low": min(prices),
            "close": prices[-1],
            "volume": volume,
            "dollar_volume": dollar,
            "buy_volume": buy,
            "threshold": threshold,
            "is_partial": partial,
        }


def _value(kind: str, price: float, qty: float) -> float:
    """v_t: 1 for tick-based, qty for volume-based, price * qty for dollar-based bars."""
    if kind in ("tick", "tib", "trb"):
        return 1.0
    if kind in ("volume", "vib", "vrb"):
        return qty
    return price * qty


def _signs(trades: list[Trade], spec: BarSpec) -> list[int]:
    """Tick rule (0 until the first price change), overridden by a known side in auto mode."""
    out: list[int] = []
    tick_sign = 0
    prev: float | None = None
    for _, price, _, side in trades:
        if prev is not None and price != prev:
            tick_sign = 1 if price > prev else -1
        prev = price
        out.append(side if spec.sign == "auto" and side != 0 else tick_sign)
    return out


def reference_bars(
    trades: list[Trade], spec: BarSpec, *, emit_partial: bool = False
) -> list[dict[str, float | int | bool]]:
    """All bars of ``trades`` under ``spec`` (see ``docs/bars.md``)."""
    signs = _signs(trades, spec)
    bars: list[dict[str, float | int | bool]] = []
    bar = _Bar()
    nan = math.nan
    # standard
    total = 0.0
    # imbalance / run estimators
    lo, hi = spec.ticks_bounds
    alpha = 2.0 / (spec.ewma_window + 1)
    e_t = float(spec.expected_ticks)
    warm: list[tuple[int, float]] = []
    e_a = e_b = 0.0  # imbalance: E[b v] (e_a); run: E[v; buy] (e_a), E[v; sell] (e_b)
    warmed = False
    theta = buys = sells = 0.0  # the open bar's sum b v, and sums of v over buys / sells
    bucket: int | None = None
    interval = parse_interval_ns(spec.interval) if spec.interval else 0
    for trade, b in zip(trades, signs, strict=True):
        ts, price, qty, _ = trade
        if spec.type == "time":
            k = ts // interval
            if bar.trades and k != bucket:
                bars.append(bar.row(nan, False))
                bar = _Bar()
            bucket = k
        bar.trades.append(trade)
        bar.signs.append(b)
        if spec.type == "time":
            continue
        v = _value(spec.type, price, qty)
        if spec.family == "standard":
            total += v
            if total >= (spec.threshold or 0.0):
                bars.append(bar.row(nan, False))
                bar, total = _Bar(), 0.0
            continue
        if spec.family == "imbalance":
            theta += b * v
        elif b > 0:
            buys += v
        elif b < 0:
            sells += v
        if not warmed:
            warm.append((b, v))
            if len(warm) < spec.expected_ticks:
                continue
            warmed = True
            if spec.family == "imbalance":
                e_a = sum(s * x for s, x in warm) / len(warm)
            else:
                e_a = sum(x for s, x in warm if s > 0) / len(warm)
                e_b = sum(x for s, x in warm if s < 0) / len(warm)
        if spec.family == "imbalance":
            threshold = e_t * abs(e_a)
            if abs(theta) < threshold or theta == 0:
                continue
            e_a = (1 - alpha) * e_a + alpha * (theta / len(bar.trades))
        else:
            threshold = e_t * max(e_a, e_b)
            if max(buys, sells) < threshold or max(buys, sells) == 0:
                continue
            e_a = (1 - alpha) * e_a + alpha * (buys / len(bar.trades))
            e_b = (1 - alpha) * e_b + alpha * (sells / len(bar.trades))
        e_t = min(max((1 - alpha) * e_t + alpha * len(bar.trades), lo), hi)
        bars.append(bar.row(threshold, False))
        bar, theta, buys, sells = _Bar(), 0.0, 0.0, 0.0
    if emit_partial and bar.trades:
        threshold = nan
        if spec.family == "imbalance" and warmed:
            threshold = e_t * abs(e_a)
        elif spec.family == "run" and warmed:
            threshold = e_t * max(e_a, e_b)
        bars.append(bar.row(threshold, True))
    return bars
