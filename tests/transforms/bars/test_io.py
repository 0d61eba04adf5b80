"""Reading trades for bars: column detection, time parsing, and errors that name the row."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from seriesfactory.errors import DataError, InputError
from seriesfactory.transforms.bars import BarBuilder, BarSpec, parse_columns, read_trades_file

DATA = Path(__file__).resolve().parents[2] / "data" / "prado"


def write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_the_real_sample_with_naive_times_as_utc() -> None:
    trades = read_trades_file(DATA / "tick_data.csv")
    assert trades.rows == 100
    first = dt.datetime(2011, 7, 31, 22, 38, 45, 108000, tzinfo=dt.UTC)
    assert int(trades.ts_ns[0]) == int(first.timestamp()) * 10**9 + 108 * 10**6
    assert trades.price[0] == 1205.0 and trades.qty_base.sum() == 241
    assert not trades.side.any()


def test_columns_by_alias_offset_times_and_sides(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "timestamp,px,size,side\n"
        "2024-01-01T00:00:00Z,10,1,BUY\n"
        "2024-01-01T01:00:00+01:00,11,2,sell\n"
        "2024-01-01T00:00:01Z,12,3,\n",
    )
    trades = read_trades_file(path)
    base = int(dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp()) * 10**9
    assert trades.ts_ns.tolist() == [base, base, base + 10**9]
    assert trades.side.tolist() == [1, -1, 0]


def test_epoch_integers_by_magnitude(tmp_path: Path) -> None:
    path = write(tmp_path, "time,price,qty\n1700000000000,10,1\n1700000000001,10,1\n")
    trades = read_trades_file(path)
    assert trades.ts_ns.tolist() == [1_700_000_000_000_000_000, 1_700_000_000_001_000_000]


def test_explicit_columns_and_parquet(tmp_path: Path) -> None:
    frame = pl.DataFrame({"when": ["2024-01-01 00:00:00"], "p": [5.0], "amt": [2.0]})
    path = tmp_path / "t.parquet"
    frame.write_parquet(path)
    trades = read_trades_file(path, parse_columns("ts=when,price=p,qty=amt"))
    assert trades.price.tolist() == [5.0] and trades.qty_base.tolist() == [2.0]


def test_blank_lines_are_skipped_but_lines_still_counted(tmp_path: Path) -> None:
    text = "ts,price,qty\n2024-01-01 00:00:00,1,1\n\n2024-01-01 00:00:01,1,-1\n\n"
    with pytest.raises(DataError, match=r"t\.csv:4: size -1\.0 is not a finite number >= 0"):
        read_trades_file(write(tmp_path, text))


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ("2024-01-01 00:00:00,1,1\nyesterday,1,1\n", r":3: timestamp 'yesterday' cannot be parsed"),
        ("2024-01-01 00:00:00,1,1\n2024-01-01 00:00:01,1,nan\n", r":3: size nan is not a finite"),
        ("2024-01-01 00:00:00,1,-2\n", r":2: size -2\.0 is not a finite number >= 0"),
        ("2024-01-01 00:00:00,1,x\n", r":2: size 'x' is not a number"),
        ("2024-01-01 00:00:00,0,1\n", r":2: price 0\.0 is not a positive"),
        ("2024-01-01 00:00:01,1,1\n2024-01-01 00:00:00,1,1\n", r":3: time goes backwards"),
        ("2024-01-01 00:00:00,1,1,up\n", r":2: side 'up' is not buy, sell"),
    ],
)
def test_bad_rows_are_named(tmp_path: Path, body: str, pattern: str) -> None:
    header = "ts,price,qty,side\n" if body.count(",") > body.count("\n") * 2 else "ts,price,qty\n"
    with pytest.raises(DataError, match=pattern):
        read_trades_file(write(tmp_path, header + body))


def test_missing_column_says_what_to_do(tmp_path: Path) -> None:
    path = write(tmp_path, "ts,price\n2024-01-01 00:00:00,1\n")
    with pytest.raises(InputError, match=r"no qty column found.*--columns qty=NAME"):
        read_trades_file(path)
    with pytest.raises(InputError, match=r"column 'nope' \(for qty\) is not among"):
        read_trades_file(path, {"qty": "nope"})
    with pytest.raises(InputError, match="FIELD=COLUMN"):
        parse_columns("qty")


def test_builder_names_the_row_across_chunks_and_keeps_its_state() -> None:
    builder = BarBuilder(BarSpec(type="tick", threshold=2))
    builder.update(np.array([5, 6]), np.array([1.0, 1.0]), np.array([1.0, 1.0]))
    with pytest.raises(DataError, match=r"^row 3: time goes backwards"):
        builder.update(np.array([4]), np.array([1.0]), np.array([1.0]))
    with pytest.raises(DataError, match=r"^row 4: size nan"):
        builder.update(np.array([7, 8]), np.array([1.0, 1.0]), np.array([1.0, np.nan]))
    assert builder.rows_seen == 2
    assert builder.update(np.array([7, 8]), np.array([1.0, 1.0]), np.array([1.0, 1.0])).rows == 1


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"type": "dollar", "threshold": 0.0}, "must be a positive number"),
        ({"type": "volume", "threshold": -5.0}, "must be a positive number"),
        ({"type": "tick", "threshold": float("nan")}, "must be a positive number"),
        ({"type": "tick", "threshold": 2.5}, "whole number of trades"),
        ({"type": "dollar"}, "need --threshold"),
        ({"type": "time"}, "need --interval"),
        ({"type": "time", "interval": "5 minutes"}, "is not a duration"),
        ({"type": "time", "interval": "0s"}, "is not a duration"),
        ({"type": "tib", "threshold": 5.0}, "use --expected-ticks"),
        ({"type": "tib", "ewma_window": 0}, "--ewma-window must be at least 1"),
        ({"type": "tib", "expected_ticks": 0}, "--expected-ticks must be at least 1"),
        ({"type": "drb", "min_ticks": 50, "max_ticks": 10}, "must be >= --min-ticks"),
        ({"type": "hourly"}, "is unknown"),
    ],
)
def test_bad_specs(kwargs: dict[str, object], pattern: str) -> None:
    with pytest.raises(InputError, match=pattern):
        BarSpec(**kwargs)  # type: ignore[arg-type]
