"""A synthetic market with known fill intensities: ``mm(kappa_bid, a_bid, kappa_ask, a_ask,
moves_per_s, tick, base)``.

An L2 book of :data:`LEVELS` levels per side on a tick grid, one row every
:data:`ROW_INTERVAL_NS` (100 ms), and taker trades:

* **Mid.** The best bid is ``b_k`` ticks and the best ask ``b_k + 1`` (a one-tick
  spread, so the mid sits half a tick inside each touch). At every row after the
  first, ``b_k = b_{k-1} + e_k`` with ``e_k = +1`` or ``-1`` each with probability
  ``moves_per_s * 0.1 / 2`` (so ``moves_per_s <= 10``), else 0. The mid is a
  random walk: ``sigma = tick * sqrt(moves_per_s)`` quote currency per √s.
* **Sizes.** Every level's size is redrawn at every row, ``0.001 + Exp(1)`` base
  units rounded to 0.001.
* **Trades.** Per side a Poisson process of rate ``a`` per second (``a_bid``: taker
  sells hitting bids; ``a_ask``: taker buys lifting asks). A trade in ``(t_k, t_k+1)``
  prints ``J`` ticks beyond the touch of row ``k`` with ``P(J >= j) = e^{-kappa j}``
  (``J = floor(E / kappa)``, ``E ~ Exp(1)``): a geometric depth, possibly beyond the
  book. Times are whole milliseconds strictly between rows; sizes
  ``0.001 + Exp(mean 0.05)`` rounded to 0.001.

In the Avellaneda–Stoikov parametrisation (depth ``delta`` from the mid, in quote
currency; ``lambda(delta) = A e^{-kappa' delta}`` the rate of trades at least that
deep) the truth is ``kappa' = kappa / tick`` and ``A = a e^{kappa / 2}`` (the touch
is half a tick from the mid): :meth:`MMModel.truth` returns both forms.

Output: :meth:`MMModel.generate` gives the rows and trades as arrays;
:func:`snapshot_table` and :func:`trades_table` the Parquet inputs of ``backtest``
(``--book``/``--trades``); :func:`write_recording` a Binance-style capture
(REST snapshot, ``depthUpdate`` diffs, trades; the ``hftbacktest`` text format)
that ``book snapshots`` and ``backtest --input`` read as ``--venue binance``.

Seeding: streams ``SeedSequence(seed, spawn_key=(100 + k,))`` for k = 0 (mid),
1 (sizes), 2 (bid trades), 3 (ask trades), each a PCG64 generator.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from seriesfactory.core.atomic import atomic_path
from seriesfactory.errors import SpecError
from seriesfactory.schema import TRADE_DTYPE, TS_TYPE, book_snapshot_schema
from seriesfactory.schema.ticks import TickArrays
from seriesfactory.sources.spec import SourceSpec, format_number
from seriesfactory.sources.synthetic.base import Param

__all__ = [
    "BLOCK_ROWS",
    "LEVELS",
    "ROW_INTERVAL_NS",
    "MMMarket",
    "MMModel",
    "snapshot_table",
    "trades_table",
    "write_recording",
]

#: Levels per side of the generated book.
LEVELS: Final = 20
#: One book row every 100 ms.
ROW_INTERVAL_NS: Final = 100_000_000
#: Rows per generated block of :meth:`MMModel.stream` (one hour).
BLOCK_ROWS: Final = 36_000
_MS: Final = 1_000_000


@dataclass(slots=True)
class MMMarket:
    """Generated book rows (``[rows, LEVELS]`` prices/sizes) and trades (``TRADE_DTYPE``)."""

    ts: npt.NDArray[np.int64]
    bid_px: npt.NDArray[np.float64]
    bid_sz: npt.NDArray[np.float64]
    ask_px: npt.NDArray[np.float64]
    ask_sz: npt.NDArray[np.float64]
    trades: npt.NDArray[np.void]
    tick: float
    decimals: int


class MMModel:
    """The ``mm(...)`` spec: see the module docstring."""

    name: ClassVar[str] = "mm"
    version: ClassVar[int] = 1
    params: ClassVar[tuple[Param, ...]] = (
        Param(name="kappa_bid", description="bid depth decay per tick", low=0.0, low_open=True),
        Param(name="a_bid", description="taker sells per second", low=0.0, low_open=True),
        Param(name="kappa_ask", description="ask depth decay per tick", low=0.0, low_open=True),
        Param(name="a_ask", description="taker buys per second", low=0.0, low_open=True),
        Param(name="moves_per_s", description="one-tick mid moves per second", low=0.0, high=10.0),
        Param(name="tick", description="price tick", low=0.0, low_open=True),
        Param(name="base", description="start mid", low=0.0, low_open=True),
    )

    def __init__(self, *values: float) -> None:
        if len(values) != len(self.params):
            raise SpecError(
                f"mm takes {len(self.params)} arguments ({self.signature()}), got {len(values)}"
            )
        for p, v in zip(self.params, values, strict=True):
            p.check(self.name, float(v))
        self.values = {p.name: float(v) for p, v in zip(self.params, values, strict=True)}
        tick = self.values["tick"]
        self.decimals = max(0, -math.floor(math.log10(tick) + 1e-9))
        if abs(round(tick * 10**self.decimals) - tick * 10**self.decimals) > 1e-6:
            raise SpecError(f"mm: tick = {format_number(tick)} must be a power of ten, e.g. 0.1")
        if self.values["base"] / tick < 10 * LEVELS:
            raise SpecError(f"mm: base must be at least {10 * LEVELS} ticks")

    @classmethod
    def signature(cls) -> str:
        return f"mm({', '.join(p.name for p in cls.params)})"

    @classmethod
    def from_spec(cls, spec: SourceSpec) -> MMModel:
        if spec.args is None:
            raise SpecError(f"mm is a model: give its arguments, e.g. {cls.signature()}")
        return cls(*spec.args)

    def spec(self) -> str:
        return f"mm({','.join(format_number(self.values[p.name]) for p in self.params)})"

    def truth(self) -> dict[str, float]:
        """The parameters in calibration units (quote currency, per second)."""
        v, tick = self.values, self.values["tick"]
        return {
            "sigma": tick * math.sqrt(v["moves_per_s"]),
            "kappa_bid": v["kappa_bid"] / tick,
            "kappa_ask": v["kappa_ask"] / tick,
            "a_bid": v["a_bid"] * math.exp(v["kappa_bid"] / 2),
            "a_ask": v["a_ask"] * math.exp(v["kappa_ask"] / 2),
            "kappa_bid_per_tick": v["kappa_bid"],
            "kappa_ask_per_tick": v["kappa_ask"],
            "a_bid_touch": v["a_bid"],
            "a_ask_touch": v["a_ask"],
        }

    def describe(self) -> dict[str, Any]:
        return {"model": "mm", "spec": self.spec(), "version": self.version, **self.truth()}

    def generate(
        self,
        *,
        start_ns: int,
        seconds: float,
        seed: int,
        block: int = 0,
        first_best: int | None = None,
    ) -> MMMarket:
        """The market over ``[start_ns, start_ns + seconds)`` (``start_ns`` on the 100 ms grid).

        ``block``/``first_best`` continue a longer stream (:meth:`stream`): block ``b > 0``
        draws from ``SeedSequence(seed, spawn_key=(100 + k, b))`` and its first row moves
        from ``first_best`` (the previous block's last best bid, ticks) like any row.
        """
        if start_ns % ROW_INTERVAL_NS:
            raise SpecError("mm: the start must be a whole multiple of 100 ms")
        v = self.values
        tick, d = v["tick"], self.decimals
        n = max(1, round(seconds * 1e9 / ROW_INTERVAL_NS))
        rng = [
            np.random.Generator(
                np.random.PCG64(
                    np.random.SeedSequence(
                        seed, spawn_key=(100 + k,) if block == 0 else (100 + k, block)
                    )
                )
            )
            for k in range(4)
        ]
        p_move = v["moves_per_s"] * ROW_INTERVAL_NS / 1e9 / 2
        u = rng[0].random(n)
        step = np.where(u < p_move, 1, np.where(u > 1 - p_move, -1, 0)).astype(np.int64)
        if first_best is None:
            step[0] = 0
        start = round(v["base"] / tick) if first_best is None else first_best
        best = start + np.cumsum(step)  # best bid, ticks
        if int(best.min()) < LEVELS + 1:
            raise SpecError(
                f"{self.spec()}: the mid walks within {LEVELS} ticks of zero; "
                "give a larger base, fewer moves_per_s or a shorter range"
            )
        lv = np.arange(LEVELS, dtype=np.int64)
        bid_t = best[:, None] - lv[None, :]
        ask_t = best[:, None] + 1 + lv[None, :]
        scale = 10.0**d
        bid_px = np.round(bid_t * (tick * scale)) / scale
        ask_px = np.round(ask_t * (tick * scale)) / scale
        sz = np.round(0.001 + rng[1].exponential(1.0, (n, 2 * LEVELS)), 3)
        ts = start_ns + np.arange(n, dtype=np.int64) * ROW_INTERVAL_NS
        parts = []
        for side, g, kappa, a in (
            (-1, rng[2], v["kappa_bid"], v["a_bid"]),
            (1, rng[3], v["kappa_ask"], v["a_ask"]),
        ):
            count = g.poisson(a * ROW_INTERVAL_NS / 1e9, n)
            row = np.repeat(np.arange(n), count)
            m = row.shape[0]
            # whole milliseconds strictly inside (t_k, t_k + 100 ms)
            offs = g.integers(1, ROW_INTERVAL_NS // _MS, m) * _MS
            depth = np.floor(g.exponential(1.0, m) / kappa).astype(np.int64)
            qty = np.round(0.001 + g.exponential(0.05, m), 3)
            t = np.zeros(m, TRADE_DTYPE)
            t["ts"] = ts[row] + offs
            t["recv_ts"] = t["ts"]
            touch = best[row] if side < 0 else best[row] + 1
            t["price"] = np.round((touch + side * depth) * (tick * scale)) / scale
            t["qty"] = qty
            t["side"] = side
            parts.append(t)
        trades = np.concatenate(parts)
        trades = trades[np.argsort(trades["ts"], kind="stable")]
        trades["trade_id"] = np.arange(1, len(trades) + 1)
        return MMMarket(ts, bid_px, sz[:, :LEVELS], ask_px, sz[:, LEVELS:], trades, tick, d)

    def stream(
        self, *, start_ns: int, end_ns: int, seed: int, chunk_ticks: int = 1 << 20
    ) -> Iterator[TickArrays]:
        """The trades of ``[start_ns, end_ns)`` as ticks (``series --sources 'mm(...)'``).

        One tick per trade: its time, the touch of the book row in force (``bid``, ``ask``)
        and its notional ``price * qty`` as ``vbid`` (a taker sell) or ``vask`` (a taker
        buy). Generated in whole blocks of :data:`BLOCK_ROWS` rows (one hour) cut at
        ``end_ns``: block 0 is exactly :meth:`generate` of one hour from the same start and
        seed, block ``b`` continues it (see :meth:`generate`). Memory stays bounded, and a
        range's ticks are the first ticks of any longer range from the same start.
        ``chunk_ticks`` is accepted for the model interface; a chunk is one block's trades.
        """
        if start_ns % ROW_INTERVAL_NS:
            raise SpecError("mm: --from must be a whole multiple of 100 ms")
        total = -(-(end_ns - start_ns) // ROW_INTERVAL_NS)
        done, block, best = 0, 0, None
        while done < total:
            g = self.generate(
                start_ns=start_ns + done * ROW_INTERVAL_NS,
                seconds=BLOCK_ROWS * ROW_INTERVAL_NS / 1e9,
                seed=seed,
                block=block,
                first_best=best,
            )
            t = g.trades[g.trades["ts"] < end_ns]
            row = (t["ts"] - g.ts[0]) // ROW_INTERVAL_NS
            notional = t["price"] * t["qty"]
            yield TickArrays(
                t["ts"].astype(np.int64),
                g.bid_px[row, 0],
                g.ask_px[row, 0],
                np.where(t["side"] < 0, notional, 0.0),
                np.where(t["side"] > 0, notional, 0.0),
            )
            best = round(float(g.bid_px[-1, 0]) / g.tick)
            done += BLOCK_ROWS
            block += 1


def snapshot_table(m: MMMarket) -> pa.Table:
    """The rows as a ``book snapshots`` Parquet table (all rows ``book_valid``)."""
    cols: list[pa.Array] = [pa.array(m.ts, pa.int64()).cast(TS_TYPE)]
    for arr in (m.bid_px, m.bid_sz, m.ask_px, m.ask_sz):
        cols.extend(pa.array(arr[:, k], pa.float64()) for k in range(LEVELS))
    table = pa.Table.from_arrays(cols, schema=book_snapshot_schema(LEVELS))
    return table.append_column("book_valid", pa.array(np.ones(len(m.ts), bool)))


def trades_table(m: MMMarket) -> pa.Table:
    """The trades as ``ts, price, qty, side`` (``buy``/``sell`` = taker side)."""
    t = m.trades
    return pa.table(
        {
            "ts": pa.array(t["ts"], pa.int64()).cast(TS_TYPE),
            "price": pa.array(t["price"]),
            "qty": pa.array(t["qty"]),
            "side": pa.array(np.where(t["side"] > 0, "buy", "sell")),
        }
    )


def write_recording(m: MMMarket, path: Path, symbol: str = "MMUSDT") -> Path:
    """A gzip ``hftbacktest`` capture: ``<recv ns> <json>`` lines in receive order.

    A REST snapshot of row 0 (``lastUpdateId`` 1000), then per row ``k >= 1`` one
    ``depthUpdate`` with ``U = u = 1000 + k`` carrying every level of the row and a
    zero size for every level that left the top :data:`LEVELS`, and the trades
    (``m`` true for a taker sell). Receive time = exchange time + 1 ms.
    """
    fmt = f"{{:.{m.decimals}f}}"
    stream = symbol.lower()
    trades = m.trades
    t_ms = trades["ts"] // _MS
    j = 0
    with atomic_path(path) as tmp, gzip.open(tmp, "wt", compresslevel=3) as fh:

        def levels(px: np.ndarray, sz: np.ndarray) -> list[list[str]]:
            return [[fmt.format(p), f"{s:.3f}"] for p, s in zip(px, sz, strict=True)]

        rest = {
            "lastUpdateId": 1000,
            "bids": levels(m.bid_px[0], m.bid_sz[0]),
            "asks": levels(m.ask_px[0], m.ask_sz[0]),
        }
        fh.write(f"{int(m.ts[0]) + _MS} {json.dumps(rest, separators=(',', ':'))}\n")
        for k in range(len(m.ts)):
            row_ms = int(m.ts[k]) // _MS
            if k > 0:
                bids = levels(m.bid_px[k], m.bid_sz[k])
                asks = levels(m.ask_px[k], m.ask_sz[k])
                gone_b = np.setdiff1d(m.bid_px[k - 1], m.bid_px[k])
                gone_a = np.setdiff1d(m.ask_px[k - 1], m.ask_px[k])
                bids += [[fmt.format(p), "0.000"] for p in gone_b]
                asks += [[fmt.format(p), "0.000"] for p in gone_a]
                data = {
                    "e": "depthUpdate",
                    "E": row_ms,
                    "s": symbol,
                    "U": 1000 + k,
                    "u": 1000 + k,
                    "b": bids,
                    "a": asks,
                }
                msg = {"stream": f"{stream}@depth@100ms", "data": data}
                fh.write(f"{(row_ms + 1) * _MS} {json.dumps(msg, separators=(',', ':'))}\n")
            nxt = row_ms + 100
            while j < len(trades) and t_ms[j] < nxt:
                tr = trades[j]
                data = {
                    "e": "trade",
                    "E": int(t_ms[j]),
                    "s": symbol,
                    "t": int(tr["trade_id"]),
                    "p": fmt.format(tr["price"]),
                    "q": f"{tr['qty']:.3f}",
                    "T": int(t_ms[j]),
                    "m": bool(tr["side"] < 0),
                }
                msg = {"stream": f"{stream}@trade", "data": data}
                fh.write(f"{(int(t_ms[j]) + 1) * _MS} {json.dumps(msg, separators=(',', ':'))}\n")
                j += 1
    return path
