"""Trades to bars: the streaming :class:`BarBuilder` (the only caller of ``nb.py``).

Feed trades in chunks of any size with :meth:`BarBuilder.update`; the bars are the
same for any chunking. :meth:`BarBuilder.state` returns a JSON-able dict and
:meth:`BarBuilder.from_state` continues from it exactly, mid-bar included.
:meth:`BarBuilder.partial` returns the unfinished bar, flagged. Semantics of every
column: ``docs/bars.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from seriesfactory.errors import DataError, InputError
from seriesfactory.schema import TS_TYPE
from seriesfactory.schema.arrays import F64, I8, I64
from seriesfactory.transforms.bars import nb
from seriesfactory.transforms.bars.spec import BarSpec

__all__ = ["BAR_COLUMNS", "BarArrays", "BarBuilder", "bar_schema", "check_trades"]


STATE_VERSION = 1

#: Columns of every bar, in output order (``threshold`` only for imbalance/run bars).
BAR_COLUMNS = (
    "time_start",
    "time_end",
    "time_span",
    "open",
    "high",
    "low",
    "close",
    "vwap",
    "volume",
    "dollar_volume",
    "buy_volume",
    "tick_count",
    "threshold",
)


def bar_schema(spec: BarSpec, *, with_partial: bool = False) -> pa.Schema:
    """Arrow schema of ``spec``'s bars (``is_partial`` when partial bars are asked for)."""
    fields = [pa.field("time_start", TS_TYPE, nullable=False), pa.field("time_end", TS_TYPE)]
    fields += [pa.field(name, pa.float64()) for name in BAR_COLUMNS[2:11]]
    fields.append(pa.field("tick_count", pa.int64()))
    if spec.family != "standard":
        fields.append(pa.field("threshold", pa.float64()))
    if with_partial:
        fields.append(pa.field("is_partial", pa.bool_()))
    return pa.schema(fields)


def check_trades(
    ts: I64, price: F64, qty: F64, side: I8, prev_ts: int | None
) -> tuple[int, str] | None:
    """The first bad row as ``(0-based index, message)``, or ``None`` when all are valid.

    Rules: price positive and finite; qty finite and ``>= 0``; side in {-1, 0, +1};
    ts never below the previous trade's (``prev_ts`` carries it across chunks).
    """
    n = ts.shape[0]
    if not (price.shape[0] == qty.shape[0] == side.shape[0] == n):
        raise InputError(
            f"ts, price, qty and side must have the same length, got {n}, "
            f"{price.shape[0]}, {qty.shape[0]}, {side.shape[0]}"
        )
    if n == 0:
        return None
    bad: list[tuple[int, str]] = []
    mask = ~(np.isfinite(price) & (price > 0))
    if mask.any():
        i = int(np.argmax(mask))
        bad.append((i, f"price {float(price[i])!r} is not a positive finite number"))
    mask = ~(np.isfinite(qty) & (qty >= 0))
    if mask.any():
        i = int(np.argmax(mask))
        bad.append((i, f"size {float(qty[i])!r} is not a finite number >= 0; fix or drop the row"))
    mask = (side < -1) | (side > 1)
    if mask.any():
        i = int(np.argmax(mask))
        bad.append((i, f"side {int(side[i])} is not +1 (buy), -1 (sell) or 0 (unknown)"))
    if prev_ts is not None and ts[0] < prev_ts:
        bad.append((0, f"time goes backwards ({int(ts[0])} ns after {prev_ts} ns); sort by time"))
    back = np.flatnonzero(ts[1:] < ts[:-1])
    if back.size:
        i = int(back[0]) + 1
        bad.append(
            (i, f"time goes backwards ({int(ts[i])} ns after {int(ts[i - 1])} ns); sort by time")
        )
    return min(bad) if bad else None


@dataclass(frozen=True, slots=True)
class BarArrays:
    """Bars as numpy arrays.

    ``ints`` is int64[3, m] (``time_start``, ``time_end`` ns, ``tick_count``);
    ``floats`` float64[8, m] (``open``, ``high``, ``low``, ``close``, ``volume``,
    ``dollar_volume``, ``buy_volume``, ``threshold``); ``partial`` bool[m].
    """

    ints: I64
    floats: F64
    partial: npt.NDArray[np.bool_]

    @property
    def rows(self) -> int:
        return int(self.ints.shape[1])

    @staticmethod
    def empty() -> BarArrays:
        return BarArrays(np.empty((3, 0), np.int64), np.empty((8, 0)), np.empty(0, np.bool_))

    @staticmethod
    def concat(parts: list[BarArrays]) -> BarArrays:
        if not parts:
            return BarArrays.empty()
        return BarArrays(
            np.concatenate([p.ints for p in parts], axis=1),
            np.concatenate([p.floats for p in parts], axis=1),
            np.concatenate([p.partial for p in parts]),
        )

    def to_arrow(self, spec: BarSpec, *, with_partial: bool = False) -> pa.Table:
        """The bars as an Arrow table with :func:`bar_schema`."""
        start, end, count = self.ints
        o, h, low, c, vol, dollar, buy, thr = self.floats
        with np.errstate(invalid="ignore", divide="ignore"):
            vwap = np.where(vol > 0, dollar / np.where(vol > 0, vol, 1.0), np.nan)
        cols: list[Any] = [
            pa.array(start, pa.int64()).cast(TS_TYPE),
            pa.array(end, pa.int64()).cast(TS_TYPE),
            (end - start) / 1e9,
            o,
            h,
            low,
            c,
            vwap,
            vol,
            dollar,
            buy,
            count,
        ]
        if spec.family != "standard":
            cols.append(thr)
        if with_partial:
            cols.append(self.partial)
        return pa.Table.from_arrays(cols, schema=bar_schema(spec, with_partial=with_partial))


