"""Large real FFTs in bounded extra memory, for the Davies–Harte embedding.

A plain 1-D FFT of ``M`` points in scipy (pocketfft) allocates twiddle tables and
a scratch copy about twice the data; for a year of ticks (``M`` near 1.3e8) that
alone passes 2 GB. Here a complex FFT of length ``L = M / 2`` is done in place by
the four-step method (``L = L1 * L2``; FFTs of length ``L2`` down the columns,
twiddle factors, FFTs of length ``L1`` along the rows, each over blocks of about a
million values), and the real transforms of length ``M`` are packed into it:

- forward (symmetric real ``c`` of length ``M``): ``z_n = c_{2n} + i c_{2n+1}``,
  ``Z = FFT_L(z)``, then
  ``X_k = (Z_k + conj Z_{L-k}) / 2 - i e^{-2 pi i k / M} (Z_k - conj Z_{L-k}) / 2``;
- inverse (half spectrum ``a_0 .. a_L``, ``a_0`` and ``a_L`` real): with
  ``Z_k = (a_k + conj a_{L-k}) + i e^{2 pi i k / M} (a_k - conj a_{L-k})``,
  ``x_{2n} + i x_{2n+1} = IFFT_L(Z)_n / 2`` where ``x = irfft(a, M)``.

The four-step result is left transposed: natural index ``k`` sits at position
``(k mod L2) * L1 + k div L2``; readers gather through :func:`positions`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from seriesfactory.core.lazy import lazy_module

if TYPE_CHECKING:
    from seriesfactory.sources.synthetic import nb_fft
else:  # numba loads when ticks are generated, not when a model is named (issue 16)
    nb_fft = lazy_module("seriesfactory.sources.synthetic.nb_fft")

__all__ = ["irfft_prefix", "positions", "split", "symmetric_rfft_real"]

_BLOCK = 1 << 20
Array = npt.NDArray[Any]


def split(length: int) -> tuple[int, int]:
    """``(L1, L2)`` with ``L1 * L2 = length`` and ``L1`` the largest divisor ``<= sqrt(length)``."""
    l1 = max(math.isqrt(length), 1)
    while length % l1:
        l1 -= 1
    return l1, length // l1


def positions(k: npt.NDArray[np.int64], length: int) -> npt.NDArray[np.int64]:
    """Where natural index ``k`` (taken mod ``length``) sits after :func:`fft_inplace`."""
    l1, l2 = split(length)
    k = np.mod(k, length)
    return (k % l2) * l1 + k // l2


def fft_inplace(buf: Array, *, inverse: bool) -> None:
    """Unnormalised forward DFT (or normalised inverse) of complex ``buf``, in place, transposed.

    ``X_k = sum_n buf_n e^{-+2 pi i n k / L}`` (inverse: ``e^{+}`` and ``/ L``),
    stored at :func:`positions` ``(k)``.
    """
    import scipy.fft  # on first use: its import is 0.3 s of every start-up otherwise

    length = buf.shape[0]
    l1, l2 = split(length)
    view = buf.reshape(l2, l1)  # view[n2, n1] = x[n1 + L1 n2]
    transform = scipy.fft.ifft if inverse else scipy.fft.fft
    cols = max(_BLOCK // l2, 1)
    for lo in range(0, l1, cols):
        view[:, lo : lo + cols] = transform(view[:, lo : lo + cols], axis=0)
    rows = max(_BLOCK // l1, 1)
    sign = 1.0 if inverse else -1.0
    for lo in range(0, l2, rows):
        block = view[lo : lo + rows]
        nb_fft.twiddle_rows(block, lo, length, sign)
        view[lo : lo + rows] = transform(block, axis=1, overwrite_x=True)


def symmetric_rfft_real(half: int, fill: Callable[[Array], None], dtype: Any) -> Array:
    """``Re rfft(c)[0 .. half]`` for a real ``c`` of length ``M = 2 half``, in ``dtype``.

    ``fill(reals)`` writes ``c`` into the float array ``reals`` of length ``M``.
    Memory: ``M`` reals of ``dtype`` plus the result.
    """
    buf = np.empty(half, dtype=np.result_type(dtype, np.complex64))
    fill(buf.view(dtype))
    fft_inplace(buf, inverse=False)
    out = np.empty(half + 1, dtype=dtype)
    l1, l2 = split(half)
    nb_fft.unpack_symmetric(buf, l1, l2, out)
    return out


def irfft_prefix(spectrum: Array, n_out: int, scale: float) -> Array:
    """``scale * irfft(spectrum, M)[:n_out]``, ``M = 2 (len(spectrum) - 1)``; destroys ``spectrum``.

    ``spectrum`` is the complex half spectrum ``a_0 .. a_L`` (``a_0``, ``a_L`` real).
    The result has the real dtype of ``spectrum``. Extra memory: the result.
    """
    half = spectrum.shape[0] - 1
    nb_fft.pack_half_spectrum(spectrum)
    buf = spectrum[:half]
    fft_inplace(buf, inverse=True)
    pairs = (n_out + 1) // 2
    out = np.empty(2 * pairs, dtype=spectrum.real.dtype)
    l1, l2 = split(half)
    nb_fft.unpack_prefix(buf, l1, l2, out.view(spectrum.dtype), 0.5 * scale)
    out.resize(n_out, refcheck=False)
    return out
