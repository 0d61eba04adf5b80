"""Labels for supervised learning on a feature grid: fixed horizon and triple barrier.

Formulas, units and edge cases are in ``docs/ml.md``. Every label of row ``i`` uses
prices from row ``i`` on (it is the target, it looks ahead on purpose); the trailing
volatility that scales the thresholds uses returns up to row ``i`` only.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from seriesfactory.errors import InputError
from seriesfactory.ml.nb import NO_HORIZON, NO_PRICE, trailing_vol_kernel, triple_barrier_kernel

__all__ = [
    "LABEL_KINDS",
    "NO_HORIZON",
    "NO_PRICE",
    "LabelSpec",
    "Labels",
    "make_labels",
    "trailing_vol",
]

LABEL_KINDS = ("fixed-horizon", "triple-barrier")
LabelKind = Literal["fixed-horizon", "triple-barrier"]
ThresholdUnits = Literal["vol", "return"]


@dataclass(frozen=True)
class LabelSpec:
    """How rows are labelled.

    ``threshold`` is ``k``: in ``"vol"`` units the dead band (fixed horizon) or the
    barrier distance (triple barrier) is ``k·σ_i·√horizon`` with ``σ_i`` the trailing
    std of one-row log returns over ``vol_window`` rows; in ``"return"`` units it is
    ``k`` itself (a log return for fixed horizon, a simple return for the barriers).
    """

    kind: LabelKind = "fixed-horizon"
    horizon: int = 30
    threshold: float = 0.0
    threshold_units: ThresholdUnits = "vol"
    vol_window: int = 100

    def __post_init__(self) -> None:
        if self.kind not in LABEL_KINDS:
            raise InputError(f"--label {self.kind!r} is unknown; use {' or '.join(LABEL_KINDS)}")
        if self.horizon < 1:
            raise InputError(f"--horizon must be at least 1 row, got {self.horizon}")
        if not math.isfinite(self.threshold) or self.threshold < 0:
            raise InputError(f"--threshold must be a finite number >= 0, got {self.threshold}")
        if self.threshold_units not in ("vol", "return"):
            raise InputError(
                f"--threshold-units {self.threshold_units!r} is unknown; use vol or return"
            )
        if self.vol_window < 2:
            raise InputError(f"--vol-window must be at least 2 rows, got {self.vol_window}")

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain JSON values."""
        return asdict(self)


@dataclass(frozen=True)
class Labels:
    """Per-row label arrays on the input grid (length = rows of the input).

    ``end[i]`` is the row at which row ``i``'s label is known (its ``t1``), or
    :data:`NO_HORIZON` / :data:`NO_PRICE` when the row has no label.
    """

    label: np.ndarray  # int8: -1, 0, +1
    end: np.ndarray  # int64
    forward_return: np.ndarray  # float64: log(p[end] / p[i])
    sigma: np.ndarray  # float64: trailing std of one-row log returns
    width: np.ndarray  # float64: the dead band or barrier distance of the row


def trailing_vol(price: np.ndarray, window: int) -> np.ndarray:
    """σ_i: sample std (ddof 1) of the ``window`` one-row log returns ending at row ``i``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = np.log(np.asarray(price, dtype=np.float64))
    logp[~np.isfinite(logp)] = np.nan
    return np.asarray(trailing_vol_kernel(logp, int(window)))


def make_labels(price: np.ndarray, spec: LabelSpec) -> Labels:
    """Label every row of ``price`` (a float64 array on a row grid) by ``spec``."""
    p = np.asarray(price, dtype=np.float64).copy()
    p[~(p > 0)] = np.nan  # a non-positive or NaN price has no log: no label from or through it
    n = p.shape[0]
    sigma = trailing_vol(p, spec.vol_window)
    if spec.threshold_units == "vol":
        width = spec.threshold * sigma * math.sqrt(spec.horizon)
    else:
        width = np.full(n, spec.threshold)
    logp = np.log(p)
    h = spec.horizon
    if spec.kind == "fixed-horizon":
        end = np.full(n, NO_HORIZON, np.int64)
        fwd = np.full(n, np.nan)
        if n > h:
            fwd[: n - h] = logp[h:] - logp[: n - h]
            end[: n - h] = np.arange(h, n)
        bad = (end >= 0) & (np.isnan(fwd) | np.isnan(width))
        end[bad] = NO_PRICE
        label = np.zeros(n, np.int8)
        with np.errstate(invalid="ignore"):
            label[fwd > width] = 1
            label[fwd < -width] = -1
        label[end < 0] = 0
        return Labels(label, end, fwd, sigma, width)
    label, end = triple_barrier_kernel(p, np.asarray(width, dtype=np.float64), h)
    end = np.asarray(end, dtype=np.int64)
    label = np.asarray(label, dtype=np.int8)
    fwd = np.full(n, np.nan)
    ok = end >= 0
    fwd[ok] = logp[end[ok]] - logp[ok]
    # A path whose end price is NaN (only possible at the vertical barrier) has no return.
    gone = ok & np.isnan(fwd)
    end[gone] = NO_PRICE
    label[gone] = 0
    return Labels(label, end, fwd, sigma, width)
