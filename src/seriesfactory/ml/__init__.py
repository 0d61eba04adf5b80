"""Labels, sample weights, leak-free splits, datasets, baselines and feature importance.

The public names are those FiDel users know: :func:`build_ml_dataset`,
:func:`run_baseline`, :func:`get_feature_importance`; plus
:func:`build_ml_dataset_from_features` for a feature table already on disk.
"""

from __future__ import annotations

from seriesfactory.ml.api import get_feature_importance, run_baseline
from seriesfactory.ml.dataset import (
    Dataset,
    build_dataset,
    build_ml_dataset,
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
    "build_ml_dataset",
    "build_ml_dataset_from_features",
    "concurrency",
    "get_feature_importance",
    "load_dataset",
    "make_labels",
    "make_splits",
    "run_baseline",
    "write_dataset",
]
