"""Order-book (MIDAS) and trade (FiDel) features.

Numba kernels in ``nb.py``, their plain-Python twin in ``reference.py``, callers in ``api.py``.
"""

from seriesfactory.transforms.features.api import (
    BookFeatureBuilder,
    TradeFeatureBuilder,
    TradeFeatureParams,
    book_feature_columns,
    book_features,
    trade_feature_columns,
    trade_features,
    trade_features_from_bars,
)

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
