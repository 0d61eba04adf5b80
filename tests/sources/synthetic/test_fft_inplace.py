"""The bounded-memory FFTs of the Davies–Harte embedding against numpy's FFT."""

from __future__ import annotations

import numpy as np
import pytest

from seriesfactory.sources.synthetic import fft_inplace, nb_fft
from seriesfactory.sources.synthetic.davies_harte import fgn_autocovariance

# Prime-ish, odd, even, 5-smooth and square lengths: every split of the four-step.
LENGTHS = [1, 2, 3, 5, 12, 90, 1000, 6075, 13824]


def symmetric_row(rng: np.random.Generator, half: int) -> np.ndarray:
    g = rng.standard_normal(half + 1)
    return np.concatenate([g, g[-2:0:-1]]) if half > 1 else g[: 2 * half]


@pytest.mark.parametrize("half", LENGTHS)
def test_forward_symmetric_transform(half: int) -> None:
    c = symmetric_row(np.random.default_rng(half), half)

    def fill(reals: np.ndarray) -> None:
        reals[:] = c

    got = fft_inplace.symmetric_rfft_real(half, fill, np.float64)
    np.testing.assert_allclose(got, np.fft.rfft(c).real, atol=1e-11 * max(half, 1))


@pytest.mark.parametrize("half", LENGTHS)
def test_inverse_real_transform_prefix(half: int) -> None:
    rng = np.random.default_rng(half + 1)
    a = rng.standard_normal(half + 1) + 1j * rng.standard_normal(half + 1)
    a[0], a[-1] = a[0].real, a[-1].real
    want = np.fft.irfft(a, 2 * half) * 3.0
    for n_out in {1, 2 * half - 1, 2 * half}:
        got = fft_inplace.irfft_prefix(a.copy(), n_out, 3.0)
        np.testing.assert_allclose(got, want[:n_out], atol=1e-14)


def test_complex_fft_is_left_transposed() -> None:
    x = np.random.default_rng(2).standard_normal(60) + 0j
    buf = x.copy()
    fft_inplace.fft_inplace(buf, inverse=False)
    k = np.arange(60, dtype=np.int64)
    np.testing.assert_allclose(buf[fft_inplace.positions(k, 60)], np.fft.fft(x), atol=1e-12)
    assert fft_inplace.split(60) == (6, 10)
    assert fft_inplace.split(13) == (1, 13)


def test_circulant_row_kernel_equals_numpy_twin() -> None:
    half, hurst = 300, 0.35
    reals = np.empty(2 * half)
    nb_fft.circulant_row(reals, hurst)
    j = np.arange(2 * half)
    lags = np.minimum(j, 2 * half - j).astype(np.float64)
    # gamma(k) = ((k+1)^2H - 2 k^2H + |k-1|^2H) / 2 cancels terms up to (2 half)^2H ~ 90:
    # a few of their ulps (~1.4e-14 each) is the floor, whichever pow (numba's, numpy's) runs.
    scale = np.finfo(np.float64).eps * (2.0 * half) ** (2 * hurst)
    np.testing.assert_allclose(reals, fgn_autocovariance(lags, hurst), rtol=1e-13, atol=8 * scale)
