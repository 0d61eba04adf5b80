"""Archive planning, monthly fallback, zip guards, COIN-M contract sizes."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from seriesfactory.config import load_settings
from seriesfactory.core.time import NS_PER_DAY, parse_date
from seriesfactory.errors import InputError, IntegrityError, SourceError
from seriesfactory.raw.download import Downloader
from seriesfactory.sources.binance.history import (
    contract_size,
    fetch_archives,
    plan_archives,
    read_single_member,
    symbol_for,
)


def _day(text: str) -> int:
    return parse_date(text, option="d")


def test_plan_prefers_monthly_for_whole_past_months() -> None:
    plan, recent = plan_archives(
        "spot", "aggTrades", "BTCUSDT", _day("2024-01-30"), _day("2024-03-03"),
        today_index=_day("2024-03-02") // NS_PER_DAY,
    )  # fmt: skip
    names = [a.name for a in plan]
    assert names == [
        "BTCUSDT-aggTrades-2024-01-30.zip",
        "BTCUSDT-aggTrades-2024-01-31.zip",
        "BTCUSDT-aggTrades-2024-02.zip",
        "BTCUSDT-aggTrades-2024-03-01.zip",
    ]
    assert plan[2].path == "data/spot/monthly/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-02.zip"
    assert len(plan[2].days) == 29 and recent == [_day("2024-03-02") // NS_PER_DAY]
    k, _ = plan_archives("coinm", "klines", "BTCUSD_PERP", _day("2024-01-01"), _day("2024-01-02"),
                         today_index=10**6, interval="1h")  # fmt: skip
    assert k[0].path == "data/futures/cm/daily/klines/BTCUSD_PERP/1h/BTCUSD_PERP-1h-2024-01-01.zip"


def test_symbols() -> None:
    assert symbol_for("spot", "btc", "usdt") == "BTCUSDT"
    assert symbol_for("coinm", "ETH", "USD") == "ETHUSD_PERP"
    with pytest.raises(InputError, match="--quote USD"):
        symbol_for("coinm", "BTC", "USDT")


def test_unpublished_month_falls_back_to_daily_files(mirror, tmp_path: Path) -> None:
    for d in (1, 2):
        rel = f"data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2023-02-{d:02d}.zip"
        mirror.add_archive(mirror.roots[0], rel, f"1,1.0,1.0,1,1,{1675209600000 + d},true,true\n")
    settings = load_settings(env={}, binance_data_url=mirror.url)
    plan, _ = plan_archives("spot", "aggTrades", "BTCUSDT", _day("2023-02-01"),
                            _day("2023-03-01"), today_index=10**6)  # fmt: skip
    assert [a.monthly for a in plan] == [True]
    with Downloader(settings) as dl:
        got = fetch_archives(plan, cache_dir=tmp_path, settings=settings, downloader=dl,
                             market="spot", kind="aggTrades", symbol="BTCUSDT")  # fmt: skip
    assert [a.name for a, _ in got] == [
        "BTCUSDT-aggTrades-2023-02-01.zip",
        "BTCUSDT-aggTrades-2023-02-02.zip",
    ]


def test_a_month_already_in_daily_files_asks_nothing(mirror, tmp_path: Path) -> None:
    for d in range(1, 29):
        rel = f"data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2023-02-{d:02d}.zip"
        mirror.add_archive(mirror.roots[0], rel, f"1,1.0,1.0,1,1,{1675209600000 + d},true,true\n")
    monthly = "/data/spot/monthly/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2023-02.zip.CHECKSUM"
    plan, _ = plan_archives("spot", "aggTrades", "BTCUSDT", _day("2023-02-01"),
                            _day("2023-03-01"), today_index=10**6)  # fmt: skip
    runs = []
    for url in (mirror.url, "http://127.0.0.1:9"):  # the second run has no server at all
        settings = load_settings(env={}, binance_data_url=url, download_retries=0)
        with Downloader(settings) as dl:
            got = fetch_archives(plan, cache_dir=tmp_path, settings=settings, downloader=dl,
                                 market="spot", kind="aggTrades", symbol="BTCUSDT")  # fmt: skip
        runs.append([a.name for a, _ in got])
    assert mirror.count(monthly) == 1  # asked once, by the first run (404)
    assert runs[0] == runs[1] and len(runs[0]) == 28


def _zip(tmp_path: Path, members: dict[str, bytes]) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    p = tmp_path / "a.zip"
    p.write_bytes(buf.getvalue())
    return p


@pytest.mark.parametrize("name", ["../x.csv", "/etc/x.csv", "a/../../x.csv", "c:\\x.csv"])
def test_escaping_members_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(IntegrityError, match="escapes the archive folder"):
        read_single_member(_zip(tmp_path, {name: b"1"}), max_bytes=100)


def test_oversized_and_multiple_members_are_refused(tmp_path: Path) -> None:
    with pytest.raises(IntegrityError, match="over the 10-byte limit"):
        read_single_member(_zip(tmp_path, {"a.csv": b"x" * 11}), max_bytes=10)
    with pytest.raises(IntegrityError, match="expected one CSV, found 2"):
        read_single_member(_zip(tmp_path, {"a.csv": b"1", "b.csv": b"2"}), max_bytes=10)
    (tmp_path / "a.zip").write_bytes(b"not a zip")
    with pytest.raises(IntegrityError, match="not a valid zip"):
        read_single_member(tmp_path / "a.zip", max_bytes=10)


def test_contract_size_is_fetched_cached_and_never_guessed(mirror, tmp_path: Path) -> None:
    body = {"symbols": [{"symbol": "BTCUSD_PERP", "contractSize": 100},
                        {"symbol": "ETHUSD_PERP", "contractSize": 10}]}  # fmt: skip
    mirror.routes["/dapi/v1/exchangeInfo"] = json.dumps(body).encode()
    settings = load_settings(env={}, binance_coinm_api_url=mirror.url)
    with Downloader(settings) as dl:
        assert (
            contract_size("ETHUSD_PERP", cache_dir=tmp_path, settings=settings, downloader=dl) == 10
        )
        assert (
            contract_size("BTCUSD_PERP", cache_dir=tmp_path, settings=settings, downloader=dl)
            == 100
        )
        assert mirror.count("/dapi/v1/exchangeInfo") == 1
        with pytest.raises(SourceError, match="XRPUSD_PERP is not listed"):
            contract_size("XRPUSD_PERP", cache_dir=tmp_path, settings=settings, downloader=dl)
    assert mirror.count("/dapi/v1/exchangeInfo") == 2


def _pieces_parse(path: Path, block_bytes: int) -> tuple[list[object], list[int]]:
    from seriesfactory.sources.binance.history import parse_archive

    tables, bad = [], []
    pieces = parse_archive(path, market="usdm", kind="aggTrades", on_bad_rows="skip",
                           max_bytes=10**9, block_bytes=block_bytes)  # fmt: skip
    for p in pieces:
        tables.append(p.table)
        bad += [b.line for b in p.bad_rows]
    return tables, bad


@pytest.mark.parametrize("block_bytes", [1, 50, 500, 10**6])
def test_reading_in_pieces_equals_reading_whole(tmp_path: Path, block_bytes: int) -> None:
    import pyarrow as pa

    from seriesfactory.sources.binance.parse import parse_trades_csv

    header = (
        "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n"
    )
    flag = ["false", "true", "true"]
    rows = [f"{i},{100 + i % 5}.5,0.25,{i},{i},{1704067200000 + 10 * i},{flag[i % 3]}"
            for i in range(400)]  # fmt: skip
    rows[150] = rows[150].replace(",0.25,", ",-0.25,")  # bad value, line 152
    rows[300] = rows[300].replace(str(1704067200000 + 3000), "1704067200001")  # late, line 302
    text = header + "\n".join(rows) + "\n"
    path = _zip(tmp_path, {"u.csv": text.encode()})
    whole = parse_trades_csv(text.encode(), name="u", market="usdm", kind="aggTrades",
                             on_bad_rows="skip")  # fmt: skip
    tables, bad = _pieces_parse(path, block_bytes)
    assert pa.concat_tables(tables).equals(whole.table)
    assert bad == [b.line for b in whole.bad_rows] == [152, 302]
