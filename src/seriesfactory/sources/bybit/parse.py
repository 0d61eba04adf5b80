"""Parsing Bybit public trading files (``SYMBOLYYYY-MM-DD.csv.gz``) into the trade schema.

Format (header row; newer files append ``RPI``)::

    timestamp,symbol,side,size,price,tickDirection,trdMatchID,grossValue,homeNotional,foreignNotional
    1585180700.0647,BTCUSD,Sell,1,6716.5,ZeroMinusTick,8b8a1d5d-...,14888.76,0.00014888,1

Conversions:

- ``ts`` — float seconds, rounded to the microsecond: ``ts = round(t * 10**6) * 1000``
  (float64 resolves a 10-digit second count to ~0.25 µs, so rounding is exact).
- ``side`` — ``side`` is the taker side: ``Buy`` -> +1, ``Sell`` -> -1 (any case).
- ``qty`` — ``homeNotional`` (base units) when present, else ``size``; on inverse
  contracts (``BTCUSD``) ``size`` is in USD and ``homeNotional = size / price``.
- ``trade_id`` — null (Bybit ids are UUIDs).

A file in descending time order (older Bybit files) is reversed first; after
that, rows out of order are bad rows like the other malformed rows.
"""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from seriesfactory.errors import DataError
from seriesfactory.schema import TRADE_SCHEMA
from seriesfactory.schema.trades import BadRow, ParsedTrades, raise_bad_rows

__all__ = ["parse_bybit_csv"]

_REQUIRED = ("timestamp", "side", "size", "price")


def _header(data: bytes, name: str) -> list[str]:
    end = data.find(b"\n")
    cols = data[: end if end >= 0 else len(data)].decode("utf-8", "replace").strip().split(",")
    missing = [c for c in _REQUIRED if c not in cols]
    if missing:
        what = f"header lacks {', '.join(missing)}: not a Bybit trading file"
        raise DataError(what, path=name, line=1)
    return cols


def _slow(
    data: bytes, cols: list[str], qty_col: str
) -> tuple[dict[str, list[float]], list[BadRow]]:
    idx = {c: cols.index(c) for c in (*_REQUIRED, qty_col)}
    out: dict[str, list[float]] = {"t": [], "p": [], "q": [], "s": [], "line": []}
    bad: list[BadRow] = []
    for number, raw in enumerate(data.decode("utf-8", "replace").split("\n"), start=1):
        line = raw.rstrip("\r")
        if number == 1 or not line.strip():
            continue
        parts = line.split(",")
        if len(parts) != len(cols):
            bad.append(BadRow(number, f"{len(parts)} columns, expected {len(cols)}"))
            continue
        try:
            t, p, q = (float(parts[idx[k]]) for k in ("timestamp", "price", qty_col))
        except ValueError:
            bad.append(BadRow(number, f"non-numeric field in {line[:80]!r}"))
            continue
        side = parts[idx["side"]].strip().lower()
        if side not in ("buy", "sell"):
            bad.append(BadRow(number, f"side {parts[idx['side']]!r} is not Buy/Sell"))
            continue
        for k, v in (("t", t), ("p", p), ("q", q), ("s", 1.0 if side == "buy" else -1.0)):
            out[k].append(v)
        out["line"].append(float(number))
    return out, bad


def parse_bybit_csv(data: bytes, *, name: str, on_bad_rows: str = "error") -> ParsedTrades:
    """Parse one decompressed Bybit trading CSV; ``name`` is used in error messages."""
    cols = _header(data, name)
    qty_col = "homeNotional" if "homeNotional" in cols else "size"
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=cols, skip_rows=1),
            convert_options=pacsv.ConvertOptions(
                column_types={"timestamp": pa.float64(), "price": pa.float64(),
                              qty_col: pa.float64(), "side": pa.string()},
                include_columns=["timestamp", "price", qty_col, "side"],
                strings_can_be_null=False,
                null_values=[],
            ),
        )  # fmt: skip
        side_text = np.char.lower(table.column("side").to_numpy(zero_copy_only=False).astype(str))
        if not np.isin(side_text, ("buy", "sell")).all():
            raise pa.ArrowInvalid("side")
        t = table.column("timestamp").to_numpy()
        p = table.column("price").to_numpy()
        q = table.column(qty_col).to_numpy()
        s = np.where(side_text == "buy", 1, -1)
        line = np.arange(len(t), dtype=np.int64) + 2
        bad: list[BadRow] = []
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        raw, bad = _slow(data, cols, qty_col)
        t, p, q, s = (np.array(raw[k], np.float64) for k in ("t", "p", "q", "s"))
        line = np.array(raw["line"], np.int64)
    ts_ns = np.round(t * 1e6).astype(np.int64) * 1000
    if ts_ns.shape[0] > 1 and ts_ns[0] > ts_ns[-1]:  # a descending file
        ts_ns, p, q, s, line = (a[::-1] for a in (ts_ns, p, q, s, line))
    ok = np.isfinite(p) & (p > 0) & np.isfinite(q) & (q >= 0) & (ts_ns >= 0)
    for i in np.flatnonzero(~ok).tolist():
        what = f"price must be positive, quantity >= 0 (price={float(p[i])!r}, qty={float(q[i])!r})"
        bad.append(BadRow(int(line[i]), what))
    running = np.iinfo(np.int64).min
    late = np.zeros(len(ts_ns), np.bool_)
    prev_max = np.maximum.accumulate(np.where(ok, ts_ns, running))
    if len(ts_ns) > 1 and bool((ok[1:] & (ts_ns[1:] < prev_max[:-1])).any()):
        for i in np.flatnonzero(ok).tolist():
            if ts_ns[i] < running:
                late[i] = True
                bad.append(BadRow(int(line[i]), "time goes backwards (out of order)"))
            else:
                running = int(ts_ns[i])
    raise_bad_rows(bad, on_bad_rows=on_bad_rows, name=name)
    keep = ok & ~late
    n = int(keep.sum())
    table = pa.Table.from_arrays(
        [
            pa.array(ts_ns[keep], type=pa.int64()).cast(TRADE_SCHEMA.field("ts").type),
            pa.nulls(n, type=TRADE_SCHEMA.field("recv_ts").type),
            pa.array(p[keep], type=pa.float64()),
            pa.array(q[keep], type=pa.float64()),
            pa.array(s[keep].astype(np.int8), type=pa.int8()),
            pa.nulls(n, type=pa.int64()),
        ],
        schema=TRADE_SCHEMA,
    )
    return ParsedTrades(table, sorted(bad, key=lambda b: b.line))
