"""Merton normal jump diffusion: ``njdm(mu, sigma, lambda, mu_jump, sigma_jump, base)``.

::

    X_t = (mu - sigma^2/2 - lambda k) t + sigma W_t + sum_{j <= N_t} Y_j,
    Y_j ~ N(mu_jump, sigma_jump^2),   N_t ~ Poisson(lambda t),
    k = E[e^Y - 1] = exp(mu_jump + sigma_jump^2 / 2) - 1

so ``E[S_t] = base * e^{mu t}``. ``lambda`` is jumps per year; jump sizes are
per jump, in log-price units (``Y = 0.1`` multiplies the price by ``e^0.1``).
The diffusion is exact on the grid; jumps arrive at continuous Poisson times
and move the first tick at or after them (:mod:`.jumps`).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from seriesfactory.schema.arrays import F64
from seriesfactory.sources.synthetic import jumps
from seriesfactory.sources.synthetic.base import Model, Param

__all__ = ["NJDM"]


class NJDM(jumps.JumpDiffusion, Model):
    """Merton jump diffusion: normal jumps of the log price."""

    name: ClassVar[str] = "njdm"
    params: ClassVar[tuple[Param, ...]] = (
        Param(name="mu", description="expected yearly return"),
        Param(name="sigma", description="yearly diffusion volatility", low=0.0),
        Param(name="lambda", description="expected jumps per year", low=0.0),
        Param(name="mu_jump", description="mean log-price jump"),
        Param(name="sigma_jump", description="standard deviation of the log-price jump", low=0.0),
        Param(name="base", description="start price", low=0.0, low_open=True),
    )
    version: ClassVar[int] = 1

    def compensator(self) -> float:
        """``k = E[e^Y] - 1 = exp(mu_jump + sigma_jump^2 / 2) - 1``."""
        m, s = self.values["mu_jump"], self.values["sigma_jump"]
        exponent = m + 0.5 * s * s
        return math.expm1(exponent) if exponent < 700.0 else math.inf

    def _sizes(self, rng: np.random.Generator, n: int) -> F64:
        return self.values["mu_jump"] + self.values["sigma_jump"] * rng.standard_normal(n)
