"""Feature importance under the purged split: ``seriesfactory ml importance``.

Permutation importance: on each fold the model is fitted on the training rows; on the
held-out test rows every feature is shuffled ``repeats`` times and the rise of the log
loss is recorded (importance = loss after shuffling - loss before; > 0 means the model
used it). Mean-decrease-impurity (MDI) comes with the ``forest`` model, which has it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from seriesfactory.errors import InputError
from seriesfactory.ml.baselines import _full_proba, fit_weighted, make_classifier
from seriesfactory.ml.dataset import Dataset

__all__ = ["IMPORTANCE_MODELS", "feature_importance"]

IMPORTANCE_MODELS = ("gbm", "logistic", "forest")


def _log_loss(y: np.ndarray, proba: np.ndarray, classes: list[int]) -> float:
    p = np.clip(proba, 1e-15, 1.0)
    p = p / p.sum(axis=1, keepdims=True)
    idx = np.searchsorted(np.asarray(classes), y)
    return float(-np.mean(np.log(p[np.arange(y.size), idx])))


def feature_importance(
    ds: Dataset,
    *,
    model: str = "gbm",
    repeats: int = 3,
    max_test_rows: int | None = None,
    seed: int = 0,
    threads: int = 1,
    progress: Callable[[str], None] | None = None,
) -> pa.Table:
    """Permutation importance (and MDI for ``forest``) per feature, over every fold.

    Columns: ``feature``, ``permutation_mean``, ``permutation_std`` (over folds x
    repeats), ``mdi_mean``, ``mdi_std`` (over folds; NaN without MDI), ``rank``.
    ``max_test_rows`` scores a seeded random subset of each test fold (for speed);
    ``threads`` caps scikit-learn's threads as in :func:`~seriesfactory.ml.baselines.run_baselines`.
    """
    import sklearn.ensemble
    import sklearn.linear_model  # load the OpenMP/BLAS runtimes, then cap them
    from threadpoolctl import threadpool_limits

    del sklearn

    if threads < 1:
        raise InputError(f"--threads must be at least 1, got {threads}")
    with threadpool_limits(limits=threads):
        return _importance(ds, model, repeats, max_test_rows, seed, progress)


def _importance(
    ds: Dataset,
    model: str,
    repeats: int,
    max_test_rows: int | None,
    seed: int,
    progress: Callable[[str], None] | None,
) -> pa.Table:
    if model not in IMPORTANCE_MODELS:
        raise InputError(f"--model {model!r} is unknown; use {', '.join(IMPORTANCE_MODELS)}")
    if repeats < 1:
        raise InputError(f"--repeats must be at least 1, got {repeats}")
    rng = np.random.default_rng(seed)
    classes = ds.classes
    X, y, w = ds.X, ds.y, ds.weight
    k = len(ds.feature_cols)
    perm: list[np.ndarray] = []
    mdi: list[np.ndarray] = []
    for split in ds.splits:
        tr, te = split.train, split.test
        if np.unique(y[tr]).size < 2 or te.size == 0:
            raise InputError(
                f"fold {split.fold}: cannot fit (training classes {np.unique(y[tr]).tolist()}, "
                f"{te.size} test rows); use fewer --folds"
            )
        if progress:
            progress(f"fold {split.fold + 1}/{len(ds.splits)}")
        if max_test_rows is not None and te.size > max_test_rows:
            te = np.sort(rng.choice(te, size=max_test_rows, replace=False))
        est = make_classifier(model, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit_weighted(est, X[tr], y[tr], w[tr])
            have = [int(c) for c in est.classes_]
            Xt = X[te].copy()
            base = _log_loss(y[te], _full_proba(est.predict_proba(Xt), have, classes), classes)
            scores = np.zeros((repeats, k))
            for j in range(k):
                saved = Xt[:, j].copy()
                for r in range(repeats):
                    Xt[:, j] = saved[rng.permutation(saved.size)]
                    proba = _full_proba(est.predict_proba(Xt), have, classes)
                    scores[r, j] = _log_loss(y[te], proba, classes) - base
                Xt[:, j] = saved
        perm.append(scores)
        final = est.steps[-1][1] if hasattr(est, "steps") else est
        if hasattr(final, "feature_importances_"):
            mdi.append(np.asarray(final.feature_importances_, dtype=np.float64))
    p = np.concatenate(perm, axis=0)
    mean = p.mean(axis=0)
    std = p.std(axis=0, ddof=1) if p.shape[0] > 1 else np.zeros(k)
    if mdi:
        m = np.vstack(mdi)
        mdi_mean = m.mean(axis=0)
        mdi_std = m.std(axis=0, ddof=1) if m.shape[0] > 1 else np.zeros(k)
    else:
        mdi_mean = np.full(k, np.nan)
        mdi_std = np.full(k, np.nan)
    order = np.argsort(-mean, kind="stable")
    rank = np.empty(k, np.int32)
    rank[order] = np.arange(1, k + 1)
    table = pa.table(
        {
            "feature": ds.feature_cols,
            "permutation_mean": mean,
            "permutation_std": std,
            "mdi_mean": mdi_mean,
            "mdi_std": mdi_std,
            "rank": rank,
        }
    )
    return table.take(pa.array(order))
