"""Geometric Brownian motion: ``gbm(mu, sigma, base)``.

``dS/S = mu dt + sigma dW``, simulated exactly on the 500 ms grid::

    X_{i+1} = X_i + (mu - sigma^2 / 2) dt + sigma sqrt(dt) Z_i,   Z_i ~ N(0, 1)
    S_i = base * exp(X_i),  X_0 = 0,  dt = 1 / 63,115,200 year

so ``E[S_t] = base * e^{mu t}``: ``mu`` is the expected yearly return and
``sigma`` the yearly volatility of log returns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from seriesfactory.core.lazy import lazy_module
from seriesfactory.schema.arrays import F64
from seriesfactory.sources.synthetic.base import EPOCHS_PER_YEAR, Model, Param, spawn_generator

if TYPE_CHECKING:
    from seriesfactory.sources.synthetic import nb
else:  # numba loads when ticks are generated, not when a model is named (issue 16)
    nb = lazy_module("seriesfactory.sources.synthetic.nb")

__all__ = ["GBM"]

_NO_TICKS = np.empty(0, dtype=np.int64)
_NO_SIZES = np.empty(0, dtype=np.float64)


@dataclass(slots=True)
class _State:
    rng: np.random.Generator
    x: float
    started: bool


class GBM(Model):
    """Geometric Brownian motion (exact log-normal steps)."""

    name: ClassVar[str] = "gbm"
    params: ClassVar[tuple[Param, ...]] = (
        Param(name="mu", description="expected yearly return"),
        Param(name="sigma", description="yearly volatility", low=0.0),
        Param(name="base", description="start price", low=0.0, low_open=True),
    )
    streams: ClassVar[tuple[str, ...]] = ("diffusion",)
    version: ClassVar[int] = 1

    def _init_state(self, n_ticks: int, seed: int) -> _State:
        return _State(rng=spawn_generator(seed, "diffusion"), x=0.0, started=False)

    def _fill_log_path(self, state: _State, out: F64) -> None:
        dt = 1.0 / EPOCHS_PER_YEAR
        mu, sigma = self.values["mu"], self.values["sigma"]
        drift = (mu - 0.5 * sigma * sigma) * dt
        vol = sigma * math.sqrt(dt)
        n = out.shape[0]
        # The first tick of the horizon is the start price itself: no draw for it.
        skip = 0 if state.started else 1
        z = state.rng.standard_normal(n - skip)
        state.x = nb.diffusion_path(z, skip, vol, drift, state.x, _NO_TICKS, _NO_SIZES, out)
        state.started = True
