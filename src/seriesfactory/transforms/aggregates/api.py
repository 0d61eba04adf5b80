"""Ticks to aggregates: the streaming :class:`Aggregator` and the one-call :func:`aggregate`.

Feed ticks in chunks of any size with :meth:`Aggregator.update`; call
:meth:`Aggregator.finish` once at the end of the range. The output is the same
for any chunking. :meth:`Aggregator.state` / :meth:`Aggregator.from_state` save
and restore the builder mid-stream. Field semantics: ``docs/series.md``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from seriesfactory.core.lazy import lazy_module
from seriesfactory.core.time import NS_PER_MS
from seriesfactory.errors import DataError, InputError
from seriesfactory.schema.aggregates import BLOCK_ROWS, AggregateArrays, FilterCounts
from seriesfactory.schema.arrays import F64, I64
from seriesfactory.transforms.aggregates import layout

if TYPE_CHECKING:
    from seriesfactory.transforms.aggregates import nb
else:  # the kernels (and numba) load on the first chunk: reading can start before (issue 16)
    nb = lazy_module("seriesfactory.transforms.aggregates.nb")

__all__ = [
    "BLOCK_ROWS",
    "AggregateArrays",
    "AggregateSummary",
    "AggregationParams",
    "Aggregator",
    "FilterCounts",
    "aggregate",
]

_I64_MAX = (1 << 63) - 1


_ERRORS = {
    layout.ERR_ORDER: "ts goes backwards; ticks must be in time order",
    layout.ERR_PRICE: "bid/ask must be positive finite numbers",
    layout.ERR_CROSSED: "ask is below bid",
    layout.ERR_VOLUME: "vbid/vask must be non-negative finite numbers",
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
                f"--agg-step must be a positive finite number, got {self.step:g}; "
                "milliseconds in time mode (e.g. 60000), a price ratio in tick mode (e.g. 0.001)"
            )
        if self.mode == "time" and self.step != int(self.step):
            raise InputError(
                f"--agg-step {self.step:g} must be a whole number of milliseconds in time mode"
            )
        if self.mode == "time" and self.step * NS_PER_MS >= 2**62:
            raise InputError(
                f"--agg-step {self.step:g} ms is longer than the engine can count in nanoseconds"
            )
        if self.mode == "tick" and self.step >= 1:
            raise InputError(
                f"--agg-step {self.step:g} is a price ratio in tick mode and must be below 1 "
                "(e.g. 0.001 for 0.1%)"
            )
        if not math.isfinite(self.tick_ttl_ms) or self.tick_ttl_ms < 0:
            raise InputError(
                f"--tick-ttl must be a finite number of ms >= 0, got {self.tick_ttl_ms:g}"
            )
        if not math.isfinite(self.tick_max_deviation) or self.tick_max_deviation <= 0:
            raise InputError(
                "--tick-max-deviation must be a positive finite ratio, got "
                f"{self.tick_max_deviation:g}"
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


@dataclass(slots=True)
class AggregateSummary:
    """What the preview shows, gathered over blocks: first and last rows, means, volume."""

    keep: int = 10
    rows: int = 0
    sum_mid: float = 0.0
    sum_spread: float = 0.0
    volume: float = 0.0
    head: list[AggregateArrays] = field(default_factory=list)
    tail: AggregateArrays | None = None

    def add(self, block: AggregateArrays) -> None:
        n = block.rows
        if n == 0:
            return
        have = sum(h.rows for h in self.head)
        if have < self.keep:
            self.head.append(block.slice(0, self.keep - have))
        both = AggregateArrays.concat([self.tail, block] if self.tail is not None else [block])
        self.tail = both.slice(max(both.rows - self.keep, 0), both.rows)
        self.rows += n
        self.sum_mid += float(block.column("mid").sum())
        self.sum_spread += float(block.column("spread").sum())
        self.volume += float(block.column("vbid").sum() + block.column("vask").sum())

    def edge_rows(self) -> AggregateArrays:
        """The first rows then the last ones, without repeats (every row when there are few)."""
        head = AggregateArrays.concat(self.head)
        if self.tail is None:
            return head
        need = self.rows - head.rows if self.rows <= 2 * self.keep else self.tail.rows
        return AggregateArrays.concat(
            [head, self.tail.slice(self.tail.rows - need, self.tail.rows)]
        )


class Aggregator:
    """Streaming ticks-to-aggregates builder with explicit, saveable state."""

    def __init__(self, params: AggregationParams) -> None:
        self.params = params
        self._si, self._sf = layout.new_state()
        self._finished = False
        self._mode = layout.MODE_TIME if params.mode == "time" else layout.MODE_TICK

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
            ticks=int(self._si[layout.I_SEEN]),
            deviation=int(self._si[layout.I_FILT_DEV]),
            stale=int(self._si[layout.I_FILT_STALE]),
        )

    # -- feeding -------------------------------------------------------------------------------
    def _alloc(self, rows: int) -> tuple[I64, I64, I64, F64]:
        return (
            np.empty(rows, np.int64),
            np.empty(rows, np.int64),
            np.empty(rows, np.int64),
            np.empty((layout.NFIELDS, rows), np.float64),
        )

    def _capacity(self, first_ts: int, last_ts: int, n: int) -> int:
        if self._mode == layout.MODE_TICK:
            return n
        step = self.params.step_ns
        cur = int(self._si[layout.I_BUCKET])
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
            why = _ERRORS[int(self._si[layout.I_ERR])]
            raise DataError(f"tick {why}", path=source, line=row_offset + bad + 1)
        return AggregateArrays(out[0][:rows], out[1][:rows], out[2][:rows], out[3][:, :rows])

    def _advance(self, upto: int, max_rows: int) -> AggregateArrays:
        out = self._alloc(max_rows)
        rows = nb.advance_time(self._si, self._sf, self.params.step_ns, upto, max_rows, *out)
        return AggregateArrays(out[0][:rows], out[1][:rows], out[2][:rows], out[3][:, :rows])

    def update_blocks(
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
        max_rows: int = BLOCK_ROWS,
    ) -> Iterator[AggregateArrays]:
        """Like :meth:`update`, yielding the completed aggregates in blocks of at most
        ``max_rows`` rows (the same rows, in order), so memory does not grow with the number
        of buckets a chunk spans (a 1 ms step, a long gap between two ticks)."""
        n = int(ts.shape[0])
        step = self.params.step_ns
        pos = 0
        while pos < n:
            hi = n
            if self._mode == layout.MODE_TICK:
                hi = min(n, pos + max_rows)
            else:
                cur = int(self._si[layout.I_BUCKET])
                k0 = int(ts[pos]) // step
                if cur >= 0 and self._si[layout.I_STARTED] == 1 and k0 - cur >= max_rows:
                    yield self._advance(k0, max_rows)  # a long run of empty buckets
                    continue
                limit = ((cur if cur >= 0 else k0) + max_rows) * step
                if limit <= _I64_MAX:
                    hi = max(int(np.searchsorted(ts, limit, "left")), pos + 1)
            age = None if age_ns is None else age_ns[pos:hi]
            block = self.update(
                ts[pos:hi], bid[pos:hi], ask[pos:hi], vbid[pos:hi], vask[pos:hi], age,
                source=source, row_offset=row_offset + pos,
            )  # fmt: skip
            if block.rows:
                yield block
            pos = hi

    def finish_blocks(
        self, end_ns: int, *, max_rows: int = BLOCK_ROWS
    ) -> Iterator[AggregateArrays]:
        """Like :meth:`finish`, in blocks of at most ``max_rows`` rows."""
        if self._mode == layout.MODE_TIME and self._si[layout.I_STARTED] == 1:
            upto = (end_ns - 1) // self.params.step_ns + 1
            while (
                int(self._si[layout.I_BUCKET]) >= 0
                and int(self._si[layout.I_BUCKET]) + max_rows < upto
            ):
                yield self._advance(upto, max_rows)
        last = self.finish(end_ns)
        if last.rows:
            yield last

    def finish(self, end_ns: int) -> AggregateArrays:
        """Close the range ``[.., end_ns)``.

        Time mode emits the open bucket and the empty buckets that start before
        ``end_ns``; tick mode leaves the unfinished brick out (it never closed).
        """
        self._finished = True
        if self._mode == layout.MODE_TICK:
            return AggregateArrays.concat([])
        cur = int(self._si[layout.I_BUCKET])
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
