"""``seriesfactory ml dataset|baseline|importance``: thin over :mod:`seriesfactory.ml`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from seriesfactory.cli._app import (
    CacheDir,
    Config,
    OutputDir,
    Overwrite,
    Quiet,
    app,
    check_output,
    day_range_ns,
)

if TYPE_CHECKING:
    from rich.console import Console


from seriesfactory.errors import InputError

ml_app = typer.Typer(help="Labelled leak-free datasets, honest baselines, feature importance.")
app.add_typer(ml_app, name="ml")

DatasetFile = Annotated[
    Path,
    typer.Option("--dataset", metavar="FILE", help="A dataset written by 'ml dataset' (Parquet)."),
]


def _console(quiet: bool) -> Console:
    from rich.console import Console

    return Console(highlight=False, quiet=quiet, stderr=False)


@ml_app.command("dataset")
def dataset(
    output: Annotated[
        Path, typer.Option("--output", metavar="FILE", help="Dataset Parquet file to write.")
    ],
    features: Annotated[
        Path | None,
        typer.Option("--features", metavar="FILE", help="Feature table (Parquet/Arrow) to label."),
    ] = None,
    venue: Annotated[
        str | None,
        typer.Option("--venue", metavar="NAME", help="Build trade features of this venue instead."),
    ] = None,
    symbol: Annotated[
        str | None, typer.Option("--symbol", metavar="SYMBOL", help="Symbol, e.g. BTCUSDT.")
    ] = None,
    from_: Annotated[
        str | None, typer.Option("--from", metavar="WHEN", help="Start (YYYY-MM-DD).")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", metavar="WHEN", help="End, exclusive.")] = None,
    interval: Annotated[
        str, typer.Option("--interval", metavar="DURATION", help="Feature row step, e.g. 1s.")
    ] = "1s",
    label: Annotated[
        str,
        typer.Option(
            "--label",
            metavar="fixed-horizon|triple-barrier",
            help="fixed-horizon or triple-barrier.",
        ),
    ] = "fixed-horizon",
    horizon: Annotated[
        int, typer.Option("--horizon", metavar="N", help="Label horizon in rows.")
    ] = 30,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold", metavar="NUMBER", help="Dead band / barrier k (default 0.5 or 1.0)."
        ),
    ] = None,
    threshold_units: Annotated[
        str,
        typer.Option(
            "--threshold-units", metavar="vol|return", help="vol (k·σ·√h) or return (absolute)."
        ),
    ] = "vol",
    vol_window: Annotated[
        int, typer.Option("--vol-window", metavar="N", help="Rows of the trailing volatility σ.")
    ] = 100,
    cv: Annotated[
        str,
        typer.Option(
            "--cv",
            metavar="purged-kfold|walk-forward|cpcv",
            help="purged-kfold, walk-forward or cpcv.",
        ),
    ] = "purged-kfold",
    folds: Annotated[int, typer.Option("--folds", metavar="N", help="Folds (CPCV: groups N).")] = 5,
    embargo: Annotated[
        str,
        typer.Option(
            "--embargo", metavar="N|PCT", help="Rows after each test span: 1% or a count."
        ),
    ] = "1%",
    test_groups: Annotated[
        int, typer.Option("--test-groups", metavar="N", help="CPCV: test groups k.")
    ] = 2,
    price_column: Annotated[
        str | None,
        typer.Option(
            "--price-column", metavar="NAME", help="Price column (default close/midprice)."
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", metavar="COLUMN", help="A column not to use as a feature."),
    ] = None,
    cache_dir: CacheDir = Path("cache"),
    config: Config = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Label a feature table, weight rows by uniqueness, split it leak-free; write both."""
    from rich.table import Table

    from seriesfactory.ml.dataset import (
        build_ml_dataset_from_features,
        file_sha256,
        read_feature_table,
        write_dataset,
    )

    inputs = [features] if features is not None else []
    check_output(output, overwrite=overwrite, inputs=inputs, suffixes=(".parquet",))
    options = {
        "label_horizon": horizon,
        "label": label,
        "threshold": threshold,
        "threshold_units": threshold_units,
        "vol_window": vol_window,
        "cv": cv,
        "folds": folds,
        "embargo": embargo,
        "test_groups": test_groups,
        "price_column": price_column,
        "exclude": exclude or [],
    }
    if features is not None:
        if venue or symbol or from_ or to:
            raise InputError("give --features FILE or --venue/--symbol/--from/--to, not both")
        table = read_feature_table(features)
        ds = build_ml_dataset_from_features(table, **options)  # type: ignore[arg-type]
        ds.meta["source"] = {
            "kind": "file",
            "path": str(features),
            "sha256": file_sha256(features),
        }
    else:
        if not (venue and symbol and from_ and to):
            raise InputError("give --features FILE, or --venue, --symbol, --from and --to")
        from_ns, to_ns = day_range_ns(from_, to)
        from seriesfactory.config import load_settings
        from seriesfactory.pipeline.ml import trade_feature_table

        table, source = trade_feature_table(
            venue, symbol, from_ns, to_ns, interval=interval, cache_dir=cache_dir,
            settings=load_settings(config),
        )  # fmt: skip
        ds = build_ml_dataset_from_features(table, **options)  # type: ignore[arg-type]
        ds.meta["source"] = {**source, "from": from_, "to": to}
    path, split_path = write_dataset(ds, output)
    console = _console(quiet)
    rows = ds.meta["rows"]
    console.print(
        f"{rows['output']:,} rows of {rows['input']:,}: {rows['warmup_dropped']:,} warm-up, "
        f"{rows['no_horizon_dropped']:,} without a full horizon, {rows['no_price_dropped']:,} "
        f"without a price dropped; {len(ds.feature_cols)} features; classes "
        + ", ".join(f"{k}: {v:,}" for k, v in ds.meta["classes"].items())
        + f"; effective N {ds.meta['effective_n']:,.0f}"
    )
    grid = Table(title=f"{cv} (embargo {ds.meta['embargo_rows']} rows)")
    for col in ("fold", "train", "test", "purged", "embargo", "unused"):
        grid.add_column(col, justify="right")
    for s in ds.splits:
        counts = [int((s.roles == r).sum()) for r in range(5)]
        grid.add_row(str(s.fold), *(f"{c:,}" for c in counts))
    console.print(grid)
    print(path)
    print(split_path)


