"""Honest baselines under the dataset's own purged split: ``seriesfactory ml baseline``.

Classification models: ``majority`` (the training fold's most frequent class),
``persistence`` (the last label already known at the row's time), ``logistic``
(median imputation, standardisation and logistic regression, all fitted on the
training fold only) and ``gbm`` (``HistGradientBoostingClassifier``). Regression of
``forward_return``: ``mean``, ``ridge`` (imputed, scaled) and ``gbm``. Every fit uses
the training rows of the fold and their uniqueness weights; every score uses its test
rows only. Metrics and their edge cases are in ``docs/ml.md``.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from seriesfactory.errors import InputError
from seriesfactory.ml.dataset import Dataset

__all__ = [
    "CLASSIFIERS",
    "REGRESSORS",
    "BaselineResult",
    "class_metrics",
    "last_known_label",
    "make_classifier",
    "regression_metrics",
    "run_baselines",
]

CLASSIFIERS = ("majority", "persistence", "logistic", "gbm")
REGRESSORS = ("mean", "ridge", "gbm")
_EPS = 1e-15


@dataclass
class BaselineResult:
    """Metrics (JSON-ready), out-of-fold predictions and where the time went."""

    metrics: dict[str, Any]
    predictions: pa.Table
    seconds_total: float = 0.0
    seconds_sklearn: float = 0.0
    notes: list[str] = field(default_factory=list)


class _Clock:
    """Adds up the time spent inside scikit-learn fits and predictions."""

    def __init__(self) -> None:
        self.seconds = 0.0

    @contextmanager
    def sklearn(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - start


def make_classifier(name: str, seed: int = 0) -> Any:
    """A fresh scikit-learn classifier (``logistic`` or ``gbm``) whose transforms are inside it."""
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "logistic":
        return make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True),
            StandardScaler(),
            LogisticRegression(max_iter=300),
        )
    if name == "gbm":
        return HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=seed)
    if name == "forest":
        return make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True),
            RandomForestClassifier(
                n_estimators=100,
                min_samples_leaf=50,
                max_features="sqrt",
                n_jobs=1,
                random_state=seed,
            ),
        )
    raise InputError(f"--model {name!r} is unknown; use logistic, gbm or forest")


def _make_regressor(name: str, seed: int = 0) -> Any:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "ridge":
        return make_pipeline(
            SimpleImputer(strategy="median", keep_empty_features=True),
            StandardScaler(),
            Ridge(alpha=1.0),
        )
    return HistGradientBoostingRegressor(max_iter=100, early_stopping=False, random_state=seed)


def fit_weighted(model: Any, X: np.ndarray, y: np.ndarray, w: np.ndarray) -> Any:
    """``model.fit(X, y)`` with sample weights routed to the final step of a pipeline."""
    steps = getattr(model, "steps", None)
    if steps is not None:
        return model.fit(X, y, **{f"{steps[-1][0]}__sample_weight": w})
    return model.fit(X, y, sample_weight=w)


def last_known_label(t0: np.ndarray, t1: np.ndarray, y: np.ndarray) -> np.ndarray:
    """For each row, the label of the row whose label became known last at or before its t0.

    The label of row j is known at ``t1_j``. Among rows with ``t1_j <= t0_i`` the one with
    the latest ``t1`` (then the latest ``t0``) wins; -128 where none is known yet.
    """
    order = np.lexsort((t0, t1))
    t1_sorted = t1[order]
    pos = np.searchsorted(t1_sorted, t0, side="right") - 1
    out = np.full(t0.shape[0], -128, np.int16)
    have = pos >= 0
    out[have] = y[order[pos[have]]]
    return out


def _full_proba(proba: np.ndarray, have: Sequence[int], classes: Sequence[int]) -> np.ndarray:
    """Columns for every class of the dataset (0 for those the fold never saw in training)."""
    out = np.zeros((proba.shape[0], len(classes)))
    for j, c in enumerate(have):
        out[:, list(classes).index(int(c))] = proba[:, j]
    return out


def class_metrics(
    y: np.ndarray,
    pred: np.ndarray,
    proba: np.ndarray,
    classes: Sequence[int],
    uniqueness: np.ndarray,
) -> dict[str, Any]:
    """Accuracy, balanced accuracy, log loss, F1 per class, ROC AUC (binary), effective N."""
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        f1_score,
        log_loss,
        roc_auc_score,
    )

    n = int(y.shape[0])
    out: dict[str, Any] = {"n": n, "effective_n": float(uniqueness.mean() * n) if n else 0.0}
    if n == 0:
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["accuracy"] = float(accuracy_score(y, pred))
        out["balanced_accuracy"] = float(balanced_accuracy_score(y, pred))
        p = np.clip(proba, _EPS, 1.0)
        p = p / p.sum(axis=1, keepdims=True)
        out["log_loss"] = float(log_loss(y, p, labels=list(classes)))
        f1 = f1_score(y, pred, labels=list(classes), average=None, zero_division=0.0)
        out["f1"] = {str(c): float(v) for c, v in zip(classes, f1, strict=True)}
        out["roc_auc"] = None
        if len(classes) == 2 and np.unique(y).size == 2:
            out["roc_auc"] = float(roc_auc_score(y, proba[:, 1]))
    return out


def regression_metrics(target: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """R² and MAE; R² is None with fewer than two rows or a constant target."""
    from sklearn.metrics import mean_absolute_error, r2_score

    n = int(target.shape[0])
    out: dict[str, Any] = {"n": n}
    if n == 0:
        return out
    out["mae"] = float(mean_absolute_error(target, pred))
    out["r2"] = float(r2_score(target, pred)) if n > 1 and np.ptp(target) > 0 else None
    return out


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nan_to_none(v) for v in obj]
    return obj


def run_baselines(
    ds: Dataset,
    *,
    models: Sequence[str] = CLASSIFIERS,
    regressors: Sequence[str] = REGRESSORS,
    seed: int = 0,
    threads: int = 1,
    progress: Callable[[str], None] | None = None,
) -> BaselineResult:
    """Fit and score every model on every fold of ``ds``; pool the out-of-fold predictions.

    ``threads`` caps scikit-learn's OpenMP/BLAS threads (1 by default: on a shared machine
    idle-spinning worker threads make a fit many times slower).
    """
    import sklearn.ensemble
    import sklearn.linear_model  # load the OpenMP/BLAS runtimes, then cap them
    from threadpoolctl import threadpool_limits

    del sklearn

    if threads < 1:
        raise InputError(f"--threads must be at least 1, got {threads}")
    with threadpool_limits(limits=threads):
        return _run_baselines(ds, models, regressors, seed, progress)


def _run_baselines(
    ds: Dataset,
    models: Sequence[str],
    regressors: Sequence[str],
    seed: int,
    progress: Callable[[str], None] | None,
) -> BaselineResult:
    start = time.perf_counter()
    for m in models:
        if m not in CLASSIFIERS:
            raise InputError(f"--models {m!r} is unknown; use {', '.join(CLASSIFIERS)}")
    for m in regressors:
        if m not in REGRESSORS:
            raise InputError(f"--regressors {m!r} is unknown; use {', '.join(REGRESSORS)}")
    clock = _Clock()
    classes = ds.classes
    X, y, w = ds.X, ds.y, ds.weight
    ret = ds.forward_return
    last = last_known_label(ds.t0_ns, ds.t1_ns, y)
    notes: list[str] = []
    per_fold: dict[str, list[dict[str, Any]]] = {m: [] for m in (*models, *regressors)}
    cols: dict[str, list[np.ndarray]] = {"fold": [], "row": []}
    pred_cols: dict[str, list[np.ndarray]] = {}

    def put(name: str, value: np.ndarray) -> None:
        pred_cols.setdefault(name, []).append(value)

    for split in ds.splits:
        tr, te = split.train, split.test
        if tr.size == 0 or te.size == 0:
            raise InputError(
                f"fold {split.fold} has {tr.size} training and {te.size} test rows; "
                "use fewer --folds or a smaller --embargo"
            )
        have = np.unique(y[tr])
        if have.size < 2:
            raise InputError(
                f"fold {split.fold}: every training label is {int(have[0])} (a single class); "
                "use fewer --folds, a longer range or a lower --threshold"
            )
        if progress:
            progress(f"fold {split.fold + 1}/{len(ds.splits)}")
        cols["fold"].append(np.full(te.size, split.fold, np.int32))
        cols["row"].append(te)
        for m in models:
            if m == "majority":
                counts = np.array([np.sum(w[tr] * (y[tr] == c)) for c in classes])
                freq = counts / counts.sum()
                pred = np.full(te.size, classes[int(np.argmax(counts))], np.int8)
                proba = np.tile(freq, (te.size, 1))
            elif m == "persistence":
                pred, proba = _persistence(last, y, tr, te, classes)
            else:
                model = make_classifier(m, seed)
                with warnings.catch_warnings(record=True) as caught, clock.sklearn():
                    warnings.simplefilter("always")
                    fit_weighted(model, X[tr], y[tr], w[tr])
                    raw = model.predict_proba(X[te])
                for msg in {str(c.message).splitlines()[0] for c in caught}:
                    notes.append(f"{m} fold {split.fold}: {msg}")
                model_classes = [int(c) for c in model.classes_]
                proba = _full_proba(raw, model_classes, classes)
                pred = np.asarray(model.classes_)[np.argmax(raw, axis=1)].astype(np.int8)
            metrics = class_metrics(y[te], pred, proba, classes, w[te])
            metrics["fold"] = split.fold
            metrics["n_train"] = int(tr.size)
            per_fold[m].append(metrics)
            put(f"pred_{m}", pred.astype(np.int8))
            for j, c in enumerate(classes):
                put(f"proba_{m}_{c}", proba[:, j].astype(np.float32))
        for r in regressors:
            if r == "mean":
                guess = np.full(te.size, float(np.average(ret[tr], weights=w[tr])))
            else:
                reg = _make_regressor(r, seed)
                with warnings.catch_warnings(), clock.sklearn():
                    warnings.simplefilter("ignore")
                    fit_weighted(reg, X[tr], ret[tr], w[tr])
                    guess = np.asarray(reg.predict(X[te]), dtype=np.float64)
            rm = regression_metrics(ret[te], guess)
            rm["fold"] = split.fold
            per_fold[r].append(rm)
            put(f"return_{r}", guess)

    fold = np.concatenate(cols["fold"])
    row = np.concatenate(cols["row"])
    data: dict[str, Any] = {
        "fold": fold,
        "row": row,
        "ts": pa.array(ds.t0_ns[row], pa.int64()).cast(pa.timestamp("ns", tz="UTC")),
        "label": y[row],
        "forward_return": ret[row],
    }
    for name, parts in pred_cols.items():
        data[name] = np.concatenate(parts)
    table = pa.table(data)

    summary: dict[str, Any] = {
        "scheme": ds.meta.get("cv", {}).get("scheme"),
        "folds": len(ds.splits),
        "classes": classes,
        "rows": ds.n_rows,
        "effective_n": float(w.mean() * ds.n_rows),
        "oof_rows": int(row.size),
        "models": {},
        "regression": {},
    }
    for m in models:
        proba = np.column_stack([data[f"proba_{m}_{c}"] for c in classes]).astype(np.float64)
        overall = class_metrics(y[row], data[f"pred_{m}"], proba, classes, w[row])
        summary["models"][m] = {**overall, "per_fold": per_fold[m]}
    for r in regressors:
        overall = regression_metrics(ret[row], data[f"return_{r}"])
        summary["regression"][r] = {**overall, "per_fold": per_fold[r]}
    total = time.perf_counter() - start
    summary["seconds"] = {"total": total, "sklearn": clock.seconds}
    summary["notes"] = sorted(set(notes))
    return BaselineResult(_nan_to_none(summary), table, total, clock.seconds, sorted(set(notes)))


def _persistence(
    last: np.ndarray, y: np.ndarray, tr: np.ndarray, te: np.ndarray, classes: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Predict the last known label; probabilities from the training fold's transitions.

    ``P(y = c | last = c')`` is counted on training rows (add-one smoothing); a row with no
    label known yet uses the training class frequencies and predicts the majority class.
    """
    k = len(classes)
    cls = np.asarray(classes)
    yi = np.searchsorted(cls, y[tr])
    prior = 1.0 + np.bincount(yi, minlength=k)
    trans = np.ones((k, k))
    seen = last[tr] != -128
    np.add.at(trans, (np.searchsorted(cls, last[tr][seen]), yi[seen]), 1.0)
    trans /= trans.sum(axis=1, keepdims=True)
    prior /= prior.sum()
    known = last[te] != -128
    pred = np.full(te.size, classes[int(np.argmax(prior))], np.int8)
    pred[known] = last[te][known]
    proba = np.tile(prior, (te.size, 1))
    proba[known] = trans[np.searchsorted(cls, last[te][known])]
    return pred, proba
