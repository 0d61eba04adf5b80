"""Binance kline archives as candles.

A raw spot kline line (no header; futures files have a header row)::

    1778198400000000,80006.00000000,80142.84000000,79729.72000000,79831.99000000,
    958.06006000,1778201999999999,76636658.96208970,67626,559.85461000,44801546.15802500,0

Columns: open time, open, high, low, close, volume (base), close time, quote
volume, trade count, taker buy base volume, taker buy quote volume, ignore.
Times are decided per value like trades: ``t >= 10**14`` is microseconds (spot
from 2025-01-01), otherwise milliseconds. Output columns: ``open_time`` and
``close_time`` as ``timestamp[ns, UTC]``, prices and volumes float64,
``trades`` int64.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from seriesfactory.errors import DataError
from seriesfactory.schema import TS_TYPE
from seriesfactory.sources.binance.parse import US_THRESHOLD

__all__ = ["KLINE_COLUMNS", "parse_klines_csv"]

KLINE_COLUMNS = (
    "open_time", "open", "high", "low", "close", "volume", "close_time",
    "quote_volume", "trades", "taker_buy_volume", "taker_buy_quote_volume", "ignore",
)  # fmt: skip


def _ns(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return np.where(values >= US_THRESHOLD, values * 1_000, values * 1_000_000)


def parse_klines_csv(data: bytes, *, name: str) -> pa.Table:
    """One kline archive CSV -> a candle table (see the module docstring)."""
    end = data.find(b"\n")
    header = not data[: end if end >= 0 else len(data)].split(b",", 1)[0].strip().isdigit()
    types = {c: pa.float64() for c in KLINE_COLUMNS}
    types.update(open_time=pa.int64(), close_time=pa.int64(), trades=pa.int64())
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=list(KLINE_COLUMNS), skip_rows=int(header)),
            convert_options=pacsv.ConvertOptions(
                column_types=types, include_columns=list(KLINE_COLUMNS[:11])
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(f"not a kline file ({exc}); check the file", path=name) from exc
    cols = {c: table.column(c) for c in KLINE_COLUMNS[:11]}
    for c in ("open_time", "close_time"):
        cols[c] = pa.array(_ns(cols[c].to_numpy()), type=pa.int64()).cast(TS_TYPE)
    open_ns = cols["open_time"].cast(pa.int64()).to_numpy()
    if open_ns.shape[0] > 1 and bool((np.diff(open_ns) <= 0).any()):
        line = int(np.flatnonzero(np.diff(open_ns) <= 0)[0]) + 2 + int(header)
        raise DataError("kline open times must increase", path=name, line=line)
    return pa.table(cols)
