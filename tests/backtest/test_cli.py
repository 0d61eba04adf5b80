"""``seriesfactory backtest ...`` end to end: mm(...) files, a recording, real data, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from seriesfactory.cli import main
from seriesfactory.core.atomic import atomic_write_parquet
from seriesfactory.sources.synthetic.mm import (
    MMModel,
    snapshot_table,
    trades_table,
    write_recording,
)

from .conftest import T0

FAST = [
    "--set",
    "warmup_period_seconds=30",
    "--set",
    "calibration_window_seconds=60",
    "--set",
    "recalibration_interval_seconds=30",
    "--set",
    "min_spread_bps=0",
    "--set",
    "fill_cooldown_seconds=1",
]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("mm")
    g = MMModel(0.3, 5.0, 0.3, 5.0, 1.0, 0.1, 60000.0).generate(start_ns=T0, seconds=300, seed=2)
    out = {"book": d / "book.parquet", "trades": d / "trades.parquet", "rec": d / "rec.gz"}
    atomic_write_parquet(out["book"], snapshot_table(g))
    atomic_write_parquet(out["trades"], trades_table(g))
    write_recording(g, out["rec"])
    csv = d / "trades.csv"
    trades_table(g).to_pandas().assign(ts=lambda f: f.ts.astype("int64")).to_csv(csv, index=False)
    out["csv"] = csv
    return out


def _args(files: dict[str, Path]) -> list[str]:
    return ["--book", str(files["book"]), "--trades", str(files["trades"])]


def test_run_writes_every_output(files: dict[str, Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert (
        main(["backtest", "run", *_args(files), "--output-dir", str(out), "--report", *FAST]) == 0
    )
    for name in (
        "fills.parquet",
        "timeline.parquet",
        "summary.json",
        "backtest_results.csv",
        "as_results.csv",
        "report.html",
    ):
        assert (out / name).is_file(), name
    fills = pq.read_table(out / "fills.parquet")
    assert fills.column_names == ["ts", "side", "price", "qty", "fee", "inventory", "cash"]
    assert set(fills.column("side").to_pylist()) <= {"buy", "sell"}
    tl = pq.read_table(out / "timeline.parquet")
    assert tl.column_names[:10] == [
        "ts",
        "mid",
        "bid",
        "ask",
        "reservation",
        "inventory",
        "sigma",
        "kappa_bid",
        "kappa_ask",
        "gamma",
    ]
    s = json.loads((out / "summary.json").read_text())
    assert s["fills_bid"] + s["fills_ask"] == fills.num_rows > 0
    assert s["config"]["risk_aversion_gamma"] == 0.1 and s["config"]["min_spread_bps"] == 0
    html = (out / "report.html").read_text()
    assert "plotly" in html and 'src="http' not in html  # the JavaScript is embedded
    assert "pnl" in capsys.readouterr().out


def test_csv_trades_and_the_recording_give_the_same_run(
    files: dict[str, Path], tmp_path: Path
) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert main(["backtest", "run", *_args(files), "--output-dir", str(a), *FAST]) == 0
    assert (
        main(
            [
                "backtest",
                "run",
                "--book",
                str(files["book"]),
                "--trades",
                str(files["csv"]),
                "--output-dir",
                str(b),
                *FAST,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "backtest",
                "run",
                "--input",
                str(files["rec"]),
                "--venue",
                "binance",
                "--symbol",
                "MMUSDT",
                "--depth",
                "20",
                "--output-dir",
                str(c),
                *FAST,
            ]
        )
        == 0
    )
    fa = pq.read_table(a / "fills.parquet")
    assert fa.equals(pq.read_table(b / "fills.parquet"))
    # the recording's first row is 100 ms later (its snapshot arrives 1 ms after row 0)
    fc = pq.read_table(c / "fills.parquet")
    assert abs(fc.num_rows - fa.num_rows) <= max(3, fa.num_rows // 20)


def test_calibrate_one_fit_and_rolling_table(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "calib.json"
    assert main(["backtest", "calibrate", *_args(files), "--output", str(out)]) == 0
    c = json.loads(out.read_text())
    for key in ("sigma", "kappa_bid", "kappa_ask", "a_bid", "a_ask"):
        assert c[f"{key}_lo"] < c[key] < c[f"{key}_hi"]
    assert c["kappa_bid"] == pytest.approx(3.0, rel=0.1)  # 0.3 per tick of 0.1
    assert c["n_bid"] > 1000 and c["fallback"] == []
    table = tmp_path / "roll.parquet"
    assert (
        main(
            [
                "backtest",
                "calibrate",
                *_args(files),
                "--output",
                str(table),
                "--window",
                "60",
                "--every",
                "1m",
                "--set",
                "warmup_period_seconds=60",
            ]
        )
        == 0
    )
    t = pq.read_table(table)
    assert t.num_rows == 4  # refits at 60, 120, 180 and 240 s (the last row is at 299.9 s)
    assert np.all(np.diff(t.column("window_end").to_numpy()) == 60_000_000_000)


def test_spread_prints_the_current_quotes(files: dict[str, Path], capsys) -> None:
    assert main(["backtest", "spread", *_args(files), "--inventory", "0.05"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["bid"] < out["reservation"] < out["ask"]
    assert out["spread_bps"] >= 3.0 - 1e-9  # the default min_spread_bps


def test_config_files_toml_and_extended_json(files: dict[str, Path], tmp_path: Path) -> None:
    toml = tmp_path / "bt.toml"
    toml.write_text("[backtest]\nrisk_aversion_gamma = 0.5\nmin_spread_bps = 1.0\n")
    js = tmp_path / "config.json"
    js.write_text(
        json.dumps(
            {
                "markets": ["ETH-USD"],
                "data_directory": "data",
                "risk_aversion_gamma": 0.2,
                "gamma_mode": "max_shift",
            }
        )
    )
    for cfg, gamma, mode in ((toml, 0.5, "constant"), (js, 0.2, "max_shift")):
        out = tmp_path / cfg.stem
        assert (
            main(
                [
                    "backtest",
                    "run",
                    *_args(files),
                    "--config",
                    str(cfg),
                    "--output-dir",
                    str(out),
                    "--quiet",
                ]
            )
            == 0
        )
        s = json.loads((out / "summary.json").read_text())["config"]
        assert (s["risk_aversion_gamma"], s["gamma_mode"]) == (gamma, mode)
    # flags override the file
    out = tmp_path / "flag"
    assert (
        main(
            [
                "backtest",
                "run",
                *_args(files),
                "--config",
                str(js),
                "--risk-aversion-gamma",
                "0.3",
                "--output-dir",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    assert json.loads((out / "summary.json").read_text())["config"]["risk_aversion_gamma"] == 0.3


def test_grid_parallel_equals_sequential(files: dict[str, Path], tmp_path: Path, capsys) -> None:
    rows = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"g{jobs}"
        assert (
            main(
                [
                    "backtest",
                    "grid",
                    *_args(files),
                    "--horizons",
                    "60,1800",
                    "--gammas",
                    "0.1,100",
                    "--grid",
                    "fill_model=through,at",
                    "--jobs",
                    jobs,
                    "--output-dir",
                    str(out),
                    "--report",
                    *FAST,
                ]
            )
            == 0
        )
        rows[jobs] = pq.read_table(out / "grid_results.parquet")
    assert rows["1"].num_rows == 8
    assert rows["1"].equals(rows["2"])
    best = json.loads((tmp_path / "g2" / "grid_best.json").read_text())
    assert {"pnl", "sharpe", "max_drawdown"} <= set(best)
    html = (tmp_path / "g2" / "grid_report.html").read_text()
    assert '"type":"heatmap"' in html and "inventory_horizon_seconds" in html


def test_real_recording_end_to_end(shared_real: Path, tmp_path: Path) -> None:
    rec = shared_real / "binance" / "hftbacktest" / "spot" / "btcusdt_20240808.gz"
    out = tmp_path / "real"
    args = ["--input", str(rec), "--venue", "binance", "--symbol", "BTCUSDT"]
    assert (
        main(
            [
                "backtest",
                "run",
                *args,
                "--output-dir",
                str(out),
                "--quiet",
                "--set",
                "warmup_period_seconds=60",
                "--set",
                "calibration_window_seconds=120",
                "--set",
                "recalibration_interval_seconds=60",
                "--set",
                "min_spread_bps=0.5",
            ]
        )
        == 0
    )
    s = json.loads((out / "summary.json").read_text())
    assert s["calibrations"] == 5 and s["fills_bid"] + s["fills_ask"] > 0
    assert s["tick"] == 0.01 and 0.5 < s["time_quoting"] < 1
    calib = tmp_path / "c.json"
    assert main(["backtest", "calibrate", *args, "--output", str(calib), "--quiet"]) == 0
    c = json.loads(calib.read_text())
    assert c["n_bid"] > 1000 and c["n_ask"] > 1000 and c["fallback"] == []
    assert 1 < c["sigma"] < 20  # BTC around 61,700 USD: a few dollars per √s


def test_nothing_quoted_says_why(
    shared_real: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = shared_real / "binance" / "hftbacktest" / "spot" / "btcusdt_20240808.gz"
    args = ["backtest", "run", "--input", str(rec), "--venue", "binance", "--symbol", "BTCUSDT",
            "--output-dir", str(tmp_path / "o"), "--quiet"]  # fmt: skip
    assert main(args) == 0  # the default 900 s warm-up is longer than this 346 s capture
    err = capsys.readouterr().err
    assert "warning: nothing was quoted: the book spans 346 s" in err
    assert "--set warmup_period_seconds=N" in err


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--risk-aversion-gamma", "0"], "--risk-aversion-gamma: risk_aversion_gamma = 0"),
        (["--set", "risk_aversion_gamma=-1"], "--set risk_aversion_gamma"),
        (["--set", "bogus_key=1"], "unknown key 'bogus_key'"),
        (["--gamma-mode", "wild"], "gamma_mode"),
    ],
)
def test_bad_settings_are_one_line(
    files: dict[str, Path], tmp_path: Path, capsys, extra: list[str], needle: str
) -> None:
    assert main(["backtest", "run", *_args(files), "--output-dir", str(tmp_path), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and needle in err and "\n" not in err


def test_bad_inputs_are_one_line(files: dict[str, Path], tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("ts,price,qty,side\n")
    bad_json = tmp_path / "config.json"
    bad_json.write_text(json.dumps({"risk_aversion_gamma": 0.1, "inventory_horizon": 5}))
    g = MMModel(0.3, 5.0, 0.3, 5.0, 1.0, 0.1, 60000.0).generate(start_ns=T0, seconds=10, seed=1)
    invalid = tmp_path / "invalid.parquet"
    table = snapshot_table(g)
    atomic_write_parquet(
        invalid,
        table.set_column(
            table.column_names.index("book_valid"),
            "book_valid",
            __import__("pyarrow").array(np.zeros(table.num_rows, bool)),
        ),
    )
    cases = [
        (["backtest", "run", "--book", str(files["book"]), "--trades", str(empty)], "no trades"),
        (
            ["backtest", "run", "--book", str(invalid), "--trades", str(files["trades"])],
            "no valid rows",
        ),
        (
            ["backtest", "run", *_args(files), "--config", str(bad_json)],
            "unknown key 'inventory_horizon'",
        ),
        (["backtest", "grid", *_args(files), "--gammas", "0.1,-2"], "--gammas value -2.0"),
        (["backtest", "grid", *_args(files), "--horizons", "60,abc"], "'abc' is not a number"),
        (["backtest", "grid", *_args(files), "--grid", "nope=1,2"], "unknown config key 'nope'"),
        (["backtest", "run", "--book", str(files["book"])], "--book needs --trades"),
        (["backtest", "run", "--input", str(files["rec"])], "--venue and --symbol"),
        (["backtest", "run", *_args(files), "--latency", "-5ms"], "--latency"),
        (["backtest", "calibrate", *_args(files), "--output", str(tmp_path / "c.txt")], ".json"),
    ]
    for args, needle in cases:
        assert (
            main([*args, "--output-dir", str(tmp_path / "o")] if args[1] != "calibrate" else args)
            == 2
        ), args
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and needle in err and "\n" not in err, (args, err)


def test_existing_outputs_need_overwrite(files: dict[str, Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "o"
    args = ["backtest", "run", *_args(files), "--output-dir", str(out), "--quiet"]
    assert main(args) == 0
    assert main(args) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0
    calib = tmp_path / "c.json"
    assert main(["backtest", "calibrate", *_args(files), "--output", str(calib), "--quiet"]) == 0
    assert main(["backtest", "calibrate", *_args(files), "--output", str(calib), "--quiet"]) == 2


def test_every_book_message_is_a_row(files: dict[str, Path], tmp_path: Path) -> None:
    """``--interval message``: the engine steps on every book message; on the mm capture (one
    depthUpdate per generated row) the rows are exactly the generated ones after the REST
    snapshot, and the run matches the --book run's."""
    from seriesfactory.backtest.data import load_recordings

    g = MMModel(0.3, 5.0, 0.3, 5.0, 1.0, 0.1, 60000.0).generate(start_ns=T0, seconds=300, seed=2)
    mk = load_recordings([files["rec"]], venue="binance", symbol="MMUSDT", interval_ns=0, depth=20)
    assert len(mk.ts) == len(g.ts) and int(mk.ts[0]) == T0 + 1_000_000  # snapshot: +1 ms
    for got, want in ((mk.ts, g.ts), (mk.bid_px, g.bid_px), (mk.ask_sz, g.ask_sz)):
        assert np.array_equal(got[1:], want[1:])
    assert mk.valid.all()
    a, c = tmp_path / "a", tmp_path / "c"
    assert main(["backtest", "run", *_args(files), "--output-dir", str(a), *FAST]) == 0
    rec = ["--input", str(files["rec"]), "--venue", "binance", "--symbol", "MMUSDT"]
    assert main(["backtest", "run", *rec, "--depth", "20", "--interval", "message",
                 "--output-dir", str(c), *FAST]) == 0  # fmt: skip
    ta, tc = pq.read_table(a / "timeline.parquet"), pq.read_table(c / "timeline.parquet")
    assert abs(tc.num_rows - ta.num_rows) <= 1  # warm-up starts 1 ms later
    fa, fc = pq.read_table(a / "fills.parquet"), pq.read_table(c / "fills.parquet")
    assert abs(fc.num_rows - fa.num_rows) <= max(3, fa.num_rows // 20)


@pytest.mark.parametrize(
    ("name", "text", "needle"),
    [
        ("c.toml", "risk_aversion_gamma = [", "invalid TOML"),
        ("c.json", '{"risk_aversion_gamma": ', "invalid JSON"),
        ("c.json", "[1, 2]", "the JSON must be an object of settings"),
        ("c.toml", "backtest = 5\n", "[backtest] must be a table"),
        ("missing.toml", None, "cannot read the file"),
        (
            "c.toml",
            "[backtest]\nmin_spread_bps = 9\nmax_spread_bps = 3\n",
            "min_spread_bps must not exceed max_spread_bps",
        ),
    ],
)
def test_a_bad_config_file_is_one_line_naming_it(
    files: dict[str, Path], tmp_path: Path, capsys, name: str, text: str | None, needle: str
) -> None:
    cfg = tmp_path / name
    if text is not None:
        cfg.write_text(text)
    args = ["backtest", "run", *_args(files), "--config", str(cfg), "--output-dir", str(tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and needle in err and "\n" not in err, err
    if text is not None and "spread" not in needle:
        assert err.startswith(f"error: --config {cfg}: "), err
    assert not (tmp_path / "summary.json").exists()


def test_more_bad_options_are_one_line(files: dict[str, Path], tmp_path: Path, capsys) -> None:
    rec = ["--input", str(files["rec"]), "--venue", "binance", "--symbol", "BTCUSDT"]
    out = ["--output-dir", str(tmp_path / "o")]
    calib = ["backtest", "calibrate", *_args(files)]
    grid = ["backtest", "grid", *_args(files), *out]
    cases = [
        (["backtest", "run", *_args(files), *out, "--set", "maker_fee_bps"],
         "--set 'maker_fee_bps': write key=value, e.g. --set maker_fee_bps=1.0"),
        (["backtest", "run", *_args(files), *rec, *out],
         "give either --book with --trades, or --input recordings, not both"),
        (["backtest", "run", *rec, "--depth", "0", *out], "--depth must be at least 1, got 0"),
        (["backtest", "run", *out], "give --book FILE with --trades FILE, or --input recordings"),
        ([*calib, "--output", str(tmp_path / "c.json"), "--window", "3600"],
         "--window and --every go together (e.g. --window 3600 --every 600)"),
        ([*calib, "--output", str(tmp_path / "c.json"), "--window", "60", "--every", "30"],
         f"--output {tmp_path / 'c.json'}: rolling refits are a table; name a .parquet or .csv"),
        ([*calib, "--output", str(tmp_path / "c.csv"), "--window", "60", "--every", "30",
          "--set", "warmup_period_seconds=100000"],
         "the input is shorter than the warm-up (100000 s): no refit"),
        ([*grid, "--grid", "min_spread_bps"], "--grid 'min_spread_bps': write key=v1,v2"),
        (grid, "give at least one of --horizons, --gammas or --grid key=v1,v2"),
        ([*grid, "--gammas", "0.1", "--metric", "luck"], "--metric 'luck' is unknown; use one of"),
        ([*grid, "--gammas", "0.1", "--jobs", "-1"],
         "--jobs must be 0 (every core) or more, got -1"),
    ]  # fmt: skip
    for args, needle in cases:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("error: ") and needle in err and err.count("\n") == 1, (args, err)
    assert not (tmp_path / "o").exists() and not list(tmp_path.glob("c.*"))


def test_load_config_layers_defaults_the_file_and_overrides(tmp_path: Path) -> None:
    from seriesfactory.backtest.config import BacktestConfig, load_config
    from seriesfactory.errors import ConfigError

    defaults = BacktestConfig()
    assert load_config() == defaults
    cfg = tmp_path / "mm.toml"
    cfg.write_text("risk_aversion_gamma = 0.3\n[backtest]\nmin_spread_bps = 2.0\n")
    got = load_config(cfg, risk_aversion_gamma=None, max_spread_bps=40.0)
    assert (got.risk_aversion_gamma, got.min_spread_bps, got.max_spread_bps) == (0.3, 2.0, 40.0)
    assert got.order_size == defaults.order_size  # untouched keys keep their defaults
    assert load_config(cfg, risk_aversion_gamma=0.7).risk_aversion_gamma == 0.7  # flag wins
    with pytest.raises(ConfigError, match=f"^--config {cfg}: unknown key 'bogus'"):
        cfg.write_text("bogus = 1\n")
        load_config(cfg)
    with pytest.raises(ConfigError, match=r"^--min-spread-bps: "):
        load_config(None, min_spread_bps=-1.0)


def test_book_files_the_backtest_cannot_use_are_named(tmp_path: Path) -> None:
    """Hand example: integer ``ts``, no ``book_valid`` (a row is valid when both tops are
    finite), then the same file out of order and a file that is not Parquet."""
    import pyarrow as pa

    from seriesfactory.backtest.data import load_book_file, load_trades_file
    from seriesfactory.errors import DataError, InputError

    book = pa.table({"ts": pa.array([1, 2, 3], pa.int64()),
                     "bid_px_01": [10.0, float("nan"), 10.5], "bid_sz_01": [1.0, 1.0, 1.0],
                     "ask_px_01": [11.0, 11.0, 11.5], "ask_sz_01": [2.0, 2.0, 2.0]})  # fmt: skip
    path = tmp_path / "book.parquet"
    atomic_write_parquet(path, book)
    ts, valid, bid_px, _, ask_px, _ = load_book_file(path)
    assert ts.tolist() == [1, 2, 3] and valid.tolist() == [True, False, True]
    assert bid_px[:, 0].tolist()[::2] == [10.0, 10.5] and ask_px[:, 0].tolist() == [
        11.0,
        11.0,
        11.5,
    ]
    atomic_write_parquet(path, book.set_column(0, "ts", pa.array([1, 3, 2], pa.int64())))
    with pytest.raises(DataError, match=rf"^{path}:3: ts goes backwards; sort the rows by time"):
        load_book_file(path)
    path.write_bytes(b"PAR1 but not really")
    with pytest.raises(DataError, match=rf"^{path}: cannot read the Parquet file"):
        load_book_file(path)
    with pytest.raises(InputError, match="no such file"):
        load_book_file(tmp_path / "absent.parquet")
    with pytest.raises(InputError, match=r"^--trades .*absent\.csv: no such file"):
        load_trades_file(tmp_path / "absent.csv")
