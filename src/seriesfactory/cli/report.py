"""``seriesfactory report eda``: the offline HTML dashboard of a feature table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from seriesfactory.cli._app import Overwrite, Quiet, app, check_output
from seriesfactory.errors import DataError

report_app = typer.Typer(help="Human-facing reports: the offline EDA dashboard.")
app.add_typer(report_app, name="report")


@report_app.command("eda")
def eda(
    features: Annotated[
        Path, typer.Option("--features", metavar="FILE", help="Feature table (Parquet/Arrow).")
    ],
    output: Annotated[
        Path, typer.Option("--output", metavar="FILE", help="The HTML file to write.")
    ],
    dataset: Annotated[
        Path | None,
        typer.Option("--dataset", metavar="FILE", help="A dataset from 'ml dataset' (labels, CV)."),
    ] = None,
    importance: Annotated[
        Path | None,
        typer.Option("--importance", metavar="FILE", help="A table from 'ml importance'."),
    ] = None,
    price_column: Annotated[
        str | None,
        typer.Option(
            "--price-column", metavar="NAME", help="Price column (default close/midprice)."
        ),
    ] = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """One self-contained HTML file (plotly.js embedded once) that opens offline from disk."""
    import pyarrow.csv as pacsv

    from seriesfactory.core.atomic import atomic_write_bytes
    from seriesfactory.ml.dataset import load_dataset, read_feature_table
    from seriesfactory.reports.eda import eda_report

    inputs = [p for p in (features, dataset, importance) if p is not None]
    check_output(output, overwrite=overwrite, inputs=inputs, suffixes=(".html", ".htm"))
    table = read_feature_table(features)
    ds = load_dataset(dataset) if dataset is not None else None
    imp = None
    if importance is not None:
        if importance.suffix.lower() == ".csv":
            try:
                imp = pacsv.read_csv(importance)
            except Exception as exc:  # pyarrow raises several types for a bad CSV
                raise DataError(f"not a CSV table ({exc})", path=str(importance)) from None
        else:
            imp = read_feature_table(importance, option="--importance")
    text = eda_report(
        table,
        dataset=ds,
        importance=imp,
        price_column=price_column,
        title=f"Series Factory EDA: {features.name}",
    )
    atomic_write_bytes(output, text.encode())
    if not quiet:
        typer.echo(f"{len(text.encode()) / 1e6:.1f} MB", err=True)
    print(output)
