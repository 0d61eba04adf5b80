"""Baselines: no fitted transform sees a test row; persistence and metrics by hand; the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from seriesfactory.errors import InputError
from seriesfactory.ml import (
    baselines,
    build_ml_dataset_from_features,
    get_feature_importance,
    run_baseline,
)
from seriesfactory.ml.baselines import class_metrics, last_known_label, run_baselines


def _with_row_id(table: pa.Table) -> pa.Table:
    return table.append_column("row_id", pa.array(np.arange(table.num_rows, dtype=np.float64)))


def test_no_fitted_transform_sees_test_rows(
    monkeypatch: pytest.MonkeyPatch, make_features: Callable[..., pa.Table]
) -> None:
    table = _with_row_id(make_features(n=1_500))
    # row_id is a feature: every fit records exactly which rows it was given.
    ds = build_ml_dataset_from_features(
        table, label_horizon=5, cv="purged-kfold", folds=3, embargo="2%"
    )
    rid = ds.feature_cols.index("row_id")
    seen: list[tuple[np.ndarray, Any]] = []
    real_fit = baselines.fit_weighted

    def spy(model: Any, X: np.ndarray, y: np.ndarray, w: np.ndarray) -> Any:
        fitted = real_fit(model, X, y, w)
        seen.append((X[:, rid].astype(np.int64), fitted))
        return fitted

    monkeypatch.setattr(baselines, "fit_weighted", spy)
    run_baselines(ds, models=("logistic", "gbm"), regressors=("ridge", "gbm"))
    assert len(seen) == 4 * 3
    row_of = {int(v): i for i, v in enumerate(ds.X[:, rid])}
    for k, (ids, model) in enumerate(seen):
        split = ds.splits[k // 4]
        rows = np.array([row_of[i] for i in ids])
        assert np.array_equal(np.sort(rows), split.train), (
            "a fit saw rows other than the train rows"
        )
        steps = dict(getattr(model, "named_steps", {}))
        if "standardscaler" in steps:
            Xtr = ds.X[split.train]
            med = np.nanmedian(Xtr, axis=0)
            np.testing.assert_allclose(steps["simpleimputer"].statistics_, med)
            filled = np.where(np.isnan(Xtr), med, Xtr)
            np.testing.assert_allclose(steps["standardscaler"].mean_, filled.mean(axis=0))


def test_last_known_label_by_hand() -> None:
    t0 = np.array([0, 1, 2, 3, 4, 5])
    t1 = np.array([2, 4, 3, 5, 6, 9])
    y = np.array([1, -1, 0, 1, -1, 0])
    # row 0: nothing known; row 2: row 0 (t1=2); row 3: row 2 (t1=3, latest); row 4: row 1
    # (t1=4); row 5: row 3 (t1=5).
    assert last_known_label(t0, t1, y).tolist() == [-128, -128, 1, 0, -1, 1]


def test_class_metrics_by_hand() -> None:
    y = np.array([1, 1, -1, -1])
    pred = np.array([1, -1, -1, -1])
    proba = np.array([[0.25, 0.75], [0.5, 0.5], [1.0, 0.0], [0.75, 0.25]])
    m = class_metrics(y, pred, proba, [-1, 1], np.array([0.5, 0.5, 1.0, 1.0]))
    assert m["accuracy"] == 0.75
    assert m["balanced_accuracy"] == pytest.approx((1.0 + 0.5) / 2)
    want_ll = -np.mean(np.log([0.75, 0.5, np.clip(1.0, 0, 1), 0.75]))
    assert m["log_loss"] == pytest.approx(want_ll)
    assert m["f1"] == {"-1": pytest.approx(0.8), "1": pytest.approx(2 / 3)}
    assert m["roc_auc"] == pytest.approx(1.0)  # positives 0.75, 0.5 above negatives 0.0, 0.25
    assert m["effective_n"] == pytest.approx(0.75 * 4)


def test_walk_forward_and_cpcv_predictions(make_features: Callable[..., pa.Table]) -> None:
    table = make_features(n=1_200)
    wf = build_ml_dataset_from_features(table, label_horizon=5, cv="walk-forward", folds=3)
    r = run_baselines(wf, models=("majority", "persistence"), regressors=("mean",))
    first_block = wf.n_rows // 4
    assert r.predictions.num_rows == wf.n_rows - first_block  # the first block is never tested
    cp = build_ml_dataset_from_features(table, label_horizon=5, cv="cpcv", folds=4, test_groups=2)
    r = run_baselines(cp, models=("majority",), regressors=())
    assert r.predictions.num_rows == 3 * cp.n_rows  # each row tested in C(3,1) = 3 splits
    assert r.metrics["folds"] == 6


def test_fidel_api(make_features: Callable[..., pa.Table]) -> None:
    table = make_features(n=1_500)
    ds = build_ml_dataset_from_features(table, label_horizon=10)
    assert ds.feature_cols == ["close", "f1", "f2", "lagged_return"]
    assert ds.X_train.shape[1] == 4 and ds.X_val.shape[0] == ds.y_val.shape[0]
    assert len(ds.folds) == 5
    last_train, last_test = ds.folds[-1]
    assert ds.t1_ns[last_train].max() < ds.t0_ns[last_test].min()  # purged time split
    metrics, same = run_baseline(dataset=ds, models=("majority", "logistic"), regressors=())
    assert same is ds and metrics["accuracy"] == metrics["models"]["logistic"]["accuracy"]
    imp = get_feature_importance(ds, model="logistic", repeats=1)
    assert sorted(imp.column("feature").to_pylist()) == sorted(ds.feature_cols)
    no_adv = build_ml_dataset_from_features(
        table.append_column("vpin", pa.array(np.ones(1_500))), include_advanced_features=False
    )
    assert "vpin" not in no_adv.feature_cols


def test_single_class_training_fold_is_refused(make_features: Callable[..., pa.Table]) -> None:
    table = make_features(n=1_000)
    close = table.column("close").to_numpy().copy()
    close[:700] = 100.0  # flat for the first 70 %: those labels are all neutral
    ds = build_ml_dataset_from_features(
        table.set_column(1, "close", pa.array(close)),
        label_horizon=5,
        threshold=0.0,
        threshold_units="return",
        cv="walk-forward",
        folds=4,
    )
    with pytest.raises(InputError, match="single class"):
        run_baselines(ds, models=("logistic",), regressors=())


def test_from_venue_symbol_and_dates(
    mirror: Any,
    shared_real: Any,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """FiDel's one call and ``ml dataset --venue``: real COIN-M trades over a local mirror."""
    pytest.importorskip("seriesfactory.features", reason="the trade features are not in this build")
    import json

    from seriesfactory.cli import main
    from seriesfactory.pipeline.ml import build_ml_dataset, run_baseline

    mirror.roots.append(shared_real / "binance" / "vision")
    body = {"symbols": [{"symbol": "BTCUSD_PERP", "contractSize": 100}]}
    mirror.routes["/dapi/v1/exchangeInfo"] = json.dumps(body).encode()
    monkeypatch.setenv("SERIESFACTORY_BINANCE_DATA_URL", mirror.url)
    monkeypatch.setenv("SERIESFACTORY_BINANCE_COINM_API_URL", mirror.url)
    cache = tmp_path / "cache"
    ds = build_ml_dataset(
        symbol="BTCUSD_PERP", start_date="2026-05-08", end_date="2026-05-09", interval="1s",
        label_horizon=30, include_advanced_features=True, venue="binance-coinm",
        cache_dir=cache, label="triple-barrier",
    )  # fmt: skip
    assert 80_000 < ds.n_rows < 86_400 and ds.classes == [-1, 0, 1]
    assert "vpin" in ds.feature_cols and "kyle_lambda" in ds.feature_cols
    assert ds.meta["source"]["symbol"] == "BTCUSD_PERP" and ds.meta["source"]["trades"] == 105_280
    assert ds.meta["range"]["from"].startswith("2026-05-08")
    assert ds.X_train.shape[1] == len(ds.feature_cols) and len(ds.folds) == 5
    lean = build_ml_dataset("BTCUSD_PERP", "2026-05-08", "2026-05-09", venue="binance-coinm",
                            cache_dir=cache, include_advanced_features=False)  # fmt: skip
    assert "vpin" not in lean.feature_cols and "kyle_lambda" not in lean.feature_cols
    metrics, _ = run_baseline(dataset=lean, models=("majority",), regressors=())
    assert metrics["accuracy"] == metrics["models"]["majority"]["accuracy"]
    out = tmp_path / "ds.parquet"
    assert main(["ml", "dataset", "--venue", "binance-coinm", "--symbol", "BTCUSD_PERP",
                 "--from", "2026-05-08", "--to", "2026-05-09", "--cache-dir", str(cache),
                 "--output", str(out), "--quiet"]) == 0  # fmt: skip
    assert out.is_file() and (tmp_path / "ds.splits.parquet").is_file()
    capsys.readouterr()
    with pytest.raises(InputError):
        build_ml_dataset("BTCUSDT", "2024-12-02", "2024-12-01", cache_dir=cache)


def test_the_one_calls_need_symbol_and_both_dates_together() -> None:
    from seriesfactory.pipeline.ml import get_feature_importance, run_baseline

    needle = "give symbol, start_date and end_date together"
    with pytest.raises(InputError, match=needle):
        run_baseline("BTCUSDT")
    with pytest.raises(InputError, match=needle):
        run_baseline(start_date="2024-01-01", end_date="2024-01-02")
    with pytest.raises(InputError, match=needle):
        get_feature_importance(symbol="BTCUSDT", start_date="2024-01-01")
    with pytest.raises(InputError, match="give a dataset or a feature table"):
        run_baseline()
