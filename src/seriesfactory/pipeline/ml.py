"""From a venue, a symbol and dates to a labelled dataset: the FiDel one-call API.

``build_ml_dataset(symbol=..., start_date=..., end_date=...)`` fills the trades tier for
``[start_date, end_date)`` (downloading what is missing), streams it day by day through the
trade-feature builder (:mod:`seriesfactory.features`) into 1 s (``interval``) rows, then
labels, weights and splits them (:mod:`seriesfactory.ml`). ``run_baseline`` and
``get_feature_importance`` take the same arguments, or a dataset, or a feature table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from seriesfactory.config import Settings, load_settings
from seriesfactory.core.time import parse_date
from seriesfactory.errors import DataError, InputError, SourceError
from seriesfactory.features import TradeFeatureBuilder, TradeFeatureParams
from seriesfactory.ml import api as ml_api
from seriesfactory.ml.baselines import CLASSIFIERS, REGRESSORS
from seriesfactory.ml.dataset import Dataset, build_ml_dataset_from_features
from seriesfactory.pipeline.exchange import split_symbol, venue_trades

__all__ = ["build_ml_dataset", "get_feature_importance", "run_baseline", "trade_feature_table"]


def trade_feature_table(
    venue: str,
    symbol: str,
    from_ns: int,
    to_ns: int,
    *,
    interval: str = "1s",
    cache_dir: Path | str = "cache",
    settings: Settings | None = None,
    on_bad_rows: str = "error",
) -> tuple[pa.Table, dict[str, Any]]:
    """Trade features of the trades tier over ``[from_ns, to_ns)``, and what they came from."""
    from seriesfactory.core.time import parse_duration_ns

    params = TradeFeatureParams(interval_ns=parse_duration_ns(interval, option="--interval"))
    base, quote = split_symbol(venue, symbol)
    summary, days = venue_trades(
        venue, base=base, quote=quote, from_ns=from_ns, to_ns=to_ns, cache_dir=Path(cache_dir),
        settings=settings or load_settings(None), on_bad_rows=on_bad_rows,
    )  # fmt: skip
    builder = TradeFeatureBuilder(params)
    parts: list[pa.Table] = []
    n_in = 0
    for table, path in days:
        if table.num_rows == 0:
            continue
        try:
            parts.append(
                builder.update(
                    table.column("ts").cast(pa.int64()).to_numpy(),
                    table.column("price").to_numpy(),
                    table.column("qty").to_numpy(),
                    table.column("side").to_numpy(),
                )
            )
        except DataError as exc:
            raise DataError(str(exc), path=path) from None
        n_in += table.num_rows
    if n_in == 0:
        raise SourceError(f"no trades of {symbol} on {venue} in that range; check the dates")
    parts.append(builder.finish(to_ns))
    source = {
        "kind": "trades",
        "venue": venue,
        "symbol": summary.symbol,
        "interval": interval,
        "trades": n_in,
        "raw": [{"name": r.raw_name, "sha256": r.raw_sha256} for r in summary.records],
    }
    return pa.concat_tables(parts), source


def build_ml_dataset(
    symbol: str,
    start_date: str,
    end_date: str,
    interval: str = "1s",
    label_horizon: int = 30,
    include_advanced_features: bool = True,
    *,
    venue: str = "binance",
    cache_dir: Path | str = "cache",
    settings: Settings | None = None,
    **options: Any,
) -> Dataset:
    """FiDel's ``build_binance_ml_dataset``: trade features of ``[start_date, end_date)``, labelled.

    ``options`` are those of :func:`seriesfactory.ml.build_ml_dataset_from_features`
    (``label``, ``threshold``, ``cv``, ``folds``, ``embargo`` ...).
    """
    from_ns = parse_date(start_date, option="start_date")
    to_ns = parse_date(end_date, option="end_date")
    if from_ns >= to_ns:
        raise InputError("start_date must be before end_date (end_date is exclusive)")
    table, source = trade_feature_table(
        venue, symbol, from_ns, to_ns, interval=interval, cache_dir=cache_dir, settings=settings
    )
    ds = build_ml_dataset_from_features(
        table,
        label_horizon=label_horizon,
        include_advanced_features=include_advanced_features,
        **options,
    )
    ds.meta["source"] = {**source, "from": start_date, "to": end_date}
    return ds


def _dataset(
    symbol: str | None, start_date: str | None, end_date: str | None, options: dict[str, Any]
) -> Dataset | None:
    if symbol is None and start_date is None and end_date is None:
        return None
    if symbol is None or start_date is None or end_date is None:
        raise InputError("give symbol, start_date and end_date together")
    return build_ml_dataset(symbol, start_date, end_date, **options)


def run_baseline(
    symbol: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    *,
    dataset: Dataset | None = None,
    features: Path | str | pa.Table | None = None,
    models: tuple[str, ...] = CLASSIFIERS,
    regressors: tuple[str, ...] = REGRESSORS,
    **options: Any,
) -> tuple[dict[str, Any], Dataset]:
    """FiDel's ``run_binance_baseline``: ``(metrics, dataset)``; see ``seriesfactory.ml``."""
    if dataset is None and features is None:
        dataset = _dataset(symbol, start_date, end_date, options)
        options = {}
    return ml_api.run_baseline(
        dataset=dataset, features=features, models=models, regressors=regressors, **options
    )


def get_feature_importance(
    dataset: Dataset | None = None,
    *,
    features: Path | str | pa.Table | None = None,
    symbol: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    model: str = "gbm",
    repeats: int = 3,
    max_test_rows: int | None = None,
    **options: Any,
) -> pa.Table:
    """Permutation importance (and MDI for ``forest``) on held-out purged folds."""
    if dataset is None and features is None:
        dataset = _dataset(symbol, start_date, end_date, options)
        options = {}
    return ml_api.get_feature_importance(
        dataset, features=features, model=model, repeats=repeats, max_test_rows=max_test_rows,
        **options,
    )  # fmt: skip
