"""Ticks to aggregates: the streaming :class:`Aggregator` and the one-call :func:`aggregate`.

Feed ticks in chunks of any size with :meth:`Aggregator.update`; call
:meth:`Aggregator.finish` once at the end of the range. The output is the same
for any chunking. :meth:`Aggregator.state` / :meth:`Aggregator.from_state` save
and restore the builder mid-stream. Field semantics: ``docs/series.md``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from seriesfactory.core.time import NS_PER_MS
from seriesfactory.errors import DataError, InputError
from seriesfactory.schema import AGGREGATE_FIELDS, aggregate_schema
from seriesfactory.transforms.aggregates import nb

__all__ = ["AggregateArrays", "AggregationParams", "Aggregator", "FilterCounts", "aggregate"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

_ERRORS = {
    nb.ERR_ORDER: "ts goes backwards; ticks must be in time order",
    nb.ERR_PRICE: "bid/ask must be positive finite numbers",
    nb.ERR_CROSSED: "ask is below bid",
    nb.ERR_VOLUME: "vbid/vask must be non-negative finite numbers",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class AggregationParams:
    """What to aggregate and how (validated on creation).

    ``step`` is in milliseconds in time mode (a whole number) and a price ratio
    in tick mode.
    """

    mode: Literal["time", "tick"]
    step: float
    tick_ttl_ms: float = 100.0
    tick_max_deviation: float = 0.001

    def __post_init__(self) -> None:
        if self.mode not in ("time", "tick"):
            raise InputError(f"--agg-mode {self.mode!r} is unknown; use 'time' or 'tick'")
        if not math.isfinite(self.step) or self.step <= 0:
            raise InputError(
                f"--agg-step must be positive, got {self.step:g}; "
                "milliseconds in time mode (e.g. 60000), a price ratio in tick mode (e.g. 0.001)"
            )
        if self.mode == "time" and self.step != int(self.step):
            raise InputError(
                f"--agg-step {self.step:g} must be a whole number of milliseconds in time mode"
            )
        if self.mode == "tick" and self.step >= 1:
            raise InputError(
                f"--agg-step {self.step:g} is a price ratio in tick mode and must be below 1 "
                "(e.g. 0.001 for 0.1%)"
            )
        if not math.isfinite(self.tick_ttl_ms) or self.tick_ttl_ms < 0:
            raise InputError(f"--tick-ttl must be >= 0 ms, got {self.tick_ttl_ms:g}")
        if not math.isfinite(self.tick_max_deviation) or self.tick_max_deviation <= 0:
            raise InputError(
                f"--tick-max-deviation must be a positive ratio, got {self.tick_max_deviation:g}"
            )

    @property
    def step_ns(self) -> int:
        return int(self.step) * NS_PER_MS if self.mode == "time" else 0

    @property
    def ttl_ns(self) -> int:
        return round(self.tick_ttl_ms * NS_PER_MS)

    def key(self) -> dict[str, Any]:
        """Everything that changes the aggregate values (for cache keys and metadata)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class FilterCounts:
    """Ticks seen, and how many each quality filter removed."""

    ticks: int
    deviation: int
    stale: int