class BarBuilder:
    """Streaming bar builder with explicit, saveable state.

    Parameters
    ----------
    spec:
        The bar type and its parameters.
    """

    def __init__(self, spec: BarSpec) -> None:
        self.spec = spec
        self._pf = spec.params()
        self._si, self._sf = nb.new_state(self._pf)
        self.rows_seen = 0

    @property
    def expected_ticks(self) -> float:
        """Current E[T] (imbalance/run bars), trades."""
        return float(self._sf[nb.F_E_T])

    def update(self, ts_ns: I64, price: F64, qty_base: F64, side: I8 | None = None) -> BarArrays:
        """Feed a chunk of trades (time order); return the bars it closed.

        Raises :class:`DataError` naming the 1-based row (counted over the whole
        stream) of the first invalid trade; the state is left as before the call.
        """
        ts = np.ascontiguousarray(ts_ns, dtype=np.int64)
        px = np.ascontiguousarray(price, dtype=np.float64)
        qty = np.ascontiguousarray(qty_base, dtype=np.float64)
        sd = (
            np.zeros(ts.shape[0], np.int8)
            if side is None
            else np.ascontiguousarray(side, dtype=np.int8)
        )
        prev_ts = int(self._si[nb.I_END_TS]) if self._si[nb.I_HAVE_PRICE] else None
        problem = check_trades(ts, px, qty, sd, prev_ts)
        if problem is not None:
            index, message = problem
            raise DataError(message, line=self.rows_seen + index + 1)
        n = ts.shape[0]
        out_i = np.empty((3, n), np.int64)
        out_f = np.empty((8, n), np.float64)
        rows = nb.build_bars(
            self.spec.kind, self._pf, ts, px, qty, sd, self._si, self._sf, out_i, out_f
        )
        self.rows_seen += n
        return BarArrays(out_i[:, :rows].copy(), out_f[:, :rows].copy(), np.zeros(rows, np.bool_))

    def partial(self) -> BarArrays:
        """The unfinished bar (``is_partial`` true) or no rows when no trade is pending."""
        si, sf = self._si, self._sf
        if si[nb.I_N] == 0:
            return BarArrays.empty()
        ints = np.array([[si[nb.I_START_TS]], [si[nb.I_END_TS]], [si[nb.I_N]]], np.int64)
        floats = np.array(
            [[sf[j]] for j in range(nb.F_OPEN, nb.F_BUY_VOLUME + 1)] + [[self.current_threshold()]]
        )
        return BarArrays(ints, floats, np.ones(1, np.bool_))

    def current_threshold(self) -> float:
        """The threshold the open bar is tested against (NaN for standard or during warm-up)."""
        sf = self._sf
        if self.spec.family == "standard" or self._si[nb.I_WARM] == 0:
            return float("nan")
        if self.spec.family == "imbalance":
            return float(sf[nb.F_E_T] * abs(sf[nb.F_E_BV]))
        return float(sf[nb.F_E_T] * max(sf[nb.F_E_BV], sf[nb.F_E_SV]))

    def state(self) -> dict[str, Any]:
        """A JSON-able snapshot; floats round-trip exactly through ``json``."""
        return {
            "version": STATE_VERSION,
            "spec": self.spec.to_dict(),
            "rows_seen": self.rows_seen,
            "si": [int(x) for x in self._si],
            "sf": [float(x) for x in self._sf],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BarBuilder:
        """Rebuild a builder from :meth:`state` output."""
        try:
            if state["version"] != STATE_VERSION:
                raise InputError(
                    f"bar builder state version {state['version']!r} is not {STATE_VERSION}"
                )
            builder = cls(BarSpec(**state["spec"]))
            si = np.asarray(state["si"], dtype=np.int64)
            sf = np.asarray(state["sf"], dtype=np.float64)
            rows_seen = int(state["rows_seen"])
        except (KeyError, TypeError) as exc:
            raise InputError(f"bar builder state is malformed ({exc!r}); save it again") from None
        if si.shape != (nb.NI,) or sf.shape != (nb.NF,):
            raise InputError(
                f"bar builder state has {si.shape[0]} ints and {sf.shape[0]} floats, "
                f"expected {nb.NI} and {nb.NF}"
            )
        builder._si, builder._sf, builder.rows_seen = si, sf, rows_seen
        return builder
