"""What bar to build: :class:`BarSpec`, validated once on creation.

Families (``docs/bars.md``): standard (``time``, ``tick``, ``volume``, ``dollar``),
imbalance (``tib``, ``vib``, ``dib``) and run (``trb``, ``vrb``, ``drb``) bars.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal, get_args

import numpy as np
import numpy.typing as npt

from seriesfactory.core.time import parse_duration_ns
from seriesfactory.errors import InputError
from seriesfactory.transforms.bars import nb

__all__ = ["BAR_TYPES", "BarSpec", "BarType", "SignMode", "parse_interval_ns"]

BarType = Literal["time", "tick", "volume", "dollar", "tib", "vib", "dib", "trb", "vrb", "drb"]
SignMode = Literal["auto", "tick-rule"]
BAR_TYPES: Final[tuple[str, ...]] = get_args(BarType)
STANDARD: Final = ("tick", "volume", "dollar")
SAMPLED: Final = ("tib", "vib", "dib", "trb", "vrb", "drb")


def parse_interval_ns(text: str) -> int:
    """A time bar's ``interval`` (``'500ms'``, ``'1s'``, ``'5m'``, ``'1h'``, ``'1d'``) -> ns > 0."""
    return parse_duration_ns(text, option="--interval")


@dataclass(frozen=True, slots=True, kw_only=True)
class BarSpec:
    """A bar type and its parameters.

    Parameters
    ----------
    type:
        One of :data:`BAR_TYPES`.
    threshold:
        Standard bars only: trades (``tick``), base units (``volume``) or quote
        units (``dollar``) per bar; a bar closes at the trade whose running total
        reaches it (``>=``).
    interval:
        Time bars only, e.g. ``'5m'``; intervals are aligned to the Unix epoch.
    expected_ticks:
        Imbalance/run bars: E0[T], the initial expected bar length in trades and
        the length of the warm-up that seeds the expected imbalance.
    ewma_window:
        Imbalance/run bars: span N of the EWMAs over past bars, weight
        ``alpha = 2 / (N + 1)`` (3, 5, 15, 30 and 60 are common choices).
    min_ticks, max_ticks:
        Imbalance/run bars: bounds of E[T] (default ``expected_ticks / 4`` and
        ``expected_ticks * 4``), which stop the feedback collapse/explosion.
    sign:
        ``'auto'``: the venue's aggressor side where known, the tick rule
        elsewhere; ``'tick-rule'``: the tick rule for every trade.
    """

    type: BarType
    threshold: float | None = None
    interval: str | None = None
    expected_ticks: int = 100
    ewma_window: int = 15
    min_ticks: float | None = None
    max_ticks: float | None = None
    sign: SignMode = "auto"

    def __post_init__(self) -> None:
        if self.type not in BAR_TYPES:
            raise InputError(
                f"bar type {self.type!r} is unknown; use one of {', '.join(BAR_TYPES)}"
            )
        if self.sign not in ("auto", "tick-rule"):
            raise InputError(f"--sign {self.sign!r} is unknown; use auto or tick-rule")
        if self.type == "time":
            if self.interval is None:
                raise InputError("time bars need --interval, e.g. --interval 5m")
            parse_interval_ns(self.interval)
        elif self.interval is not None:
            raise InputError(f"--interval applies to time bars only, not {self.type}")
        if self.type in STANDARD:
            if self.threshold is None:
                raise InputError(f"{self.type} bars need --threshold, e.g. --threshold 1000")
            if not math.isfinite(self.threshold) or self.threshold <= 0:
                raise InputError(
                    f"--threshold must be a positive number for {self.type} bars, "
                    f"got {self.threshold:g}"
                )
            if self.type == "tick" and self.threshold != int(self.threshold):
                raise InputError(f"--threshold {self.threshold:g} must be a whole number of trades")
        elif self.threshold is not None:
            hint = (
                "; imbalance and run bars set their own threshold: use --expected-ticks"
                if self.type in SAMPLED
                else "; use --interval"
            )
            raise InputError(f"--threshold does not apply to {self.type} bars{hint}")
        if self.type in SAMPLED:
            self._check_sampled()

    def _check_sampled(self) -> None:
        if self.expected_ticks < 1:
            raise InputError(f"--expected-ticks must be at least 1, got {self.expected_ticks}")
        if self.ewma_window < 1:
            raise InputError(f"--ewma-window must be at least 1 bar, got {self.ewma_window}")
        lo, hi = self.ticks_bounds
        if not (math.isfinite(lo) and lo >= 1):
            raise InputError(f"--min-ticks must be a finite number >= 1, got {lo:g}")
        if not hi >= lo:
            raise InputError(f"--max-ticks ({hi:g}) must be >= --min-ticks ({lo:g})")

    @property
    def family(self) -> Literal["standard", "imbalance", "run"]:
        if self.type in ("tib", "vib", "dib"):
            return "imbalance"
        if self.type in ("trb", "vrb", "drb"):
            return "run"
        return "standard"

    @property
    def kind(self) -> int:
        """The kernel's ``K_*`` constant."""
        return BAR_TYPES.index(self.type)

    @property
    def ticks_bounds(self) -> tuple[float, float]:
        """``(min, max)`` of E[T] in trades."""
        lo = self.min_ticks if self.min_ticks is not None else max(1.0, self.expected_ticks / 4)
        hi = self.max_ticks if self.max_ticks is not None else self.expected_ticks * 4.0
        return float(lo), float(hi)

    def params(self) -> npt.NDArray[np.float64]:
        """The kernel's parameter vector (``nb.P_*``)."""
        pf = np.zeros(nb.NP, dtype=np.float64)
        if self.threshold is not None:
            pf[nb.P_THRESHOLD] = self.threshold
        if self.interval is not None:
            pf[nb.P_INTERVAL_NS] = parse_interval_ns(self.interval)
        pf[nb.P_E0_TICKS] = self.expected_ticks
        pf[nb.P_ALPHA] = 2.0 / (self.ewma_window + 1)
        lo, hi = self.ticks_bounds
        pf[nb.P_MIN_TICKS] = lo
        pf[nb.P_MAX_TICKS] = hi
        pf[nb.P_SIGN] = nb.SIGN_AUTO if self.sign == "auto" else nb.SIGN_TICK_RULE
        return pf

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
