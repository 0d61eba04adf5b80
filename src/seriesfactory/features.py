"""Order-book and trade features in one call (Arrow tables out).

* ``seriesfactory.features.book_features(["capture.jsonl.zst"], venue="binance",
  symbol="BTCUSDT", interval="100ms", depth=10)`` — the MIDAS set from a recording.
* ``seriesfactory.features.trade_features(trades, interval="1m")`` — the FiDel set;
  ``trades`` as for :mod:`seriesfactory.bars` (Arrow, polars, pandas, numpy
  structured array or a dict of arrays with ``ts``, ``price``, ``qty``, ``side``).
* ``seriesfactory.features.bar_features(bars)`` — the same set, one row per bar.

Streaming: :class:`BookFeatureBuilder` and :class:`TradeFeatureBuilder` (explicit,
saveable state). Columns and formulas: ``docs/features.md``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from seriesfactory.core.time import parse_duration_ns
from seriesfactory.errors import InputError
from seriesfactory.transforms.bars.io import trades_from_frame
from seriesfactory.transforms.features import api
from seriesfactory.transforms.features.api import (
    BookFeatureBuilder,
    TradeFeatureBuilder,
    TradeFeatureParams,
    book_feature_columns,
    trade_feature_columns,
)

__all__ = [
    "BookFeatureBuilder",
    "TradeFeatureBuilder",
    "TradeFeatureParams",
    "bar_features",
    "book_feature_columns",
    "book_features",
    "trade_feature_columns",
    "trade_features",
]


def _interval_ns(interval: str | int) -> int:
    if isinstance(interval, int):
        if interval <= 0:
            raise InputError(f"interval {interval} ns is not a positive duration")
        return interval
    return parse_duration_ns(interval, option="interval")


def _to_polars(trades: Any) -> pl.DataFrame:
    """Arrow, polars, pandas (if the caller loaded it), numpy structured or a dict -> polars."""
    if isinstance(trades, pl.DataFrame):
        return trades
    if isinstance(trades, pa.Table):
        frame = pl.from_arrow(trades)
        assert isinstance(frame, pl.DataFrame)
        return frame
    pd = sys.modules.get("pandas")  # optional: only inspected when the caller imported it
    if pd is not None and isinstance(trades, pd.DataFrame):
        return pl.from_pandas(trades)
    if isinstance(trades, np.ndarray) and trades.dtype.names:
        return pl.DataFrame({name: trades[name] for name in trades.dtype.names})
    if isinstance(trades, Mapping):
        return pl.DataFrame({str(k): np.asarray(v) for k, v in trades.items()})
    raise InputError(
        f"trades of type {type(trades).__name__} are not supported; give a pyarrow Table, "
        "a polars or pandas DataFrame, a numpy structured array or a dict of arrays"
    )


def book_features(
    inputs: Iterable[str] | str,
    *,
    venue: str,
    symbol: str,
    interval: str | int = "100ms",
    depth: int = 10,
    ofi_window: int = 10,
    input_format: str = "auto",
    price_decimals: int | None = None,
    with_trades: bool = True,
) -> pa.Table:
    """Book features of ``symbol`` from recorded files (``interval``: ``'100ms'`` or ns)."""
    files = [inputs] if isinstance(inputs, str) else [str(p) for p in inputs]
    return api.book_features(
        files,
        venue=venue,
        symbol=symbol,
        input_format=input_format,
        interval_ns=_interval_ns(interval),
        depth=depth,
        ofi_window=ofi_window,
        price_decimals=price_decimals,
        with_trades=with_trades,
    )


def trade_features(
    trades: Any,
    *,
    interval: str | int = "1m",
    columns: Mapping[str, str] | None = None,
    end_ns: int | None = None,
    **params: Any,
) -> pa.Table:
    """Trade features of ``trades`` in close-stamped buckets of ``interval``.

    ``params`` are the fields of :class:`TradeFeatureParams` (``windows``, ``lags``,
    ``vpin_buckets``, ...). ``end_ns``: write buckets through this time (default:
    through the last trade's bucket).
    """
    p = TradeFeatureParams(interval_ns=_interval_ns(interval), **params)
    arr = trades_from_frame(_to_polars(trades), columns, first_line=1)
    return api.trade_features(arr.ts_ns, arr.price, arr.qty_base, arr.side, params=p, end_ns=end_ns)


def bar_features(bars: pa.Table, **params: Any) -> pa.Table:
    """Trade features with one row per bar of a ``bars build`` table (stamped ``time_end``)."""
    return api.trade_features_from_bars(bars, TradeFeatureParams(**params))
