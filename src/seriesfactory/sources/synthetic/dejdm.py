"""Kou double-exponential jump diffusion:
``dejdm(mu, sigma, lambda, mu_pos_jump, mu_neg_jump, p_neg_jump, base)``.

::

    X_t = (mu - sigma^2/2 - lambda k) t + sigma W_t + sum_{j <= N_t} Y_j,   N_t ~ Poisson(lambda t)
    Y = +E_up,  E_up ~ Exp(mean eta_up = mu_pos_jump)           with probability 1 - p
    Y = -E_dn,  E_dn ~ Exp(mean eta_dn = -mu_neg_jump)          with probability p = p_neg_jump
    k = E[e^Y - 1] = (1 - p) eta_up / (1 - eta_up) - p eta_dn / (1 + eta_dn)

so ``E[S_t] = base * e^{mu t}``; ``E[e^Y]`` is finite only for ``eta_up < 1``,
hence ``mu_pos_jump`` in (0, 1) and ``mu_neg_jump < 0``. Sizes are per jump, in
log-price units. Each jump draws one uniform (the side) and one standard
exponential (the size) from the jump-size stream (per block: the uniforms, then
the exponentials).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from seriesfactory.schema.arrays import F64
from seriesfactory.sources.synthetic import jumps
from seriesfactory.sources.synthetic.base import Model, Param

__all__ = ["DEJDM"]


class DEJDM(jumps.JumpDiffusion, Model):
    """Kou jump diffusion: double-exponential jumps of the log price."""

    name: ClassVar[str] = "dejdm"
    params: ClassVar[tuple[Param, ...]] = (
        Param(name="mu", description="expected yearly return"),
        Param(name="sigma", description="yearly diffusion volatility", low=0.0),
        Param(name="lambda", description="expected jumps per year", low=0.0),
        Param(
            name="mu_pos_jump",
            description="mean up-jump of the log price",
            low=0.0,
            high=1.0,
            low_open=True,
            high_open=True,
        ),
        Param(
            name="mu_neg_jump",
            description="mean down-jump of the log price",
            high=0.0,
            high_open=True,
        ),
        Param(name="p_neg_jump", description="probability of a down-jump", low=0.0, high=1.0),
        Param(name="base", description="start price", low=0.0, low_open=True),
    )
    version: ClassVar[int] = 1

    def compensator(self) -> float:
        """``k = E[e^Y] - 1 = (1 - p) eta_up / (1 - eta_up) - p eta_dn / (1 + eta_dn)``."""
        up, dn, p = (
            self.values["mu_pos_jump"],
            -self.values["mu_neg_jump"],
            self.values["p_neg_jump"],
        )
        return (1.0 - p) * up / (1.0 - up) - p * dn / (1.0 + dn)

    def _sizes(self, rng: np.random.Generator, n: int) -> F64:
        down = rng.random(n) < self.values["p_neg_jump"]
        size = rng.standard_exponential(n)
        return np.where(down, self.values["mu_neg_jump"] * size, self.values["mu_pos_jump"] * size)