@dataclass(frozen=True, slots=True)
class AggregateArrays:
    """Aggregates as numpy arrays: close time, start time, price-tick count, fields."""

    timestamp_ns: I64
    start_ns: I64
    tick_count: I64
    fields: F64  # float64[len(AGGREGATE_FIELDS), rows]

    @property
    def rows(self) -> int:
        return int(self.timestamp_ns.shape[0])

    def column(self, name: str) -> F64:
        return self.fields[AGGREGATE_FIELDS.index(name)]

    @staticmethod
    def concat(parts: list[AggregateArrays]) -> AggregateArrays:
        if not parts:
            return AggregateArrays(
                np.empty(0, np.int64),
                np.empty(0, np.int64),
                np.empty(0, np.int64),
                np.empty((len(AGGREGATE_FIELDS), 0)),
            )
        if len(parts) == 1:
            return parts[0]
        return AggregateArrays(
            np.concatenate([p.timestamp_ns for p in parts]),
            np.concatenate([p.start_ns for p in parts]),
            np.concatenate([p.tick_count for p in parts]),
            np.concatenate([p.fields for p in parts], axis=1),
        )

    def to_arrow(self, fields: tuple[str, ...] = AGGREGATE_FIELDS) -> pa.Table:
        """The ``series`` output table: ``timestamp[ms, UTC]`` plus ``fields``."""
        schema = aggregate_schema(fields)
        ts_ms = pa.array(self.timestamp_ns // NS_PER_MS, type=pa.int64())
        columns: list[pa.Array] = [ts_ms.cast(schema.field("timestamp").type)]
        columns += [pa.array(self.column(f.name)) for f in schema if f.name != "timestamp"]
        return pa.Table.from_arrays(columns, schema=schema)


class Aggregator:
    """Streaming ticks-to-aggregates builder with explicit, saveable state."""

    def __init__(self, params: AggregationParams) -> None:
        self.params = params
        self._si, self._sf = nb.new_state()
        self._finished = False
        self._mode = nb.MODE_TIME if params.mode == "time" else nb.MODE_TICK

    # -- state ---------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """A JSON-able snapshot of the builder, for :meth:`from_state`."""
        return {
            "params": self.params.key(),
            "si": self._si.tolist(),
            "sf": [float(x).hex() for x in self._sf],
            "finished": self._finished,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Aggregator:
        agg = cls(AggregationParams(**state["params"]))
        agg._si = np.array(state["si"], dtype=np.int64)
        agg._sf = np.array([float.fromhex(x) for x in state["sf"]], dtype=np.float64)
        agg._finished = bool(state["finished"])
        return agg

    @property
    def counts(self) -> FilterCounts:
        return FilterCounts(
            ticks=int(self._si[nb.I_SEEN]),
            deviation=int(self._si[nb.I_FILT_DEV]),
            stale=int(self._si[nb.I_FILT_STALE]),
        )

    # -- feeding -------------------------------------------------------------------------------
    def _alloc(self, rows: int) -> tuple[I64, I64, I64, F64]:
        return (
            np.empty(rows, np.int64),
            np.empty(rows, np.int64),
            np.empty(rows, np.int64),
            np.empty((nb.NFIELDS, rows), np.float64),
        )

    def _capacity(self, first_ts: int, last_ts: int, n: int) -> int:
        if self._mode == nb.MODE_TICK:
            return n
        step = self.params.step_ns
        cur = int(self._si[nb.I_BUCKET])
        lo = cur if cur >= 0 else first_ts // step
        return max(int(last_ts // step - lo) + 1, 1)

    def update(
        self,
        ts: I64,
        bid: F64,
        ask: F64,
        vbid: F64,
        vask: F64,
        age_ns: I64 | None = None,
        *,
        source: str | None = None,
        row_offset: int = 0,
    ) -> AggregateArrays:
        """Feed a chunk of ticks; return the aggregates it completed.

        ``source`` and ``row_offset`` only serve error messages (file and row).
        """
        if self._finished:
            raise RuntimeError("this Aggregator is finished; create a new one")
        n = int(ts.shape[0])
        if n == 0:
            return AggregateArrays.concat([])
        age = np.empty(0, np.int64) if age_ns is None else np.ascontiguousarray(age_ns, np.int64)
        cap = self._capacity(int(ts[0]), int(ts[-1]), n)
        out = self._alloc(cap)
        p = self.params
        rows = nb.aggregate_chunk(
            np.ascontiguousarray(ts, np.int64),
            np.ascontiguousarray(bid, np.float64),
            np.ascontiguousarray(ask, np.float64),
            np.ascontiguousarray(vbid, np.float64),
            np.ascontiguousarray(vask, np.float64),
            age,
            self._mode,
            p.step_ns,
            float(p.step) if p.mode == "tick" else 0.0,
            p.ttl_ns,
            p.tick_max_deviation,
            self._si,
            self._sf,
            *out,
        )
        if rows < 0:
            bad = -1 - rows
            why = _ERRORS[int(self._si[nb.I_ERR])]
            raise DataError(f"tick {why}", path=source, line=row_offset + bad + 1)
        return AggregateArrays(out[0][:rows], out[1][:rows], out[2][:rows], out[3][:, :rows])

    def finish(self, end_ns: int) -> AggregateArrays:
        """Close the range ``[.., end_ns)``.

        Time mode emits the open bucket and the empty buckets that start before
        ``end_ns``; tick mode leaves the unfinished brick out (it never closed).
        """
        self._finished = True
        if self._mode == nb.MODE_TICK:
            return AggregateArrays.concat([])
        cur = int(self._si[nb.I_BUCKET])
        if cur < 0:
            return AggregateArrays.concat([])
        cap = max(int((end_ns - 1) // self.params.step_ns - cur) + 1, 1)
        out = self._alloc(cap)
        rows = nb.finish_time(self._si, self._sf, self.params.step_ns, end_ns, *out)
        return AggregateArrays(out[0][:rows], out[1][:rows], out[2][:rows], out[3][:, :rows])


def aggregate(
    ts: I64,
    bid: F64,
    ask: F64,
    vbid: F64,
    vask: F64,
    *,
    params: AggregationParams,
    end_ns: int,
    age_ns: I64 | None = None,
) -> tuple[AggregateArrays, FilterCounts]:
    """Aggregate a whole tick series in one call; returns the aggregates and filter counts."""
    agg = Aggregator(params)
    parts = [agg.update(ts, bid, ask, vbid, vask, age_ns), agg.finish(end_ns)]
    return AggregateArrays.concat(parts), agg.counts
