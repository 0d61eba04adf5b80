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
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeAlias, overload

import numpy as np
import numpy.typing as npt
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


#: Inputs whose bars come back as a pyarrow Table.
ArrowInput: TypeAlias = pa.Table | npt.NDArray[np.void] | Mapping[str, npt.ArrayLike]


class PandasLike(Protocol):
    """A pandas DataFrame (pandas is optional: typed by what is used of it)."""

    @property
    def index(self) -> Any: ...

    def to_numpy(self, *args: Any, **kwargs: Any) -> Any: ...


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


@overload
def build_bars(
    trades: pl.DataFrame,
    spec: BarSpec,
    *,
    columns: Mapping[str, str] | None = ...,
    emit_partial: bool = ...,
) -> pl.DataFrame: ...
@overload
def build_bars(
    trades: ArrowInput,
    spec: BarSpec,
    *,
    columns: Mapping[str, str] | None = ...,
    emit_partial: bool = ...,
) -> pa.Table: ...
@overload
def build_bars(
    trades: PandasLike,
    spec: BarSpec,
    *,
    columns: Mapping[str, str] | None = ...,
    emit_partial: bool = ...,
) -> Any: ...
def build_bars(
    trades: pl.DataFrame | ArrowInput | PandasLike,
    spec: BarSpec,
    *,
    columns: Mapping[str, str] | None = None,
    emit_partial: bool = False,
) -> pl.DataFrame | pa.Table | Any:
    """Bars of ``trades`` under ``spec``; the trailing unfinished bar only with ``emit_partial``.

    The result has the input's kind: polars for polars, pandas for pandas, a pyarrow
    Table for everything else.
    """
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


# -- one typed signature per family; each public function is one of them -------------------------
class TimeBars(Protocol):
    """``time_bars(trades, interval, *, columns=None, emit_partial=False)``."""

    @overload
    def __call__(
        self,
        trades: pl.DataFrame,
        interval: str,
        *,
        columns: Mapping[str, str] | None = ...,
        emit_partial: bool = ...,
    ) -> pl.DataFrame: ...
    @overload
    def __call__(
        self,
        trades: ArrowInput,
        interval: str,
        *,
        columns: Mapping[str, str] | None = ...,
        emit_partial: bool = ...,
    ) -> pa.Table: ...
    @overload
    def __call__(
        self,
        trades: PandasLike,
        interval: str,
        *,
        columns: Mapping[str, str] | None = ...,
        emit_partial: bool = ...,
    ) -> Any: ...


class ThresholdBars(Protocol):
    """``tick_bars`` / ``volume_bars`` / ``dollar_bars``: ``(trades, threshold, *, sign, ...)``."""

    @overload
    def __call__(
        self,
        trades: pl.DataFrame,
        threshold: float,
        *,
        sign: SignMode = ...,
        columns: Mapping[str, str] | None = ...,
        emit_partial: bool = ...,
    ) -> pl.DataFrame: ...
    @overload
    def __call__(
        self,
        trades: ArrowInput,
        threshold: float,
        *,
        sign: SignMode = ...,
        columns: Mapping[str, str] | None = ...,
        emit_partial: bool = ...,
    ) -> pa.Table: ...
    @overload
    def __call__(
        self,
        trades: PandasLike,
        threshold: float,
        *,
        sign: SignMode = ...,
        columns: Mapping[str, str] | None = ...,
        emit_partial: bool = ...,
    ) -> Any: ...


class AdaptiveBars(Protocol):
    """Imbalance and run bars: ``(trades, *, expected_ticks, ewma_window, min_ticks, ...)``."""

    @overload
    def __call__(
        self,
        trades: pl.DataFrame,
        *,
        expected_ticks: int = ...,
        ewma_window: int = ...,
        min_ticks: float | None = ...,
        max_ticks: float | None = ...,
        sign: SignMode = ...,
        columns: Mapping[str, str] | None = ...,
        emit_partial: bool = ...,
    ) -> pl.DataFrame: ...
    @overload
    def __call__(
        self,
        trades: ArrowInput,
        *,
        expected_ticks: int = ...,
        ewma_window: int = ...,
        min_ticks: float | None = ...,
        max_ticks: float | None = ...,
        sign: SignMode = ...,
        columns: Mapping[str, str] | None = ...,
        emit_partial: bool = ...,
    ) -> pa.Table: ...
    @overload
    def __call__(
        self,
        trades: PandasLike,
        *,
        expected_ticks: int = ...,
        ewma_window: int = ...,
        min_ticks: float | None = ...,
        max_ticks: float | None = ...,
        sign: SignMode = ...,
        columns: Mapping[str, str] | None = ...,
        emit_partial: bool = ...,
    ) -> Any: ...


