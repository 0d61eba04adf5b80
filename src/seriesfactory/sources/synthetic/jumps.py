"""Compound Poisson jumps shared by the jump-diffusion models (``njdm``, ``dejdm``).

Jump times
----------
Arrivals form a Poisson process of rate ``lambda / 63,115,200`` per tick
interval. Inter-arrival times ``E_j / rate`` (``E_j ~ Exp(1)``) are drawn from the
``jump_times`` stream in blocks of :data:`BLOCK`, whatever the chunk size, and
summed into continuous arrival times ``tau_j`` measured in tick intervals from the
first tick. A jump at ``tau`` moves the log price of tick ``ceil(tau)`` and of
every later tick (the first tick, at 0, is the start price; ``tau > 0``).

Jump sizes
----------
Drawn from the ``jump_sizes`` stream in the same blocks, by the model's size
distribution, one size per arrival. Sizes are added to the log price.

The resulting :class:`JumpLog` (tick, continuous time, size) is the exact list
of jumps in the generated path: ``Model.jump_log`` exposes it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, NamedTuple

import numpy as np

from seriesfactory.core.lazy import lazy_module
from seriesfactory.errors import SpecError
from seriesfactory.schema.arrays import F64, I64
from seriesfactory.sources.synthetic.base import EPOCHS_PER_YEAR, spawn_generator

if TYPE_CHECKING:
    from seriesfactory.sources.synthetic import nb
else:  # numba loads when ticks are generated, not when a model is named (issue 16)
    nb = lazy_module("seriesfactory.sources.synthetic.nb")

__all__ = [
    "BLOCK",
    "JumpDiffusion",
    "JumpDiffusionState",
    "JumpLog",
    "JumpSchedule",
    "compensated_log_drift",
    "fill_jump_diffusion",
    "jump_log",
    "new_state",
]

#: Arrivals drawn per block (fixed: the numbers never depend on the chunk size).
BLOCK = 4096

SizeSampler = Callable[[np.random.Generator, int], F64]


class JumpLog(NamedTuple):
    """Every jump of a path, in arrival order.

    ``tick`` is the index of the first tick that includes the jump
    (``ceil(time_ticks)``), ``time_ticks`` the arrival time in tick intervals
    since the first tick, ``size`` the jump of the log price.
    """

    tick: I64
    time_ticks: F64
    size: F64


class JumpSchedule:
    """The jump arrivals and sizes of one path, produced in tick order.

    Parameters
    ----------
    lam_per_year : float
        Expected jumps per year (``lambda >= 0``).
    seed : int
        The model seed; the ``jump_times`` and ``jump_sizes`` streams are spawned from it.
    sample_sizes : callable
        ``sample_sizes(rng, n)`` returns ``n`` jump sizes (log-price units).
    """

    def __init__(self, lam_per_year: float, seed: int, sample_sizes: SizeSampler) -> None:
        self._rate = lam_per_year / EPOCHS_PER_YEAR
        self._times_rng = spawn_generator(seed, "jump_times")
        self._sizes_rng = spawn_generator(seed, "jump_sizes")
        self._sample_sizes = sample_sizes
        self._last_time = 0.0
        self._times: F64 = np.empty(0)
        self._sizes: F64 = np.empty(0)

    def _refill(self, limit: float) -> None:
        """Draw whole blocks until the last drawn arrival is beyond ``limit``."""
        times_parts, sizes_parts = [self._times], [self._sizes]
        while self._last_time <= limit:
            gaps = self._times_rng.standard_exponential(BLOCK) / self._rate
            times = np.cumsum(gaps)
            times += self._last_time
            self._last_time = float(times[-1])
            times_parts.append(times)
            sizes_parts.append(self._sample_sizes(self._sizes_rng, BLOCK))
        self._times = np.concatenate(times_parts)
        self._sizes = np.concatenate(sizes_parts)

    def take(self, end_tick: int) -> JumpLog:
        """Remove and return the jumps that land on ticks ``< end_tick``.

        A jump lands on tick ``ceil(tau)``, so these are the jumps with
        ``tau <= end_tick - 1``.
        """
        if self._rate <= 0.0:
            return JumpLog(np.empty(0, np.int64), np.empty(0), np.empty(0))
        limit = float(end_tick - 1)
        if self._last_time <= limit:
            self._refill(limit)
        count = int(np.searchsorted(self._times, limit, side="right"))
        times, self._times = self._times[:count], self._times[count:]
        sizes, self._sizes = self._sizes[:count], self._sizes[count:]
        ticks = np.ceil(times).astype(np.int64)
        return JumpLog(ticks, times, sizes)


@dataclass(slots=True)
class JumpDiffusionState:
    """Where a jump-diffusion path stands between chunks."""

    diffusion: np.random.Generator
    jumps: JumpSchedule
    x: float = 0.0
    done: int = 0


def new_state(lam_per_year: float, seed: int, sample_sizes: SizeSampler) -> JumpDiffusionState:
    """The state at the first tick of a horizon."""
    return JumpDiffusionState(
        diffusion=spawn_generator(seed, "diffusion"),
        jumps=JumpSchedule(lam_per_year, seed, sample_sizes),
    )


def fill_jump_diffusion(
    state: JumpDiffusionState, out: F64, *, log_drift: float, sigma: float
) -> None:
    """Fill ``out`` with the next ticks' cumulative log return of a jump diffusion.

    ``X_i = X_{i-1} + log_drift * dt + sigma * sqrt(dt) * Z_i + sum of jumps on tick i``
    with ``dt = 1 / 63,115,200`` year and ``X_0 = 0``; ``log_drift`` is yearly and
    already carries the Itô term and the jump compensator.
    """
    dt = 1.0 / EPOCHS_PER_YEAR
    n = out.shape[0]
    skip = 1 if state.done == 0 else 0
    z = state.diffusion.standard_normal(n - skip)
    log = state.jumps.take(state.done + n)
    state.x = nb.diffusion_path(
        z,
        skip,
        sigma * math.sqrt(dt),
        log_drift * dt,
        state.x,
        log.tick - state.done,
        log.size,
        out,
    )
    state.done += n


def jump_log(lam_per_year: float, seed: int, sample_sizes: SizeSampler, n_ticks: int) -> JumpLog:
    """All jumps on ticks ``0 .. n_ticks - 1`` of the path for ``seed``."""
    return JumpSchedule(lam_per_year, seed, sample_sizes).take(n_ticks)


def compensated_log_drift(mu: float, sigma: float, lam: float, compensator: float) -> float:
    """Yearly log drift ``mu - sigma^2 / 2 - lambda k`` with ``k = E[e^Y] - 1``.

    There is no jump term when ``lambda = 0`` (even if ``k`` overflows).
    """
    jump_term = lam * compensator if lam > 0.0 else 0.0
    return mu - 0.5 * sigma * sigma - jump_term


class JumpDiffusion(ABC):
    """The part every jump-diffusion model shares; mix in before :class:`Model`.

    ``class NJDM(jumps.JumpDiffusion, Model)``: the model declares ``name``,
    ``params`` (which include ``mu``, ``sigma`` and ``lambda``) and ``version``,
    and implements :meth:`compensator` and :meth:`_sizes`; this class supplies
    the streams, the drift, the joint check, the path and :meth:`jump_log`.
    """

    name: ClassVar[str]
    streams: ClassVar[tuple[str, ...]] = ("diffusion", "jump_times", "jump_sizes")
    values: dict[str, float]

    @abstractmethod
    def compensator(self) -> float:
        """``k = E[e^Y] - 1`` for the model's jump size ``Y`` (``inf`` on overflow)."""

    @abstractmethod
    def _sizes(self, rng: np.random.Generator, n: int) -> F64:
        """``n`` jump sizes (log-price units) drawn from ``rng``."""

    def _check_joint(self) -> None:
        """Refuse jump parameters whose ``E[e^Y]`` overflows (the drift would not be finite)."""
        lam = self.values["lambda"]
        compensator = self.compensator()
        drift = lam * compensator
        if lam > 0.0 and not math.isfinite(drift):
            raise SpecError(
                f"{self.name}: the jump parameters give E[e^Y] - 1 = {compensator!r} "
                f"(lambda * k = {drift!r}); choose smaller jump sizes so that it is finite"
            )

    def log_drift(self) -> float:
        """Yearly drift of the log price: ``mu - sigma^2/2 - lambda k``."""
        p = self.values
        return compensated_log_drift(p["mu"], p["sigma"], p["lambda"], self.compensator())

    def _init_state(self, n_ticks: int, seed: int) -> JumpDiffusionState:
        return new_state(self.values["lambda"], seed, self._sizes)

    def _fill_log_path(self, state: JumpDiffusionState, out: F64) -> None:
        fill_jump_diffusion(state, out, log_drift=self.log_drift(), sigma=self.values["sigma"])

    def jump_log(self, n_ticks: int, seed: int) -> JumpLog:
        """Every jump on ticks ``0 .. n_ticks - 1`` of the path for ``seed``."""
        return jump_log(self.values["lambda"], seed, self._sizes, n_ticks)
