"""``trades`` covers the venues ``download`` covers, through the same exchange-history code."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from seriesfactory.cli import main
from seriesfactory.core.time import parse_date


def test_trades_from_bybit(
    mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SERIESFACTORY_BYBIT_DATA_URL", mirror.url)
    mirror.add_bybit_day("2024-01-02", 5)
    args = ["trades", "--venue", "bybit", "--from", "2024-01-02", "--to", "2024-01-03",
            "--cache-dir", str(tmp_path / "c"), "--output-dir", str(tmp_path / "o")]  # fmt: skip
    assert main(args) == 0
    assert "5 trades" in capsys.readouterr().out
    table = pq.read_table(tmp_path / "o" / "btc-usdt_bybit_20240102-20240103_trades.parquet")
    assert table.column_names == ["ts", "price", "qty", "side", "trade_id"]
    assert table.column("price").to_pylist() == [42000.0 + i for i in range(5)]
    assert table.column("side").to_pylist() == [-1, 1, -1, 1, -1]
    # --symbol as the venue writes it is the same pair as --base/--quote: the same file.
    by_symbol = [*args[:3], "--symbol", "BTCUSDT", *args[3:], "--output-dir", str(tmp_path / "s")]
    capsys.readouterr()
    assert main([*by_symbol, "--quiet"]) == 0
    assert (
        capsys.readouterr().out.strip().endswith("btc-usdt_bybit_20240102-20240103_trades.parquet")
    )
    assert [p.name for p in (tmp_path / "s").iterdir()] == [
        "btc-usdt_bybit_20240102-20240103_trades.parquet"
    ]


def test_trades_from_coinbase(
    mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SERIESFACTORY_COINBASE_API_URL", mirror.url)
    monkeypatch.setenv("SERIESFACTORY_COINBASE_REQUESTS_PER_S", "1000000")
    day0 = parse_date("2024-01-01", option="d") // 10**9
    times = [day0 + 60 * i + 0.5 for i in range(30)]
    trades = [
        {"trade_id": str(1000 + i), "product_id": "BTC-USD", "price": f"{40000 + i}.5",
         "size": "0.01", "time": f"2024-01-01T{i // 60:02d}:{i % 60:02d}:00.500000Z",
         "side": "SELL" if i % 3 else "BUY", "bid": "", "ask": "", "exchange": "coinbase"}
        for i in range(30)
    ]  # fmt: skip

    def ticker(q: dict[str, str]) -> bytes:
        s, e, limit = int(q["start"]), int(q["end"]), int(q["limit"])
        hits = [x for t, x in zip(times, trades, strict=True) if s <= t < e][::-1][:limit]
        return json.dumps({"trades": hits}).encode()

    mirror.handlers["/api/v3/brokerage/market/products/BTC-USD/ticker"] = ticker
    args = ["trades", "--venue", "coinbase", "--quote", "USD", "--from", "2024-01-01",
            "--to", "2024-01-02", "--cache-dir", str(tmp_path / "c"),
            "--output-dir", str(tmp_path / "o")]  # fmt: skip
    assert main(args) == 0
    assert "30 trades" in capsys.readouterr().out
    table = pq.read_table(tmp_path / "o" / "btc-usd_coinbase_20240101-20240102_trades.parquet")
    assert table.column("price").to_pylist() == [40000.5 + i for i in range(30)]
    # Coinbase's side is the maker's: a BUY print is a taker sell (docs/sources.md).
    assert table.column("side").to_pylist()[:3] == [-1, 1, 1]
