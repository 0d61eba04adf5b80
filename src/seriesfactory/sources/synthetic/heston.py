"""Heston stochastic volatility: ``hm(mu, sigma, kappa, theta, xi, rho, base)``.

::

    dS/S = mu dt + sqrt(v) dW1
    dv   = kappa (theta^2 - v) dt + xi sqrt(v) dW2,   d<W1, W2> = rho dt
    v_0  = sigma^2

``sigma`` (initial) and ``theta`` (long run) are yearly volatilities, so the
variance process starts at ``sigma^2`` and reverts to ``theta^2``; ``kappa``
(mean reversion) and ``xi`` (volatility of variance) are yearly rates. The log
price ``X = ln(S / base)`` follows ``dX = (mu - v/2) dt + sqrt(v) dW1``, so
``E[S_t] = base * e^{mu t}``.

Discretisation: full-truncation Euler on ``(X, v)`` with ``dt = 1/63,115,200``
year (Lord, Koekkoek and van Dijk 2010); the price is ``base * exp(X)``, always
positive, and the variance used (and reported) is ``max(v, 0)``, never negative.
``Z1`` comes from the diffusion stream, ``Z2`` (independent) from the variance
stream; the variance shock is ``rho Z1 + sqrt(1 - rho^2) Z2``.
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

__all__ = ["Heston"]


@dataclass(slots=True)
class _State:
    price_rng: np.random.Generator
    var_rng: np.random.Generator
    x: float
    v: float
    done: int = 0


class Heston(Model):
    """Heston stochastic volatility (full-truncation Euler on the log price)."""

    name: ClassVar[str] = "hm"
    params: ClassVar[tuple[Param, ...]] = (
        Param(name="mu", description="expected yearly return"),
        Param(name="sigma", description="initial yearly volatility, v0 = sigma^2", low=0.0),
        Param(name="kappa", description="yearly mean-reversion rate of the variance", low=0.0),
        Param(name="theta", description="long-run yearly volatility, variance theta^2", low=0.0),
        Param(name="xi", description="yearly volatility of the variance", low=0.0),
        Param(
            name="rho", description="correlation of price and variance shocks", low=-1.0, high=1.0
        ),
        Param(name="base", description="start price", low=0.0, low_open=True),
    )
    streams: ClassVar[tuple[str, ...]] = ("diffusion", "variance")
    version: ClassVar[int] = 1

    def _init_state(self, n_ticks: int, seed: int) -> _State:
        return _State(
            price_rng=spawn_generator(seed, "diffusion"),
            var_rng=spawn_generator(seed, "variance"),
            x=0.0,
            v=self.values["sigma"] ** 2,
        )

    def _step(self, state: _State, out_x: F64, out_v: F64) -> None:
        """Advance ``state`` by ``len(out_x)`` ticks, writing log return and variance."""
        n = out_x.shape[0]
        skip = 1 if state.done == 0 else 0
        if skip:
            out_x[0] = 0.0
            out_v[0] = state.v
        dt = 1.0 / EPOCHS_PER_YEAR
        p = self.values
        z_price = state.price_rng.standard_normal(n - skip)
        z_var = state.var_rng.standard_normal(n - skip)
        state.x, state.v = nb.heston_full_truncation(
            z_price,
            z_var,
            state.x,
            state.v,
            p["mu"] * dt,
            p["kappa"] * dt,
            p["theta"] ** 2,
            p["xi"] * math.sqrt(dt),
            p["rho"],
            math.sqrt(dt),
            dt,
            out_x[skip:],
            out_v[skip:],
        )
        state.done += n

    def _fill_log_path(self, state: _State, out: F64) -> None:
        self._step(state, out, np.empty_like(out))

    def paths(self, n_ticks: int, seed: int, *, chunk_ticks: int = 1 << 20) -> tuple[F64, F64]:
        """The log return ``ln(S_i / base)`` and the variance ``max(v_i, 0)`` of ticks ``0..n-1``.

        The same numbers as :meth:`stream` produces for ``n_ticks`` ticks with ``seed``.
        """
        state = self._init_state(n_ticks, seed)
        x = np.empty(n_ticks)
        v = np.empty(n_ticks)
        for lo in range(0, n_ticks, chunk_ticks):
            hi = min(lo + chunk_ticks, n_ticks)
            self._step(state, x[lo:hi], v[lo:hi])
        return x, v
