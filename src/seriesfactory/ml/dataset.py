"""Labelled, leak-free datasets from a feature table: ``seriesfactory ml dataset``.

A feature table is any Parquet / Arrow IPC table with ``ts`` (timestamp, UTC) and a price
column (``close`` for trade features, ``midprice`` for book features). The dataset keeps
``ts`` (the row's t0), the features, ``label``, ``forward_return``, ``t1`` and ``weight``,
with its metadata (feature list, label and CV spec, range, source hashes, dropped-row
counts) in the Parquet key-value metadata under :data:`META_KEY`, and its split beside it
(``DATASET.splits.parquet``). See ``docs/ml.md``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow import feather

from seriesfactory.core.atomic import atomic_write_parquet
from seriesfactory.errors import DataError, InputError
from seriesfactory.ml.labels import LabelSpec, make_labels
from seriesfactory.ml.splits import ROLES, CVSpec, Split, make_splits, splits_table
from seriesfactory.ml.weights import average_uniqueness

__all__ = [
    "ADVANCED_FEATURES",
    "META_KEY",
    "PRICE_COLUMNS",
    "RESERVED_COLUMNS",
    "Dataset",
    "build_dataset",
    "build_ml_dataset_from_features",
    "choose_price_column",
    "feature_columns",
    "file_sha256",
    "load_dataset",
    "read_feature_table",
    "splits_path_for",
    "write_dataset",
]

#: Price columns looked for, in this order, when ``price_column`` is not given.
PRICE_COLUMNS = ("close", "midprice")
#: Columns a dataset adds; a feature table must not carry them.
RESERVED_COLUMNS = ("label", "forward_return", "t1", "weight")
#: The Parquet key-value metadata key of a dataset's description (JSON).
META_KEY = "seriesfactory.ml"
#: Trade-feature name prefixes left out by ``include_advanced_features=False``.
ADVANCED_FEATURES = (
    "vpin",
    "kyle_lambda",
    "amihud",
    "roll_spread",
    "realized_vol",
    "momentum",
    "ret_autocorr",
    "intensity_momentum",
)

_NS = pa.timestamp("ns", tz="UTC")


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_feature_table(path: Path, *, option: str = "--features") -> pa.Table:
    """A Parquet or Arrow IPC (Feather v2) file as a table; one-line errors otherwise."""
    if not path.is_file():
        raise InputError(f"{option} {path}: no such file")
    try:
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError):
        pass
    try:
        return feather.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(
            f"not a Parquet or Arrow IPC table ({exc}); pass a table written by "
            "'seriesfactory features trades|book'",
            path=str(path),
        ) from None


def _ts_ns(table: pa.Table, name: str) -> np.ndarray:
    if "ts" not in table.column_names:
        raise InputError(f"{name}: no ts column; a feature table needs ts (timestamp, UTC)")
    col = table.column("ts")
    if pa.types.is_timestamp(col.type):
        col = col.cast(pa.timestamp("ns", tz=col.type.tz)).cast(pa.int64())
    elif not pa.types.is_integer(col.type):
        raise InputError(f"{name}: ts is {col.type}; it must be a timestamp (ns, UTC)")
    if col.null_count:
        raise DataError("ts has null values", path=name)
    ts = col.to_numpy().astype(np.int64)
    back = np.flatnonzero(np.diff(ts) <= 0)
    if back.size:
        raise DataError(
            f"ts is not strictly increasing at row {int(back[0]) + 1}; sort the table by ts",
            path=name,
        )
    return ts


def choose_price_column(table: pa.Table, price_column: str | None, name: str) -> str:
    """``price_column`` if given and present, else ``close``, else ``midprice``."""
    if price_column is not None:
        if price_column not in table.column_names:
            raise InputError(f"{name}: --price-column {price_column!r} is not a column")
        return price_column
    for candidate in PRICE_COLUMNS:
        if candidate in table.column_names:
            return candidate
    raise InputError(f"{name}: no price column (close or midprice); name one with --price-column")


def feature_columns(
    table: pa.Table, exclude: Sequence[str] = (), *, name: str = "features"
) -> list[str]:
    """Numeric and boolean columns other than ``ts`` and ``exclude``, in table order."""
    for reserved in RESERVED_COLUMNS:
        if reserved in table.column_names:
            raise InputError(
                f"{name}: already has a {reserved!r} column (a dataset?); pass a feature table"
            )
    unknown = [c for c in exclude if c not in table.column_names]
    if unknown:
        raise InputError(f"--exclude {unknown[0]!r} is not a column of {name}")
    out = []
    for f in table.schema:
        if f.name == "ts" or f.name in exclude:
            continue
        if (
            pa.types.is_integer(f.type)
            or pa.types.is_floating(f.type)
            or pa.types.is_boolean(f.type)
        ):
            out.append(f.name)
    if not out:
        raise InputError(f"{name}: no numeric feature columns")
    return out


def _as_float(table: pa.Table, column: str) -> np.ndarray:
    return np.asarray(
        table.column(column).cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64
    )


def _ffill(values: np.ndarray) -> np.ndarray:
    """Carry the last finite value forward (past values only); leading NaNs stay NaN."""
    ok = np.isfinite(values)
    idx = np.where(ok, np.arange(values.shape[0]), -1)
    np.maximum.accumulate(idx, out=idx)
    out = np.full_like(values, np.nan)
    have = idx >= 0
    out[have] = values[idx[have]]
    return out


def _iso(ts_ns: int) -> str:
    return (
        dt.datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=dt.UTC)
        .replace(microsecond=(ts_ns % 1_000_000_000) // 1000)
        .isoformat()
        .replace("+00:00", "Z")
    )


@dataclass
class Dataset:
    """A labelled dataset, its splits and metadata (the FiDel ``dataset`` object).

    ``X_train`` / ``X_val`` (and ``y_*``) are the last fold's training and test rows: for
    purged k-fold and walk-forward, the last block held out after a purged, embargoed
    history, i.e. a time split done without leakage. ``folds`` lists every fold's
    ``(train_rows, test_rows)``.
    """

    table: pa.Table
    splits: list[Split]
    meta: dict[str, Any]
    feature_cols: list[str] = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        """Rows of the dataset."""
        return int(self.table.num_rows)

    @cached_property
    def X(self) -> np.ndarray:
        """Features as a float64 matrix (rows x ``feature_cols``), nulls as NaN."""
        if not self.feature_cols:
            return np.zeros((self.n_rows, 0))
        return np.column_stack([_as_float(self.table, c) for c in self.feature_cols])

    @cached_property
    def y(self) -> np.ndarray:
        """The class label (-1, 0, +1) as int8."""
        return np.asarray(self.table.column("label").to_numpy(), dtype=np.int8)

    @cached_property
    def forward_return(self) -> np.ndarray:
        """The regression target: log return from t0 to t1."""
        return _as_float(self.table, "forward_return")

    @cached_property
    def weight(self) -> np.ndarray:
        """Average label uniqueness per row."""
        return _as_float(self.table, "weight")

    @cached_property
    def t0_ns(self) -> np.ndarray:
        """Row times (int64 ns)."""
        return np.asarray(self.table.column("ts").cast(pa.int64()).to_numpy(), dtype=np.int64)

    @cached_property
    def t1_ns(self) -> np.ndarray:
        """Label end times (int64 ns)."""
        return np.asarray(self.table.column("t1").cast(pa.int64()).to_numpy(), dtype=np.int64)

    @property
    def folds(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(train_rows, test_rows)`` of every fold."""
        return [(s.train, s.test) for s in self.splits]

    @property
    def X_train(self) -> np.ndarray:
        """Training rows of the last fold."""
        return self.X[self.splits[-1].train]

    @property
    def X_val(self) -> np.ndarray:
        """Test rows of the last fold."""
        return self.X[self.splits[-1].test]

    @property
    def y_train(self) -> np.ndarray:
        """Labels of the last fold's training rows."""
        return self.y[self.splits[-1].train]

    @property
    def y_val(self) -> np.ndarray:
        """Labels of the last fold's test rows."""
        return self.y[self.splits[-1].test]

    @property
    def classes(self) -> list[int]:
        """The label values present, ascending."""
        return [int(c) for c in np.unique(self.y)]


