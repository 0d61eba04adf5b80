"""Market data for the backtest: book rows and trades, from files or recordings.

* :func:`load_book_file` reads a ``book snapshots`` / ``features book`` Parquet
  (``ts``, ``bid_px_01..``, ``bid_sz_01..``, ``ask_px_01..``, ``ask_sz_01..``, and
  ``book_valid`` when present; without it a row is valid when both touches are).
* :func:`load_trades_file` reads trades as ``bars build --input`` does (CSV or
  Parquet; ``ts``, ``price``, ``qty``, ``side`` = taker side).
* :func:`load_recordings` rebuilds the book from recorded files like
  ``book snapshots`` (``--venue``/``--symbol``) and takes its trades.

Trades without a side (0) cannot be assigned to a side of the book: they are
left out and counted (``Market.unsided_trades``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from seriesfactory.errors import DataError, InputError
from seriesfactory.transforms.bars.io import read_trades_file

__all__ = ["Market", "load_book_file", "load_market", "load_recordings", "load_trades_file"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(slots=True)
class Market:
    """Book rows (``[rows, depth]`` arrays, NaN where absent) and trades, in time order."""

    ts: I64
    valid: npt.NDArray[np.bool_]
    bid_px: F64
    bid_sz: F64
    ask_px: F64
    ask_sz: F64
    tr_ts: I64
    tr_px: F64
    tr_qty: F64
    tr_side: npt.NDArray[np.int8]
    tick: float
    source: str = ""
    unsided_trades: int = 0
    trades_source: str = ""

    mid: F64 = field(init=False, repr=False)
    usable: npt.NDArray[np.bool_] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """``mid`` (NaN where a touch is missing) and ``usable``: the rows that count
        (valid, both touches present, not crossed). Computed once."""
        b, a = self.bid_px[:, 0], self.ask_px[:, 0]
        with np.errstate(invalid="ignore"):
            self.mid = 0.5 * (b + a)
            self.usable = self.valid & np.isfinite(b) & np.isfinite(a) & (a > b)

    def check(self) -> Market:
        """Refuse data the backtest cannot use (exit 2), in one line naming the input."""
        where = f"{self.source}: " if self.source else ""
        if len(self.ts) == 0 or not self.usable.any():
            raise InputError(
                f"{where}the book has no valid rows (book_valid true with a bid below an ask)"
            )
        if len(self.tr_ts) == 0:
            where = f"{self.trades_source or self.source}: " if self.source else ""
            extra = f" ({self.unsided_trades} without a side)" if self.unsided_trades else ""
            raise InputError(
                f"{where}there are no trades with a side{extra}; give --trades with ts, price, "
                "qty and side (or recordings with trades)"
            )
        return self

    def tick_index(self, prices: F64) -> I64:
        """Prices as whole ticks (nearest)."""
        return np.rint(prices / self.tick).astype(np.int64)


_COL = re.compile(r"^(bid|ask)_(px|sz)_(\d+)$")


def load_book_file(path: Path) -> tuple[I64, npt.NDArray[np.bool_], F64, F64, F64, F64]:
    """``(ts, valid, bid_px, bid_sz, ask_px, ask_sz)`` from a snapshot Parquet."""
    if not path.is_file():
        raise InputError(f"--book {path}: no such file")
    try:
        table = pq.ParquetFile(path).read()  # (read_table would import pyarrow.dataset)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"cannot read the Parquet file ({exc})", path=str(path)) from None
    names = table.column_names
    levels: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for name in names:
        found = _COL.match(name)
        if found:
            levels.setdefault((found.group(1), found.group(2)), []).append(
                (int(found.group(3)), name)
            )
    needed = [("bid", "px"), ("bid", "sz"), ("ask", "px"), ("ask", "sz")]
    if "ts" not in names or any(k not in levels for k in needed):
        raise DataError(
            "a book file needs ts, bid_px_01.., bid_sz_01.., ask_px_01.., ask_sz_01.. columns "
            "(write it with 'book snapshots')",
            path=str(path),
        )
    depth = min(len(v) for v in levels.values())
    ts = table.column("ts")
    if pa.types.is_timestamp(ts.type):
        ts_ns = ts.cast(pa.timestamp("ns", tz="UTC")).cast(pa.int64()).to_numpy()
    else:
        ts_ns = np.asarray(ts.to_numpy(), dtype=np.int64)

    def grid(side: str, kind: str) -> F64:
        cols = sorted(levels[(side, kind)])[:depth]
        return np.column_stack(
            [table.column(c).to_numpy(zero_copy_only=False).astype(np.float64) for _, c in cols]
        )

    arrays = grid("bid", "px"), grid("bid", "sz"), grid("ask", "px"), grid("ask", "sz")
    if "book_valid" in names:
        valid = table.column("book_valid").fill_null(False).to_numpy(zero_copy_only=False)
    else:
        valid = np.isfinite(arrays[0][:, 0]) & np.isfinite(arrays[2][:, 0])
    if len(ts_ns) > 1 and np.any(np.diff(ts_ns) < 0):
        row = int(np.flatnonzero(np.diff(ts_ns) < 0)[0]) + 2
        raise DataError("ts goes backwards; sort the rows by time", path=str(path), line=row)
    return np.asarray(ts_ns, np.int64), np.asarray(valid, bool), *arrays


def load_trades_file(path: Path) -> tuple[I64, F64, F64, npt.NDArray[np.int8]]:
    """``(ts, price, qty, side)`` sorted by time (stable)."""
    if not path.is_file():
        raise InputError(f"--trades {path}: no such file")
    t = read_trades_file(path)
    order = np.argsort(t.ts_ns, kind="stable")
    return t.ts_ns[order], t.price[order], t.qty_base[order], t.side[order]


def _tick(prices: F64, tick: float) -> float:
    if tick > 0:
        return tick
    p = prices[np.isfinite(prices)]
    if p.size == 0:
        return 1.0
    from seriesfactory.transforms.book.api import infer_price_decimals  # the book engine: lazy

    return float(10.0 ** -infer_price_decimals(p[:200_000]))


def _market(
    book: tuple[I64, npt.NDArray[np.bool_], F64, F64, F64, F64],
    trades: tuple[I64, F64, F64, npt.NDArray[np.int8]],
    tick: float,
    source: str,
    trades_source: str = "",
) -> Market:
    ts, valid, bp, bs, ap, asz = book
    tts, tpx, tq, tside = trades
    sided = tside != 0
    tick = _tick(np.concatenate([bp[:, 0], ap[:, 0]]), tick)
    return Market(
        ts,
        valid,
        bp,
        bs,
        ap,
        asz,
        tts[sided],
        tpx[sided],
        tq[sided],
        tside[sided].astype(np.int8),
        tick,
        source,
        int((~sided).sum()),
    )


def load_market(book: Path, trades: Path, *, tick: float = 0.0) -> Market:
    """A :class:`Market` from ``--book`` and ``--trades`` files."""
    return _market(
        load_book_file(book), load_trades_file(trades), tick, str(book), str(trades)
    ).check()


def load_recordings(
    inputs: list[Path],
    *,
    venue: str,
    symbol: str,
    input_format: str = "auto",
    interval_ns: int = 100_000_000,
    depth: int = 10,
    tick: float = 0.0,
    on_bad_frames: str = "error",
) -> Market:
    """A :class:`Market` rebuilt from recordings (as ``book snapshots`` reads them).

    ``interval_ns > 0``: one row per grid time (the book after every message up to it);
    ``interval_ns == 0``: one row after every book message, at the message's exchange time
    (``valid`` as the book engine marks it), so the engine steps on every book change.
    """
    from seriesfactory.transforms.book.api import rebuild  # the book engine: only for recordings

    for p in inputs:
        if not p.is_file():
            raise InputError(f"--input {p}: no such file")
    res = rebuild(
        [str(p) for p in inputs],
        venue=venue,
        symbol=symbol,
        input_format=input_format,
        interval_ns=interval_ns,
        depth=depth,
        on_bad_frames=on_bad_frames,
        message_depth=depth if interval_ns == 0 else 0,
    )
    r = res.message_rows if res.message_rows is not None else res.rows
    tr = res.trades[np.argsort(res.trades["ts"], kind="stable")]
    tick = tick if tick > 0 else 10.0**-res.price_decimals
    book = (r.ts, r.valid, r.bid_px, r.bid_qty, r.ask_px, r.ask_qty)
    trades = (tr["ts"], tr["price"], tr["qty"], tr["side"].astype(np.int8))
    return _market(book, trades, tick, str(inputs[0])).check()
