"""Exact fractional Gaussian noise by circulant embedding (Davies–Harte).

Fractional Gaussian noise (fGn) with Hurst exponent ``H`` is the stationary
Gaussian sequence of unit-variance increments of fractional Brownian motion,
with autocovariance

.. math::

    \\gamma(k) = \\tfrac12\\left(|k+1|^{2H} - 2|k|^{2H} + |k-1|^{2H}\\right).

Davies and Harte (1987) embed the ``N x N`` covariance matrix in a circulant
matrix of size ``M = 2N'`` (``N' >= N``, a size the FFT is fast at) whose first
row is ``c = (gamma(0), ..., gamma(N'), gamma(N'-1), ..., gamma(1))``. Its
eigenvalues ``lambda_k`` (the DCT-I of ``gamma(0..N')``) are non-negative for
fGn at every ``H`` in (0, 1) (Craigmile 2003), so the method is exact: with
independent normals in the half spectrum,

.. math::

    a_0 = \\sqrt{\\lambda_0} Z_0,\\quad a_{N'} = \\sqrt{\\lambda_{N'}} Z_{N'},\\quad
    a_k = \\sqrt{\\lambda_k / 2}\\,(Z_k + i Z'_k),

``Y = sqrt(M) * irfft(a, M)`` has exactly the fGn covariance, and its first
``N`` values are the sample.

Memory: the whole horizon is built at once. Up to :data:`FLOAT64_MAX_HALF` the
transforms run in float64; above it (a year is 63M ticks) in float32. Both real
transforms of length ``M`` run as one in-place complex FFT of length ``N'``
(:mod:`~seriesfactory.sources.synthetic.fft_inplace`), so the peak is about the
complex half spectrum plus the result: a year of ticks stays near 1 GB RSS. The
float32 error is measured in ``benchmarks/bench_models.py`` and recorded in
``docs/models.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from seriesfactory.core.lazy import lazy_module
from seriesfactory.sources.synthetic.fft_inplace import irfft_prefix, symmetric_rfft_real

if TYPE_CHECKING:
    from seriesfactory.sources.synthetic import nb_fft
else:  # numba loads when ticks are generated, not when a model is named (issue 16)
    nb_fft = lazy_module("seriesfactory.sources.synthetic.nb_fft")

__all__ = ["FLOAT64_MAX_HALF", "eigenvalues", "fgn", "fgn_autocovariance"]

#: Largest half embedding size N' transformed in float64; larger sizes use float32.
FLOAT64_MAX_HALF = 1 << 23
#: Below this lag the autocovariance uses the direct formula; above it a series.
_SERIES_FROM_LAG = 64
_BLOCK = 1 << 20


def fgn_autocovariance(lags: npt.NDArray[np.float64], hurst: float) -> npt.NDArray[np.float64]:
    """``gamma(k)`` of unit-variance fGn at non-negative integer lags ``k`` (float64).

    The direct second difference of ``k^{2H}`` cancels catastrophically at large
    ``k``; there the expansion
    ``gamma(k) = k^{2H} * sum_{m>=1} C(2H, 2m) k^{-2m}`` (six terms; each term is
    below ``64^-2`` of the one before) is used instead.
    """
    k = np.asarray(lags, dtype=np.float64)
    a = 2.0 * hurst
    out = np.empty_like(k)
    small = k < _SERIES_FROM_LAG
    ks = k[small]
    out[small] = 0.5 * (np.abs(ks + 1) ** a - 2 * np.abs(ks) ** a + np.abs(ks - 1) ** a)
    kb = k[~small]
    if kb.size:
        inv2 = 1.0 / (kb * kb)
        total = np.zeros_like(kb)
        coef = 1.0
        power = np.ones_like(kb)
        for m in range(1, 7):
            # C(a, 2m) from C(a, 2m-2): multiply by (a-2m+2)(a-2m+1) / ((2m-1) 2m)
            coef *= (a - 2 * m + 2) * (a - 2 * m + 1) / ((2 * m - 1) * (2 * m))
            power *= inv2
            total += coef * power
        out[~small] = kb**a * total
    return out


def _eigenvalues(half: int, hurst: float, dtype: Any) -> npt.NDArray[Any]:
    """``lambda_0 .. lambda_{N'}`` (negative rounding residue clamped to 0)."""
    lam = symmetric_rfft_real(half, lambda reals: nb_fft.circulant_row(reals, hurst), dtype)
    np.maximum(lam, 0.0, out=lam)
    return lam


def _dtype(half: int, precision: str) -> Any:
    if precision == "auto":
        return np.float64 if half <= FLOAT64_MAX_HALF else np.float32
    if precision in ("float32", "float64"):
        return np.dtype(precision).type
    raise ValueError(f"precision must be auto, float32 or float64, not {precision!r}")


def eigenvalues(n: int, hurst: float, precision: str = "auto") -> npt.NDArray[Any]:
    """The circulant eigenvalues ``lambda_0 .. lambda_{N'}`` :func:`fgn` uses for ``n`` values."""
    import scipy.fft  # on first use: its import is 0.3 s of every start-up otherwise

    half = max(int(scipy.fft.next_fast_len(n, real=True)), 1)
    return _eigenvalues(half, hurst, _dtype(half, precision))


def fgn(
    n: int, hurst: float, rng: np.random.Generator, *, precision: str = "auto"
) -> npt.NDArray[Any]:
    """``n`` values of unit-variance fractional Gaussian noise, exactly.

    Draws ``2 (N' + 1)`` standard normals from ``rng`` (``N' = next_fast_len(n)``),
    in the dtype of the transforms: float64 for ``N' <= 2^23``, float32 above.
    The result has that dtype. Deterministic for a given ``rng`` state and ``n``.
    ``precision`` (``"auto"``, ``"float32"`` or ``"float64"``) overrides the choice,
    for measuring the float32 error.
    """
    import scipy.fft  # on first use: its import is 0.3 s of every start-up otherwise

    if n <= 0:
        return np.empty(0, dtype=np.float64)
    half = max(int(scipy.fft.next_fast_len(n, real=True)), 1)
    m = 2 * half
    dtype: Any = _dtype(half, precision)
    cdtype: Any = np.complex128 if dtype is np.float64 else np.complex64
    lam = _eigenvalues(half, hurst, dtype)
    spectrum: npt.NDArray[Any] = np.empty(half + 1, dtype=cdtype)
    reals: Any = spectrum.view(dtype)
    for lo in range(0, reals.shape[0], 2 * _BLOCK):
        hi = min(lo + 2 * _BLOCK, reals.shape[0])
        rng.standard_normal(out=reals[lo:hi], dtype=dtype)
    # a_k = sqrt(lambda_k / 2) (Z + iZ'); the two real ends are sqrt(lambda) Z.
    np.multiply(lam, 0.5, out=lam)
    np.sqrt(lam, out=lam)
    spectrum *= lam
    del lam
    for end in (0, half):
        spectrum[end] = spectrum[end].real * np.sqrt(2.0)
    return irfft_prefix(spectrum, n, float(np.sqrt(m)))
