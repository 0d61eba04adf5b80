"""López de Prado bars in one call: ``seriesfactory.bars.dollar_bars(trades, threshold=1e6)``.

``trades`` may be a pyarrow Table, a polars DataFrame, a pandas DataFrame (when
pandas is installed; it is never imported otherwise), a numpy structured array
with the trade schema, or a mapping of column name to numpy array. Columns are
found by name as in :mod:`seriesfactory.transforms.bars.io` (``ts``/``timestamp``,
``price``, ``qty``/``size``/``volume``, optional ``side``) or given with
``columns={"ts": ..., "price": ..., "qty": ...}``.

The result has the same kind as the input (Arrow for Arrow, numpy and mappings;
polars for polars; pandas for pandas). Columns and formulas: ``docs/bars.md``.
For streaming, daemons and saved state use :class:`BarBuilder` directly.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from seriesfactory.errors import InputError
from seriesfactory.transforms.bars.api import BarArrays, BarBuilder, bar_schema
from seriesfactory.transforms.bars.io import TradeArrays, trades_from_frame
from seriesfactory.transforms.bars.spec import BAR_TYPES, BarSpec, BarType, SignMode

__all__ = [
    "BAR_TYPES",
    "BarBuilder",
    "BarSpec",
    "bar_schema",
    "build_bars",
    "dollar_bars",
    "dollar_imbalance_bars",
    "dollar_run_bars",
    "tick_bars",
    "tick_imbalance_bars",
    "tick_run_bars",
    "time_bars",
    "volume_bars",
    "volume_imbalance_bars",
    "volume_run_bars",
]


def _is_pandas(obj: object) -> bool:
    pd = sys.modules.get("pandas")  # pandas is optional: only inspect it if the caller loaded it
    return pd is not None and isinstance(obj, pd.DataFrame)


def _to_polars(trades: Any) -> pl.DataFrame:
    if isinstance(trades, pl.DataFrame):
        return trades
    if isinstance(trades, pa.Table):
        return pl.from_arrow(trades)  # type: ignore[return-value]
    if _is_pandas(trades):
        return pl.from_pandas(trades)
    if isinstance(trades, np.ndarray) and trades.dtype.names:
        return pl.DataFrame({name: trades[name] for name in trades.dtype.names})
    if isinstance(trades, Mapping):
        return pl.DataFrame({str(k): np.asarray(v) for k, v in trades.items()})
    raise InputError(
        f"trades of type {type(trades).__name__} are not supported; give a pyarrow Table, "
        "a polars or pandas DataFrame, a numpy structured array or a dict of arrays"
    )


def build_bars(
    trades: Any,
    spec: BarSpec,
    *,
    columns: Mapping[str, str] | None = None,
    emit_partial: bool = False,
) -> Any:
    """Bars of ``trades`` under ``spec``; the trailing unfinished bar only with ``emit_partial``."""
    arrays: TradeArrays = trades_from_frame(_to_polars(trades), columns, first_line=1)
    builder = BarBuilder(spec)
    parts = [builder.update(arrays.ts_ns, arrays.price, arrays.qty_base, arrays.side)]
    if emit_partial:
        parts.append(builder.partial())
    table = BarArrays.concat(parts).to_arrow(spec, with_partial=emit_partial)
    if isinstance(trades, pl.DataFrame):
        return pl.from_arrow(table)
    if _is_pandas(trades):
        return table.to_pandas()
    return table


def _bars_of(bar_type: BarType, arguments: dict[str, Any]) -> Any:
    """Build ``bar_type`` bars from a public function's arguments (its ``locals()``).

    ``trades``, ``columns`` and ``emit_partial`` go to :func:`build_bars`; every other
    argument is the :class:`BarSpec` field of the same name.
    """
    fields = dict(arguments)
    trades = fields.pop("trades")
    columns = fields.pop("columns")
    emit_partial = fields.pop("emit_partial")
    spec = BarSpec(type=bar_type, **fields)
    return build_bars(trades, spec, columns=columns, emit_partial=emit_partial)


def time_bars(
    trades: Any,
    interval: str,
    *,
    columns: Mapping[str, str] | None = None,
    emit_partial: bool = False,
) -> Any:
    """Time bars: one bar per epoch-aligned ``interval`` (e.g. ``'5m'``) that has trades."""
    return _bars_of("time", locals())


def tick_bars(
    trades: Any,
    threshold: float,
    *,
    sign: SignMode = "auto",
    columns: Mapping[str, str] | None = None,
    emit_partial: bool = False,
) -> Any:
    """Tick bars: a bar closes at its ``threshold``-th trade."""
    return _bars_of("tick", locals())


def volume_bars(
    trades: Any,
    threshold: float,
    *,
    sign: SignMode = "auto",
    columns: Mapping[str, str] | None = None,
    emit_partial: bool = False,
) -> Any:
    """Volume bars: a bar closes at the trade where its size total reaches ``threshold`` (base)."""
    return _bars_of("volume", locals())


def dollar_bars(
    trades: Any,
    threshold: float,
    *,
    sign: SignMode = "auto",
    columns: Mapping[str, str] | None = None,
    emit_partial: bool = False,
) -> Any:
    """Dollar bars: a bar closes where its sum of price * size reaches ``threshold`` (quote)."""
    return _bars_of("dollar", locals())


def tick_imbalance_bars(
    trades: Any,
    *,
    expected_ticks: int = 100,
    ewma_window: int = 15,
    min_ticks: float | None = None,
    max_ticks: float | None = None,
    sign: SignMode = "auto",
    columns: Mapping[str, str] | None = None,
    emit_partial: bool = False,
) -> Any:
    """Tick imbalance bars (TIB): close when ``|sum b| >= E[T] |E[b]|`` (see :class:`BarSpec`)."""
    return _bars_of("tib", locals())


def volume_imbalance_bars(
    trades: Any,
    *,
    expected_ticks: int = 100,
    ewma_window: int = 15,
    min_ticks: float | None = None,
    max_ticks: float | None = None,
    sign: SignMode = "auto",
    columns: Mapping[str, str] | None = None,
    emit_partial: bool = False,
) -> Any:
    """Volume imbalance bars (VIB): ``|sum b q| >= E[T] |E[b q]|``."""
    return _bars_of("vib", locals())


def dollar_imbalance_bars(
    trades: Any,
    *,
    expected_ticks: int = 100,
    ewma_window: int = 15,
    min_ticks: float | None = None,
    max_ticks: float | None = None,
    sign: SignMode = "auto",
    columns: Mapping[str, str] | None = None,
    emit_partial: bool = False,
) -> Any:
    """Dollar imbalance bars (DIB): ``|sum b p q| >= E[T] |E[b p q]|``."""
    return _bars_of("dib", locals())


def tick_run_bars(
    trades: Any,
    *,
    expected_ticks: int = 100,
    ewma_window: int = 15,
    min_ticks: float | None = None,
    max_ticks: float | None = None,
    sign: SignMode = "auto",
    columns: Mapping[str, str] | None = None,
    emit_partial: bool = False,
) -> Any:
    """Tick run bars (TRB): ``max(buys, sells) >= E[T] max(P[b=1], P[b=-1])``."""
    return _bars_of("trb", locals())


def volume_run_bars(
    trades: Any,
    *,
    expected_ticks: int = 100,
    ewma_window: int = 15,
    min_ticks: float | None = None,
    max_ticks: float | None = None,
    sign: SignMode = "auto",
    columns: Mapping[str, str] | None = None,
    emit_partial: bool = False,
) -> Any:
    """Volume run bars (VRB): the larger side's size total against its expected value."""
    return _bars_of("vrb", locals())


def dollar_run_bars(
    trades: Any,
    *,
    expected_ticks: int = 100,
    ewma_window: int = 15,
    min_ticks: float | None = None,
    max_ticks: float | None = None,
    sign: SignMode = "auto",
    columns: Mapping[str, str] | None = None,
    emit_partial: bool = False,
) -> Any:
    """Dollar run bars (DRB): the larger side's notional total against its expected value."""
    return _bars_of("drb", locals())
