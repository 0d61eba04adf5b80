"""``seriesfactory series`` / ``ticks`` end to end through the CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from seriesfactory.cli import main

SPEC = "gbm(0.05,0.5,50000)"
NAME = "btc-usdt_gbm-0.05-0.5-50000_20250101-20250103_time-60000.parquet"


def run(tmp_path: Path, *args: str) -> int:
    return main(
        [*args, "--cache-dir", str(tmp_path / "cache"), "--output-dir", str(tmp_path / "out")]
    )


def test_series_writes_the_documented_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(tmp_path, "series", "--sources", SPEC, "--from", "2025-01-01", "--to", "2025-01-03",
               "--agg-step", "60000")  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "20250101 00:01:00.000" in out  # first row, preview timestamp format
    assert "20250103 00:00:00.000" in out  # last row
    assert "average price" in out and "removed by the deviation filter" in out
    path = tmp_path / "out" / NAME
    pf = pq.ParquetFile(path)
    assert pf.metadata.num_rows == 2 * 1440
    assert pf.metadata.num_row_groups == 2  # one per UTC day
    schema = pf.schema_arrow
    assert schema.field("timestamp").type == pa.timestamp("ms", tz="UTC")
    assert schema.names == ["timestamp", "open", "high", "low", "close", "mid", "spread",
                            "vbid", "vask", "velocity", "dispersion", "drift"]  # fmt: skip
    meta = {k.decode(): v.decode() for k, v in (schema.metadata or {}).items()}
    params = json.loads(meta["seriesfactory.params"])
    assert params["mode"] == "time" and params["step"] == 60000 and params["tick_ttl_ms"] == 100
    sources = json.loads(meta["seriesfactory.sources"])
    assert sources[0]["spec"] == SPEC and sources[0]["seed"] == 0
    assert meta["seriesfactory.seed"] == "0"
    assert "seriesfactory.version" in meta
    inputs = json.loads(meta["seriesfactory.inputs"])
    assert [i["file"] for i in inputs] == ["20250101.parquet", "20250102.parquet"]
    assert all(len(i["sha256"]) == 64 for i in inputs)
    ts = pf.read().column("timestamp").cast(pa.int64()).to_pylist()
    assert ts[0] == 1_735_689_660_000 and ts[-1] == 1_735_862_400_000


def test_fields_selection_and_csv(tmp_path: Path) -> None:
    code = run(tmp_path, "series", "--sources", SPEC, "--from", "2025-01-01", "--to", "2025-01-02",
               "--agg-step", "3600000", "--agg-fields", "close|open", "--out-format", "csv",
               "--quiet")  # fmt: skip
    assert code == 0
    name = "btc-usdt_gbm-0.05-0.5-50000_20250101-20250102_time-3600000_f-open+close.csv"
    path = tmp_path / "out" / name
    table = pacsv.read_csv(path)
    assert table.column_names == ["timestamp", "open", "close"]
    assert table.num_rows == 24
    meta = json.loads(path.with_name(path.name + ".meta.json").read_text())
    assert json.loads(meta["seriesfactory.params"])["fields"] == ["open", "close"]


def test_tick_mode_name(tmp_path: Path) -> None:
    code = run(tmp_path, "series", "--sources", SPEC, "--from", "2025-01-01", "--to", "2025-01-02",
               "--agg-mode", "tick", "--agg-step", "0.001", "--quiet")  # fmt: skip
    assert code == 0
    assert (
        tmp_path / "out" / "btc-usdt_gbm-0.05-0.5-50000_20250101-20250102_tick-0.001.parquet"
    ).is_file()


def test_ticks_command_writes_what_series_aggregates(tmp_path: Path) -> None:
    assert (
        run(tmp_path, "ticks", "--sources", SPEC, "--from", "2025-01-01", "--to", "2025-01-02") == 0
    )
    path = tmp_path / "out" / "btc-usdt_gbm-0.05-0.5-50000_20250101-20250102_ticks.parquet"
    table = pq.read_table(path)
    assert table.column_names == ["ts", "bid", "ask", "vbid", "vask"]
    assert table.num_rows == 172_800
    assert table.schema.field("ts").type == pa.timestamp("ns", tz="UTC")


BAD = [
    (["--sources", "foo(1,2,3)"], "unknown source 'foo"),
    (["--sources", "gbm(1,2)"], "gbm takes 3 arguments"),
    (["--sources", "gbm(0.1,x,3)"], "is not a number"),
    (["--sources", "gbm(0.1,-1,3)"], "sigma = -1 is out of range"),
    (["--sources", "gbm(0.1,1,0)"], "base = 0 is out of range"),
    (["--sources", "gbm(0.1,1,-3)"], "base = -3 is out of range"),
    (["--sources", "binance(1)"], "binance is a venue, not a model"),
    (["--from", "2025-01-02"], "--from must be before --to"),
    (["--from", "2025-13-01"], "--from '2025-13-01' is not a date"),
    (["--to", "tomorrow"], "--to 'tomorrow' is not a date"),
    (["--agg-step", "0"], "--agg-step must be a positive finite number"),
    (["--agg-step", "-100"], "--agg-step must be a positive finite number"),
    (["--agg-step", "inf"], "--agg-step must be a positive finite number, got inf"),
    (["--agg-step", "ten"], "--agg-step 'ten' is not a number"),
    (["--agg-mode", "volume"], "--agg-mode 'volume' is unknown"),
    (["--agg-fields", "open|foo"], "unknown field(s) foo"),
    (["--weights", "0.5|0.5"], "--weights has 2 entries for 1 source"),
    (["--weights", "a"], "--weights: 'a' is not a number"),
    (["--weight-mode", "heavy"], "--weight-mode 'heavy' is unknown"),
    (["--out-format", "xlsx"], "--out-format 'xlsx' is unknown"),
    (["--tick-ttl", "-1"], "--tick-ttl must be a finite number of ms >= 0"),
    (["--tick-ttl", "1e400"], "--tick-ttl must be a finite number of ms >= 0, got inf"),
    (["--tick-max-deviation", "0"], "--tick-max-deviation must be a positive finite ratio"),
    (["--tick-max-deviation", "nan"], "--tick-max-deviation must be a positive finite ratio"),
    (["--base", "BTC/"], "--base 'BTC/' must be an asset code"),
    (["--sources", "gbm(1,1,1)|gbm(1,1,2)", "--weights", "1"], "--weights has 1 entries for 2"),
    (["--no-such-flag"], "No such option"),
]


@pytest.mark.parametrize(("override", "message"), BAD)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], override: list[str], message: str
) -> None:
    args = {"--sources": SPEC, "--from": "2025-01-01", "--to": "2025-01-02", "--agg-step": "60000"}
    extra: list[str] = []
    it = iter(override)
    for flag in it:
        if flag in args:
            args[flag] = next(it)
        else:
            extra += [flag, *([next(it)] if flag != "--no-such-flag" else [])]
    argv = ["series", *[x for kv in args.items() for x in kv], *extra]
    assert run(tmp_path, *argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_missing_required_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        run(tmp_path, "series", "--sources", SPEC, "--from", "2025-01-01", "--to", "2025-01-02")
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--agg-step" in err and err.count("\n") == 1


def test_filter_warnings_fire_above_ten_percent() -> None:
    from seriesfactory.cli.series import filter_warnings
    from seriesfactory.transforms.aggregates import FilterCounts

    assert filter_warnings(FilterCounts(ticks=1000, deviation=100, stale=100), 100.0, 0.001) == []
    stale, dev = filter_warnings(FilterCounts(ticks=1000, deviation=101, stale=890), 100.0, 0.001)
    assert stale.startswith("890 of 1,000 ticks (89%) had a quote older than --tick-ttl 100 ms")
    assert dev.startswith("101 of 1,000 ticks (10%) were removed by --tick-max-deviation 0.001")
    assert filter_warnings(FilterCounts(ticks=0, deviation=0, stale=0), 100.0, 0.001) == []


def test_a_rough_model_warns_about_the_deviation_filter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["series", "--sources", "fbm(0.05,0.8,0.3,50000)", "--from", "2025-01-01",
            "--to", "2025-01-02", "--agg-step", "60000", "--quiet"]  # fmt: skip
    assert run(tmp_path, *args) == 0
    err = capsys.readouterr().err
    assert "were removed by --tick-max-deviation 0.001; raise it" in err
    assert "--tick-ttl" not in err  # model ticks are never stale
