"""ML datasets, baselines and the EDA report on a week of 1 s feature rows; mlfinpy on a day.

Usage::

    .venv/bin/python benchmarks/bench_ml.py [--rows 604800] [--features 80]
        [--baseline-rows 86400] [--peer-rows 86400] [--skip-peer]

1. A week of generated 1 s trade-feature rows (``--rows`` x ``--features``: a GBM close with
   OHLCV-like columns and random features, some with a warm-up) is written to Parquet (not
   timed). Timed: reading it, triple-barrier labels (horizon 30, k = 1 σ√h), uniqueness
   weights, purged 5-fold with a 1 % embargo, and writing the dataset and its splits file.
   Aim: <= 20 s.
2. Baselines (majority, persistence, logistic, gbm; regression mean, ridge, gbm) on the first
   ``--baseline-rows`` rows of that dataset: the time outside scikit-learn's fits and
   predictions, as a share of the time inside them. Aim: <= 10 %.
3. The EDA report of the week (features + dataset): seconds and file size. Aims: <= 15 s,
   < 30 MB.
4. Peer: mlfinpy 0.1.2 (own venv, ``benchmarks/.work/mlfinpy-venv``, created when missing)
   computes the triple barrier (``get_events`` + ``get_bins``), average uniqueness and its
   ``PurgedKFold`` on ``--peer-rows`` rows of the same price; we do the same on the same rows.
   Printed: the time ratio and how many labels, t1, weights and training sets agree.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from seriesfactory.ml.baselines import run_baselines
from seriesfactory.ml.dataset import (
    Dataset,
    build_ml_dataset_from_features,
    load_dataset,
    read_feature_table,
    write_dataset,
)
from seriesfactory.ml.labels import LabelSpec, make_labels
from seriesfactory.ml.splits import TRAIN, CVSpec, make_splits
from seriesfactory.ml.weights import average_uniqueness
from seriesfactory.reports.eda import eda_report

ROOT = Path(__file__).resolve().parent
WORK = ROOT / ".work"
VENV = WORK / "mlfinpy-venv"
PEER = ROOT / "mlfinpy_ml_peer.py"
_S = 1_000_000_000
HORIZON, K, VOL_WINDOW, FOLDS, EMBARGO = 30, 1.0, 100, 5, 0.01


def peer_python() -> Path:
    """The peer venv's interpreter, creating the venv (and installing mlfinpy) if missing."""
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {VENV} and installing mlfinpy[optionals]==0.1.2 ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "mlfinpy[optionals]==0.1.2"],
            check=True,
        )
    return python


def generate(rows: int, features: int, seed: int = 0) -> pa.Table:
    """1 s rows from 2026-01-05: a GBM close, OHLCV-like columns and random features."""
    rng = np.random.default_rng(seed)
    ret = rng.standard_t(4, rows) * 2e-4
    close = 50_000 * np.exp(np.cumsum(ret))
    spread = np.abs(rng.normal(0, 5e-5, rows)) * close
    volume = rng.exponential(1.0, rows)
    buy = volume * rng.uniform(0, 1, rows)
    cols: dict[str, object] = {
        "ts": pa.array(np.arange(rows, dtype=np.int64) * _S + 1_767_571_200 * _S).cast(
            pa.timestamp("ns", tz="UTC")
        ),
        "open": close * (1 - ret / 2),
        "high": close + spread,
        "low": close - spread,
        "close": close,
        "volume": volume,
        "buy_volume": buy,
        "sell_volume": volume - buy,
        "vwap": close - spread / 3,
        "log_return": np.concatenate(([np.nan], np.diff(np.log(close)))),
    }
    i = 0
    while len(cols) - 1 < features:
        x = rng.normal(size=rows)
        warm = (i % 10) * 10  # warm-ups of 0 .. 90 rows
        x[:warm] = np.nan
        cols[f"f{i:02d}"] = x
        i += 1
    return pa.table(cols)