def _named(func: Callable[..., Any], name: str, doc: str) -> Any:
    func.__name__ = func.__qualname__ = name
    func.__doc__ = doc
    return func


def _time(name: str, doc: str) -> TimeBars:
    def bars(
        trades: Any, interval: str, *, columns: Mapping[str, str] | None = None,
        emit_partial: bool = False,
    ) -> Any:  # fmt: skip
        spec = BarSpec(type="time", interval=interval)
        return build_bars(trades, spec, columns=columns, emit_partial=emit_partial)

    named: TimeBars = _named(bars, name, doc)
    return named


def _threshold(bar_type: BarType, name: str, doc: str) -> ThresholdBars:
    def bars(
        trades: Any, threshold: float, *, sign: SignMode = "auto",
        columns: Mapping[str, str] | None = None, emit_partial: bool = False,
    ) -> Any:  # fmt: skip
        spec = BarSpec(type=bar_type, threshold=threshold, sign=sign)
        return build_bars(trades, spec, columns=columns, emit_partial=emit_partial)

    named: ThresholdBars = _named(bars, name, doc)
    return named


def _adaptive(bar_type: BarType, name: str, doc: str) -> AdaptiveBars:
    def bars(
        trades: Any, *, expected_ticks: int = 100, ewma_window: int = 15,
        min_ticks: float | None = None, max_ticks: float | None = None, sign: SignMode = "auto",
        columns: Mapping[str, str] | None = None, emit_partial: bool = False,
    ) -> Any:  # fmt: skip
        spec = BarSpec(
            type=bar_type, expected_ticks=expected_ticks, ewma_window=ewma_window,
            min_ticks=min_ticks, max_ticks=max_ticks, sign=sign,
        )  # fmt: skip
        return build_bars(trades, spec, columns=columns, emit_partial=emit_partial)

    named: AdaptiveBars = _named(bars, name, doc)
    return named


time_bars = _time(
    "time_bars",
    "Time bars: one bar per epoch-aligned ``interval`` (e.g. ``'5m'``) that has trades.",
)
tick_bars = _threshold(
    "tick", "tick_bars", "Tick bars: a bar closes at its ``threshold``-th trade."
)
volume_bars = _threshold(
    "volume", "volume_bars",
    "Volume bars: a bar closes at the trade where its size total reaches ``threshold`` (base).",
)  # fmt: skip
dollar_bars = _threshold(
    "dollar", "dollar_bars",
    "Dollar bars: a bar closes where its sum of price * size reaches ``threshold`` (quote).",
)  # fmt: skip
tick_imbalance_bars = _adaptive(
    "tib", "tick_imbalance_bars",
    "Tick imbalance bars (TIB): close when ``|sum b| >= E[T] |E[b]|`` (see :class:`BarSpec`).",
)  # fmt: skip
volume_imbalance_bars = _adaptive(
    "vib", "volume_imbalance_bars", "Volume imbalance bars (VIB): ``|sum b q| >= E[T] |E[b q]|``."
)
dollar_imbalance_bars = _adaptive(
    "dib", "dollar_imbalance_bars",
    "Dollar imbalance bars (DIB): ``|sum b p q| >= E[T] |E[b p q]|``.",
)  # fmt: skip
tick_run_bars = _adaptive(
    "trb", "tick_run_bars",
    "Tick run bars (TRB): ``max(buys, sells) >= E[T] max(P[b=1], P[b=-1])``.",
)  # fmt: skip
volume_run_bars = _adaptive(
    "vrb", "volume_run_bars",
    "Volume run bars (VRB): the larger side's size total against its expected value.",
)  # fmt: skip
dollar_run_bars = _adaptive(
    "drb", "dollar_run_bars",
    "Dollar run bars (DRB): the larger side's notional total against its expected value.",
)  # fmt: skip
