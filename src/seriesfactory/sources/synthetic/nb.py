"""Numba kernels shared by the generative models (numpy in, numpy out).

Called only from the models in this package.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from seriesfactory._jit import kernel

F64 = npt.NDArray[np.float64]


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
        mid = base * math.exp(x[i])
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