def bench_dataset(path: Path, out: Path) -> tuple[float, Dataset]:
    start = time.perf_counter()
    table = read_feature_table(path)
    ds = build_ml_dataset_from_features(
        table,
        label="triple-barrier",
        label_horizon=HORIZON,
        threshold=K,
        vol_window=VOL_WINDOW,
        cv="purged-kfold",
        folds=FOLDS,
        embargo=f"{EMBARGO * 100:g}%",
    )
    write_dataset(ds, out)
    return time.perf_counter() - start, ds


def peer_compare(table: pa.Table, rows: int) -> dict[str, object]:
    """Ours vs mlfinpy on the first ``rows`` rows: seconds and agreement."""
    sub = table.slice(0, rows)
    ts = sub.column("ts").cast(pa.int64()).to_numpy()
    close = sub.column("close").to_numpy()
    spec = LabelSpec("triple-barrier", horizon=HORIZON, threshold=K, vol_window=VOL_WINDOW)
    make_labels(close[:500], spec)  # compile the kernels before the timer
    start = time.perf_counter()
    lab = make_labels(close, spec)
    events = np.flatnonzero(lab.end >= 0)
    weight = average_uniqueness(events, lab.end[events], close.size)
    t0, t1 = ts[events], ts[lab.end[events]]
    cv = CVSpec("purged-kfold", folds=FOLDS, embargo=f"{EMBARGO * 100:g}%")
    splits = make_splits(t0, t1, cv)
    ours_s = time.perf_counter() - start
    src = WORK / "ml-peer-in.npz"
    dst = WORK / "ml-peer-out.npz"
    np.savez(src, ts=ts, close=close, events=events, target=lab.width[events], horizon=HORIZON)
    proc = subprocess.run(
        [str(peer_python()), str(PEER), str(src), str(dst), str(FOLDS), str(EMBARGO)],
        check=True,
        capture_output=True,
        text=True,
    )
    reply = json.loads(proc.stdout.strip().splitlines()[-1])
    peer_s = reply["seconds"]
    got = np.load(dst)
    assert np.array_equal(got["t0"], t0), "event sets differ"
    same_t1 = int(np.count_nonzero(got["t1"] == t1))
    same_label = int(np.count_nonzero(got["label"] == lab.label[events]))
    same_weight = int(np.count_nonzero(np.isclose(got["uniqueness"], weight, rtol=1e-9)))
    # Purging alone (embargo 0) against mlfinpy's ml_get_train_times on the same test spans.
    start = time.perf_counter()
    bare = make_splits(t0, t1, CVSpec("purged-kfold", folds=FOLDS, embargo="0"))
    ours_purge_s = time.perf_counter() - start
    folds = []
    for s in bare:
        theirs = set(got[f"purge_train_{s.fold}"].tolist())
        ours = set(np.flatnonzero(s.roles == TRAIN).tolist())
        folds.append(
            {
                "fold": s.fold,
                "test_equal": bool(np.array_equal(got[f"purge_test_{s.fold}"], s.test)),
                "train_ours": len(ours),
                "train_theirs": len(theirs),
                "only_theirs": len(theirs - ours),
                "only_ours": len(ours - theirs),
            }
        )
    kfold = [
        {"fold": s.fold, "train_ours": int(np.count_nonzero(s.roles == TRAIN)),
         "train_theirs": int(got[f"train_{s.fold}"].size) if f"train_{s.fold}" in got else None}
        for s in splits
    ]  # fmt: skip
    peer_total = float(peer_s["events"] + peer_s["uniqueness"] + peer_s["purge"])
    return {
        "events": int(events.size),
        "ours_s": ours_s,
        "ours_purge_s": ours_purge_s,
        "peer_s": peer_s,
        "ratio": peer_total / ours_s,
        "same_t1": same_t1,
        "same_label": same_label,
        "same_weight": same_weight,
        "folds": folds,
        "kfold": kfold,
        "purged_kfold_error": reply["purged_kfold_error"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=604_800)
    parser.add_argument("--features", type=int, default=80)
    parser.add_argument("--baseline-rows", type=int, default=86_400)
    parser.add_argument("--peer-rows", type=int, default=86_400)
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--skip-baselines", action="store_true")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    feats = WORK / f"ml-features-{args.rows}x{args.features}.parquet"
    table = generate(args.rows, args.features)
    pq.write_table(table, feats)
    make_labels(np.asarray(table.column("close").to_numpy()[:500]), LabelSpec("triple-barrier"))
    print(f"features: {args.rows:,} rows x {table.num_columns - 1} columns -> {feats}")

    ds_path = WORK / "ml-dataset.parquet"
    seconds, ds = bench_dataset(feats, ds_path)
    rows = ds.meta["rows"]
    print(
        f"dataset (read, triple barrier, weights, purged {FOLDS}-fold, write): {seconds:.2f} s "
        f"(aim <= 20 s); {rows['output']:,} rows, {rows['warmup_dropped']} warm-up dropped"
    )

    sub = load_dataset(ds_path)
    if not args.skip_baselines:
        bench_baselines(table, min(args.baseline_rows, sub.n_rows))
    report(feats, sub)
    if not args.skip_peer:
        peer_report(table, args.peer_rows)


def bench_baselines(table: pa.Table, n: int) -> None:
    small = WORK / "ml-dataset-baseline.parquet"
    base_ds = build_ml_dataset_from_features(
        table.slice(0, n + 130),
        label="triple-barrier",
        label_horizon=HORIZON,
        threshold=K,
        vol_window=VOL_WINDOW,
        folds=FOLDS,
        embargo=f"{EMBARGO * 100:g}%",
    )
    write_dataset(base_ds, small)
    base_ds = load_dataset(small)
    result = run_baselines(base_ds)
    outside = result.seconds_total - result.seconds_sklearn
    print(
        f"baselines on {base_ds.n_rows:,} rows: total {result.seconds_total:.1f} s, inside "
        f"scikit-learn {result.seconds_sklearn:.1f} s, outside {outside:.2f} s = "
        f"{100 * outside / result.seconds_sklearn:.1f} % (aim <= 10 %)"
    )


def report(feats: Path, sub: Dataset) -> None:
    start = time.perf_counter()
    html = eda_report(read_feature_table(feats), dataset=sub)
    out = WORK / "ml-report.html"
    out.write_text(html)
    report_s = time.perf_counter() - start
    print(
        f"report eda of the week: {report_s:.2f} s (aim <= 15 s), "
        f"{out.stat().st_size / 1e6:.1f} MB (aim < 30 MB)"
    )


def peer_report(table: pa.Table, rows: int) -> None:
    peer = peer_compare(table, rows)
    ps = peer["peer_s"]
    assert isinstance(ps, dict)
    print(
        f"peer on {peer['events']:,} events: ours (labels, weights, purged 5-fold with "
        f"embargo) {peer['ours_s']:.2f} s; mlfinpy get_events+get_bins {ps['events']:.1f} s, "
        f"uniqueness {ps['uniqueness']:.1f} s, purging {ps['purge']:.2f} s; ratio "
        f"mlfinpy/ours {peer['ratio']:.0f}x"
    )
    print(
        f"agreement: t1 {peer['same_t1']:,}, labels {peer['same_label']:,}, uniqueness "
        f"{peer['same_weight']:,} of {peer['events']:,}"
    )
    if peer["purged_kfold_error"]:
        print(f"mlfinpy PurgedKFold raised: {peer['purged_kfold_error']!r}")
    print(f"mlfinpy PurgedKFold train sizes vs ours (embargo 1 %): {peer['kfold']}")
    print("purging, embargo 0: | fold | test equal | train ours | train mlfinpy | only "
          "mlfinpy | only ours |")  # fmt: skip
    for f in peer["folds"]:  # type: ignore[attr-defined]
        print(
            f"| {f['fold']} | {f['test_equal']} | {f['train_ours']:,} | "
            f"{f['train_theirs']:,} | {f['only_theirs']:,} | {f['only_ours']:,} |"
        )


if __name__ == "__main__":
    main()
