"""The base of every generative model.

A model declares its name, its parameters with their allowed ranges, and the
random streams it draws from; it implements one method that fills the
cumulative log return of the next ticks. Everything else is shared: the 500 ms
tick grid, parameter validation, seeding, the microstructure (bid, ask and
volumes) and chunking.

A subclass that forgets a declaration or the method is refused when it is
defined, not when it is first used.

Seeding
-------
Every random component draws from its own stream. Stream ``k`` (its index in
:data:`STREAMS`, fixed forever) is ``numpy.random.SeedSequence(seed, spawn_key=(k,))``
fed to a PCG64 generator. A stream is consumed strictly in tick order with a
fixed number of draws per tick, so the output is byte-identical for any chunk
size and any run.
"""

from __future__ import annotations

import datetime as dt
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final

import numpy as np

from seriesfactory.core.lazy import lazy_module
from seriesfactory.errors import SpecError
from seriesfactory.schema.arrays import F64
from seriesfactory.schema.ticks import TickArrays
from seriesfactory.sources.spec import SourceSpec, format_number

if TYPE_CHECKING:
    from seriesfactory.sources.synthetic import nb
else:  # numba loads when ticks are generated, not when a model is named (issue 16)
    nb = lazy_module("seriesfactory.sources.synthetic.nb")

__all__ = [
    "EPOCHS_PER_YEAR",
    "STREAMS",
    "TICK_INTERVAL_NS",
    "Model",
    "Param",
    "spawn_generator",
]

#: One tick every 500 ms.
TICK_INTERVAL_NS: Final = 500_000_000
#: 365.25 days x 24 h x 3600 s / 0.5 s: a 24/7 market.
EPOCHS_PER_YEAR: Final = 63_115_200
#: Random components, in a fixed order: the index of a name is its spawn key.
STREAMS: Final = ("diffusion", "microstructure", "variance", "jump_times", "jump_sizes")

#: Relative half spread of every synthetic quote: bid = mid(1-h), ask = mid(1+h).
HALF_SPREAD: Final = 0.5e-4
#: Mean traded quantity per tick, in base units (exponentially distributed).
QTY_MEAN_BASE: Final = 1.0
#: Prices a model may produce: well inside what float64 carries through the aggregation's
#: sums (volume-weighted mids ~ n * q * mid^2, squared deviations), so no value of an
#: output can overflow to inf, underflow to 0 or become NaN (docs/models.md, "Number range").
PRICE_MIN: Final = 1e-100
PRICE_MAX: Final = 1e100


@dataclass(frozen=True, slots=True, kw_only=True)
class Param:
    """A model parameter and its allowed range (``None`` = unbounded)."""

    name: str
    description: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def range_text(self) -> str:
        if self.low is not None and self.high is not None:
            lo = "(" if self.low_open else "["
            hi = ")" if self.high_open else "]"
            return f"{lo}{format_number(self.low)}, {format_number(self.high)}{hi}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {format_number(self.low)}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {format_number(self.high)}"
        return "any finite number"

    def check(self, model: str, value: float) -> None:
        bad = (
            (self.low is not None and (value < self.low or (self.low_open and value == self.low)))
            or (
                self.high is not None
                and (value > self.high or (self.high_open and value == self.high))
            )
            or not math.isfinite(value)
        )
        if bad:
            raise SpecError(
                f"{model}: {self.name} = {format_number(value)} is out of range; "
                f"allowed: {self.range_text()} ({self.description})"
            )


def spawn_generator(seed: int, stream: str) -> np.random.Generator:
    """The PCG64 generator of component ``stream`` for ``seed``."""
    key = STREAMS.index(stream)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(key,))))


