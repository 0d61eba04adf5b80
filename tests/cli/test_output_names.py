"""Outputs never collide: every option that changes the bytes changes the file name, and an
explicit ``--output FILE`` that exists is replaced only with ``--overwrite`` (docs/cli.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from seriesfactory.cli import main
from seriesfactory.pipeline.series import SeriesRequest, output_name, series_suffix
from seriesfactory.transforms.aggregates import AggregationParams

SPECS = "gbm(0.05,0.5,50000)|gbm(0.05,0.6,50000)"
BASE: dict[str, object] = {
    "sources": SPECS,
    "from_ns": 1_735_689_600 * 10**9,  # 2025-01-01
    "to_ns": 1_735_776_000 * 10**9,
    "params": AggregationParams(mode="time", step=60_000),
}


def _name(**changes: object) -> str:
    request = SeriesRequest(**{**BASE, **changes})  # type: ignore[arg-type]
    return output_name(request, series_suffix(request), "parquet")


DEFAULT = _name()

CHANGES: dict[str, dict[str, object]] = {
    "seed": {"seed": 7},
    "tick-ttl": {"params": AggregationParams(mode="time", step=60_000, tick_ttl_ms=5_000)},
    "tick-max-deviation": {
        "params": AggregationParams(mode="time", step=60_000, tick_max_deviation=0.05)
    },
    "agg-step": {"params": AggregationParams(mode="time", step=1_000)},
    "agg-mode": {"params": AggregationParams(mode="tick", step=0.001)},
    "weight-mode": {"weight_mode": "volume"},
    "weights": {"weights": (0.25, 0.75)},
    "agg-fields (few)": {"fields": ("open", "close")},
    "agg-fields (many)": {"fields": ("open", "high", "low", "close", "vwap")},
    "sources": {"sources": "gbm(0.05,0.5,50000)"},
    "base": {"base": "ETH"},
    "quote": {"quote": "USD"},
    "to": {"to_ns": 1_735_862_400 * 10**9},
}


@pytest.mark.parametrize("option", list(CHANGES))
def test_every_option_changes_the_series_file_name(option: str) -> None:
    assert _name(**CHANGES[option]) != DEFAULT


def test_each_change_has_its_own_name_and_defaults_keep_the_plain_name() -> None:
    names = [_name(**c) for c in CHANGES.values()]
    assert len(set(names)) == len(names)
    assert (
        DEFAULT
        == "btc-usdt_gbm-0.05-0.5-50000+gbm-0.05-0.6-50000_20250101-20250102_time-60000.parquet"
    )


def test_readable_parts() -> None:
    name = _name(
        seed=3,
        params=AggregationParams(
            mode="time", step=60_000, tick_ttl_ms=250, tick_max_deviation=0.01
        ),
        weight_mode="mixed",
        weights=(1.0, 3.0),
        fields=("open", "close"),
    )
    assert name.endswith("_time-60000_ttl250_dev0.01_mixed_w1-3_f-open+close_seed3.parquet")
    many = _name(fields=("open", "high", "low", "close", "vwap"))
    assert many.rsplit("_", 1)[1].startswith("f5-")  # count and a 6-digit hash


def test_the_seed_names_only_model_outputs() -> None:
    # An exchange's ticks do not depend on the seed: the name does not either.
    plain = SeriesRequest(**{**BASE, "sources": "binance", "seed": 7})  # type: ignore[arg-type]
    assert "seed" not in output_name(plain, series_suffix(plain), "parquet")


def test_series_cli_writes_two_files_for_two_seeds(tmp_path: Path) -> None:
    common = ["series", "--sources", "gbm(0.05,0.5,50000)", "--from", "2025-01-01", "--to",
              "2025-01-02", "--agg-step", "3600000", "--quiet", "--cache-dir", str(tmp_path / "c"),
              "--output-dir", str(tmp_path / "o")]  # fmt: skip
    assert main(common) == 0
    assert main([*common, "--seed", "1"]) == 0
    assert main([*common, "--tick-ttl", "1000"]) == 0
    names = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert names == [
        "btc-usdt_gbm-0.05-0.5-50000_20250101-20250102_time-3600000.parquet",
        "btc-usdt_gbm-0.05-0.5-50000_20250101-20250102_time-3600000_seed1.parquet",
        "btc-usdt_gbm-0.05-0.5-50000_20250101-20250102_time-3600000_ttl1000.parquet",
    ]


@pytest.fixture(scope="module")
def bars_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bars") / "trades.csv"
    rows = [f"{1_700_000_000_000 + 1000 * i},{100 + (i % 7)},{1 + i % 3}" for i in range(200)]
    path.write_text("ts,price,qty\n" + "\n".join(rows) + "\n")
    return path


def test_an_existing_output_file_is_refused_without_overwrite(
    bars_input: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bars.parquet"
    args = ["bars", "build", "--type", "tick", "--threshold", "10", "--input", str(bars_input),
            "--output", str(out), "--quiet"]  # fmt: skip
    assert main(args) == 0
    before = out.read_bytes()
    assert capsys.readouterr().out == f"{out}\n"  # --quiet: the output path only
    assert main([*args, "--threshold", "20"]) == 2
    assert f"--output {out} exists; pass --overwrite to replace it" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert main([*args, "--threshold", "20", "--overwrite"]) == 0
    assert out.read_bytes() != before
    exported = tmp_path / "bars.csv"
    export = ["bars", "export", "--input", str(out), "--output", str(exported), "--quiet"]
    assert main(export) == 0
    assert main(export) == 2
    assert main([*export, "--overwrite"]) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "klines", "--interval", "7m", "--to", "2024-01-02"], "--interval '7m' is not"),
        (["--to", "2200-01-01"], "--to is in the future"),
    ],
)
def test_download_refuses_before_any_network_call(
    args: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A port nothing listens on: a request would fail with a network error (exit 1), not 2.
    monkeypatch.setenv("SERIESFACTORY_BINANCE_DATA_URL", "http://127.0.0.1:9")
    status = main(["download", "--from", "2024-01-01", *args, "--cache-dir", str(tmp_path)])
    assert status == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "raw").exists()


@pytest.mark.parametrize(
    "command",
    [
        ["report", "eda", "--features", "{input}", "--output", "{out}.html"],
        [
            "book",
            "snapshots",
            "--input",
            "{input}",
            "--venue",
            "binance",
            "--symbol",
            "BTCUSDT",
            "--output",
            "{out}.parquet",
        ],
        [
            "book",
            "verify",
            "--input",
            "{input}",
            "--venue",
            "binance",
            "--symbol",
            "BTCUSDT",
            "--output",
            "{out}.json",
        ],
        [
            "backtest",
            "spread",
            "--book",
            "{input}",
            "--trades",
            "{input}",
            "--output",
            "{out}.json",
        ],
        ["features", "trades", "--input", "{input}", "--output", "{out}.parquet"],
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_every_explicit_output_is_refused_when_it_exists(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.parquet"
    source.write_bytes(b"not read: the refusal comes first")
    args = [
        a.replace("{input}", str(source)).replace("{out}", str(tmp_path / "out")) for a in command
    ]
    out = Path(args[args.index("--output") + 1])
    out.write_text("an earlier result")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"--output {out} exists;" in err and "--overwrite to replace it" in err
    assert out.read_text() == "an earlier result"


TRADES = {"base": "BTC", "quote": "USDT", "venue": "binance", "from_ns": 0, "to_ns": 86_400 * 10**9,
          "kind": "aggTrades", "fmt": "parquet"}  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value"),
    [("base", "ETH"), ("quote", "USDC"), ("venue", "bybit"), ("from_ns", 3_600 * 10**9),
     ("to_ns", 2 * 86_400 * 10**9), ("kind", "trades"), ("fmt", "csv")],
)  # fmt: skip
def test_every_trades_option_changes_its_name(field: str, value: object) -> None:
    from seriesfactory.pipeline.universe import trades_name

    assert trades_name(**{**TRADES, field: value}) != trades_name(**TRADES)  # type: ignore[arg-type]
    assert trades_name(**TRADES) == "btc-usdt_binance_19700101-19700102_aggtrades.parquet"  # type: ignore[arg-type]


def test_ticks_names_carry_the_seed_of_a_model() -> None:
    request = SeriesRequest(**{**BASE, "seed": 5})  # type: ignore[arg-type]
    assert output_name(request, "ticks", "parquet").endswith("_ticks_seed5.parquet")
