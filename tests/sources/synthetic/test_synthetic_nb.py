"""Model kernels against their plain numpy twins (bit for bit where the order is the same)."""

from __future__ import annotations

import math

import numpy as np

from seriesfactory import _jit
from seriesfactory.sources.synthetic import nb


def test_fused_diffusion_path_equals_the_unfused_steps_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    n, skip, vol, drift, carry = 5_000, 1, 1.3e-4, 2.1e-9, 0.25
    z = rng.standard_normal(n - skip)
    ticks = np.sort(rng.integers(1, n, 300)).astype(np.int64)  # repeats: several jumps a tick
    sizes = rng.normal(0.0, 0.01, ticks.size)
    inc = np.zeros(n)
    inc[skip:] = z * vol
    inc[skip:] += drift
    for t, s in zip(ticks, sizes, strict=True):  # in arrival order
        inc[t] += s
    want = np.empty(n)
    acc = carry
    for i in range(n):
        acc = acc + inc[i]
        want[i] = acc
    out = np.empty(n)
    last = nb.diffusion_path(z, skip, vol, drift, carry, ticks, sizes, out)
    np.testing.assert_array_equal(out, want)
    assert last == want[-1]


def test_a_price_past_float64_is_inf_with_the_jit_on_or_off() -> None:
    """numba's ``exp`` overflows to ``inf``; the plain-Python twin (``SERIESFACTORY_DISABLE_JIT=1``)
    must too, not raise ``OverflowError``: the caller then refuses the range in one line."""
    x = np.array([0.0, 709.0, 710.0, 1e6])
    u = np.full(4, 0.5)
    bid, ask, vbid, vask = nb.quotes_from_log_path(x, u, 0.0, 2.0, 0.001, 1.0)
    assert np.isfinite(bid[:2]).all()
    assert bid[1] == 2.0 * math.exp(709.0) * 0.999
    assert (bid[2:] == math.inf).all() and (ask[2:] == math.inf).all()
    assert (vask[2:] == math.inf).all() and (vbid == 0.0).all()


def test_the_exp_twin_is_math_exp_in_range_and_inf_past_it() -> None:
    for v in (-1e6, -745.2, 0.0, 1.0, 709.78):
        assert _jit._exp_or_inf(v) == math.exp(v)
    for v in (709.79, 710.0, 1e300, math.inf):
        assert _jit._exp_or_inf(v) == math.inf
    assert math.isnan(_jit._exp_or_inf(math.nan))
