"""Labels, sample weights, leak-free splits, datasets, baselines and feature importance.

Over a feature table: :func:`build_ml_dataset_from_features`, :func:`run_baseline`,
:func:`get_feature_importance`. From a venue, symbol and dates (the trades tier, then the
trade features), the FiDel one-call names live one layer up, in
:mod:`seriesfactory.pipeline.ml`: ``build_ml_dataset``, ``run_baseline``,
``get_feature_importance``.
"""

from __future__ import annotations

from seriesfactory.ml.api import get_feature_importance, run_baseline
from seriesfactory.ml.dataset import (
    Dataset,
    build_dataset,
    build_ml_dataset_from_features,
    load_dataset,
    write_dataset,
)
from seriesfactory.ml.labels import Labels, LabelSpec, make_labels
from seriesfactory.ml.splits import CVSpec, Split, make_splits
from seriesfactory.ml.weights import average_uniqueness, concurrency

__all__ = [
    "CVSpec",
    "Dataset",
    "LabelSpec",
    "Labels",
    "Split",
    "average_uniqueness",
    "build_dataset",
    "build_ml_dataset_from_features",
    "concurrency",
    "get_feature_importance",
    "load_dataset",
    "make_labels",
    "make_splits",
    "run_baseline",
    "write_dataset",
]
