"""Parsing Binance archive CSVs (trades, aggTrades) into the trade schema.

Layouts (``data.binance.vision``; futures files have a header row, spot files
do not — detected from the first line either way)::

    spot  trades     id,price,qty,quote_qty,time,is_buyer_maker,is_best_match
    spot  aggTrades  agg_id,price,qty,first_id,last_id,time,is_buyer_maker,is_best_match
    um/cm trades     id,price,qty,quote_qty|base_qty,time,is_buyer_maker
    um/cm aggTrades  agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,
                     is_buyer_maker

A raw COIN-M aggTrades line (header, then data)::

    agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker
    480537903,79972.8,542.0,1123474160,1123474164,1778198400020,false

Conversions
-----------
- time: decided per value — ``t >= 10**14`` is microseconds (spot files from
  2025-01-01 on), otherwise milliseconds; ``ts_ns = t * 1000`` or ``t * 10**6``.
- side: ``is_buyer_maker = true`` means the taker sold: ``side = -1``; else ``+1``.
  Booleans are accepted in any case (``true``, ``True``, ``TRUE``).
- qty: base units; on COIN-M the file gives contracts and
  ``qty_base = contracts * contract_size_usd / price`` (so the quote notional
  ``price * qty_base`` is exactly ``contracts * contract_size_usd``).

Bad rows — a wrong column count, a non-numeric field, a non-positive price, a
negative quantity, a time before the previous row's — raise
:class:`~seriesfactory.errors.DataError` naming the file and line, or, with
``on_bad_rows="skip"``, are dropped, counted and listed in the result.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pacsv

from seriesfactory.core.lazy import lazy_module
from seriesfactory.core.time import MAX_MS, MAX_US
from seriesfactory.schema import TRADE_SCHEMA
from seriesfactory.schema.trades import BadRow, ParsedTrades, raise_bad_rows

if TYPE_CHECKING:
    from seriesfactory.sources.binance import csv_nb
else:  # numba loads when an archive is parsed, not when one is downloaded (issue 16)
    csv_nb = lazy_module("seriesfactory.sources.binance.csv_nb")

__all__ = ["BadRow", "ParsedTrades", "parse_trades_csv", "raise_bad_rows", "to_trade_table"]

Market = Literal["spot", "usdm", "coinm"]
Kind = Literal["trades", "aggTrades"]
US_THRESHOLD = 10**14
_NO_TS = -(2**63)
_TRUE = ("true",)
_FALSE = ("false",)


def _layout(market: Market, kind: Kind) -> tuple[int, int, int]:
    """(column count, time column, is_buyer_maker column)."""
    if kind == "trades":
        return (7 if market == "spot" else 6), 4, 5
    return (8 if market == "spot" else 7), 5, 6


def _has_header(data: bytes) -> bool:
    end = data.find(b"\n")
    first = data[: end if end >= 0 else len(data)].split(b",", 1)[0].strip()
    return bool(first) and not first.lstrip(b"-").isdigit()


def to_trade_table(
    ts_raw: npt.NDArray[np.int64],
    price: npt.NDArray[np.float64],
    qty: npt.NDArray[np.float64],
    buyer_maker: npt.NDArray[np.bool_],
    trade_id: npt.NDArray[np.int64],
    contract_size: float | None,
) -> pa.Table:
    """Columns as read -> a :data:`TRADE_SCHEMA` table (units as in the module docstring)."""
    ts_ns = np.where(ts_raw >= US_THRESHOLD, ts_raw * 1_000, ts_raw * 1_000_000)
    qty_base = qty * contract_size / price if contract_size is not None else qty
    side = np.where(buyer_maker, np.int8(-1), np.int8(1)).astype(np.int8)
    return _trade_table(ts_ns, price, qty_base, side, trade_id)


def _trade_table(
    ts_ns: npt.NDArray[np.int64],
    price: npt.NDArray[np.float64],
    qty_base: npt.NDArray[np.float64],
    side: npt.NDArray[np.int8],
    trade_id: npt.NDArray[np.int64],
) -> pa.Table:
    n = ts_ns.shape[0]
    return pa.Table.from_arrays(
        [
            pa.array(ts_ns, type=pa.int64()).cast(TRADE_SCHEMA.field("ts").type),
            pa.nulls(n, type=TRADE_SCHEMA.field("recv_ts").type),
            pa.array(price, type=pa.float64()),
            pa.array(qty_base, type=pa.float64()),
            pa.array(side, type=pa.int8()),
            pa.array(trade_id, type=pa.int64()),
        ],
        schema=TRADE_SCHEMA,
    )


def _kernel(
    data: bytes | memoryview, header: bool, ncols: int, t_col: int, m_col: int, after_ts_ns: int
) -> tuple[dict[str, Any], int] | None:
    """The numba fast path (``csv_nb.py``): columns and lines read, or None to fall back."""
    buf = np.frombuffer(data, np.uint8)
    pos = 0
    if header:
        nl = int(np.argmax(buf == 10)) if buf.size and buf[0] != 10 else 0
        if buf.size == 0 or buf[nl] != 10:
            return None
        pos = nl + 1
    cap = (buf.size - pos) // (2 * ncols) + 1
    out: dict[str, Any] = {
        "id": np.empty(cap, np.int64),
        "ts_ns": np.empty(cap, np.int64),
        "price": np.empty(cap, np.float64),
        "qty": np.empty(cap, np.float64),
        "side": np.empty(cap, np.int8),
    }
    after = max(after_ts_ns, -1)
    n, status, _stop, lines = csv_nb.parse_lines(
        buf, pos, buf.size, ncols, t_col, m_col, after, csv_nb.POW10,
        out["id"], out["ts_ns"], out["price"], out["qty"], out["side"],
    )  # fmt: skip
    if status != csv_nb.OK:
        return None
    return {k: v[:n] for k, v in out.items()}, lines + int(header)


def _fast(data: bytes, header: bool, ncols: int, t_col: int, m_col: int) -> pa.Table:
    names = [f"c{i}" for i in range(ncols)]
    types = {"c0": pa.int64(), "c1": pa.float64(), "c2": pa.float64()}
    types[f"c{t_col}"] = pa.int64()
    types[f"c{m_col}"] = pa.bool_()
    return pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=int(header)),
        parse_options=pacsv.ParseOptions(newlines_in_values=False),
        convert_options=pacsv.ConvertOptions(
            column_types=types,
            include_columns=["c0", "c1", "c2", f"c{t_col}", f"c{m_col}"],
            true_values=["true", "True", "TRUE"],
            false_values=["false", "False", "FALSE"],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            null_values=[],
        ),
    )


def _slow(
    data: bytes, header: bool, ncols: int, t_col: int, m_col: int, first_line: int = 1
) -> tuple[dict[str, Any], list[BadRow]]:
    """Row by row, only for files the fast reader refused: finds every bad line."""
    cols: dict[str, list[Any]] = {"id": [], "price": [], "qty": [], "ts": [], "m": [], "line": []}
    bad: list[BadRow] = []
    for number, raw in enumerate(data.decode("utf-8", "replace").split("\n"), start=first_line):
        line = raw.rstrip("\r")
        if (header and number == first_line) or not line.strip():
            continue
        parts = line.split(",")
        if len(parts) != ncols:
            bad.append(BadRow(number, f"{len(parts)} columns, expected {ncols}"))
            continue
        try:
            row_id = int(parts[0])
            price = float(parts[1])
            qty = float(parts[2])
            ts = int(parts[t_col])
        except ValueError:
            bad.append(BadRow(number, f"non-numeric field in {line[:80]!r}"))
            continue
        flag = parts[m_col].strip().lower()
        if flag not in (*_TRUE, *_FALSE):
            bad.append(BadRow(number, f"is_buyer_maker {parts[m_col]!r} is not true/false"))
            continue
        for key, value in (("id", row_id), ("price", price), ("qty", qty), ("ts", ts)):
            cols[key].append(value)
        cols["m"].append(flag in _TRUE)
        cols["line"].append(number)
    return cols, bad


def parse_trades_csv(
    data: bytes | memoryview,
    *,
    name: str,
    market: Market,
    kind: Kind,
    contract_size: float | None = None,
    on_bad_rows: str = "error",
    first_line: int = 1,
    header: bool | None = None,
    after_ts_ns: int = _NO_TS,
) -> ParsedTrades:
    """Parse an archive CSV (bytes) into trades; ``name`` is used in error messages.

    For a file read in pieces: ``first_line`` is the line number of ``data``'s
    first line, ``header`` whether it starts with the header row (None: detect),
    ``after_ts_ns`` the latest time kept from the earlier pieces.
    """
    if (market == "coinm") != (contract_size is not None):
        raise ValueError("contract_size is required for COIN-M files and only for them")
    ncols, t_col, m_col = _layout(market, kind)
    if header is None:
        header = _has_header(bytes(data[:4096]))
    fast = _kernel(data, header, ncols, t_col, m_col, after_ts_ns)
    if fast is not None:
        got, lines = fast
        qty = got["qty"] * contract_size / got["price"] if contract_size is not None else got["qty"]
        table = _trade_table(got["ts_ns"], got["price"], qty, got["side"], got["id"])
        return ParsedTrades(table, [], lines)
    # The kernel stopped at something it does not read (or a bad row): the exact readers.
    data = bytes(data)
    try:
        table = _fast(data, header, ncols, t_col, m_col)
        ts = table.column(f"c{t_col}").to_numpy()
        cols: dict[str, Any] = {
            "id": table.column("c0").to_numpy(),
            "price": table.column("c1").to_numpy(),
            "qty": table.column("c2").to_numpy(),
            "ts": ts,
            "m": table.column(f"c{m_col}").to_numpy(zero_copy_only=False),
            "line": np.arange(len(ts), dtype=np.int64) + first_line + int(header),
        }
        bad: list[BadRow] = []
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        raw_cols, bad = _slow(data, header, ncols, t_col, m_col, first_line)
        cols = {
            "id": np.array(raw_cols["id"], np.int64),
            "price": np.array(raw_cols["price"], np.float64),
            "qty": np.array(raw_cols["qty"], np.float64),
            "ts": np.array(raw_cols["ts"], np.int64),
            "m": np.array(raw_cols["m"], np.bool_),
            "line": np.array(raw_cols["line"], np.int64),
        }
    keep = _check_values(cols, bad, after_ts_ns)
    raise_bad_rows(bad, on_bad_rows=on_bad_rows, name=name)
    bad.sort(key=lambda b: b.line)
    sel = {k: v[keep] for k, v in cols.items()} if keep is not None else cols
    table = to_trade_table(sel["ts"], sel["price"], sel["qty"], sel["m"], sel["id"], contract_size)
    lines = data.count(b"\n") + int(bool(data) and not data.endswith(b"\n"))
    return ParsedTrades(table, bad, lines)


def _check_values(
    cols: dict[str, Any], bad: list[BadRow], after_ts_ns: int = _NO_TS
) -> npt.NDArray[np.bool_] | None:
    """Value checks on parsed columns; appends to ``bad``; returns the rows to keep."""
    price, qty, ts, line = cols["price"], cols["qty"], cols["ts"], cols["line"]
    ts_ok = (ts >= 0) & ~((ts > MAX_MS) & (ts < US_THRESHOLD)) & (ts <= MAX_US)
    ok = np.isfinite(price) & (price > 0) & np.isfinite(qty) & (qty >= 0) & ts_ok
    for i in np.flatnonzero(~ok)[:1000].tolist():
        what = "price must be positive" if not (price[i] > 0) else "quantity must be >= 0"
        if not ts_ok[i]:
            what = "time must be a non-negative ms or µs count within year 2262"
        bad.append(
            BadRow(int(line[i]), f"{what} (price={float(price[i])!r}, qty={float(qty[i])!r})")
        )
    n_bad_values = int((~ok).sum())
    if n_bad_values > 1000:
        bad.extend(BadRow(int(line[i]), "bad value") for i in np.flatnonzero(~ok)[1000:])
    # Out of order: a time before the running maximum of the rows kept so far.
    ts_ns = np.where(ts >= US_THRESHOLD, ts * 1_000, ts * 1_000_000)
    masked = np.where(ok, ts_ns, _NO_TS)
    prev_max = np.maximum.accumulate(np.concatenate([[after_ts_ns], masked]))[:-1]
    order_bad = ok & (ts_ns < prev_max)
    if order_bad.any():
        # Recompute the running max over kept rows only, so one late row flags itself alone.
        keep_ts = np.where(ok, ts_ns, _NO_TS)
        running = after_ts_ns
        order_bad[:] = False
        for i in np.flatnonzero(ok).tolist():
            if keep_ts[i] < running:
                order_bad[i] = True
            else:
                running = int(keep_ts[i])
        for i in np.flatnonzero(order_bad).tolist():
            bad.append(BadRow(int(line[i]), "time goes backwards (out of order)"))
    keep = ok & ~order_bad
    return None if bool(keep.all()) else keep
