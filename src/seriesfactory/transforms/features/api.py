"""Order-book and trade features: streaming builders and one-call batch functions.

* :class:`BookFeatureBuilder` / :func:`book_features` — one row per book grid time
  (the MIDAS set: levels, mid, spread, microprice, imbalances, liquidity,
  multi-level OFI, trades of the interval).
* :class:`TradeFeatureBuilder` / :func:`trade_features` /
  :func:`trade_features_from_bars` — one row per close-stamped time bucket or per
  bar (the FiDel set: OHLCV, flow, rolling statistics, lags, VPIN, Kyle's lambda,
  Amihud, Roll, realized volatility, momentum, autocorrelation, intensity).

Both builders keep explicit state (any chunking gives identical rows; the trade
builder's state saves to JSON). Every feature at a row stamped ``t`` uses data with
time ``<= t`` only. Formulas, units, windows and NaN policy: ``docs/features.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute

from seriesfactory.core import progress
from seriesfactory.errors import DataError, InputError
from seriesfactory.raw.readers import ReadReport, read_records
from seriesfactory.schema import TS_TYPE
from seriesfactory.sources._book_base import get_parser
from seriesfactory.transforms.book.api import BookBuilder, BookRows, infer_price_decimals
from seriesfactory.transforms.features import nb

__all__ = [
    "BookFeatureBuilder",
    "TradeFeatureBuilder",
    "TradeFeatureParams",
    "book_feature_columns",
    "book_features",
    "trade_feature_columns",
    "trade_features",
    "trade_features_from_bars",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
STATE_VERSION = 1
#: Depths at which imbalance and liquidity are given (those ``<= depth``).
BOOK_LEVELS = (1, 5, 10)
_NO_TS = np.iinfo(np.int64).min


def _buckets_alloc(n: int) -> tuple[I64, F64]:
    return np.empty((n, len(nb.BUCKET_INTS)), np.int64), np.empty((n, len(nb.BUCKET_FLOATS)))


def _bucket_bound(si: npt.NDArray[np.int64], ts: I64, interval: int, end_ns: int) -> int:
    """Most buckets one :func:`nb.trade_buckets` call can write."""
    lo = int(si[nb.TI_END])
    hi = max(int(ts.max()) if len(ts) else _NO_TS, end_ns, int(si[nb.TI_LAST_TS]))
    if lo == -1:
        if not len(ts):
            return 0
        lo = int(ts.min()) - interval
    if hi < lo:
        return 1
    return (hi - lo) // interval + 3


class _Buckets:
    """Trades into close-stamped buckets (state: :func:`nb.bucket_state`)."""

    def __init__(
        self,
        interval_ns: int,
        vpin_buckets: int = 1,
        vpin_bucket_volume: float | None = None,
        vpin_fit_rows: int = 1 << 62,
    ) -> None:
        self.interval_ns = interval_ns
        self.si, self.sf = nb.bucket_state()
        self.vpin = nb.vpin_state(vpin_buckets, vpin_bucket_volume)
        self.fit_rows = vpin_fit_rows

    def run(
        self,
        ts: I64,
        price: F64,
        qty: F64,
        side: npt.NDArray[np.int8],
        end_ns: int = -1,
    ) -> dict[str, npt.NDArray[Any]]:
        ts = np.ascontiguousarray(ts, np.int64)
        bound = _bucket_bound(self.si, ts, self.interval_ns, end_ns)
        if bound > 50_000_000:
            raise InputError(
                f"--interval {self.interval_ns} ns over this span makes about {bound} rows; "
                "use a larger interval or a shorter input"
            )
        out_i, out_f = _buckets_alloc(bound)
        r = nb.trade_buckets(
            ts,
            np.ascontiguousarray(price, np.float64),
            np.ascontiguousarray(qty, np.float64),
            np.ascontiguousarray(side, np.int8),
            self.interval_ns,
            end_ns,
            self.si,
            self.sf,
            out_i,
            out_f,
            self.vpin[0],
            self.vpin[1],
            self.vpin[2],
            self.fit_rows,
        )
        cols: dict[str, npt.NDArray[Any]] = {}
        for k, name in enumerate(nb.BUCKET_INTS):
            cols[name] = out_i[:r, k].copy()
        for k, name in enumerate(nb.BUCKET_FLOATS):
            cols[name] = out_f[:r, k].copy()
        return cols

    @property
    def last_ts(self) -> int:
        return int(self.si[nb.TI_LAST_TS])


def _enc(a: npt.NDArray[Any]) -> dict[str, Any]:
    """An array as JSON-able data (floats as exact hex strings)."""
    flat = a.reshape(-1)
    data = [float(x).hex() for x in flat] if a.dtype.kind == "f" else flat.tolist()
    return {"dtype": a.dtype.str, "shape": list(a.shape), "data": data}


def _dec(d: dict[str, Any]) -> npt.NDArray[Any]:
    """The array :func:`_enc` wrote."""
    dtype = np.dtype(d["dtype"])
    data = [float.fromhex(x) for x in d["data"]] if dtype.kind == "f" else d["data"]
    return np.array(data, dtype).reshape(d["shape"])


def _cat(parts: list[dict[str, npt.NDArray[Any]]]) -> dict[str, npt.NDArray[Any]]:
    parts = [p for p in parts if p]
    if not parts:
        return {}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _take(cols: dict[str, npt.NDArray[Any]], sel: Any) -> dict[str, npt.NDArray[Any]]:
    return {k: v[sel] for k, v in cols.items()}


def _ratio(a: F64, b: F64) -> F64:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b != 0, a / np.where(b != 0, b, 1.0), np.nan)


# ============================================================================================
# Book features
# ============================================================================================
def book_feature_columns(depth: int, ofi_window: int = 10) -> list[str]:
    """The column names of a book feature table, in order."""
    lv = [f"{k:02d}" for k in range(1, depth + 1)]
    cols = ["ts"]
    for p in ("bid_px", "bid_sz", "ask_px", "ask_sz"):
        cols += [f"{p}_{x}" for x in lv]
    cols += ["book_valid", "midprice", "spread", "spread_bps", "microprice"]
    levels = [m for m in BOOK_LEVELS if m <= depth]
    cols += ["imbalance" if m == 1 else f"imbalance_{m}" for m in levels]
    cols += [f"liquidity_{m}" for m in levels] + [f"liquidity_usd_{m}" for m in levels]
    cols += ["ofi"] + [f"mlofi_{x}" for x in lv] + [f"ofi_{ofi_window}", "ofi_cumulative"]
    cols += [
        "taker_buy_volume",
        "taker_sell_volume",
        "signed_volume",
        "volume_imbalance",
        "trade_count",
        "vwap",
        "last_trade_px",
        "last_trade_qty",
        "last_trade_age",
    ]
    return cols


class BookFeatureBuilder:
    """Streaming book features for one symbol: feed book events and trades, get rows.

    Wraps a :class:`~seriesfactory.transforms.book.api.BookBuilder` (kept per-message
    top ``depth`` levels for the OFI) and the trade bucketer on the same grid. A row
    stamped ``t`` is returned once the book has a message after ``t`` and (with
    ``with_trades``) the trade stream has a trade after ``t`` — so no later input can
    change it — or by :meth:`finish`. Any chunking of the inputs gives the same rows.
    Trade times are clamped to be non-decreasing.
    """

    def __init__(
        self,
        *,
        rule: int,
        price_decimals: int,
        interval_ns: int,
        depth: int = 10,
        ofi_window: int = 10,
        with_trades: bool = True,
        window_ticks: int = 1 << 20,
    ) -> None:
        if interval_ns <= 0:
            raise InputError("--interval must be a positive duration")
        if depth < 1:
            raise InputError(f"--depth must be at least 1, got {depth}")
        if ofi_window < 1:
            raise InputError(f"--ofi-window must be at least 1, got {ofi_window}")
        self.interval_ns = interval_ns
        self.depth = depth
        self.ofi_window = ofi_window
        self.with_trades = with_trades
        self.price_decimals = price_decimals
        self.book = BookBuilder(
            rule=rule,
            price_decimals=price_decimals,
            interval_ns=interval_ns,
            depth=depth,
            window_ticks=window_ticks,
            message_depth=depth,
        )
        self.ofi_si, self.ofi_sf, self.ofi_ring = nb.ofi_state(depth, ofi_window)
        self.buckets = _Buckets(interval_ns)
        self._book_rows: list[BookRows] = []  # from the book, OFI not yet known
        self._ready: dict[str, npt.NDArray[Any]] = {}  # OFI known, waiting for trades
        self._bucket_rows: dict[str, npt.NDArray[Any]] = {}
        self.messages = 0
        self.gap_messages = 0

    def _ofi(self, msgs: npt.NDArray[np.void], levels: tuple[Any, ...], final: bool) -> None:
        rows = BookRows.concat(self._book_rows, self.depth)
        n = len(rows.ts)
        out_lv = np.empty((n, self.depth))
        out_cum = np.empty(n)
        out_roll = np.empty(n)
        if len(levels) == 0:
            e = np.empty((0, self.depth))
            levels = (e.astype(np.int64), e, e.astype(np.int64), e)
        j = nb.ofi_rows(
            np.ascontiguousarray(msgs["ts"]),
            np.ascontiguousarray(msgs["valid"]),
            levels[0],
            levels[1],
            levels[2],
            levels[3],
            rows.ts,
            rows.valid,
            final,
            self.ofi_si,
            self.ofi_sf,
            self.ofi_ring,
            out_lv,
            out_cum,
            out_roll,
        )
        done = {
            "ts": rows.ts[:j],
            "valid": rows.valid[:j],
            "bid_px": rows.bid_px[:j],
            "bid_qty": rows.bid_qty[:j],
            "ask_px": rows.ask_px[:j],
            "ask_qty": rows.ask_qty[:j],
            "ofi_levels": out_lv[:j],
            "ofi_cum": out_cum[:j],
            "ofi_roll": out_roll[:j],
        }
        self._ready = _cat([self._ready, done])
        rest = slice(j, None)
        self._book_rows = [
            BookRows(
                rows.ts[rest],
                rows.valid[rest],
                rows.bid_px[rest],
                rows.bid_qty[rest],
                rows.ask_px[rest],
                rows.ask_qty[rest],
            )
        ]

    def _emit(self, final: bool) -> pa.Table:
        ready = self._ready
        if not ready:
            return self._table({}, {})
        if final or not self.with_trades:
            n = len(ready["ts"])
        else:
            n = int(np.searchsorted(ready["ts"], self.buckets.last_ts, side="left"))
        rows = _take(ready, slice(None, n))
        self._ready = _take(ready, slice(n, None))
        table = self._table(rows, self._bucket_rows)
        if self._bucket_rows and n:  # later rows are stamped after every row written here
            keep = self._bucket_rows["ts"] > rows["ts"][-1]
            self._bucket_rows = _take(self._bucket_rows, keep)
        return table

    def update(
        self, events: npt.NDArray[np.void], trades: npt.NDArray[np.void] | None = None
    ) -> pa.Table:
        """Apply book events (``BOOK_EVENT_DTYPE``) and trades (``TRADE_DTYPE``); rows closed."""
        if len(events):
            msgs, book_rows = self.book.update(events)
            self._book_rows.append(book_rows)
            self.messages += len(msgs)
            self.gap_messages += int(np.count_nonzero(~msgs["valid"]))
            self._ofi(msgs, self.book.message_levels, final=False)
        if trades is not None and len(trades) and self.with_trades:
            b = self.buckets.run(trades["ts"], trades["price"], trades["qty"], trades["side"])
            self._bucket_rows = _cat([self._bucket_rows, b])
        return self._emit(final=False)

    def finish(self) -> pa.Table:
        """The rows up to the last book message (call once, at the end of the stream)."""
        self._book_rows.append(self.book.finish())
        empty = np.zeros(0, [("ts", np.int64), ("valid", np.bool_)])
        self._ofi(empty, (), final=True)
        if (
            self._ready
            and len(self._ready["ts"])
            and self.with_trades
            and (self.buckets.si[nb.TI_END] != -1)
        ):
            end = int(self._ready["ts"][-1])
            e = np.empty(0)
            b = self.buckets.run(np.empty(0, np.int64), e, e, np.empty(0, np.int8), end_ns=end)
            self._bucket_rows = _cat([self._bucket_rows, b])
        return self._emit(final=True)

    # -- state ----------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """A JSON-able snapshot of the builder, for :meth:`from_state`."""
        pending = BookRows.concat(self._book_rows, self.depth)
        return {
            "version": STATE_VERSION,
            "params": {
                "interval_ns": self.interval_ns,
                "depth": self.depth,
                "ofi_window": self.ofi_window,
                "with_trades": self.with_trades,
                "price_decimals": self.price_decimals,
            },
            "book": self.book.dump_state(),
            "ofi": [_enc(a) for a in (self.ofi_si, self.ofi_sf, self.ofi_ring)],
            "buckets": [_enc(self.buckets.si), _enc(self.buckets.sf)],
            "book_rows": {k: _enc(getattr(pending, k)) for k in BookRows.__slots__},
            "ready": {k: _enc(v) for k, v in self._ready.items()},
            "bucket_rows": {k: _enc(v) for k, v in self._bucket_rows.items()},
            "counts": [self.messages, self.gap_messages],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BookFeatureBuilder:
        """The builder saved by :meth:`state`."""
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise InputError("not a book-features state (or one of another version)")
        p = state["params"]
        b = cls(
            rule=int(state["book"]["rule"]),
            price_decimals=int(p["price_decimals"]),
            interval_ns=int(p["interval_ns"]),
            depth=int(p["depth"]),
            ofi_window=int(p["ofi_window"]),
            with_trades=bool(p["with_trades"]),
            window_ticks=8,
        )
        b.book = BookBuilder.load_state(state["book"])
        b.ofi_si, b.ofi_sf, b.ofi_ring = (_dec(a) for a in state["ofi"])
        b.buckets.si, b.buckets.sf = (_dec(a) for a in state["buckets"])
        b._book_rows = [BookRows(*(_dec(state["book_rows"][k]) for k in BookRows.__slots__))]
        b._ready = {k: _dec(v) for k, v in state["ready"].items()}
        b._bucket_rows = {k: _dec(v) for k, v in state["bucket_rows"].items()}
        b.messages, b.gap_messages = (int(x) for x in state["counts"])
        return b

    # -- table ----------------------------------------------------------------------------------
    def _table(
        self, rows: dict[str, npt.NDArray[Any]], buckets: dict[str, npt.NDArray[Any]]
    ) -> pa.Table:
        d = self.depth
        names = book_feature_columns(d, self.ofi_window)
        if not rows:
            e2 = np.empty((0, d))
            rows = {
                "ts": np.empty(0, np.int64),
                "valid": np.empty(0, bool),
                "bid_px": e2,
                "bid_qty": e2,
                "ask_px": e2,
                "ask_qty": e2,
                "ofi_levels": e2,
                "ofi_cum": np.empty(0),
                "ofi_roll": np.empty(0),
            }
        ts = rows["ts"]
        n = len(ts)
        valid = rows["valid"]
        bp, bq, ap, aq = rows["bid_px"], rows["bid_qty"], rows["ask_px"], rows["ask_qty"]
        cols: dict[str, Any] = {"ts": pa.array(ts, pa.int64()).cast(TS_TYPE)}
        for key, arr in (("bid_px", bp), ("bid_sz", bq), ("ask_px", ap), ("ask_sz", aq)):
            for k in range(d):
                cols[f"{key}_{k + 1:02d}"] = arr[:, k]
        cols["book_valid"] = pa.array(valid, pa.bool_())
        b1, a1, qb1, qa1 = bp[:, 0], ap[:, 0], bq[:, 0], aq[:, 0]
        mid = (b1 + a1) / 2.0
        spread = a1 - b1
        cols["midprice"] = mid
        cols["spread"] = spread
        cols["spread_bps"] = _ratio(1e4 * spread, mid)
        cols["microprice"] = _ratio(b1 * qa1 + a1 * qb1, qb1 + qa1)
        levels = [m for m in BOOK_LEVELS if m <= d]
        with np.errstate(invalid="ignore"):
            cb = np.nancumsum(bq, axis=1)  # running sums over levels, absent levels as 0
            ca = np.nancumsum(aq, axis=1)
            ub = np.nancumsum(bp * bq, axis=1)
            ua = np.nancumsum(ap * aq, axis=1)
        for m in levels:
            sb, sa = cb[:, m - 1], ca[:, m - 1]
            imb = _ratio(sb - sa, sb + sa)
            imb[~valid] = np.nan
            cols["imbalance" if m == 1 else f"imbalance_{m}"] = imb
        for m in levels:
            liq = cb[:, m - 1] + ca[:, m - 1]
            liq[~valid] = np.nan
            cols[f"liquidity_{m}"] = liq
        for m in levels:
            usd = ub[:, m - 1] + ua[:, m - 1]
            usd[~valid] = np.nan
            cols[f"liquidity_usd_{m}"] = usd
        cols["ofi"] = rows["ofi_levels"][:, 0] if n else np.empty(0)
        for k in range(d):
            cols[f"mlofi_{k + 1:02d}"] = rows["ofi_levels"][:, k]
        cols[f"ofi_{self.ofi_window}"] = rows["ofi_roll"]
        cols["ofi_cumulative"] = rows["ofi_cum"]
        # trades of the interval: the bucket stamped ts (none before the first trade)
        buy = np.zeros(n)
        sell = np.zeros(n)
        count = np.zeros(n, np.int64)
        vwap = np.full(n, np.nan)
        last_px = np.full(n, np.nan)
        last_qty = np.full(n, np.nan)
        age = np.full(n, np.nan)
        if buckets and n:
            bts = buckets["ts"]
            idx = np.searchsorted(bts, ts)
            hit = idx < len(bts)
            hit[hit] &= bts[idx[hit]] == ts[hit]
            at = idx[hit]
            buy[hit] = buckets["buy_volume"][at]
            sell[hit] = buckets["sell_volume"][at]
            count[hit] = buckets["trade_count"][at]
            vwap[hit] = _ratio(buckets["dollar_volume"][at], buckets["volume"][at])
            last_px[hit] = buckets["last_trade_px"][at]
            last_qty[hit] = buckets["last_trade_qty"][at]
            lt = buckets["last_trade_ts"][at]
            age[hit] = np.where(lt != _NO_TS, (ts[hit] - lt) / 1e9, np.nan)
        cols["taker_buy_volume"] = buy
        cols["taker_sell_volume"] = sell
        cols["signed_volume"] = buy - sell
        cols["volume_imbalance"] = _ratio(buy - sell, buy + sell)
        cols["trade_count"] = pa.array(count, pa.int64())
        cols["vwap"] = vwap
        cols["last_trade_px"] = last_px
        cols["last_trade_qty"] = last_qty
        cols["last_trade_age"] = age
        arrays = [
            c if isinstance(c, pa.Array) else pa.array(np.asarray(c, np.float64), pa.float64())
            for c in (cols[x] for x in names)
        ]
        return pa.Table.from_arrays(arrays, names=names)


def _levels_carried(table: pa.Table, depth: int) -> int:
    """Most levels present on either side in any valid row."""
    valid = table.column("book_valid").to_numpy(zero_copy_only=False)
    most = 0
    for side in ("bid_sz", "ask_sz"):
        present = np.column_stack(
            [
                ~np.isnan(table.column(f"{side}_{k:02d}").to_numpy()[valid])
                for k in range(1, depth + 1)
            ]
        )
        if present.size:
            most = max(most, int(present.sum(axis=1).max()))
    return most


def book_features(
    inputs: Iterable[str],
    *,
    venue: str,
    symbol: str,
    input_format: str = "auto",
    interval_ns: int = 100_000_000,
    depth: int = 10,
    ofi_window: int = 10,
    price_decimals: int | None = None,
    with_trades: bool = True,
    chunk_events: int = 1 << 18,
    read: ReadReport | None = None,
    on_bad_frames: str = "error",
) -> pa.Table:
    """Book features of ``symbol`` on ``venue`` from recorded files (batch, streamed).

    Parses and applies the recording in chunks of about ``chunk_events`` level
    events (the rows are the same for any chunk size). ``price_decimals`` defaults
    to the fewest decimals that put every price of the first chunk on the grid. A
    ``depth`` above the most levels any valid row carries is an ``InputError``.
    A ``symbol`` no WebSocket message of the input carries is an ``InputError``, as
    in ``book``; ``on_bad_frames`` is as in :func:`seriesfactory.raw.readers.read_records`.
    """
    report = read if read is not None else ReadReport()
    parser = get_parser(venue, symbol)
    builder: BookFeatureBuilder | None = None
    parts: list[pa.Table] = []
    pending_trades: list[npt.NDArray[np.void]] = []

    def flush() -> None:
        nonlocal builder, price_decimals
        events, tr = parser.out.take()
        if builder is None:
            if len(events) == 0:
                pending_trades.append(tr)
                return
            if price_decimals is None:
                price_decimals = infer_price_decimals(events["price"][events["side"] != 0])
            builder = BookFeatureBuilder(
                rule=parser.rule,
                price_decimals=price_decimals,
                interval_ns=interval_ns,
                depth=depth,
                ofi_window=ofi_window,
                with_trades=with_trades,
            )
            tr = np.concatenate([*pending_trades, tr])
        parts.append(builder.update(events, tr))

    with progress.current().task(f"{symbol} book features", unit="events") as task:
        for rec in read_records(inputs, input_format, report, on_bad_frames=on_bad_frames):
            parser.feed(rec)
            if len(parser.out.events) >= chunk_events:
                task.advance(len(parser.out.events))
                flush()
        if parser.matched == 0:
            raise InputError(
                f"--symbol {symbol!r}: no message for it on {venue!r} in the input "
                f"({report.records} records read); check --symbol and --venue"
            )
        task.advance(len(parser.out.events))
        flush()
    if builder is None:
        raise DataError(f"no book messages for {symbol!r} on {venue!r} in the input")
    parts.append(builder.finish())
    table = pa.concat_tables(parts)
    if not pa.compute.any(table.column("book_valid")).as_py():
        raise DataError(
            f"the book of {symbol!r} is never valid in the input (no snapshot synced it, or every "
            "row falls in a gap); record the venue's snapshot with the stream"
        )
    carried = _levels_carried(table, depth)
    if carried < depth:
        raise InputError(
            f"--depth {depth}: the recording of {symbol} carries at most {carried} levels "
            f"per side; use --depth {max(carried, 1)} or less"
        )
    return table


# ============================================================================================
# Trade features
# ============================================================================================
@dataclass(frozen=True, slots=True)
class TradeFeatureParams:
    """Parameters of the trade feature set (windows in rows). See ``docs/features.md``."""

    interval_ns: int = 60_000_000_000
    windows: tuple[int, ...] = (5, 10, 30)
    lags: tuple[int, ...] = (1, 5, 10)
    momentum: tuple[int, ...] = (5, 10, 30)
    stat_window: int = 30
    intensity_short: int = 5
    intensity_long: int = 30
    vpin_buckets: int = 50
    vpin_fit_rows: int = 500
    vpin_bucket_volume: float | None = None
    bvc_sigma_window: int = 100

    def __post_init__(self) -> None:
        if self.interval_ns <= 0:
            raise InputError("--interval must be a positive duration")
        ints = (
            *self.windows,
            *self.lags,
            *self.momentum,
            self.stat_window,
            self.intensity_short,
            self.intensity_long,
            self.vpin_buckets,
            self.vpin_fit_rows,
        )
        if any(int(x) < 1 for x in ints) or self.bvc_sigma_window < 2:
            raise InputError("feature windows, lags and VPIN sizes must be positive integers")
        if self.stat_window < 3:
            raise InputError("the statistics window must be at least 3 rows")
        if self.intensity_short > self.intensity_long:
            raise InputError("the short intensity window must not exceed the long one")
        if self.vpin_bucket_volume is not None and not self.vpin_bucket_volume > 0:
            raise InputError("the VPIN bucket volume must be positive")

    @property
    def history(self) -> int:
        """Rows of the past a new row can look at (the tail the builder keeps)."""
        return (
            max(
                *self.windows,
                *self.lags,
                *self.momentum,
                self.stat_window + 1,
                self.intensity_long,
                self.bvc_sigma_window + 1,
            )
            + 1
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> TradeFeatureParams:
        d = dict(d)
        for k in ("windows", "lags", "momentum"):
            d[k] = tuple(d[k])
        return TradeFeatureParams(**d)


#: The base columns of a bucket (or bar) row, before the windowed features.
BASE_COLUMNS = (
    "ts",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "buy_volume",
    "sell_volume",
    "buy_count",
    "sell_count",
    "trade_count",
    "volume_imbalance",
    "trade_imbalance",
    "vwap",
    "dollar_volume",
    "signed_volume",
    "log_return",
    "log_price",
)
_TAIL = ("close", "log_return", "volume", "volume_imbalance", "signed_volume", "dollar_volume",
         "trade_count")  # fmt: skip
_ROLLED = ("log_return", "volume", "volume_imbalance")


def trade_feature_columns(params: TradeFeatureParams) -> list[str]:
    """The column names of a trade feature table, in order."""
    cols = list(BASE_COLUMNS)
    for x in _ROLLED:
        for w in params.windows:
            cols += [f"{x}_{s}_{w}" for s in ("mean", "std", "min", "max")]
    for x in _ROLLED:
        cols += [f"{x}_lag_{k}" for k in params.lags]
    cols += ["vpin", "vpin_bvc", "kyle_lambda", "amihud", "roll_spread", "realized_vol"]
    cols += [f"momentum_{h}" for h in params.momentum]
    cols += ["ret_autocorr", "intensity_momentum", "time_since_last_trade"]
    return cols


@dataclass(slots=True)
class _Derived:
    """The windowed stage: a tail of past rows and the two VPIN states."""

    params: TradeFeatureParams
    tail: dict[str, F64] = field(default_factory=dict)
    vpin: tuple[np.ndarray, ...] = ()
    bvc: tuple[np.ndarray, ...] = ()

    def __post_init__(self) -> None:
        p = self.params
        if not self.tail:
            self.tail = {k: np.empty(0) for k in _TAIL}
        if not self.vpin:
            self.vpin = nb.vpin_state(p.vpin_buckets, p.vpin_bucket_volume)
            self.bvc = nb.vpin_state(p.vpin_buckets, p.vpin_bucket_volume)

    def run(self, base: dict[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]:
        """Base columns of new rows -> every feature column of those rows."""
        p = self.params
        n = len(base["ts"])
        out: dict[str, npt.NDArray[Any]] = dict(base)
        close = np.asarray(base["close"], np.float64)
        t0 = len(self.tail["close"])
        cat_close = np.concatenate([self.tail["close"], close])
        with np.errstate(invalid="ignore", divide="ignore"):
            lr = np.full(n, np.nan)
            prev = cat_close[t0 - 1 : t0 - 1 + n] if t0 else np.r_[np.nan, close[:-1]]
            if n:
                lr = np.log(close / prev)
            out["log_return"] = lr
            out["log_price"] = np.log(close)
        new = {
            "close": close,
            "log_return": lr,
            "volume": np.asarray(base["volume"], np.float64),
            "volume_imbalance": np.asarray(base["volume_imbalance"], np.float64),
            "signed_volume": np.asarray(base["signed_volume"], np.float64),
            "dollar_volume": np.asarray(base["dollar_volume"], np.float64),
            "trade_count": np.asarray(base["trade_count"], np.float64),
        }
        cat = {k: np.concatenate([self.tail[k], new[k]]) for k in _TAIL}
        for x in _ROLLED:
            for w in p.windows:
                res = [np.empty(n) for _ in range(4)]
                nb.rolling_stats(cat[x], t0, w, *res)
                for s, arr in zip(("mean", "std", "min", "max"), res, strict=True):
                    out[f"{x}_{s}_{w}"] = arr
        idx = np.arange(t0, t0 + n)
        for x in _ROLLED:
            for k in p.lags:
                src = idx - k
                lag = np.full(n, np.nan)
                ok = src >= 0
                lag[ok] = cat[x][src[ok]]
                out[f"{x}_lag_{k}"] = lag
        wf = np.empty((n, 6))
        nb.window_features(
            cat["close"],
            cat["log_return"],
            cat["signed_volume"],
            cat["dollar_volume"],
            cat["trade_count"],
            t0,
            p.stat_window,
            p.intensity_short,
            p.intensity_long,
            wf,
        )
        vol = new["volume"]
        if "vpin" not in base:  # bars: exact side per bar (unknown-side volume half and half)
            buy = np.asarray(base["buy_volume"], np.float64)
            sell = np.asarray(base["sell_volume"], np.float64)
            share = _ratio(buy + 0.5 * (vol - buy - sell), vol)
            out["vpin"] = np.empty(n)
            nb.vpin_pour(
                vol, share, p.vpin_fit_rows, self.vpin[0], self.vpin[1], self.vpin[2], out["vpin"]
            )
        f_bvc = np.empty(n)
        nb.bvc_fraction(cat["close"], t0, p.bvc_sigma_window, f_bvc)
        out["vpin_bvc"] = np.empty(n)
        nb.vpin_pour(
            vol, f_bvc, p.vpin_fit_rows, self.bvc[0], self.bvc[1], self.bvc[2], out["vpin_bvc"]
        )
        for k, name in enumerate(
            ("kyle_lambda", "amihud", "roll_spread", "realized_vol", "ret_autocorr",
             "intensity_momentum")
        ):  # fmt: skip
            out[name] = wf[:, k]
        for h in p.momentum:
            src = idx - h
            mom = np.full(n, np.nan)
            ok = src >= 0
            with np.errstate(invalid="ignore", divide="ignore"):
                mom[ok] = np.log(cat["close"][idx[ok]] / cat["close"][src[ok]])
            out[f"momentum_{h}"] = mom
        keep = p.history
        self.tail = {k: v[-keep:].copy() for k, v in cat.items()}
        return out

    def state(self) -> dict[str, Any]:
        return {
            "tail": {k: [float(x).hex() for x in v] for k, v in self.tail.items()},
            "vpin": [_arr_state(a) for a in self.vpin],
            "bvc": [_arr_state(a) for a in self.bvc],
        }

    @classmethod
    def from_state(cls, params: TradeFeatureParams, st: dict[str, Any]) -> _Derived:
        return cls(
            params,
            {k: np.array([float.fromhex(x) for x in v]) for k, v in st["tail"].items()},
            tuple(_arr_restore(a) for a in st["vpin"]),
            tuple(_arr_restore(a) for a in st["bvc"]),
        )


def _arr_state(a: npt.NDArray[Any]) -> dict[str, Any]:
    if a.dtype == np.int64:
        return {"i": a.tolist()}
    return {"f": [float(x).hex() for x in a]}


def _arr_restore(d: dict[str, Any]) -> npt.NDArray[Any]:
    if "i" in d:
        return np.array(d["i"], np.int64)
    return np.array([float.fromhex(x) for x in d["f"]], np.float64)


def _base_from_buckets(b: dict[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]:
    buy, sell, vol = b["buy_volume"], b["sell_volume"], b["volume"]
    nbuy = b["buy_count"].astype(np.float64)
    nsell = b["sell_count"].astype(np.float64)
    return {
        "ts": b["ts"],
        "open": b["open"],
        "high": b["high"],
        "low": b["low"],
        "close": b["close"],
        "volume": vol,
        "buy_volume": buy,
        "sell_volume": sell,
        "buy_count": b["buy_count"],
        "sell_count": b["sell_count"],
        "trade_count": b["trade_count"],
        "volume_imbalance": _ratio(buy - sell, buy + sell),
        "trade_imbalance": _ratio(nbuy - nsell, nbuy + nsell),
        "vwap": _ratio(b["dollar_volume"], vol),
        "dollar_volume": b["dollar_volume"],
        "signed_volume": buy - sell,
        "last_trade_ts": b["last_trade_ts"],
        "vpin": b["vpin"],
    }


def _trade_table(cols: dict[str, npt.NDArray[Any]], params: TradeFeatureParams) -> pa.Table:
    names = trade_feature_columns(params)
    n = len(cols["ts"]) if cols else 0
    arrays: list[pa.Array] = []
    for name in names:
        if name == "ts":
            arrays.append(
                pa.array(cols["ts"] if n else np.empty(0, np.int64), pa.int64()).cast(TS_TYPE)
            )
        elif name in ("buy_count", "sell_count", "trade_count"):
            v = cols.get(name) if n else np.empty(0, np.int64)
            if v is None or v.dtype != np.int64:  # bars carry no per-side counts
                arrays.append(pa.nulls(n, pa.int64()))
            else:
                arrays.append(pa.array(v, pa.int64()))
        elif name == "time_since_last_trade":
            if not n:
                arrays.append(pa.array(np.empty(0), pa.float64()))
                continue
            lt = cols.get("last_trade_ts")
            if lt is None:
                arrays.append(pa.array(np.full(n, np.nan), pa.float64()))
            else:
                arrays.append(
                    pa.array(np.where(lt != _NO_TS, (cols["ts"] - lt) / 1e9, np.nan), pa.float64())
                )
        else:
            v = cols[name] if n else np.empty(0)
            arrays.append(pa.array(np.asarray(v, np.float64), pa.float64()))
    return pa.Table.from_arrays(arrays, names=names)


class TradeFeatureBuilder:
    """Streaming trade features: feed trades in chunks, get the rows of closed buckets.

    A bucket stamped ``t`` holds the trades with ``t - interval < ts <= t`` (trade
    times clamped to be non-decreasing) and is returned once a trade after ``t``
    arrives, or by :meth:`finish`. Any chunking gives identical rows; :meth:`state`
    / :meth:`from_state` save and restore the builder as JSON-able data.
    """

    def __init__(self, params: TradeFeatureParams) -> None:
        self.params = params
        self._buckets = _Buckets(
            params.interval_ns, params.vpin_buckets, params.vpin_bucket_volume, params.vpin_fit_rows
        )
        self._derived = _Derived(params)
        self.trades = 0

    def update(
        self,
        ts_ns: I64,
        price: F64,
        qty: F64,
        side: npt.NDArray[np.int8] | None = None,
    ) -> pa.Table:
        """Add trades (ns UTC, quote per base, base units, aggressor side); rows closed."""
        if side is None:
            side = np.zeros(len(ts_ns), np.int8)
        self._check(price, qty)
        b = self._buckets.run(ts_ns, price, qty, side)
        self.trades += len(ts_ns)
        return self._rows(b)

    @staticmethod
    def _check(price: F64, qty: F64) -> None:
        bad = ~(np.isfinite(price) & (price > 0) & np.isfinite(qty) & (qty >= 0))
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(
                f"trade {i + 1} of the chunk has price {float(price[i])!r} and quantity "
                f"{float(qty[i])!r}; "
                "prices must be positive and quantities non-negative"
            )

    def _rows(self, b: dict[str, npt.NDArray[Any]]) -> pa.Table:
        if not b or not len(b["ts"]):
            return _trade_table({}, self.params)
        base = _base_from_buckets(b)
        out = self._derived.run(base)
        out["last_trade_ts"] = base["last_trade_ts"]
        return _trade_table(out, self.params)

    def finish(self, end_ns: int | None = None) -> pa.Table:
        """Write the buckets stamped ``<= end_ns`` (default: through the last trade's bucket)."""
        if self._buckets.si[nb.TI_END] == -1:
            return _trade_table({}, self.params)
        if end_ns is None:
            end_ns = int(self._buckets.si[nb.TI_END])
        e = np.empty(0)
        b = self._buckets.run(np.empty(0, np.int64), e, e, np.empty(0, np.int8), end_ns=end_ns)
        return self._rows(b)

    def state(self) -> dict[str, Any]:
        """A JSON-able snapshot of the builder, for :meth:`from_state`."""
        return {
            "version": STATE_VERSION,
            "params": self.params.to_dict(),
            "buckets": [_arr_state(self._buckets.si), _arr_state(self._buckets.sf)],
            "vpin": [_arr_state(a) for a in self._buckets.vpin],
            "derived": self._derived.state(),
            "trades": self.trades,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TradeFeatureBuilder:
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise InputError("not a trade-features state (or one of another version)")
        b = cls(TradeFeatureParams.from_dict(state["params"]))
        b._buckets.si = _arr_restore(state["buckets"][0])
        b._buckets.sf = _arr_restore(state["buckets"][1])
        v = [_arr_restore(a) for a in state["vpin"]]
        b._buckets.vpin = (v[0], v[1], v[2])
        b._derived = _Derived.from_state(b.params, state["derived"])
        b.trades = int(state["trades"])
        return b


def trade_features(
    ts_ns: I64,
    price: F64,
    qty: F64,
    side: npt.NDArray[np.int8] | None = None,
    *,
    params: TradeFeatureParams | None = None,
    end_ns: int | None = None,
) -> pa.Table:
    """Trade features of one trade series (batch): every bucket through ``end_ns``."""
    if len(ts_ns) == 0:
        raise DataError("no trades in the input")
    b = TradeFeatureBuilder(params or TradeFeatureParams())
    return pa.concat_tables([b.update(ts_ns, price, qty, side), b.finish(end_ns)])


def trade_features_from_bars(bars: pa.Table, params: TradeFeatureParams | None = None) -> pa.Table:
    """Trade features with one row per bar (a table from ``bars build``), stamped ``time_end``.

    Bars carry no per-side trade counts (``buy_count``, ``sell_count``,
    ``trade_imbalance`` are null/NaN) and no last-trade time.
    """
    p = params or TradeFeatureParams()
    need = ("time_end", "open", "high", "low", "close", "volume", "dollar_volume", "buy_volume",
            "tick_count")  # fmt: skip
    missing = [c for c in need if c not in bars.column_names]
    if missing:
        raise DataError(
            f"not a bars file: columns {missing} are missing; build it with 'bars build'"
        )
    if bars.num_rows == 0:
        raise DataError("no bars in the input")
    col = {c: bars.column(c).to_numpy(zero_copy_only=False) for c in need}
    ts = bars.column("time_end").cast(pa.int64()).to_numpy()
    if np.any(np.diff(ts) < 0):
        raise DataError("bars are not in time order (time_end decreases)")
    vol = col["volume"].astype(np.float64)
    buy = col["buy_volume"].astype(np.float64)
    sell = vol - buy
    base = {
        "ts": ts,
        "open": col["open"].astype(np.float64),
        "high": col["high"].astype(np.float64),
        "low": col["low"].astype(np.float64),
        "close": col["close"].astype(np.float64),
        "volume": vol,
        "buy_volume": buy,
        "sell_volume": sell,
        "trade_count": col["tick_count"].astype(np.int64),
        "volume_imbalance": _ratio(buy - sell, buy + sell),
        "trade_imbalance": np.full(len(ts), np.nan),
        "vwap": _ratio(col["dollar_volume"].astype(np.float64), vol),
        "dollar_volume": col["dollar_volume"].astype(np.float64),
        "signed_volume": buy - sell,
    }
    out = _Derived(p).run(base)
    return _trade_table(out, p)
