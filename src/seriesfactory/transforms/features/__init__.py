"""Order-book (MIDAS) and trade (FiDel) features; numba kernels in ``nb.py``, twin in ``reference.py``."""

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
