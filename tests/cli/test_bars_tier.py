"""``bars build --venue/--symbol/--from/--to``: bars from the trades tier, via a local mirror.

The reference is the same trades exported with ``seriesfactory trades`` and fed
through ``bars build --input``: both paths must give identical bars.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from seriesfactory.cli import main
from seriesfactory.core.time import parse_date

EXCHANGE_INFO = json.dumps(
    {"symbols": [{"symbol": "BTCUSD_PERP", "contractSize": 100, "pair": "BTCUSD"}]}
).encode()


def _spot_day(day: str, n: int, seed: int) -> str:
    """``n`` aggTrades rows 20 s apart: random walk price, random taker side."""
    start_ms = parse_date(day, option="d") // 10**6
    rng = np.random.default_rng(seed)
    price = 42000 + np.cumsum(rng.normal(0, 3, n))
    maker = rng.random(n) < 0.5  # buyer is maker -> taker sold
    rows = [
        f"{i},{price[i]:.2f},{rng.random():.5f},{i},{i},{start_ms + i * 20_000},"
        f"{'true' if maker[i] else 'false'},true"
        for i in range(n)
    ]
    return "\n".join(rows) + "\n"


@pytest.fixture
def env(mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for seed, day in enumerate(("2024-01-01", "2024-01-02")):
        rel = f"data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-{day}.zip"
        mirror.add_archive(mirror.roots[0], rel, _spot_day(day, 2000, seed))
    mirror.routes["/dapi/v1/exchangeInfo"] = EXCHANGE_INFO
    monkeypatch.setenv("SERIESFACTORY_BINANCE_DATA_URL", mirror.url)
    monkeypatch.setenv("SERIESFACTORY_BINANCE_COINM_API_URL", mirror.url)
    monkeypatch.setenv("SERIESFACTORY_BACKOFF_BASE_S", "0.001")
    return tmp_path


def _both_ways(
    tmp: Path, bar: list[str], venue: list[str], trades: list[str], days: tuple[str, str]
) -> tuple[pq.ParquetFile, pq.ParquetFile, Path]:
    cache = str(tmp / "cache")
    span = ["--from", days[0], "--to", days[1], "--cache-dir", cache]
    tier_out = tmp / "tier.parquet"
    assert main(["bars", "build", *bar, *venue, *span, "--output", str(tier_out)]) == 0
    assert main(["trades", *trades, *span, "--output-dir", str(tmp / "o")]) == 0
    (exported,) = (tmp / "o").iterdir()
    file_out = tmp / "file.parquet"
    assert main(["bars", "build", *bar, "--input", str(exported), "--output", str(file_out)]) == 0
    return pq.read_table(tier_out), pq.read_table(file_out), exported


@pytest.mark.parametrize(
    "bar",
    [
        ["--type", "dollar", "--threshold", "2e5", "--emit-partial"],
        ["--type", "tib", "--ewma-window", "5", "--expected-ticks", "40", "--emit-partial"],
        ["--type", "vrb", "--ewma-window", "3", "--expected-ticks", "40"],
        ["--type", "time", "--interval", "1h"],
    ],
)
def test_tier_bars_equal_bars_of_the_exported_file(env: Path, bar: list[str]) -> None:
    venue = ["--venue", "binance", "--symbol", "BTCUSDT"]
    tier, ref, exported = _both_ways(
        env, bar, venue, ["--source", "binance"], ("2024-01-01", "2024-01-03")
    )
    assert tier.num_rows > 5
    assert tier.to_pylist() == ref.to_pylist()
    meta = json.loads(tier.schema.metadata[b"seriesfactory.bars"])
    assert (meta["venue"], meta["symbol"], meta["from"], meta["to"]) == (
        "binance", "BTCUSDT", "2024-01-01", "2024-01-03",
    )  # fmt: skip
    assert len(meta["raw"]) == 2
    if "--emit-partial" in bar:  # every trade is in some bar: the taker side is what counts
        trades = pq.read_table(exported)
        side = trades.column("side").to_numpy()
        qty = trades.column("qty").to_numpy()
        assert tier.column("tick_count").to_numpy().sum() == trades.num_rows == 4000
        buy = tier.column("buy_volume").to_numpy().sum()
        assert buy == pytest.approx(qty[side == 1].sum(), rel=1e-12)


def test_sign_auto_uses_the_taker_side_and_tick_rule_does_not(env: Path) -> None:
    base = ["bars", "build", "--type", "tick", "--threshold", "100", "--venue", "binance"]
    base += ["--symbol", "BTC/USDT", "--from", "2024-01-01", "--to", "2024-01-02"]
    base += ["--cache-dir", str(env / "cache")]
    assert main([*base, "--output", str(env / "a.parquet")]) == 0
    assert main([*base, "--sign", "tick-rule", "--output", str(env / "t.parquet")]) == 0
    auto = pq.read_table(env / "a.parquet").column("buy_volume").to_pylist()
    rule = pq.read_table(env / "t.parquet").column("buy_volume").to_pylist()
    assert len(auto) == len(rule) == 20 and auto != rule


def test_real_coinm_day_from_the_tier(env: Path, shared_real: Path) -> None:
    bar = ["--type", "dib", "--ewma-window", "15", "--expected-ticks", "500", "--emit-partial"]
    venue = ["--venue", "binance-coinm", "--symbol", "BTCUSD_PERP"]
    trades = ["--source", "binance-coinm", "--quote", "USD", "--on-bad-rows", "skip"]
    tier, ref, exported = _both_ways(env / "r", bar, venue, trades, ("2026-05-08", "2026-05-09"))
    assert tier.to_pylist() == ref.to_pylist()
    assert tier.column("tick_count").to_numpy().sum() == pq.read_metadata(exported).num_rows
    assert tier.num_rows >= 5


def test_tier_errors_are_one_line(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(env / "x.parquet")
    base = ["bars", "build", "--type", "tick", "--threshold", "10", "--output", out]
    base += ["--cache-dir", str(env / "cache")]
    span = ["--from", "2024-01-01", "--to", "2024-01-02"]
    assert main([*base, "--venue", "binance", "--symbol", "BTCUSDT"]) == 2
    assert "needs all of --venue, --symbol, --from and --to" in capsys.readouterr().err
    assert main([*base, "--venue", "binance", "--symbol", "XYZ", *span]) == 2
    assert "write it as BASE/QUOTE" in capsys.readouterr().err
    assert main([*base, "--venue", "kraken", "--symbol", "BTCUSDT", *span]) == 2
    assert "historical data is available for" in capsys.readouterr().err
    missing = ["--from", "2024-02-01", "--to", "2024-02-03"]
    assert main([*base, "--venue", "binance", "--symbol", "ETHUSDT", *missing]) == 2
    err = capsys.readouterr().err
    assert "no trade file of ETHUSDT exists for the range on the server" in err
    assert not Path(out).exists()
