"""Fractional Brownian motion of the log price: ``fbm(mu, sigma, hurst, base)``.

With ``B_H`` a standard fractional Brownian motion (``Var B_H(t) = t^{2H}``)::

    X_t = mu t - sigma^2 t^{2H} / 2 + sigma B_H(t),   S_t = base * exp(X_t)

so ``E[S_t] = base * e^{mu t}`` (``mu`` is the expected yearly return; the term
``sigma^2 t^{2H} / 2`` is the analogue of the Itô term and equals it at
``H = 1/2``). On the grid ``t_i = i * dt`` (``dt = 1 / 63,115,200`` year) the
log increments of ``sigma B_H`` have standard deviation ``sigma * dt^H``, and
are fractional Gaussian noise scaled by it, generated exactly by Davies–Harte
(:mod:`~seriesfactory.sources.synthetic.davies_harte`).

Horizon dependence: the exact method draws the whole horizon at once, so the
path up to a time depends on where the horizon ends; the same seed over another
``[from, to)`` gives a different path. ``describe()`` says so in the file
metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

from seriesfactory.core.lazy import lazy_module
from seriesfactory.schema.arrays import F64
from seriesfactory.sources.synthetic.base import EPOCHS_PER_YEAR, Model, Param, spawn_generator
from seriesfactory.sources.synthetic.davies_harte import FLOAT64_MAX_HALF, fgn

if TYPE_CHECKING:
    from seriesfactory.sources.synthetic import nb
else:  # numba loads when ticks are generated, not when a model is named (issue 16)
    nb = lazy_module("seriesfactory.sources.synthetic.nb")

__all__ = ["FBM"]


@dataclass(slots=True)
class _State:
    noise: npt.NDArray[np.floating[Any]]
    x_noise: float = 0.0
    done: int = 0


class FBM(Model):
    """Fractional Brownian motion of the log price (exact Davies–Harte)."""

    name: ClassVar[str] = "fbm"
    params: ClassVar[tuple[Param, ...]] = (
        Param(name="mu", description="expected yearly return"),
        Param(name="sigma", description="yearly volatility scale", low=0.0),
        Param(
            name="hurst",
            description="Hurst exponent",
            low=0.0,
            high=1.0,
            low_open=True,
            high_open=True,
        ),
        Param(name="base", description="start price", low=0.0, low_open=True),
    )
    streams: ClassVar[tuple[str, ...]] = ("diffusion",)
    version: ClassVar[int] = 1
    horizon_dependent: ClassVar[bool] = True

    @property
    def tick_sd(self) -> float:
        """Standard deviation of one tick's log increment: ``sigma * dt^H``."""
        return self.values["sigma"] * (1.0 / EPOCHS_PER_YEAR) ** self.values["hurst"]

    def _init_state(self, n_ticks: int, seed: int) -> _State:
        rng = spawn_generator(seed, "diffusion")
        noise = fgn(max(n_ticks - 1, 0), self.values["hurst"], rng)
        return _State(noise=noise)

    def _fill_log_path(self, state: _State, out: F64) -> None:
        n = out.shape[0]
        skip = 1 if state.done == 0 else 0
        first_noise = state.done - 1 + skip  # noise[j] is the increment into tick j + 1
        inc = np.empty(n, dtype=np.float64)
        inc[:skip] = 0.0
        np.multiply(state.noise[first_noise : first_noise + n - skip], self.tick_sd, out=inc[skip:])
        state.x_noise = nb.cumulative_log_path(inc, state.x_noise, out)
        t_years = np.arange(state.done, state.done + n, dtype=np.float64) / EPOCHS_PER_YEAR
        mu, sigma, hurst = self.values["mu"], self.values["sigma"], self.values["hurst"]
        out += mu * t_years - 0.5 * sigma * sigma * t_years ** (2.0 * hurst)
        state.done += n

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["method"] = "davies-harte (exact circulant embedding)"
        info["horizon_note"] = (
            "the path depends on the whole horizon [from, to): the same seed over another "
            "range gives a different path"
        )
        info["fft_precision"] = (
            f"float64 up to {FLOAT64_MAX_HALF} ticks of embedding half-size, float32 above"
        )
        info["tick_sd"] = self.tick_sd
        return info


def expected_log_path(mu: float, sigma: float, hurst: float, n_ticks: int) -> F64:
    """``E[X_i] = mu t_i - sigma^2 t_i^{2H} / 2`` on the grid (for tests and docs)."""
    t = np.arange(n_ticks, dtype=np.float64) / EPOCHS_PER_YEAR
    return mu * t - 0.5 * sigma * sigma * t ** (2.0 * hurst)
