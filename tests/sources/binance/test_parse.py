"""Binance archive CSVs: real COIN-M file, generated spot files in both time eras, bad rows."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from seriesfactory.errors import DataError
from seriesfactory.sources.binance.parse import parse_trades_csv

COINM = (
    "binance/vision/data/futures/cm/daily/aggTrades/BTCUSD_PERP/"
    "BTCUSD_PERP-aggTrades-2026-05-08.zip"
)


def test_real_coinm_aggtrades_with_header(shared_real: Path) -> None:
    with zipfile.ZipFile(shared_real / COINM) as zf:
        data = zf.read(zf.namelist()[0])
    parsed = parse_trades_csv(
        data, name="cm.csv", market="coinm", kind="aggTrades", contract_size=100.0
    )
    t = parsed.table
    assert t.num_rows == 105_280 and parsed.bad_rows == []
    ts = t.column("ts").cast("int64").to_numpy()
    # first row: 480537903,79972.8,542.0,...,1778198400020,false -> a taker buy of 542 contracts
    assert ts[0] == 1_778_198_400_020 * 10**6 and ts[-1] == 1_778_284_799_655 * 10**6
    assert (np.diff(ts) >= 0).all()
    assert t.column("side")[0].as_py() == 1 and t.column("trade_id")[0].as_py() == 480537903
    price0, qty0 = t.column("price")[0].as_py(), t.column("qty")[0].as_py()
    assert price0 == 79972.8 and qty0 * price0 == pytest.approx(54_200.0, rel=1e-12)
    sides = t.column("side").to_numpy()
    assert set(np.unique(sides).tolist()) == {-1, 1}


def _spot_agg(ts_values: list[int], flags: list[str]) -> bytes:
    rows = [
        f"{100 + i},{30000 + i}.50,0.{i + 1}00,{10 + i},{10 + i},{t},{f},True"
        for i, (t, f) in enumerate(zip(ts_values, flags, strict=True))
    ]
    return ("\n".join(rows) + "\n").encode()


def test_ms_and_us_eras_and_boolean_case_give_the_same_trades() -> None:
    ms = [1704067200000, 1704067200001, 1704067200500]
    flags = ["true", "False", "TRUE"]
    a = parse_trades_csv(_spot_agg(ms, flags), name="a", market="spot", kind="aggTrades").table
    b = parse_trades_csv(
        _spot_agg([m * 1000 for m in ms], ["True", "false", "true"]),
        name="b",
        market="spot",
        kind="aggTrades",
    ).table
    assert a.equals(b)
    assert a.column("ts").cast("int64").to_pylist() == [m * 10**6 for m in ms]
    assert a.column("side").to_pylist() == [-1, 1, -1]
    assert a.column("qty").to_pylist() == [0.1, 0.2, 0.3]


def test_futures_trades_with_header() -> None:
    text = "id,price,qty,quote_qty,time,is_buyer_maker\n7,100.0,2.0,200.0,1704067200000,false\n"
    t = parse_trades_csv(text.encode(), name="um", market="usdm", kind="trades").table
    assert t.column("price").to_pylist() == [100.0] and t.column("side").to_pylist() == [1]


BAD = [
    ("1,100.0,1.0,1,1,1704067200000,true\n", 2, "7 columns, expected 8"),
    ("1,abc,1.0,1,1,1704067200000,true,true\n", 2, "non-numeric"),
    ("1,100.0,-1.0,1,1,1704067200000,true,true\n", 2, "quantity must be >= 0"),
    ("1,100.0,1.0,1,1,1704067100000,true,true\n", 2, "out of order"),
]


@pytest.mark.parametrize(("bad", "line", "why"), BAD)
def test_bad_rows_error_names_file_and_line(bad: str, line: int, why: str) -> None:
    good = "1,100.0,1.0,1,1,1704067200000,true,true\n"
    data = (good + bad + good).encode()
    with pytest.raises(DataError, match=rf"^x\.zip!x\.csv:{line}: .*{why}.*--on-bad-rows=skip"):
        parse_trades_csv(data, name="x.zip!x.csv", market="spot", kind="aggTrades")
    parsed = parse_trades_csv(data, name="x", market="spot", kind="aggTrades", on_bad_rows="skip")
    assert parsed.table.num_rows == 2 and [b.line for b in parsed.bad_rows] == [line]
