"""Calibration of σ and of the fill intensity ``λ(δ) = A e^{-κ δ}`` per side.

Formulas, units and edge cases: ``docs/backtest.md``. In short, for a window
``[t0, t1)`` of a :class:`~seriesfactory.backtest.data.Market`:

* **σ** (quote currency per √s) from mid *price changes* (not log returns):
  ``σ² = Σ (Δmid)² / Σ Δt`` over consecutive usable rows at most ``gap`` apart.
* **κ, A** per side by the exposure-aware truncated maximum likelihood on the tick
  grid. A usable row ``r`` exposes, for ``w_r`` seconds (until the next row, the
  window's end or ``gap``, whichever is first), the depths ``δ = a_r, a_r + 1, ...,
  b_r`` ticks from its mid (best to furthest level of the side). A taker sell at
  ``τ`` hits the bids at depth ``mid_r - price`` of the latest row with
  ``ts_r < τ`` (a taker buy: ``price - mid_r`` on the asks). Trades per depth
  ``d`` of the grid are Poisson with rate ``A e^{-κ d} (1 - e^{-κ})`` (so ``A e^{-κ δ}``
  is the rate of trades at least ``δ`` deep, the AS intensity), giving::

      ℓ(A, κ) = N ln A + N ln(1 - e^{-κ}) - κ Σ δ_i - A E(κ),
      E(κ) = Σ_r w_r (e^{-κ a_r} - e^{-κ (b_r + 1)})

  ``Â = N / E(κ̂)``; ``κ̂`` solves ``1/(e^κ - 1) - E'(κ)/E(κ) = mean δ`` — the
  model's mean depth, strictly decreasing in κ (its derivative is minus a
  variance), found by a Newton iteration kept inside a shrinking bracket. 95 %
  intervals on the log scale from the larger of the model-based (observed
  information) and the robust (sandwich clustered by second) standard error:
  see :func:`_robust_cov`.
  κ is reported per unit of quote currency (``κ_ticks / tick``), A per second.
* Trades outside the reachable depths of their row (a sell above the best bid,
  beyond the furthest level, off the grid, or after an invalid row) are not part
  of the truncated likelihood; they are counted in ``n_outside_bid/ask``.
* The mid that converts the defaults is the latest valid row before ``t1``; a refit
  time with no valid row before it is skipped (quoting waits for the next).
* A side with fewer than ``min_trades_per_side`` trades, or without a root,
  reuses the other side's fit; when neither fits, the configured defaults are used
  (``default_kappa_per_bps``, ``default_a_per_s``); ``fallback`` says which.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from seriesfactory.backtest.config import BacktestConfig
from seriesfactory.backtest.data import Market
from seriesfactory.core import progress
from seriesfactory.errors import DataError

__all__ = ["Calibration", "SideFit", "calibrate", "fit_side", "rolling", "side_sample", "sigma_fit"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Z95 = 1.959963984540054
KAPPA_BRACKET = (1e-4, 200.0)  # per tick
#: The robust variance's clusters: blocks of one second of book time (a sweep of several
#: levels, printed as several trades, falls in one block whatever the book's row rate).
CLUSTER_NS = 1_000_000_000


@dataclass(slots=True)
class SideFit:
    """One side's maximum-likelihood fit, in ticks (κ per tick, A per second)."""

    kappa: float
    a: float
    kappa_lo: float
    kappa_hi: float
    a_lo: float
    a_hi: float
    n: int


@dataclass(slots=True)
class SideSample:
    """A side's sufficient statistics: exposure by ``(a, b)`` and the trades' depths (ticks).

    ``row_group``, ``row_w`` (one entry per exposing book row: its index into ``lo``/``hp``
    and its seconds), ``trade_row`` (per trade, its row's index into those) and
    ``row_cluster`` (per exposing row, its :data:`CLUSTER_NS` block of time; ``None``: each
    row its own) keep the structure the robust variance needs; a sample without them
    (hand-made) gets the model-based interval alone.
    """

    lo: F64  # a_r
    hp: F64  # b_r + 1
    w: F64  # seconds
    depths: F64
    outside: int
    row_group: I64 | None = None
    row_w: F64 | None = None
    trade_row: I64 | None = None
    row_cluster: I64 | None = None


