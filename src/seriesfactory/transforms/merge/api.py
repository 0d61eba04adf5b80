"""Several tick sources into one series; two legs into a cross pair.

:func:`interleave` merges the tick sets of several sources on time, day by day
(stable: ties keep source order). :class:`TickMerger` turns that stream into the
combined series and :class:`TickCrosser` into ``BASE/QUOTE`` from the legs
``BASE-X`` and ``QUOTE-X``. Both keep explicit state, so any chunking gives the
same output. Formulas: ``docs/sources.md``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from seriesfactory.errors import InputError
from seriesfactory.lake.ticks import TickSet
from seriesfactory.schema import TickArrays
from seriesfactory.transforms.merge import nb

__all__ = ["MergeParams", "TickCrosser", "TickMerger", "interleave"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
#: (ts, src, bid, ask, vbid, vask, age_ns) columns of an interleaved chunk.
Interleaved = tuple[I64, I64, F64, F64, F64, F64, I64]

#: Time constant of the decayed volume behind ``volume`` and ``mixed`` weights.
VOLUME_TAU_MS = 60_000.0


@dataclass(frozen=True, slots=True, kw_only=True)
class MergeParams:
    """How sources combine: static weights (normalised), weight mode, quote TTL."""

    weights: tuple[float, ...]
    mode: Literal["static", "volume", "mixed"] = "static"
    ttl_ns: int = 100_000_000
    volume_tau_ms: float = VOLUME_TAU_MS

    def __post_init__(self) -> None:
        if not self.weights or any(not math.isfinite(w) or w <= 0 for w in self.weights):
            raise InputError("--weights must be positive numbers, one per source")
        if self.mode not in ("static", "volume", "mixed"):
            raise InputError(f"--weight-mode {self.mode!r} is unknown; use static, volume, mixed")

    def key(self) -> dict[str, Any]:
        total = sum(self.weights)
        return {
            "weights": [w / total for w in self.weights],
            "mode": self.mode,
            "ttl_ns": self.ttl_ns,
            "volume_tau_ms": self.volume_tau_ms,
        }


def _table_arrays(t: pa.Table, src: int) -> Interleaved:
    n = t.num_rows
    age = t.column("age_ns").to_numpy() if "age_ns" in t.column_names else np.zeros(n, np.int64)
    return (
        t.column("ts").cast("int64").to_numpy(),
        np.full(n, src, np.int64),
        t.column("bid").to_numpy(),
        t.column("ask").to_numpy(),
        t.column("vbid").to_numpy(),
        t.column("vask").to_numpy(),
        np.ascontiguousarray(age, np.int64),
    )


def interleave(sets: Sequence[TickSet]) -> Iterator[Interleaved]:
    """The ticks of ``sets`` merged on time, one chunk per UTC day (ties in set order)."""
    by_day: dict[str, list[tuple[int, Any]]] = {}
    for src, ts in enumerate(sets):
        for f in ts.files:
            by_day.setdefault(f.day, []).append((src, f))
    for day in sorted(by_day):
        # every file verified against its seal as it is read (lake/integrity.py)
        parts = [_table_arrays(sets[src].read_file(f), src) for src, f in by_day[day]]
        cols = [np.concatenate([p[k] for p in parts]) for k in range(7)]
        order = np.lexsort((cols[1], cols[0]))  # by ts, then source index (stable)
        yield tuple(c[order] for c in cols)  # type: ignore[misc]


class _Kernel:
    def __init__(self, n_src: int) -> None:
        self._si = np.zeros((3, n_src), np.int64)
        self._sf = np.zeros((3, n_src), np.float64)

    def state(self) -> dict[str, Any]:
        return {"si": self._si.tolist(), "sf": [[x.hex() for x in r] for r in self._sf.tolist()]}

    def restore(self, state: dict[str, Any]) -> None:
        self._si = np.array(state["si"], np.int64)
        self._sf = np.array([[float.fromhex(x) for x in r] for r in state["sf"]], np.float64)

    @staticmethod
    def _out(n: int) -> tuple[I64, F64, F64, F64, F64, I64]:
        f = [np.empty(n, np.float64) for _ in range(4)]
        return np.empty(n, np.int64), f[0], f[1], f[2], f[3], np.empty(n, np.int64)


class TickMerger(_Kernel):
    """Several sources -> one tick series (one output tick per input tick)."""

    def __init__(self, params: MergeParams) -> None:
        super().__init__(len(params.weights))
        self.params = params
        total = sum(params.weights)
        self._w = np.array([w / total for w in params.weights], np.float64)
        self._mode = {"static": nb.WEIGHT_STATIC, "volume": nb.WEIGHT_VOLUME}.get(
            params.mode, nb.WEIGHT_MIXED
        )

    def update(self, chunk: Interleaved) -> tuple[TickArrays, I64]:
        ts, src, bid, ask, vbid, vask, age = chunk
        o = self._out(int(ts.shape[0]))
        m = nb.merge_chunk(
            ts, src, bid, ask, vbid, vask, age, self._w, self._mode,
            self.params.ttl_ns, self.params.volume_tau_ms * 1e6, self._si, self._sf,
            o[0], o[1], o[2], o[3], o[4], o[5],
        )  # fmt: skip
        return TickArrays(o[0][:m], o[1][:m], o[2][:m], o[3][:m], o[4][:m]), o[5][:m]


class TickCrosser(_Kernel):
    """Legs ``BASE-X`` (source 0) and ``QUOTE-X`` (source 1) -> ``BASE/QUOTE`` ticks."""

    def __init__(self) -> None:
        super().__init__(2)

    def update(self, chunk: Interleaved) -> tuple[TickArrays, I64]:
        ts, src, bid, ask, vbid, vask, age = chunk
        if src.shape[0] and int(src.max()) > 1:
            raise ValueError("a cross has exactly two legs (sources 0 and 1)")
        o = self._out(int(ts.shape[0]))
        m = nb.cross_chunk(
            ts, src, bid, ask, vbid, vask, age, self._si, self._sf,
            o[0], o[1], o[2], o[3], o[4], o[5],
        )  # fmt: skip
        return TickArrays(o[0][:m], o[1][:m], o[2][:m], o[3][:m], o[4][:m]), o[5][:m]
