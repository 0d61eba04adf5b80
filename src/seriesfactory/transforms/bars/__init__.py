"""López de Prado bars: standard, imbalance and run bars (numba kernel in ``nb.py``)."""

from seriesfactory.transforms.bars.api import BAR_COLUMNS, BarArrays, BarBuilder, bar_schema
from seriesfactory.transforms.bars.io import (
    TradeArrays,
    parse_columns,
    read_trades_file,
    trades_from_frame,
)
from seriesfactory.transforms.bars.spec import BAR_TYPES, BarSpec, parse_interval_ns

__all__ = [
    "BAR_COLUMNS",
    "BAR_TYPES",
    "BarArrays",
    "BarBuilder",
    "BarSpec",
    "TradeArrays",
    "bar_schema",
    "parse_columns",
    "parse_interval_ns",
    "read_trades_file",
    "trades_from_frame",
]