def side_sample(mk: Market, i0: int, i1: int, t1: int, side: int, gap_ns: int) -> SideSample:
    """Exposure of rows ``[i0, i1)`` and depths of the trades they map (``side`` +1 bid)."""
    ts = mk.ts[i0:i1]
    if len(ts) == 0:
        e = np.empty(0)
        return SideSample(e, e, e, e, 0)
    usable = mk.usable[i0:i1]
    mid = mk.mid[i0:i1]
    nxt = np.append(ts[1:], t1)
    w = np.minimum(np.minimum(nxt, t1) - ts, gap_ns).astype(np.float64) / 1e9
    with np.errstate(invalid="ignore"):
        if side > 0:
            near = (mid - mk.bid_px[i0:i1, 0]) / mk.tick
            far = (mid - np.fmin.reduce(mk.bid_px[i0:i1], axis=1)) / mk.tick
        else:
            near = (mk.ask_px[i0:i1, 0] - mid) / mk.tick
            far = (np.fmax.reduce(mk.ask_px[i0:i1], axis=1) - mid) / mk.tick
    ok = usable & np.isfinite(near) & np.isfinite(far) & (w > 0)
    lo2 = np.where(ok, np.rint(2 * near), 0).astype(np.int64)
    hi2 = np.where(ok, np.rint(2 * far), 0).astype(np.int64)
    key = lo2[ok] * (1 << 32) + hi2[ok]
    uniq, inv = np.unique(key, return_inverse=True)
    wsum = np.asarray(np.bincount(inv, weights=w[ok], minlength=len(uniq)), np.float64)
    lo = (uniq >> 32).astype(np.float64) / 2
    hp = (uniq & ((1 << 32) - 1)).astype(np.float64) / 2 + 1
    # trades in (ts[i0], t1) on this side, mapped to the latest row strictly before them
    want = -1 if side > 0 else 1  # a taker sell hits the bids
    j0 = int(np.searchsorted(mk.tr_ts, ts[0], "right"))
    j1 = int(np.searchsorted(mk.tr_ts, t1, "left"))
    tts = mk.tr_ts[j0:j1]
    sel = mk.tr_side[j0:j1] == want
    tts, tpx = tts[sel], mk.tr_px[j0:j1][sel]
    r = np.searchsorted(ts, tts, "left") - 1
    r = np.clip(r, 0, len(ts) - 1)
    with np.errstate(invalid="ignore"):
        d2 = np.rint(2 * (mid[r] - tpx) * (1 if side > 0 else -1) / mk.tick)
        inside = (
            ok[r]
            & (tts - ts[r] <= gap_ns)
            & np.isfinite(d2)
            & (d2 >= lo2[r])
            & (d2 <= hi2[r])
            & ((d2 - lo2[r]) % 2 == 0)
        )
    # per exposing row: its pooled group and seconds; per fitted trade: its row among those
    pos = np.cumsum(ok) - 1
    return SideSample(
        lo,
        hp,
        wsum,
        d2[inside] / 2,
        int((~inside).sum()),
        row_group=inv.astype(np.int64).ravel(),
        row_w=w[ok],
        trade_row=pos[r[inside]].astype(np.int64),
        row_cluster=((ts[ok] - ts[0]) // CLUSTER_NS).astype(np.int64),
    )


def _e(kappa: float, s: SideSample) -> tuple[float, float, float]:
    """``E, E', E''`` at ``kappa``."""
    x = np.exp(-kappa * s.lo)
    y = np.exp(-kappa * s.hp)
    e0 = float(np.dot(s.w, x - y))
    e1 = float(np.dot(s.w, -s.lo * x + s.hp * y))
    e2 = float(np.dot(s.w, s.lo * s.lo * x - s.hp * s.hp * y))
    return e0, e1, e2


def _model_mean(kappa: float, s: SideSample) -> float:
    e0, e1, _ = _e(kappa, s)
    return 1.0 / math.expm1(kappa) - e1 / e0


def _solve_kappa(s: SideSample, mean: float, lo: float, hi: float) -> float:
    """The root of ``m(κ) - mean`` in ``(lo, hi)``, given ``m(lo) > mean > m(hi)``.

    ``m`` is the model's mean depth, strictly decreasing, with
    ``m'(κ) = -e^κ/(e^κ - 1)² - (E″E - E′²)/E²``. Newton steps from the bracket's
    geometric middle; a step leaving the bracket (or a non-negative slope) is replaced
    by the bracket's geometric middle, and every evaluation shrinks the bracket, so
    the iteration always converges.
    """
    k = math.sqrt(lo * hi)
    for _ in range(200):
        e0, e1, e2 = _e(k, s)
        em = math.expm1(k)
        g = 1.0 / em - e1 / e0 - mean
        if g == 0.0:
            return k
        if g > 0:
            lo = k
        else:
            hi = k
        slope = -(em + 1.0) / (em * em) - (e2 * e0 - e1 * e1) / (e0 * e0)
        nxt = k - g / slope if slope < 0 else math.nan
        if not lo < nxt < hi:
            nxt = math.sqrt(lo * hi)
        if abs(nxt - k) <= 1e-13 * k or hi - lo <= 1e-13 * hi:
            return nxt
        k = nxt
    return k


def fit_side(s: SideSample) -> SideFit | None:
    """The truncated MLE (ticks), or ``None`` without trades, exposure or a root."""
    n = len(s.depths)
    if n < 2 or len(s.w) == 0 or float(s.w.sum()) <= 0:
        return None
    mean = float(s.depths.mean())
    lo_k, hi_k = KAPPA_BRACKET

    def g(k: float) -> float:
        return _model_mean(k, s) - mean

    try:
        g_lo, g_hi = g(lo_k), g(hi_k)
    except (ZeroDivisionError, FloatingPointError, OverflowError):
        return None
    if not (math.isfinite(g_lo) and math.isfinite(g_hi)) or g_lo <= 0 or g_hi >= 0:
        return None
    kappa = _solve_kappa(s, mean, lo_k, hi_k)
    e0, e1, e2 = _e(kappa, s)
    a = n / e0
    # observed information of (A, κ)
    em = math.expm1(kappa)
    info = np.array(
        [
            [n / (a * a), e1],
            [e1, n * math.exp(kappa) / (em * em) + a * e2],
        ]
    )
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return None
    var = np.maximum(np.diag(cov), 0.0)
    robust = _robust_cov(kappa, a, cov, s)
    if robust is not None:  # never narrower than the model-based interval
        var = np.maximum(var, np.diag(robust))
    se_a = math.sqrt(float(var[0]))
    se_k = math.sqrt(float(var[1]))
    fk = math.exp(Z95 * se_k / kappa)
    fa = math.exp(Z95 * se_a / a)
    return SideFit(kappa, a, kappa / fk, kappa * fk, a / fa, a * fa, n)


def _robust_cov(kappa: float, a: float, bread: F64, s: SideSample) -> F64 | None:
    """The sandwich ``H⁻¹ M H⁻¹`` with ``M = Σ_c u_c u_cᵀ``, ``u_c`` the score of cluster c:
    the sum of the scores ``u_r`` of its book rows (one second of book time, see
    :data:`CLUSTER_NS`).

    Row r contributes ``n_r (ln A + ln(1 - e^{-κ})) - κ D_r - A w_r X_r`` to ℓ (``n_r``
    trades of total depth ``D_r`` mapped to it, ``X_r = e^{-κ a_r} - e^{-κ (b_r + 1)}``),
    so ``u_r = (n_r / A - w_r X_r, n_r / (e^κ - 1) - D_r + A w_r (a_r e^{-κ a_r}
    - (b_r + 1) e^{-κ (b_r + 1)}))``. ``None`` without the per-row structure.
    """
    if s.row_group is None or s.row_w is None or s.trade_row is None:
        return None
    rows = len(s.row_w)
    x = np.exp(-kappa * s.lo)
    y = np.exp(-kappa * s.hp)
    xg = (x - y)[s.row_group]
    yg = (s.hp * y - s.lo * x)[s.row_group]
    n_r = np.bincount(s.trade_row, minlength=rows).astype(np.float64)
    d_r = np.bincount(s.trade_row, weights=s.depths, minlength=rows)
    u = np.empty((rows, 2))
    u[:, 0] = n_r / a - s.row_w * xg
    u[:, 1] = n_r / math.expm1(kappa) - d_r - a * s.row_w * yg
    if s.row_cluster is not None:  # a cluster's score is the sum of its rows'
        u = np.column_stack([np.bincount(s.row_cluster, weights=u[:, j]) for j in (0, 1)])
    meat = u.T @ u
    out: F64 = bread @ meat @ bread
    return out


@dataclass(slots=True)
class Calibration:
    """One window's parameters in quote currency and seconds (see ``docs/backtest.md``)."""

    window_start: int
    window_end: int
    mid: float
    tick: float
    sigma: float
    sigma_lo: float
    sigma_hi: float
    kappa_bid: float
    kappa_bid_lo: float
    kappa_bid_hi: float
    a_bid: float
    a_bid_lo: float
    a_bid_hi: float
    kappa_ask: float
    kappa_ask_lo: float
    kappa_ask_hi: float
    a_ask: float
    a_ask_lo: float
    a_ask_hi: float
    n_bid: int
    n_ask: int
    n_outside_bid: int
    n_outside_ask: int
    n_sigma: int
    fallback: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sigma_fit(mk: Market, i0: int, i1: int, gap_ns: int) -> tuple[float, int]:
    """``(σ, increments)``: realised variance of mid changes per second (quote currency)."""
    usable = mk.usable[i0:i1]
    ts = mk.ts[i0:i1][usable]
    mid = mk.mid[i0:i1][usable]
    if len(ts) < 2:
        return math.nan, 0
    dt = np.diff(ts)
    keep = (dt > 0) & (dt <= gap_ns)
    dm = np.diff(mid)[keep]
    total = float(dt[keep].sum()) / 1e9
    if total <= 0:
        return math.nan, 0
    return math.sqrt(float(np.dot(dm, dm)) / total), int(keep.sum())


def calibrate(mk: Market, t0: int, t1: int, cfg: BacktestConfig) -> Calibration:
    """Fit σ and both sides on ``[t0, t1)`` with the fallbacks of the module docstring."""
    gap_ns = int(cfg.gap_threshold_seconds * 1e9)
    i0 = int(np.searchsorted(mk.ts, t0, "left"))
    i1 = int(np.searchsorted(mk.ts, t1, "left"))
    before = np.flatnonzero(mk.usable[:i1])
    if len(before) == 0:
        raise DataError("no valid book row before the end of the calibration window")
    mid = float(mk.mid[before[-1]])  # the latest mid known at t1 (no look-ahead)
    notes: list[str] = []
    sigma, n_sig = sigma_fit(mk, i0, i1, gap_ns)
    if n_sig < 2 or not math.isfinite(sigma) or sigma <= 0:
        sigma = cfg.default_sigma_rel * mid
        notes.append(f"sigma: {n_sig} mid changes; default {cfg.default_sigma_rel:g} x mid used")
        s_lo = s_hi = sigma
    else:
        h = Z95 / math.sqrt(2 * n_sig)
        s_lo, s_hi = sigma / (1 + h), sigma / max(1 - h, 1e-9)
    samples = {s: side_sample(mk, i0, i1, t1, s, gap_ns) for s in (1, -1)}
    fits: dict[int, SideFit | None] = {}
    for s, smp in samples.items():
        name = "bid" if s > 0 else "ask"
        if len(smp.depths) < cfg.min_trades_per_side:
            notes.append(f"{name}: {len(smp.depths)} trades < {cfg.min_trades_per_side}")
            fits[s] = None
            continue
        fits[s] = fit_side(smp)
        if fits[s] is None:
            notes.append(f"{name}: the likelihood has no maximum (depths all alike?)")
    for s in (1, -1):
        if fits[s] is None and fits[-s] is not None:
            notes.append(
                f"{'bid' if s > 0 else 'ask'}: reusing the {'ask' if s > 0 else 'bid'} fit"
            )
    k_def = cfg.default_kappa_per_bps * 1e4 / mid * mk.tick  # per tick
    default = SideFit(
        k_def, cfg.default_a_per_s, k_def, k_def, cfg.default_a_per_s, cfg.default_a_per_s, 0
    )
    if fits[1] is None and fits[-1] is None:
        notes.append(
            f"neither side fits: defaults kappa = {cfg.default_kappa_per_bps:g} per bps, "
            f"A = {cfg.default_a_per_s:g}/s"
        )
    fb = fits[1] or fits[-1] or default
    fa = fits[-1] or fits[1] or default
    tk = mk.tick
    return Calibration(
        window_start=t0,
        window_end=t1,
        mid=mid,
        tick=tk,
        sigma=sigma,
        sigma_lo=s_lo,
        sigma_hi=s_hi,
        kappa_bid=fb.kappa / tk,
        kappa_bid_lo=fb.kappa_lo / tk,
        kappa_bid_hi=fb.kappa_hi / tk,
        a_bid=fb.a,
        a_bid_lo=fb.a_lo,
        a_bid_hi=fb.a_hi,
        kappa_ask=fa.kappa / tk,
        kappa_ask_lo=fa.kappa_lo / tk,
        kappa_ask_hi=fa.kappa_hi / tk,
        a_ask=fa.a,
        a_ask_lo=fa.a_lo,
        a_ask_hi=fa.a_hi,
        n_bid=len(samples[1].depths),
        n_ask=len(samples[-1].depths),
        n_outside_bid=samples[1].outside,
        n_outside_ask=samples[-1].outside,
        n_sigma=n_sig,
        fallback=notes,
    )


def schedule(mk: Market, cfg: BacktestConfig, window_s: float, every_s: float) -> list[int]:
    """Refit times: the first usable row plus ``warmup``, then every ``every_s`` to the end."""
    use = np.flatnonzero(mk.usable)
    first = int(mk.ts[use[0]])
    last = int(mk.ts[-1])
    start = first + int(cfg.warmup_period_seconds * 1e9)
    step = int(every_s * 1e9)
    if start > last:
        return []
    return list(range(start, last + 1, step))


def rolling(mk: Market, cfg: BacktestConfig, window_s: float, every_s: float) -> list[Calibration]:
    """Refits on ``[t - window, t)`` at every time of :func:`schedule` (as the backtest does)."""
    w = int(window_s * 1e9)
    first = int(mk.ts[np.flatnonzero(mk.usable)[0]])
    times = [t for t in schedule(mk, cfg, window_s, every_s) if t > first]
    out = []
    with progress.current().task("calibrating", total=len(times), unit="windows") as task:
        for t in times:
            out.append(calibrate(mk, t - w, t, cfg))
            task.advance(1)
    return out