def build_dataset(
    table: pa.Table,
    *,
    label: LabelSpec,
    cv: CVSpec,
    price_column: str | None = None,
    exclude: Sequence[str] = (),
    source: dict[str, Any] | None = None,
    name: str = "features",
) -> Dataset:
    """Label ``table``, drop warm-up and unlabelled rows (counted), weight and split it."""
    if table.num_rows == 0:
        raise InputError(f"{name}: the feature table has no rows (empty range?)")
    ts = _ts_ns(table, name)
    price_col = choose_price_column(table, price_column, name)
    feats = feature_columns(table, exclude, name=name)
    n = table.num_rows
    if label.horizon >= n:
        raise InputError(
            f"--horizon {label.horizon} is not shorter than the data ({n} rows); "
            "use a shorter horizon or a longer range"
        )
    price = _ffill(_as_float(table, price_col))
    labels = make_labels(price, label)

    # Warm-up: the leading rows before every feature (and the label's scale) has a value.
    first_ok = 0
    for c in feats:
        col = table.column(c)
        valid = _valid_mask(col)
        if not valid.any():
            raise InputError(f"{name}: column {c!r} has no value on any row; --exclude it")
        first_ok = max(first_ok, int(np.argmax(valid)))
    width_ok = np.isfinite(labels.width)
    if not width_ok.any():
        raise InputError(
            f"{name}: the trailing volatility never forms ({n} rows, --vol-window "
            f"{label.vol_window}); use a longer range or --threshold-units return"
        )
    first_ok = max(first_ok, int(np.argmax(width_ok)))
    rows = np.arange(n)
    keep = (rows >= first_ok) & (labels.end >= 0)
    warmup = int(first_ok)
    no_horizon = int(np.count_nonzero((rows >= first_ok) & (labels.end == -1)))
    no_price = int(np.count_nonzero((rows >= first_ok) & (labels.end == -2)))
    idx = np.flatnonzero(keep)
    if idx.size == 0:
        raise InputError(
            f"{name}: no row is left after {warmup} warm-up row(s) and {no_horizon} row(s) "
            f"without a full --horizon {label.horizon}; use a longer range"
        )
    y = labels.label[idx]
    classes, counts = np.unique(y, return_counts=True)
    if classes.size < 2:
        raise InputError(
            f"{name}: every one of the {idx.size} labels is {int(classes[0])} (a single class); "
            "lower --threshold or lengthen --horizon"
        )
    end = labels.end[idx]
    weight = average_uniqueness(idx, end, n)
    t0 = ts[idx]
    t1 = ts[end]
    splits = make_splits(t0, t1, cv)

    out = table.select(["ts", *feats]).take(pa.array(idx))
    out = out.set_column(0, "ts", pa.array(t0, pa.int64()).cast(_NS))
    out = out.append_column("label", pa.array(y, pa.int8()))
    out = out.append_column("forward_return", pa.array(labels.forward_return[idx]))
    out = out.append_column("t1", pa.array(t1, pa.int64()).cast(_NS))
    out = out.append_column("weight", pa.array(weight))
    nan_after = {
        c: int(np.count_nonzero(~_valid_mask(out.column(c))))
        for c in feats
        if np.count_nonzero(~_valid_mask(out.column(c)))
    }
    meta: dict[str, Any] = {
        "format": "seriesfactory.ml.dataset/1",
        "features": feats,
        "price_column": price_col,
        "label": label.to_dict(),
        "cv": cv.to_dict(),
        "embargo_rows": cv.embargo_rows(int(idx.size)),
        "roles": list(ROLES),
        "folds": [{"fold": s.fold, "test_groups": list(s.groups)} for s in splits],
        "range": {"from": _iso(int(t0[0])), "to": _iso(int(t0[-1]))},
        "rows": {
            "input": int(n),
            "warmup_dropped": warmup,
            "no_horizon_dropped": no_horizon,
            "no_price_dropped": no_price,
            "output": int(idx.size),
        },
        "nan_after_warmup": nan_after,
        "classes": {str(int(c)): int(k) for c, k in zip(classes, counts, strict=True)},
        "mean_uniqueness": float(weight.mean()),
        "effective_n": float(weight.mean() * idx.size),
        "source": source or {},
    }
    return Dataset(out, splits, meta, feats)


