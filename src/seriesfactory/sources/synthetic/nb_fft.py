"""Numba kernels of the bounded-memory Davies–Harte FFTs (numpy in, numpy out).

Called only from :mod:`~seriesfactory.sources.synthetic.fft_inplace` and
:mod:`~seriesfactory.sources.synthetic.davies_harte`; each has a numpy twin there
(``fgn_autocovariance`` and the packing formulas) that the tests compare.

Unit-modulus factors ``e^{i t k}`` along a run of ``k`` are made by repeated
multiplication, restarted from an exact ``cos``/``sin`` every :data:`RESTART`
steps, so their error stays below ``RESTART * 2^-52``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from seriesfactory._jit import kernel

Array = npt.NDArray[Any]

#: Steps between exact evaluations of a rotating factor.
RESTART = 256
#: Below this lag the autocovariance is the direct second difference; above, a series.
SERIES_FROM_LAG = 64


@kernel
def circulant_row(reals: Array, hurst: float) -> None:
    """Fill ``reals`` (length ``M = 2L``) with the first row of the fGn circulant.

    ``reals[j] = gamma(j)`` for ``j <= L`` and ``gamma(M - j)`` above, with
    ``gamma(k) = (|k+1|^{2H} - 2|k|^{2H} + |k-1|^{2H}) / 2`` directly below lag 64
    and ``k^{2H} sum_{m=1..6} C(2H, 2m) k^{-2m}`` from lag 64 (no cancellation).
    """
    m = reals.shape[0]
    half = m // 2
    a = 2.0 * hurst
    coefs = np.empty(6)
    c = 1.0
    for i in range(6):
        step = i + 1
        c *= (a - 2 * step + 2) * (a - 2 * step + 1) / ((2 * step - 1) * (2 * step))
        coefs[i] = c
    for j in range(half + 1):
        k = float(j)
        if j < SERIES_FROM_LAG:
            g = 0.5 * (abs(k + 1.0) ** a - 2.0 * abs(k) ** a + abs(k - 1.0) ** a)
        else:
            inv2 = 1.0 / (k * k)
            total = 0.0
            power = 1.0
            for i in range(6):
                power *= inv2
                total += coefs[i] * power
            g = k**a * total
        reals[j] = g
    for j in range(half + 1, m):
        reals[j] = reals[m - j]


@kernel
def twiddle_rows(view: Array, row_lo: int, length: int, sign: float) -> None:
    """``view[r, n1] *= e^{sign 2 pi i n1 (row_lo + r) / length}`` (four-step twiddles)."""
    rows, cols = view.shape
    for r in range(rows):
        theta = sign * 2.0 * math.pi * ((row_lo + r) % length) / length
        step = complex(math.cos(theta), math.sin(theta))
        w = 1.0 + 0.0j
        for n1 in range(cols):
            if n1 % RESTART == 0:
                angle = sign * 2.0 * math.pi * ((n1 * (row_lo + r)) % length) / length
                w = complex(math.cos(angle), math.sin(angle))
            view[r, n1] = view[r, n1] * w
            w = w * step


@kernel
def unpack_symmetric(buf: Array, l1: int, l2: int, out: Array) -> None:
    """``out[k] = Re X_k``, ``k = 0..L``, from the transposed packed FFT ``buf`` (length L).

    ``X_k = (Z_k + conj Z_{L-k}) / 2 - i e^{-i pi k / L} (Z_k - conj Z_{L-k}) / 2``;
    ``Z_k`` sits at ``(k mod L2) L1 + k div L2``.
    """
    length = l1 * l2
    step = complex(math.cos(math.pi / length), -math.sin(math.pi / length))
    w = 1.0 + 0.0j
    for k in range(length + 1):
        if k % RESTART == 0:
            w = complex(math.cos(math.pi * k / length), -math.sin(math.pi * k / length))
        kk = k % length
        rr = (length - k) % length
        zk = complex(buf[(kk % l2) * l1 + kk // l2])
        zr = complex(buf[(rr % l2) * l1 + rr // l2]).conjugate()
        x = 0.5 * (zk + zr) - 0.5j * w * (zk - zr)
        out[k] = x.real
        w = w * step


@kernel
def pack_half_spectrum(spec: Array) -> None:
    """In place, the half spectrum ``a_0 .. a_L`` becomes the packed ``Z_0 .. Z_{L-1}``.

    ``Z_k = (a_k + conj a_{L-k}) + i e^{i pi k / L} (a_k - conj a_{L-k})``. Pairs
    ``(k, L - k)`` are rewritten together; slot ``L`` only feeds ``Z_0``.
    """
    length = spec.shape[0] - 1
    step = complex(math.cos(math.pi / length), math.sin(math.pi / length))
    wk = 1.0 + 0.0j
    for k in range(length // 2 + 1):
        if k % RESTART == 0:
            wk = complex(math.cos(math.pi * k / length), math.sin(math.pi * k / length))
        wr = -wk.conjugate()  # e^{i pi (L - k) / L}
        r = length - k
        ak = complex(spec[k])
        ar = complex(spec[r])
        zk = (ak + ar.conjugate()) + 1j * wk * (ak - ar.conjugate())
        zr = (ar + ak.conjugate()) + 1j * wr * (ar - ak.conjugate())
        spec[r] = zr
        spec[k] = zk
        wk = wk * step


@kernel
def unpack_prefix(buf: Array, l1: int, l2: int, out: Array, scale: float) -> None:
    """``out[n] = scale * buf[(n mod L2) L1 + n div L2]`` for ``n < len(out)`` (natural order)."""
    for n in range(out.shape[0]):
        out[n] = buf[(n % l2) * l1 + n // l2] * scale
