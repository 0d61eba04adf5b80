"""The one-call functions FiDel users know: ``run_baseline`` and ``get_feature_importance``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from seriesfactory.errors import InputError
from seriesfactory.ml.baselines import CLASSIFIERS, REGRESSORS, run_baselines
from seriesfactory.ml.dataset import Dataset, build_ml_dataset_from_features
from seriesfactory.ml.importance import feature_importance

__all__ = ["get_feature_importance", "run_baseline"]


def _dataset(
    dataset: Dataset | None, features: Path | str | pa.Table | None, options: dict[str, Any]
) -> Dataset:
    if dataset is not None:
        return dataset
    if features is not None:
        return build_ml_dataset_from_features(features, **options)
    raise InputError(
        "give a dataset or a feature table (or symbol, start_date and end_date to "
        "seriesfactory.pipeline.ml.run_baseline)"
    )


def run_baseline(
    *,
    dataset: Dataset | None = None,
    features: Path | str | pa.Table | None = None,
    models: tuple[str, ...] = CLASSIFIERS,
    regressors: tuple[str, ...] = REGRESSORS,
    **options: Any,
) -> tuple[dict[str, Any], Dataset]:
    """Build (or take) a dataset, run every baseline under its purged split.

    Returns ``(metrics, dataset)``. ``metrics`` is the ``metrics.json`` document; its
    top-level ``accuracy``, ``balanced_accuracy`` and ``log_loss`` are the logistic
    regression's out-of-fold scores (FiDel's baseline), or the first model's when the
    logistic one is not run.
    """
    ds = _dataset(dataset, features, options)
    result = run_baselines(ds, models=models, regressors=regressors)
    metrics = dict(result.metrics)
    lead = "logistic" if "logistic" in metrics["models"] else next(iter(metrics["models"]), None)
    if lead is not None:
        for key in ("accuracy", "balanced_accuracy", "log_loss"):
            metrics[key] = metrics["models"][lead].get(key)
    return metrics, ds


def get_feature_importance(
    dataset: Dataset | None = None,
    *,
    features: Path | str | pa.Table | None = None,
    model: str = "gbm",
    repeats: int = 3,
    max_test_rows: int | None = None,
    **options: Any,
) -> pa.Table:
    """Permutation importance (and MDI for ``model="forest"``) on held-out purged folds."""
    ds = _dataset(dataset, features, options)
    return feature_importance(ds, model=model, repeats=repeats, max_test_rows=max_test_rows)
