"""The whole pipeline on real trades through the CLI, and bad input as one-line errors."""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seriesfactory.cli import main
from seriesfactory.ml.dataset import META_KEY


def _slice(src: Path, dst: Path, rows: int) -> Path:
    pq.write_table(pq.read_table(src).slice(0, rows), dst)
    return dst


def _one_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: ")
    return err[0]


def _triple_barrier_by_loop(close: list[float], h: int, k: float, window: int) -> dict[int, int]:
    """Labels recomputed plainly (forward-filled close, σ by statistics.stdev)."""
    p, last = [], math.nan
    for v in close:
        last = last if math.isnan(v) else v
        p.append(last)
    lp = [math.log(v) for v in p]
    out = {}
    for i in range(window, len(p) - h):
        sigma = statistics.stdev(lp[j] - lp[j - 1] for j in range(i - window + 1, i + 1))
        w = k * sigma * math.sqrt(h)
        lab = 0
        for j in range(i + 1, i + h + 1):
            r = p[j] / p[i] - 1
            if r > w or r < -w:
                lab = 1 if r > w else -1
                break
        out[i] = lab
    return out


@pytest.mark.slow
def test_pipeline_on_real_trades(
    real_trade_features: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feats = _slice(real_trade_features, tmp_path / "f.parquet", 7_200)  # two hours of 1 s rows
    ds_path = tmp_path / "ds.parquet"
    args = [
        "ml",
        "dataset",
        "--features",
        str(feats),
        "--label",
        "triple-barrier",
        "--horizon",
        "30",
        "--threshold",
        "1",
        "--cv",
        "purged-kfold",
        "--folds",
        "5",
        "--embargo",
        "1%",
        "--output",
        str(ds_path),
    ]
    assert main(args) == 0
    capsys.readouterr()
    ds = pq.read_table(ds_path)
    meta = json.loads(ds.schema.metadata[META_KEY.encode()])
    source = pq.read_table(feats)
    n_in = source.num_rows
    rows = meta["rows"]
    assert rows["input"] == n_in
    assert rows["output"] == ds.num_rows
    assert (
        rows["warmup_dropped"]
        + rows["no_horizon_dropped"]
        + rows["no_price_dropped"]
        + rows["output"]
    ) == n_in
    assert rows["warmup_dropped"] >= 100  # the trailing σ needs 100 returns
    assert meta["source"]["sha256"] == hashlib.sha256(feats.read_bytes()).hexdigest()
    assert meta["label"] == {
        "kind": "triple-barrier",
        "horizon": 30,
        "threshold": 1.0,
        "threshold_units": "vol",
        "vol_window": 100,
    }
    assert "close" in meta["features"] and "realized_vol_30" in meta["features"]
    for col in ("ts", "label", "forward_return", "t1", "weight"):
        assert col in ds.column_names
    assert ds.schema.field("ts").type == pa.timestamp("ns", tz="UTC")
    t0 = ds.column("ts").cast(pa.int64()).to_numpy()
    t1 = ds.column("t1").cast(pa.int64()).to_numpy()
    assert np.all(t1 > t0) and np.all(t1 - t0 <= 30 * 1_000_000_000)
    w = ds.column("weight").to_numpy()
    assert np.all((w > 0) & (w <= 1))
    # The labels equal a plain recomputation from the source close.
    src_ts = source.column("ts").cast(pa.int64()).to_numpy()
    want = _triple_barrier_by_loop(source.column("close").to_pylist(), 30, 1.0, 100)
    pos = np.searchsorted(src_ts, t0)
    got = ds.column("label").to_numpy()
    for r in range(0, ds.num_rows, 37):
        assert got[r] == want[int(pos[r])], r
    # The split file: every row once per fold; no training row overlaps a test span.
    sp = pq.read_table(tmp_path / "ds.splits.parquet")
    assert sp.num_rows == 5 * ds.num_rows
    assert set(sp.column("scheme").to_pylist()) == {"purged-kfold"}
    fold = sp.column("fold").to_numpy()
    row = sp.column("row").to_numpy()
    role = np.array(sp.column("role").to_pylist())
    emb = math.floor(ds.num_rows * 0.01)
    for f in range(5):
        m = fold == f
        assert sorted(row[m].tolist()) == list(range(ds.num_rows))
        r_role = np.empty(ds.num_rows, dtype=object)
        r_role[row[m]] = role[m]
        test = np.flatnonzero(r_role == "test")
        lo, hi = t0[test].min(), t1[test].max()
        train = np.flatnonzero(r_role == "train")
        assert not np.any((t0[train] <= hi) & (t1[train] >= lo))
        if f < 4:
            after = np.flatnonzero(t0 > hi)[:emb]
            assert set(r_role[after]) == {"embargo"}

    # Baselines.
    out = tmp_path / "base"
    assert (
        main(
            [
                "ml",
                "baseline",
                "--dataset",
                str(ds_path),
                "--output-dir",
                str(out),
                "--regressors",
                "mean,ridge",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    for model in ("majority", "persistence", "logistic", "gbm"):
        assert model in printed
    metrics = json.loads((out / "metrics.json").read_text())
    oof = pq.read_table(out / "oof_predictions.parquet")
    assert oof.num_rows == ds.num_rows  # purged k-fold: every row predicted once
    y = oof.column("label").to_numpy()
    for model in ("majority", "persistence", "logistic", "gbm"):
        m = metrics["models"][model]
        assert len(m["per_fold"]) == 5
        pred = oof.column(f"pred_{model}").to_numpy()
        assert m["accuracy"] == pytest.approx(float(np.mean(pred == y)))
        assert 0 <= m["balanced_accuracy"] <= 1 and m["log_loss"] > 0
        assert set(m["f1"]) == {"-1", "0", "1"}
        assert m["effective_n"] == pytest.approx(
            float(w[oof.column("row").to_numpy()].mean()) * len(y)
        )
    # The majority baseline predicts each fold's weighted training majority, computed here.
    labels = ds.column("label").to_numpy()
    for f in range(5):
        m = fold == f
        train_rows = row[m][role[m] == "train"]
        classes = [-1, 0, 1]
        weights = [w[train_rows][labels[train_rows] == c].sum() for c in classes]
        in_fold = oof.column("fold").to_numpy() == f
        assert set(oof.column("pred_majority").to_numpy()[in_fold]) == {
            classes[int(np.argmax(weights))]
        }
    assert set(metrics["regression"]) == {"mean", "ridge"}
    assert metrics["regression"]["mean"]["r2"] <= 0.01

    # Importance with MDI.
    imp = tmp_path / "imp.parquet"
    assert (
        main(
            [
                "ml",
                "importance",
                "--dataset",
                str(ds_path),
                "--output",
                str(imp),
                "--model",
                "forest",
                "--repeats",
                "1",
                "--max-test-rows",
                "500",
                "--quiet",
            ]
        )
        == 0
    )
    table = pq.read_table(imp)
    assert sorted(table.column("feature").to_pylist()) == sorted(meta["features"])
    assert np.all(np.isfinite(table.column("mdi_mean").to_numpy()))
    assert table.column("rank").to_pylist() == list(range(1, len(meta["features"]) + 1))


def _write(tmp_path: Path, name: str, table: pa.Table) -> Path:
    path = tmp_path / name
    pq.write_table(table, path)
    return path


def test_bad_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make_features: object
) -> None:
    good = _write(tmp_path, "good.parquet", make_features(n=400))  # type: ignore[operator]
    out = str(tmp_path / "ds.parquet")

    def run(*extra: str, features: Path = good) -> str:
        assert main(["ml", "dataset", "--features", str(features), "--output", out, *extra]) == 2
        return _one_error(capsys)

    assert "--horizon 500 is not shorter than the data (400 rows)" in run("--horizon", "500")
    noprice = _write(tmp_path, "noprice.parquet", make_features(n=400).drop(["close"]))  # type: ignore[operator]
    assert "no price column (close or midprice)" in run(features=noprice)
    flat = make_features(n=400)  # type: ignore[operator]
    flat = flat.set_column(1, "close", pa.array(np.full(400, 100.0)))
    single = _write(tmp_path, "flat.parquet", flat)
    assert "single class" in run(features=single)
    empty = _write(tmp_path, "empty.parquet", make_features(n=400).slice(0, 0))  # type: ignore[operator]
    assert "no rows" in run(features=empty)
    assert "--price-column 'mid'" in run("--price-column", "mid")
    assert "--exclude 'nope'" in run("--exclude", "nope")
    assert "--embargo" in run("--embargo", "soon")
    assert "--cv" in run("--cv", "random")
    assert "no such file" in run(features=tmp_path / "missing.parquet")
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet\n")
    assert main(["ml", "dataset", "--features", str(bad), "--output", out]) == 1
    assert "not a Parquet or Arrow IPC table" in _one_error(capsys)
    # Output rules: an existing output needs --overwrite; the suffix must be .parquet.
    assert main(["ml", "dataset", "--features", str(good), "--output", out, "--quiet"]) == 0
    capsys.readouterr()
    assert "exists; pass --overwrite" in run()
    assert (
        main(["ml", "dataset", "--features", str(good), "--output", out, "--overwrite", "--quiet"])
        == 0
    )
    capsys.readouterr()
    assert ".parquet" in run("--overwrite", "--output", str(tmp_path / "ds.csv"))
    # A dataset is not a feature table.
    assert "also an input" in run("--overwrite", features=Path(out))
    assert "already has a 'label' column" in run(
        "--output", str(tmp_path / "ds2.parquet"), features=Path(out)
    )
    # Baseline and importance on a file that is not a dataset.
    assert (
        main(["ml", "baseline", "--dataset", str(good), "--output-dir", str(tmp_path / "b")]) == 2
    )
    assert "not a dataset" in _one_error(capsys)
    assert (
        main(
            [
                "ml",
                "importance",
                "--dataset",
                out,
                "--output",
                str(tmp_path / "i.parquet"),
                "--model",
                "svm",
            ]
        )
        == 2
    )
    assert "--model 'svm'" in _one_error(capsys)
