"""Model kernels against their plain numpy twins (bit for bit where the order is the same)."""

from __future__ import annotations

import numpy as np

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