class Model(ABC):
    """Base of every generative model (see the module docstring).

    Subclasses declare ``name``, ``params``, ``streams`` and ``version`` and
    implement :meth:`_init_state` and :meth:`_fill_log_path`.
    """

    name: ClassVar[str]
    params: ClassVar[tuple[Param, ...]]
    #: Random streams the model's price path uses (the microstructure stream is always added).
    streams: ClassVar[tuple[str, ...]]
    #: Bumped whenever the generated numbers change: part of every cache key.
    version: ClassVar[int]
    #: True when the path up to time t depends on the end of the horizon (e.g. exact FBM).
    horizon_dependent: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        missing = [
            attr for attr in ("name", "params", "streams", "version") if not hasattr(cls, attr)
        ]
        for method in ("_init_state", "_fill_log_path"):
            if getattr(getattr(cls, method), "__isabstractmethod__", False):
                missing.append(method)
        if missing:
            raise TypeError(f"model class {cls.__name__} does not define {', '.join(missing)}")
        unknown = [s for s in cls.streams if s not in STREAMS]
        if unknown:
            raise TypeError(f"model class {cls.__name__} names unknown streams {unknown}")
        names = [p.name for p in cls.params]
        if not names or names[-1] != "base":
            raise TypeError(f"model class {cls.__name__}: the last parameter must be 'base'")

    def __init__(self, *values: float) -> None:
        if len(values) != len(self.params):
            raise SpecError(
                f"{self.name} takes {len(self.params)} arguments "
                f"({self.signature()}), got {len(values)}"
            )
        for param, value in zip(self.params, values, strict=True):
            param.check(self.name, float(value))
        self.values: dict[str, float] = {
            p.name: float(v) for p, v in zip(self.params, values, strict=True)
        }
        if not PRICE_MIN <= self.values["base"] <= PRICE_MAX:
            raise SpecError(
                f"{self.name}: base {format_number(self.values['base'])} is outside the prices "
                f"float64 carries safely through the aggregation ({PRICE_MIN:g} to {PRICE_MAX:g})"
            )
        self._check_joint()

    @classmethod
    def signature(cls) -> str:
        return f"{cls.name}({', '.join(p.name for p in cls.params)})"

    @classmethod
    def from_spec(cls, spec: SourceSpec) -> Model:
        if spec.args is None:
            raise SpecError(f"{cls.name} is a model: give its arguments, e.g. {cls.signature()}")
        return cls(*spec.args)

    @property
    def base(self) -> float:
        return self.values["base"]

    def spec(self) -> SourceSpec:
        args = tuple(self.values[p.name] for p in self.params)
        text = f"{self.name}({','.join(format_number(a) for a in args)})"
        return SourceSpec(name=self.name, args=args, text=text)

    def _check_joint(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Checks across parameters; override where needed (raise :class:`SpecError`)."""

    @abstractmethod
    def _init_state(self, n_ticks: int, seed: int) -> Any:
        """Create the path state for a horizon of ``n_ticks`` ticks."""

    @abstractmethod
    def _fill_log_path(self, state: Any, out: F64) -> None:
        """Fill ``out`` with the cumulative log return ``X_i = ln(S_i / base)`` of the next ticks.

        ``X_0 = 0`` for the first tick of the horizon. Called repeatedly, in order,
        with chunks of any size; must give identical numbers for any chunking.
        """

    def tick_count(self, start_ns: int, end_ns: int) -> int:
        """Ticks on the grid ``start_ns + i * 500 ms`` that fall before ``end_ns``."""
        if end_ns <= start_ns:
            return 0
        return -(-(end_ns - start_ns) // TICK_INTERVAL_NS)

    def stream(
        self, *, start_ns: int, end_ns: int, seed: int, chunk_ticks: int = 1 << 20
    ) -> Iterator[TickArrays]:
        """Generate the ticks of ``[start_ns, end_ns)`` in chunks of at most ``chunk_ticks``.

        The first tick is at ``start_ns`` with mid exactly ``base``. Microstructure
        (see ``docs/models.md``): bid = mid(1-h), ask = mid(1+h) with h = 0.5 bp;
        each tick is one market order of ``q ~ Exp(mean 1 base unit)`` drawn from the
        microstructure stream, a taker buy (``vask = q * mid``) when the log price
        did not fall since the previous tick, a taker sell (``vbid``) when it fell.
        """
        if chunk_ticks < 1:
            raise ValueError("chunk_ticks must be positive")
        n_total = self.tick_count(start_ns, end_ns)
        state = self._init_state(n_total, seed)
        micro = spawn_generator(seed, "microstructure")

        def produce(n: int) -> tuple[F64, F64]:
            x = np.empty(n, dtype=np.float64)
            self._fill_log_path(state, x)
            return x, micro.random(n)

        # A two-stage pipeline: one worker thread draws chunk k+1's path and uniforms
        # while this thread turns chunk k into quotes and the consumer uses it (numpy's
        # draws and the kernels release the GIL). Each stream is still consumed by one
        # thread, in tick order, so the numbers are the same as without the thread.
        prev_x = 0.0
        done = 0
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="seriesfactory-model") as pool:
            pending = pool.submit(produce, min(chunk_ticks, n_total)) if n_total else None
            while pending is not None:
                x, u = pending.result()
                n = x.shape[0]
                following = min(chunk_ticks, n_total - done - n)
                pending = pool.submit(produce, following) if following > 0 else None
                ts = start_ns + (np.arange(done, done + n, dtype=np.int64) * TICK_INTERVAL_NS)
                bid, ask, vbid, vask = nb.quotes_from_log_path(
                    x, u, prev_x, self.base, HALF_SPREAD, QTY_MEAN_BASE
                )
                self._check_range(ts, bid, ask, vbid, vask)
                prev_x = float(x[-1])
                done += n
                yield TickArrays(ts, bid, ask, vbid, vask)

    def _check_range(self, ts: Any, bid: F64, ask: F64, vbid: F64, vask: F64) -> None:
        """Stop when the path leaves :data:`PRICE_MIN` .. :data:`PRICE_MAX` (or is not a number):
        the parameters cannot be carried by float64 over the requested range."""
        ok = np.isfinite(bid) & np.isfinite(ask) & np.isfinite(vbid) & np.isfinite(vask)
        ok &= (bid >= PRICE_MIN) & (ask <= PRICE_MAX)
        if ok.all():
            return
        bad = int(np.argmin(ok))
        when = dt.datetime.fromtimestamp(int(ts[bad]) / 1e9, dt.UTC).strftime("%Y-%m-%d %H:%M")
        raise SpecError(
            f"{self.spec().text}: the price leaves what float64 carries safely "
            f"({PRICE_MIN:g} to {PRICE_MAX:g}) at {when} UTC "
            f"(mid {float(bid[bad] + ask[bad]) / 2:g}); "
            "give smaller drift/volatility/jump parameters or a shorter range"
        )

    def log_path(self, n_ticks: int, seed: int, *, chunk_ticks: int = 1 << 20) -> F64:
        """The cumulative log return ``ln(S_i / base)`` of ticks ``0 .. n_ticks - 1``.

        Exactly the mids :meth:`stream` produces (before the microstructure) for a
        horizon of ``n_ticks`` ticks with ``seed``.
        """
        state = self._init_state(n_ticks, seed)
        out = np.empty(n_ticks, dtype=np.float64)
        for lo in range(0, n_ticks, chunk_ticks):
            self._fill_log_path(state, out[lo : min(lo + chunk_ticks, n_ticks)])
        return out

    def describe(self) -> dict[str, Any]:
        """Metadata that identifies the generated path (goes into file metadata)."""
        return {
            "model": self.name,
            "spec": self.spec().canonical(),
            "params": dict(self.values),
            "version": self.version,
            "horizon_dependent": self.horizon_dependent,
            "tick_interval_ns": TICK_INTERVAL_NS,
            "epochs_per_year": EPOCHS_PER_YEAR,
        }