def _valid_mask(col: pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_floating(col.type):
        valid = pc.and_kleene(pc.is_valid(col), pc.invert(pc.is_nan(col)))
        return np.asarray(valid.to_numpy(zero_copy_only=False), dtype=bool)
    return np.asarray(pc.is_valid(col).to_numpy(zero_copy_only=False), dtype=bool)


def splits_path_for(path: Path) -> Path:
    """``ds.parquet`` -> ``ds.splits.parquet`` (beside it)."""
    stem = path.name[: -len(".parquet")] if path.name.endswith(".parquet") else path.name
    return path.with_name(f"{stem}.splits.parquet")


def write_dataset(ds: Dataset, path: Path) -> tuple[Path, Path]:
    """Write the dataset and its ``.splits.parquet`` atomically; return both paths."""
    split_path = splits_path_for(path)
    atomic_write_parquet(split_path, splits_table(ds.splits, ds.meta["cv"]["scheme"]))
    meta = dict(ds.meta)
    meta["splits_file"] = {"name": split_path.name, "sha256": file_sha256(split_path)}
    ds.meta = meta
    atomic_write_parquet(path, ds.table, metadata={META_KEY: json.dumps(meta, sort_keys=True)})
    return path, split_path


def load_dataset(path: Path, *, option: str = "--dataset") -> Dataset:
    """Read a dataset and its splits file back (both checked against the metadata)."""
    if not path.is_file():
        raise InputError(f"{option} {path}: no such file")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"not a Parquet file ({exc})", path=str(path)) from None
    raw = (table.schema.metadata or {}).get(META_KEY.encode())
    if raw is None:
        raise InputError(
            f"{option} {path}: not a dataset (no {META_KEY} metadata); "
            "write one with 'seriesfactory ml dataset'"
        )
    meta = json.loads(raw)
    split_path = splits_path_for(path)
    if not split_path.is_file():
        raise InputError(f"{option} {path}: its splits file {split_path} is missing")
    want = meta.get("splits_file", {}).get("sha256")
    if want and file_sha256(split_path) != want:
        raise DataError("does not match the dataset's recorded sha256", path=str(split_path))
    st = pq.read_table(split_path)
    n = table.num_rows
    folds = st.column("fold").to_numpy()
    codes = st.column("role").combine_chunks().indices.to_numpy()
    names = st.column("role").combine_chunks().dictionary.to_pylist()
    remap = np.array([ROLES.index(x) for x in names], np.int8)
    k = int(folds.max()) + 1 if folds.size else 0
    if folds.size != k * n:
        raise DataError(
            f"has {folds.size} rows, expected {k} folds x {n} rows", path=str(split_path)
        )
    order = np.lexsort((st.column("row").to_numpy(), folds))
    roles = remap[codes[order]].reshape(k, n)
    groups = [tuple(f.get("test_groups", [])) for f in meta.get("folds", [])]
    splits = [Split(f, roles[f].copy(), groups[f] if f < len(groups) else ()) for f in range(k)]
    feats = [c for c in meta["features"] if c in table.column_names]
    table = table.replace_schema_metadata(None)
    return Dataset(table, splits, meta, feats)


