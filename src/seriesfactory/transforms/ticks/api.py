"""Taker trades to ticks: the streaming :class:`TickBuilder` and :func:`trades_to_ticks`.

Rules (``docs/sources.md``):

1. Consecutive trades with the same time and taker side become one: its price is
   the last trade's price, its notional the sum of the notionals.
2. A market sell's price becomes the bid (the ask is carried); a market buy's
   price becomes the ask (the bid is carried). Until both sides are known, the
   missing side takes the known side's price.
3. Crossing guard: a new bid above the carried ask moves the ask up to it (a new
   ask below the carried bid moves the bid down); the moved side counts as set.
4. ``vbid`` / ``vask``: quote notional of the market sells / buys of the tick.
5. ``age_ns = ts - (time the carried side was last set)``; 0 until both sides
   are known.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from seriesfactory.core.lazy import lazy_module
from seriesfactory.errors import DataError
from seriesfactory.schema import TickArrays
from seriesfactory.schema.arrays import F64, I64

if TYPE_CHECKING:
    from seriesfactory.transforms.ticks import nb
else:  # the kernels (and numba) load with the first builder: a download never makes one
    nb = lazy_module("seriesfactory.transforms.ticks.nb")

__all__ = ["TickBuilder", "trades_to_ticks"]


class TickBuilder:
    """Streaming trades-to-ticks converter with explicit, saveable state."""

    def __init__(self) -> None:
        self._si, self._sf = nb.new_state()
        self._last_ts = np.iinfo(np.int64).min

    def state(self) -> dict[str, Any]:
        return {
            "si": self._si.tolist(),
            "sf": [float(x).hex() for x in self._sf],
            "last_ts": int(self._last_ts),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TickBuilder:
        b = cls()
        b._si = np.array(state["si"], np.int64)
        b._sf = np.array([float.fromhex(x) for x in state["sf"]], np.float64)
        b._last_ts = int(state["last_ts"])
        return b

    def _run(
        self, ts: I64, price: F64, notional: F64, side: npt.NDArray[np.int8], flush: bool
    ) -> tuple[TickArrays, I64]:
        n = int(ts.shape[0])
        out_ts = np.empty(n + 1, np.int64)
        out_age = np.empty(n + 1, np.int64)
        outs = [np.empty(n + 1, np.float64) for _ in range(4)]
        m = nb.trades_to_ticks_chunk(
            ts,
            price,
            notional,
            side,
            flush,
            self._si,
            self._sf,
            out_ts,
            outs[0],
            outs[1],
            outs[2],
            outs[3],
            out_age,
        )
        return TickArrays(out_ts[:m], *(o[:m] for o in outs)), out_age[:m]

    def update(
        self,
        ts: I64,
        price: F64,
        notional: F64,
        side: npt.NDArray[np.int8],
        *,
        source: str | None = None,
    ) -> tuple[TickArrays, I64]:
        """Feed time-ordered trades; return ``(ticks, age_ns)`` of the groups they closed."""
        ts = np.ascontiguousarray(ts, np.int64)
        side = np.ascontiguousarray(side, np.int8)
        if ts.shape[0]:
            problem = nb.check_trades(ts, side, self._last_ts)
            if problem == nb.BACKWARDS:
                raise DataError("trades go backwards in time", path=source)
            if problem == nb.BAD_SIDE:
                raise DataError("a trade has an unknown taker side (0)", path=source)
            self._last_ts = int(ts[-1])
        return self._run(
            ts,
            np.ascontiguousarray(price, np.float64),
            np.ascontiguousarray(notional, np.float64),
            side,
            False,
        )

    def finish(self) -> tuple[TickArrays, I64]:
        """Emit the last open group."""
        empty_f = np.empty(0, np.float64)
        return self._run(np.empty(0, np.int64), empty_f, empty_f, np.empty(0, np.int8), True)


def trades_to_ticks(
    ts: I64, price: F64, notional: F64, side: npt.NDArray[np.int8]
) -> tuple[TickArrays, I64]:
    """Convert a whole trade stream in one call."""
    b = TickBuilder()
    a_ticks, a_age = b.update(ts, price, notional, side)
    b_ticks, b_age = b.finish()
    joined = TickArrays(*(np.concatenate([x, y]) for x, y in zip(a_ticks, b_ticks, strict=True)))
    return joined, np.concatenate([a_age, b_age])
