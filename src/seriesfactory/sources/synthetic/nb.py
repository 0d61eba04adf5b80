"""Numba kernels shared by the generative models (numpy in, numpy out).

Called only from the models in this package.
"""

from __future__ import annotations

import math

import numpy as np

from seriesfactory._jit import exp, kernel
from seriesfactory.schema.arrays import F64, I64


@kernel
def quotes_from_log_path(
    x: F64, u: F64, prev_x: float, base: float, half_spread: float, qty_mean: float
) -> tuple[F64, F64, F64, F64]:
    """Bid, ask and volumes from a cumulative log-return path.

    Parameters
    ----------
    x : float64[n]
        Cumulative log return of each tick, ``ln(S_i / base)``.
    u : float64[n]
        Uniforms in [0, 1) from the microstructure stream, one per tick.
    prev_x : float
        ``x`` of the tick before ``x[0]`` (0 for the first tick of a horizon).
    base, half_spread, qty_mean : float
        Start price, relative half spread ``h``, mean quantity per tick (base units).

    Returns
    -------
    bid, ask, vbid, vask : float64[n]
        ``mid = base * exp(x)``; ``bid = mid (1 - h)``, ``ask = mid (1 + h)``;
        ``q = -qty_mean * ln(1 - u)``; ``vask = q * mid`` if ``x_i >= x_{i-1}``
        (taker buy) else ``vbid = q * mid`` (taker sell). Quote currency.
    """
    n = x.shape[0]
    bid = np.empty(n)
    ask = np.empty(n)
    vbid = np.zeros(n)
    vask = np.zeros(n)
    last = prev_x
    for i in range(n):
        mid = base * exp(x[i])
        bid[i] = mid * (1.0 - half_spread)
        ask[i] = mid * (1.0 + half_spread)
        notional = -qty_mean * math.log1p(-u[i]) * mid
        if x[i] >= last:
            vask[i] = notional
        else:
            vbid[i] = notional
        last = x[i]
    return bid, ask, vbid, vask


@kernel
def cumulative_log_path(increments: F64, carry: float, out: F64) -> float:
    """``out[i] = carry + increments[0] + ... + increments[i]``, summed left to right.

    Returns the last value (the carry for the next chunk). Summation order is the
    same for any chunking, so the path is bit-identical across chunk sizes.
    """
    acc = carry
    for i in range(increments.shape[0]):
        acc = acc + increments[i]
        out[i] = acc
    return acc


@kernel
def heston_full_truncation(
    z_price: F64,
    z_var: F64,
    x0: float,
    v0: float,
    mu_dt: float,
    kappa_dt: float,
    theta2: float,
    xi_sqrt_dt: float,
    rho: float,
    sqrt_dt: float,
    dt: float,
    out_x: F64,
    out_v: F64,
) -> tuple[float, float]:
    """Heston log price and variance, full-truncation Euler (Lord et al. 2010).

    For each step ``i`` with ``v+ = max(v, 0)``::

        X <- X + mu dt - v+ dt / 2 + sqrt(v+ dt) Z1_i
        v <- v + kappa (theta2 - v+) dt + xi sqrt(v+ dt) (rho Z1_i + sqrt(1 - rho^2) Z2_i)

    Parameters
    ----------
    z_price, z_var : float64[n]
        Independent standard normals (diffusion and variance streams).
    x0, v0 : float
        Log return and (untruncated) variance before the first step.
    mu_dt, kappa_dt, theta2, xi_sqrt_dt, rho, sqrt_dt, dt : float
        ``mu dt``, ``kappa dt``, long-run variance, ``xi sqrt(dt)``, correlation,
        ``sqrt(dt)``, ``dt`` (years per tick).
    out_x, out_v : float64[n]
        Receive the log return and the truncated variance ``max(v, 0)`` after each step.

    Returns
    -------
    x, v : float
        State after the last step (``v`` untruncated), the carry for the next chunk.
    """
    rho_c = math.sqrt(max(1.0 - rho * rho, 0.0))
    x = x0
    v = v0
    for i in range(z_price.shape[0]):
        vp = v if v > 0.0 else 0.0
        sv = math.sqrt(vp)
        z1 = z_price[i]
        x = x + mu_dt - 0.5 * vp * dt + sv * sqrt_dt * z1
        v = v + kappa_dt * (theta2 - vp) + xi_sqrt_dt * sv * (rho * z1 + rho_c * z_var[i])
        out_x[i] = x
        out_v[i] = v if v > 0.0 else 0.0
    return x, v


@kernel
def diffusion_path(
    z: F64,
    skip: int,
    vol: float,
    drift: float,
    carry: float,
    jump_ticks: I64,
    jump_sizes: F64,
    out: F64,
) -> float:
    """Cumulative log path of a (jump) diffusion, in one pass.

    ``inc_i = z[i - skip] * vol + drift`` (``0`` for the first ``skip`` ticks), plus
    every ``jump_sizes[j]`` with ``jump_ticks[j] == i`` added in order; then
    ``out[i] = carry + inc_0 + ... + inc_i`` summed left to right. Fused (one pass
    instead of four) with the same operations in the same order as the unfused
    multiply, add, in-order jump adds and :func:`cumulative_log_path`.

    Parameters
    ----------
    z : float64[n - skip]
        Standard normals of the diffusion stream.
    skip : int
        Leading ticks without a draw (1 for the first tick of a horizon, else 0).
    vol, drift : float
        ``sigma sqrt(dt)`` and the log drift per tick.
    carry : float
        The log path before ``out[0]``.
    jump_ticks : int64[m]
        Chunk-relative tick of each jump, non-decreasing.
    jump_sizes : float64[m]
        Log-price jump sizes.
    out : float64[n]
        Receives the path.

    Returns
    -------
    float
        The last value, the carry for the next chunk.
    """
    acc = carry
    j = 0
    m = jump_ticks.shape[0]
    for i in range(out.shape[0]):
        inc = 0.0 if i < skip else z[i - skip] * vol + drift
        while j < m and jump_ticks[j] == i:
            inc += jump_sizes[j]
            j += 1
        acc = acc + inc
        out[i] = acc
    return acc