@ml_app.command("baseline")
def baseline(
    dataset_path: DatasetFile,
    output_dir: OutputDir = Path("output"),
    models: Annotated[
        str,
        typer.Option(
            "--models", metavar="LIST", help="Comma-separated: majority,persistence,logistic,gbm."
        ),
    ] = "majority,persistence,logistic,gbm",
    regressors: Annotated[
        str,
        typer.Option(
            "--regressors", metavar="LIST", help="Comma-separated: mean,ridge,gbm (or none)."
        ),
    ] = "mean,ridge,gbm",
    threads: Annotated[
        int, typer.Option("--threads", metavar="N", help="scikit-learn threads.")
    ] = 1,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Score the baselines on every fold; write metrics.json and the out-of-fold predictions."""
    from rich.console import Console
    from rich.table import Table

    from seriesfactory.core.atomic import atomic_write_json, atomic_write_parquet
    from seriesfactory.ml.baselines import run_baselines
    from seriesfactory.ml.dataset import load_dataset

    metrics_path = output_dir / "metrics.json"
    oof_path = output_dir / "oof_predictions.parquet"
    for p in (metrics_path, oof_path):
        if p.exists() and not overwrite:
            raise InputError(f"--output-dir {output_dir}: {p.name} exists; add --overwrite")
    ds = load_dataset(dataset_path)
    model_list = [m.strip() for m in models.split(",") if m.strip()]
    reg_list = [m.strip() for m in regressors.split(",") if m.strip() and m.strip() != "none"]
    if not model_list:
        raise InputError("--models is empty; name at least one of majority,persistence,...")
    console = _console(quiet)
    err = Console(stderr=True, quiet=quiet, highlight=False)
    result = run_baselines(
        ds, models=model_list, regressors=reg_list, threads=threads, progress=err.print
    )
    atomic_write_parquet(oof_path, result.predictions)
    atomic_write_json(metrics_path, result.metrics)
    table = Table(
        title=f"out-of-fold, {result.metrics['folds']} folds ({result.metrics['scheme']})"
    )
    for col in ("model", "accuracy", "balanced acc.", "log loss", "F1 per class", "ROC AUC"):
        table.add_column(col, justify="right")
    for name, m in result.metrics["models"].items():
        f1 = " ".join(f"{k}:{v:.3f}" for k, v in m["f1"].items())
        auc = "-" if m.get("roc_auc") is None else f"{m['roc_auc']:.4f}"
        table.add_row(
            name,
            f"{m['accuracy']:.4f}",
            f"{m['balanced_accuracy']:.4f}",
            f"{m['log_loss']:.4f}",
            f1,
            auc,
        )
    console.print(table)
    if result.metrics["regression"]:
        reg = Table(title="forward_return (regression)")
        for col in ("model", "R²", "MAE"):
            reg.add_column(col, justify="right")
        for name, m in result.metrics["regression"].items():
            r2 = "-" if m.get("r2") is None else f"{m['r2']:.5f}"
            reg.add_row(name, r2, f"{m['mae']:.3e}")
        console.print(reg)
    console.print(
        f"effective N {result.metrics['effective_n']:,.0f} of {result.metrics['rows']:,} rows"
    )
    for note in result.notes:
        err.print(f"note: {note}")
    print(metrics_path)
    print(oof_path)


@ml_app.command("importance")
def importance(
    dataset_path: DatasetFile,
    output: Annotated[
        Path, typer.Option("--output", metavar="FILE", help="Importance table (.parquet or .csv).")
    ],
    model: Annotated[
        str,
        typer.Option(
            "--model", metavar="gbm|logistic|forest", help="gbm, logistic or forest (MDI)."
        ),
    ] = "gbm",
    repeats: Annotated[
        int, typer.Option("--repeats", metavar="N", help="Shuffles per feature and fold.")
    ] = 3,
    max_test_rows: Annotated[
        int | None,
        typer.Option("--max-test-rows", metavar="N", help="Score a random subset per fold."),
    ] = None,
    threads: Annotated[
        int, typer.Option("--threads", metavar="N", help="scikit-learn threads.")
    ] = 1,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Permutation importance on held-out purged folds (and MDI with --model forest)."""
    import pyarrow.csv as pacsv
    from rich.console import Console
    from rich.table import Table

    from seriesfactory.core.atomic import atomic_path, atomic_write_parquet
    from seriesfactory.ml.dataset import load_dataset
    from seriesfactory.ml.importance import feature_importance

    check_output(output, overwrite=overwrite, inputs=[dataset_path], suffixes=(".parquet", ".csv"))
    if max_test_rows is not None and max_test_rows < 1:
        raise InputError(f"--max-test-rows must be at least 1, got {max_test_rows}")
    ds = load_dataset(dataset_path)
    err = Console(stderr=True, quiet=quiet, highlight=False)
    table = feature_importance(
        ds,
        model=model,
        repeats=repeats,
        max_test_rows=max_test_rows,
        threads=threads,
        progress=err.print,
    )
    if output.suffix.lower() == ".csv":
        with atomic_path(output) as tmp:
            pacsv.write_csv(table, tmp)
    else:
        atomic_write_parquet(output, table)
    view = Table(title=f"permutation importance ({model}, Δ log loss on held-out folds)")
    for col in ("rank", "feature", "mean", "std", "MDI"):
        view.add_column(col, justify="right")
    for row in table.slice(0, 20).to_pylist():
        mdi = row["mdi_mean"]
        view.add_row(
            str(row["rank"]),
            row["feature"],
            f"{row['permutation_mean']:.5f}",
            f"{row['permutation_std']:.5f}",
            "-" if math.isnan(mdi) else f"{mdi:.4f}",
        )
    _console(quiet).print(view)
    print(output)
