"""Bad parameters, states and inputs of the feature builders: one clear error each, never a
table of wrong rows; trades without a side count as unknown side."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from seriesfactory.errors import DataError, InputError
from seriesfactory.transforms.features.api import (
    BookFeatureBuilder,
    TradeFeatureBuilder,
    TradeFeatureParams,
    trade_feature_columns,
    trade_features,
    trade_features_from_bars,
)

S = 10**9


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"interval_ns": 0}, "--interval must be a positive duration"),
        ({"windows": (5, 0)}, "feature windows, lags and VPIN sizes must be positive integers"),
        ({"lags": (-1,)}, "feature windows, lags and VPIN sizes must be positive integers"),
        ({"bvc_sigma_window": 1}, "feature windows, lags and VPIN sizes must be positive"),
        ({"stat_window": 2}, "the statistics window must be at least 3 rows"),
        ({"intensity_short": 40, "intensity_long": 30}, "the short intensity window must not"),
        ({"vpin_bucket_volume": 0.0}, "the VPIN bucket volume must be positive"),
        ({"vpin_bucket_volume": float("nan")}, "the VPIN bucket volume must be positive"),
    ],
)
def test_bad_trade_feature_parameters_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        TradeFeatureParams(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"interval_ns": 0}, "--interval must be a positive duration"),
        ({"depth": 0}, "--depth must be at least 1, got 0"),
        ({"ofi_window": 0}, "--ofi-window must be at least 1, got 0"),
    ],
)
def test_bad_book_feature_parameters_are_refused(kwargs: dict[str, Any], message: str) -> None:
    args = {"rule": 0, "price_decimals": 2, "interval_ns": S, **kwargs}
    with pytest.raises(InputError, match=message):
        BookFeatureBuilder(**args)


@pytest.mark.parametrize("state", [{"version": -1}, ["not", "a", "dict"], {}])
def test_a_state_of_another_kind_or_version_is_refused(state: object) -> None:
    with pytest.raises(InputError, match="not a trade-features state"):
        TradeFeatureBuilder.from_state(state)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="not a book-features state"):
        BookFeatureBuilder.from_state(state)  # type: ignore[arg-type]


def test_a_bad_trade_is_named_by_its_place_in_the_chunk() -> None:
    b = TradeFeatureBuilder(TradeFeatureParams(interval_ns=S))
    ts = np.array([1, 2, 3], np.int64) * S
    with pytest.raises(DataError, match=r"trade 2 of the chunk has price -1\.0 and quantity 1\.0"):
        b.update(ts, np.array([10.0, -1.0, 10.0]), np.ones(3), np.ones(3, np.int8))
    with pytest.raises(DataError, match=r"trade 3 of the chunk has price 10\.0 and quantity nan"):
        b.update(ts, np.full(3, 10.0), np.array([1.0, 0.0, np.nan]), np.ones(3, np.int8))
    assert b.trades == 0  # nothing of a refused chunk was taken


def test_trades_without_a_side_count_as_unknown_side() -> None:
    ts = np.array([1, 2, 3, 5], np.int64) * S // 2
    price, qty = np.array([10.0, 11.0, 10.5, 12.0]), np.array([1.0, 2.0, 0.5, 1.0])
    params = TradeFeatureParams(interval_ns=S)
    got = trade_features(ts, price, qty, None, params=params)
    unknown = trade_features(ts, price, qty, np.zeros(4, np.int8), params=params)
    assert got.to_pandas().equals(unknown.to_pandas())  # NaN where the other has NaN
    assert got.column("buy_volume").to_pylist() == [0.0, 0.0, 0.0]


def test_no_trades_and_an_untouched_builder() -> None:
    with pytest.raises(DataError, match="no trades in the input"):
        trade_features(np.empty(0, np.int64), np.empty(0), np.empty(0))
    params = TradeFeatureParams()
    empty = TradeFeatureBuilder(params).finish()
    assert empty.num_rows == 0 and empty.column_names == trade_feature_columns(params)


def _bars(time_end: list[int]) -> pa.Table:
    n = len(time_end)
    cols = {c: pa.array(np.full(n, 10.0)) for c in ("open", "high", "low", "close", "volume",
                                                     "dollar_volume", "buy_volume")}  # fmt: skip
    return pa.table({"time_end": pa.array(time_end, pa.int64()), **cols,
                     "tick_count": pa.array(np.full(n, 3, np.int64))})  # fmt: skip


def test_bars_that_cannot_give_features_are_refused() -> None:
    with pytest.raises(DataError, match=r"not a bars file: columns \['tick_count'\] are missing"):
        trade_features_from_bars(_bars([1, 2]).drop_columns(["tick_count"]))
    with pytest.raises(DataError, match="no bars in the input"):
        trade_features_from_bars(_bars([]))
    with pytest.raises(DataError, match=r"bars are not in time order \(time_end decreases\)"):
        trade_features_from_bars(_bars([3 * S, 2 * S]))
    assert trade_features_from_bars(_bars([2 * S, 3 * S])).num_rows == 2
