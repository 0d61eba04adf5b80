"""``seriesfactory bars build|export`` over real E-mini trades (tests/data/prado/PROVENANCE.md)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from seriesfactory.cli import main
from seriesfactory.transforms.bars import BAR_TYPES, BarSpec, read_trades_file
from seriesfactory.transforms.bars.reference import reference_bars

DATA = Path(__file__).resolve().parents[1] / "data" / "prado"


def args_for(bar_type: str) -> list[str]:
    if bar_type == "time":
        return ["--interval", "1m"]
    if bar_type in ("tick", "volume", "dollar"):
        return ["--threshold", {"tick": "50", "volume": "5000", "dollar": "5000000"}[bar_type]]
    return ["--ewma-window", "5", "--expected-ticks", "50"]


def spec_for(bar_type: str) -> BarSpec:
    a = args_for(bar_type)
    if bar_type == "time":
        return BarSpec(type="time", interval=a[1])
    if a[0] == "--threshold":
        return BarSpec(type=bar_type, threshold=float(a[1]))  # type: ignore[arg-type]
    return BarSpec(type=bar_type, ewma_window=5, expected_ticks=50)  # type: ignore[arg-type]


@pytest.mark.parametrize("bar_type", BAR_TYPES)
def test_real_sample_through_the_cli_matches_the_twin(
    shared_real: Path, tmp_path: Path, bar_type: str
) -> None:
    src = shared_real / "prado" / "imbalance_sample_data.csv"  # 11,101 ES prints, blank tail
    out = tmp_path / "bars.parquet"
    status = main(
        [
            *["bars", "build", "--type", bar_type, *args_for(bar_type), "--input", str(src)],
            *["--output", str(out), "--emit-partial"],
        ]
    )
    assert status == 0
    table = pq.read_table(out)
    meta = json.loads(table.schema.metadata[b"seriesfactory.bars"])
    assert meta["spec"]["type"] == bar_type
    trades = read_trades_file(src)
    rows = list(
        zip(
            trades.ts_ns.tolist(),
            trades.price.tolist(),
            trades.qty_base.tolist(),
            [0] * trades.rows,
            strict=True,
        )
    )
    ref = reference_bars(rows, spec_for(bar_type), emit_partial=True)
    assert table.num_rows == len(ref) > 1
    assert table["tick_count"].to_pylist() == [r["tick_count"] for r in ref]
    assert table["close"].to_pylist() == [r["close"] for r in ref]
    assert sum(table["volume"].to_pylist()) == 41_809  # every contract lands in a bar
    spans = table["time_span"].to_pylist()
    assert all(s >= 0 for s in spans)
    if "threshold" in table.column_names:
        thresholds = table["threshold"].to_pylist()[:-1]
        assert thresholds == [r["threshold"] for r in ref[:-1]]
        assert all(math.isfinite(t) for t in thresholds)


def test_export_round_trip_and_csv_output(tmp_path: Path) -> None:
    built = tmp_path / "b.parquet"
    src = DATA / "tick_data.csv"
    assert (
        main(
            [
                *["bars", "build", "--type", "tick", "--threshold", "10", "--input", str(src)],
                *["--output", str(built)],
            ]
        )
        == 0
    )
    assert main(["bars", "export", "--input", str(built), "--output", str(tmp_path / "b.csv")]) == 0
    back = pacsv.read_csv(tmp_path / "b.csv")
    table = pq.read_table(built)
    assert back.num_rows == table.num_rows == 10
    assert back["vwap"].to_pylist() == table["vwap"].to_pylist()
    assert (
        main(
            [
                "bars",
                "export",
                "--input",
                str(tmp_path / "b.csv"),
                "--output",
                str(tmp_path / "c.parquet"),
            ]
        )
        == 0
    )
    assert pq.read_table(tmp_path / "c.parquet")["tick_count"].to_pylist() == [10] * 10
    # --out-format (as the other commands) and its older spelling --format override the suffix
    for option in ("--out-format", "--format"):
        out = tmp_path / f"as-csv{option}.bin"
        args = ["bars", "export", "--input", str(built), "--output", str(out), option, "csv"]
        assert main(args) == 0
        assert pacsv.read_csv(out)["vwap"].to_pylist() == table["vwap"].to_pylist()


def test_errors_are_one_line_with_exit_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "o.parquet")
    src = str(DATA / "tick_data.csv")
    assert (
        main(
            [
                "bars",
                "build",
                "--type",
                "dollar",
                "--threshold",
                "0",
                "--input",
                src,
                "--output",
                out,
            ]
        )
        == 2
    )
    assert "--threshold must be a positive number" in capsys.readouterr().err
    assert (
        main(
            [
                "bars",
                "build",
                "--type",
                "tib",
                "--venue",
                "binance",
                "--symbol",
                "BTCUSDT",
                "--output",
                out,
            ]
        )
        == 2
    )
    assert "trades tier" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "Date and Time,Price,Volume\n2011/07/31 22:38:45.108,1205.0,1\n"
        "2011/07/31 22:38:44.000,1205.0,1\n"
    )
    assert (
        main(
            [
                "bars",
                "build",
                "--type",
                "tick",
                "--threshold",
                "1",
                "--input",
                str(bad),
                "--output",
                out,
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.csv:3: time goes backwards" in err
    assert not Path(out).exists()
    bars_csv = tmp_path / "x.csv"
    bars_csv.write_text("a,b\n1,2\n")
    assert main(["bars", "export", "--input", str(bars_csv), "--output", out]) == 1
    assert "not a bars file" in capsys.readouterr().err


@pytest.mark.slow
def test_full_e_mini_day_stays_out_of_collapse(shared_real: Path, tmp_path: Path) -> None:
    src = shared_real / "prado" / "mlfinpy_dataset_tick_data.csv"  # 500,000 ES prints
    out = tmp_path / "tib.parquet"
    assert (
        main(
            [
                "bars",
                "build",
                "--type",
                "tib",
                "--ewma-window",
                "15",
                "--input",
                str(src),
                "--output",
                out.as_posix(),
            ]
        )
        == 0
    )
    ticks = pq.read_table(out)["tick_count"].to_pylist()
    assert sum(ticks) < 500_000  # the trailing bar stays in the builder
    one_tick = sum(1 for t in ticks if t == 1) / len(ticks)
    assert len(ticks) < 50_000 and one_tick < 0.1  # unbounded, this is 484,976 bars, 98% 1-tick


def test_state_file_continues_across_files_exactly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = (DATA / "tick_data.csv").read_text().splitlines()
    header, rows = lines[0], lines[1:]
    (tmp_path / "a.csv").write_text("\n".join([header, *rows[:37]]) + "\n")
    (tmp_path / "b.csv").write_text("\n".join([header, *rows[37:]]) + "\n")
    opts = ["bars", "build", "--type", "vrb", "--expected-ticks", "5", "--ewma-window", "3"]
    state = str(tmp_path / "s.json")
    for name in ("a", "b"):
        inp, out = str(tmp_path / f"{name}.csv"), str(tmp_path / f"{name}.parquet")
        assert main([*opts, "--input", inp, "--output", out, "--state", state]) == 0
    whole = tmp_path / "w.parquet"
    assert main([*opts, "--input", str(DATA / "tick_data.csv"), "--output", str(whole)]) == 0
    parts = [pq.read_table(tmp_path / f"{n}.parquet").to_pylist() for n in ("a", "b")]
    assert parts[0] and parts[1]
    assert parts[0] + parts[1] == pq.read_table(whole).to_pylist()
    mismatch = [*opts[:-1], "5", "--input", str(tmp_path / "b.csv"), "--output", str(whole),
                "--overwrite"]  # fmt: skip
    assert main([*mismatch, "--state", state]) == 2  # saved with --ewma-window 3
    assert "was saved for" in capsys.readouterr().err
    # feeding the first file again goes back in time: refused, naming the file
    again = [*opts, "--input", str(tmp_path / "a.csv"), "--output", str(whole), "--state", state,
             "--overwrite"]  # fmt: skip
    assert main(again) == 1
    err = capsys.readouterr().err
    assert "a.csv" in err and "time goes backwards" in err and "--state" in err
