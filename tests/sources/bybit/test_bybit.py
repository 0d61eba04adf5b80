"""Bybit trading files (generated in the documented format): parsing, and series end to end."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from seriesfactory.config import load_settings
from seriesfactory.core.time import parse_date
from seriesfactory.errors import DataError
from seriesfactory.pipeline.series import SeriesRequest, build_series
from seriesfactory.sources.bybit.parse import parse_bybit_csv
from seriesfactory.transforms.aggregates import AggregationParams

HEADER = (
    "timestamp,symbol,side,size,price,tickDirection,trdMatchID,grossValue,homeNotional,"
    "foreignNotional\n"
)


def test_parse_inverse_file_hand_checked() -> None:
    text = HEADER + (
        "1585180700.0647,BTCUSD,Sell,1000,6716.5,ZeroMinusTick,a,1.49e10,0.14888,1000\n"
        "1585180700.1,BTCUSD,buy,500,6717,PlusTick,b,7.4e9,0.0744,500\n"
    )
    t = parse_bybit_csv(text.encode(), name="f.csv").table
    assert t.column("ts").cast("int64").to_pylist() == [1585180700064700000, 1585180700100000000]
    assert t.column("side").to_pylist() == [-1, 1]
    assert t.column("qty").to_pylist() == [0.14888, 0.0744]  # homeNotional, base units
    assert t.column("trade_id").null_count == 2


def test_descending_file_is_reversed_and_bad_rows_named() -> None:
    rows = [
        f"{1704067200 + 10 - i}.5,BTCUSDT,Buy,0.1,42000,PlusTick,x,1,0.1,4200\n" for i in range(5)
    ]
    t = parse_bybit_csv((HEADER + "".join(rows)).encode(), name="d.csv").table
    ts = t.column("ts").cast("int64").to_numpy()
    assert (np.diff(ts) > 0).all() and t.num_rows == 5
    bad = HEADER + rows[4] + "1704067201.0,BTCUSDT,Hold,0.1,42000,PlusTick,x,1,0.1,4200\n"
    with pytest.raises(DataError, match=r"^b\.csv:3: side 'Hold' is not Buy/Sell"):
        parse_bybit_csv(bad.encode(), name="b.csv")
    parsed = parse_bybit_csv(bad.encode(), name="b.csv", on_bad_rows="skip")
    assert parsed.table.num_rows == 1 and [b.line for b in parsed.bad_rows] == [3]


def _bybit_day(mirror, day: str, n: int = 2000) -> None:
    start = parse_date(day, option="d") / 1e9
    rng = np.random.default_rng(3)
    price = 42000 + np.cumsum(rng.normal(0, 2, n))
    lines = [
        f"{start + i * 40.0 + 0.25:.4f},BTCUSDT,{'Buy' if rng.random() < 0.5 else 'Sell'},"
        f"0.01,{price[i]:.1f},PlusTick,id{i},0,0.01,{0.01 * price[i]:.4f}\n"
        for i in range(n)
    ]
    path = mirror.roots[0] / "trading" / "BTCUSDT" / f"BTCUSDT{day}.csv.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress((HEADER + "".join(lines)).encode()))


def test_series_from_bybit_end_to_end(mirror, tmp_path: Path) -> None:
    _bybit_day(mirror, "2024-01-01")
    req = SeriesRequest(
        sources="bybit",
        from_ns=parse_date("2024-01-01", option="f"),
        to_ns=parse_date("2024-01-02", option="t"),
        cache_dir=tmp_path / "c",
        output_dir=tmp_path / "o",
        params=AggregationParams(mode="time", step=3_600_000, tick_ttl_ms=3_600_000),
        settings=load_settings(env={}, bybit_data_url=mirror.url),
    )
    result = build_series(req)
    assert result.output.name == "btc-usdt_bybit_20240101-20240102_time-3600000_ttl3600000.parquet"
    assert result.table.num_rows == 24
    assert 41_000 < float(np.min(result.table.column("low"))) < 43_000
    again = build_series(req)
    assert again.from_cache == {"ticks": True, "aggregates": True}


def test_download_command_fetches_bybit_days(
    mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from seriesfactory.cli import main

    _bybit_day(mirror, "2024-01-01", n=10)
    monkeypatch.setenv("SERIESFACTORY_BYBIT_DATA_URL", mirror.url)
    args = ["download", "--source", "bybit", "--from", "2024-01-01", "--to", "2024-01-03",
            "--cache-dir", str(tmp_path / "c")]  # fmt: skip
    assert main(args) == 0
    assert "1 file(s)" in capsys.readouterr().out  # 2024-01-02 is not on the server
    assert (tmp_path / "c/raw/bybit/trading/BTCUSDT/BTCUSDT2024-01-01.csv.gz").is_file()


def test_every_kind_of_bad_row_is_named_by_its_line() -> None:
    good = "1704067200.5,BTCUSDT,Buy,0.1,42000,PlusTick,x,1,0.1,4200\n"
    body = (
        good  # line 2
        + "1704067201.5,BTCUSDT,Sell,0.1\n"  # line 3: too few columns
        + "1704067202.5,BTCUSDT,Sell,0.1,abc,PlusTick,x,1,0.1,4200\n"  # 4: not a number
        + "\n"  # 5: blank, ignored
        + "1704067203.5,BTCUSDT,Sell,0.1,-5,PlusTick,x,1,0.1,4200\n"  # 6: negative price
        + "1704067199.5,BTCUSDT,Sell,0.1,42001,PlusTick,x,1,0.1,4200\n"  # 7: back in time
        + "1704067204.5,BTCUSDT,sell,0.2,42002,PlusTick,x,1,0.2,4200\n"  # 8: good
    )
    with pytest.raises(DataError, match=r"^s\.csv:3: 4 columns, expected 10"):
        parse_bybit_csv((HEADER + body).encode(), name="s.csv")
    parsed = parse_bybit_csv((HEADER + body).encode(), name="s.csv", on_bad_rows="skip")
    assert [(b.line, b.reason.split(" ")[0]) for b in parsed.bad_rows] == [
        (3, "4"), (4, "non-numeric"), (6, "price"), (7, "time"),
    ]  # fmt: skip
    assert parsed.bad_rows[2].reason == (
        "price must be positive, quantity >= 0 (price=-5.0, qty=0.1)"
    )  # plain numbers, as written in the file
    t = parsed.table
    assert t.column("price").to_pylist() == [42000.0, 42002.0]
    assert t.column("side").to_pylist() == [1, -1]
    assert t.column("qty").to_pylist() == [0.1, 0.2]


def test_a_file_that_is_not_a_bybit_trading_file_is_refused_at_line_1() -> None:
    with pytest.raises(DataError, match=r"^x\.csv:1: header lacks side, price: not a Bybit"):
        parse_bybit_csv(b"timestamp,symbol,size\n1,BTCUSDT,2\n", name="x.csv")