def _drop_advanced(table: pa.Table) -> list[str]:
    return [c for c in table.column_names if c.startswith(ADVANCED_FEATURES)]


def build_ml_dataset_from_features(
    features: Path | str | pa.Table,
    *,
    label_horizon: int = 30,
    label: str = "fixed-horizon",
    threshold: float | None = None,
    threshold_units: str = "vol",
    vol_window: int = 100,
    cv: str = "purged-kfold",
    folds: int = 5,
    embargo: str = "1%",
    test_groups: int = 2,
    price_column: str | None = None,
    exclude: Sequence[str] = (),
    include_advanced_features: bool = True,
) -> Dataset:
    """A dataset from a feature table (a path to Parquet/Arrow, or an Arrow table)."""
    if isinstance(features, pa.Table):
        table, source, name = features, {"kind": "table"}, "features"
    else:
        path = Path(features)
        table = read_feature_table(path)
        source = {"kind": "file", "path": str(path), "sha256": file_sha256(path)}
        name = str(path)
    drop = list(exclude)
    if not include_advanced_features:
        drop += [c for c in _drop_advanced(table) if c not in drop]
    spec = LabelSpec(
        kind=label,  # type: ignore[arg-type]  # checked by LabelSpec
        horizon=label_horizon,
        threshold=default_threshold(label) if threshold is None else threshold,
        threshold_units=threshold_units,  # type: ignore[arg-type]
        vol_window=vol_window,
    )
    cv_spec = CVSpec(scheme=cv, folds=folds, embargo=embargo, test_groups=test_groups)  # type: ignore[arg-type]
    return build_dataset(
        table,
        label=spec,
        cv=cv_spec,
        price_column=price_column,
        exclude=drop,
        source=source,
        name=name,
    )


def default_threshold(label: str) -> float:
    """``--threshold`` when not given: 0.5 (fixed horizon) or 1.0 (triple barrier), vol units."""
    return 1.0 if label == "triple-barrier" else 0.5
