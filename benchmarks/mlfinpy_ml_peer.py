"""Peer side of ``bench_ml.py``: mlfinpy 0.1.2's triple barrier, uniqueness and PurgedKFold.

Usage: ``python mlfinpy_ml_peer.py IN.npz OUT.npz FOLDS PCT_EMBARGO``, run in the peer's own
virtual environment. ``IN.npz`` holds ``ts`` (int64 ns, the price grid), ``close``, ``events``
(row indices of the events), ``target`` (barrier width per event, a simple return) and
``horizon`` (rows). Times only the mlfinpy calls; writes labels, t1, uniqueness and each fold's
train/test indices to ``OUT.npz`` and prints ``{"seconds": {...}, "purged_kfold_error": ""}``.
mlfinpy 0.1.2's ``PurgedKFold`` takes the test span's start from the first test row's *t1*
(not its t0), so with triple-barrier ends it can raise "Train and test intersect"; that error is
reported, and its ``ml_get_train_times`` is also run on the AFML test spans (no embargo).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from mlfinpy.cross_validation.cross_validation import (  # type: ignore[import-not-found]
    PurgedKFold,
    ml_get_train_times,
)
from mlfinpy.labeling import get_bins, get_events  # type: ignore[import-not-found]
from mlfinpy.sampling.concurrent import (  # type: ignore[import-not-found]
    get_av_uniqueness_from_triple_barrier,
)


def main() -> None:
    src, dst, folds, pct = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    data = np.load(src)
    index = pd.DatetimeIndex(pd.to_datetime(data["ts"], unit="ns"))
    close = pd.Series(data["close"], index=index)
    rows = data["events"]
    h = int(data["horizon"])
    t_events = index[rows]
    vertical = pd.Series(index[rows + h], index=t_events)
    target = pd.Series(data["target"], index=t_events)
    seconds: dict[str, float] = {}

    start = time.perf_counter()
    events = get_events(close, t_events, [1.0, 1.0], target, min_ret=0.0, num_threads=1,
                        vertical_barrier_times=vertical, verbose=False)  # fmt: skip
    bins = get_bins(events, close)
    seconds["events"] = time.perf_counter() - start

    start = time.perf_counter()
    uniq = get_av_uniqueness_from_triple_barrier(events, close, num_threads=1, verbose=False)
    seconds["uniqueness"] = time.perf_counter() - start

    t1 = events["t1"]
    start = time.perf_counter()
    cv = PurgedKFold(n_splits=folds, samples_info_sets=t1, pct_embargo=pct)
    try:
        splits = list(cv.split(pd.DataFrame(index=events.index, data={"x": 0.0})))
        failure = ""
    except Exception as exc:  # mlfinpy raises a bare Exception
        splits, failure = [], str(exc)
    seconds["splits"] = time.perf_counter() - start
    # Its purging function on the test span AFML defines, [t0 of the first test row,
    # max t1 of the test rows], without embargo: comparable with ours at --embargo 0.
    start = time.perf_counter()
    purged: list[tuple[np.ndarray, np.ndarray]] = []
    for block in np.array_split(np.arange(len(t1)), folds):
        span = pd.Series(index=[t1.index[block[0]]], data=[t1.iloc[block].max()])
        kept = ml_get_train_times(t1, span)
        purged.append((t1.index.get_indexer(kept.index).astype(np.int64), block))
    seconds["purge"] = time.perf_counter() - start

    out: dict[str, np.ndarray] = {
        "t0": events.index.asi8,
        "t1": pd.DatetimeIndex(events["t1"]).asi8,
        "label": bins["bin"].reindex(events.index).to_numpy(dtype=np.float64),
        "uniqueness": uniq["tW"].reindex(events.index).to_numpy(dtype=np.float64),
    }
    for f, (tr, te) in enumerate(splits):
        out[f"train_{f}"] = np.asarray(tr, dtype=np.int64)
        out[f"test_{f}"] = np.asarray(te, dtype=np.int64)
    for f, (tr, te) in enumerate(purged):
        out[f"purge_train_{f}"] = tr
        out[f"purge_test_{f}"] = te
    np.savez(dst, **out)  # type: ignore[arg-type]
    print(json.dumps({"seconds": seconds, "purged_kfold_error": failure}))


if __name__ == "__main__":
    main()
