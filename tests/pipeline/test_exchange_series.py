"""``series`` over Binance history served by a local mirror: real and generated archives."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from seriesfactory.cli import main
from seriesfactory.config import Settings, load_settings
from seriesfactory.core.time import NS_PER_DAY, parse_date
from seriesfactory.errors import DataError, IntegrityError
from seriesfactory.pipeline.series import SeriesRequest, build_series, build_ticks
from seriesfactory.transforms.aggregates import AggregationParams

EXCHANGE_INFO = json.dumps(
    {"symbols": [{"symbol": "BTCUSD_PERP", "contractSize": 100, "pair": "BTCUSD"}]}
).encode()


def _settings(mirror) -> Settings:
    return load_settings(
        env={},
        binance_data_url=mirror.url,
        binance_coinm_api_url=mirror.url,
        backoff_base_s=0.001,
    )


def _request(mirror, tmp_path: Path, **kw) -> SeriesRequest:
    args = {
        "sources": "binance",
        "from_ns": parse_date("2024-01-01", option="--from"),
        "to_ns": parse_date("2024-01-02", option="--to"),
        "cache_dir": tmp_path / "cache",
        "output_dir": tmp_path / "out",
        "params": AggregationParams(mode="time", step=60_000, tick_ttl_ms=60_000),
        "settings": _settings(mirror),
        **kw,
    }
    return SeriesRequest(**args)


def _spot_day(day: str, *, micro: bool, n: int = 3000, bad: str | None = None) -> str:
    start = parse_date(day, option="d") // 10**6
    rng = np.random.default_rng(7)
    price = 42000 + np.cumsum(rng.normal(0, 2, n))
    rows = []
    for i in range(n):
        t = start + i * 28_000
        t = t * 1000 if micro else t
        maker = "true" if rng.random() < 0.5 else "false"
        rows.append(f"{i},{price[i]:.2f},{rng.random():.5f},{i},{i},{t},{maker},true")
    if bad is not None:
        rows.insert(10, bad)
    return "\n".join(rows) + "\n"


def _add_spot(mirror, day: str, **kw) -> str:
    rel = f"data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-{day}.zip"
    mirror.add_archive(mirror.roots[0], rel, _spot_day(day, **kw))
    return rel


def test_real_coinm_day_end_to_end(mirror, shared_real, tmp_path: Path) -> None:
    mirror.routes["/dapi/v1/exchangeInfo"] = EXCHANGE_INFO
    req = _request(
        mirror,
        tmp_path,
        sources="binance-coinm",
        quote="USD",
        from_ns=parse_date("2026-05-08", option="f"),
        to_ns=parse_date("2026-05-09", option="t"),
    )
    result = build_series(req)
    assert (
        result.output.name == "btc-usd_binance-coinm_20260508-20260509_time-60000_ttl60000.parquet"
    )
    t = result.table
    assert t.num_rows == 1440
    # every contract is 100 USD: total notional = 100 x total contracts of the real file
    volume = float(np.sum(t.column("vbid").to_numpy()) + np.sum(t.column("vask").to_numpy()))
    tick_table = build_ticks(req).ticks.read()
    tick_volume = sum(float(tick_table.column(c).to_numpy().sum()) for c in ("vbid", "vask"))
    # awk -F, 'NR>1{s+=$3} END{print s*100}' on the real CSV: 4,919,071 contracts x 100 USD
    assert tick_volume == pytest.approx(491_907_100.0, rel=1e-12)
    assert volume <= tick_volume and (volume == tick_volume) == (result.counts.deviation == 0)
    close = t.column("close").to_numpy()
    assert close.min() > 70_000 and close.max() < 90_000
    # the second run is served from the caches, with no archive traffic
    n_requests = len(mirror.requests)
    again = build_series(req)
    assert again.from_cache == {"ticks": True, "aggregates": True}
    assert again.table.equals(t)
    assert all(p.endswith("CHECKSUM") is False for p, _ in mirror.requests[n_requests:])
    assert len(mirror.requests) == n_requests


def test_spot_ms_and_us_eras_end_to_end_and_idempotent(mirror, tmp_path: Path) -> None:
    _add_spot(mirror, "2024-12-31", micro=False)
    _add_spot(mirror, "2025-01-01", micro=True)
    req = _request(
        mirror,
        tmp_path,
        from_ns=parse_date("2024-12-31", option="f"),
        to_ns=parse_date("2025-01-02", option="t"),
    )
    first = build_series(req)
    assert first.table.num_rows == 2 * 1440
    ticks = build_ticks(req).ticks
    ts = ticks.read().column("ts").cast("int64").to_numpy()
    assert ts[0] // NS_PER_DAY == parse_date("2024-12-31", option="f") // NS_PER_DAY
    assert (ts // NS_PER_DAY >= ts[0] // NS_PER_DAY).all() and (np.diff(ts) >= 0).all()
    files = sorted(p.relative_to(tmp_path) for p in (tmp_path / "cache").rglob("*") if p.is_file())
    second = build_series(req)
    again = sorted(p.relative_to(tmp_path) for p in (tmp_path / "cache").rglob("*") if p.is_file())
    assert files == again and second.table.equals(first.table)
    assert "age_ns" in pq.read_schema(ticks.files[0].path).names


def test_faults_recover_and_the_checksum_is_enforced(mirror, tmp_path: Path) -> None:
    rel = _add_spot(mirror, "2024-01-01", micro=False)
    mirror.faults["/" + rel] = ["500", "429", "truncate", "corrupt"]
    mirror.faults["/" + rel + ".CHECKSUM"] = ["slow"]
    result = build_series(_request(mirror, tmp_path))
    assert result.table.num_rows == 1440
    clean = build_series(_request(mirror, tmp_path / "clean"))
    assert clean.table.equals(result.table)


def test_escaping_zip_member_is_refused_and_nothing_lands(mirror, tmp_path: Path) -> None:
    rel = "data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-01.zip"
    mirror.add_archive(
        mirror.roots[0], rel, _spot_day("2024-01-01", micro=False), member="../../evil.csv"
    )
    with pytest.raises(IntegrityError, match="escapes the archive folder"):
        build_series(_request(mirror, tmp_path))
    cache = tmp_path / "cache"
    assert not (cache / "trades").exists() and not (cache / "ticks").exists()
    assert not (tmp_path / "evil.csv").exists()


def test_bad_rows_error_or_skip_counted(mirror, tmp_path: Path) -> None:
    _add_spot(mirror, "2024-01-01", micro=False, bad="11,42000.0,oops,1,1,1704067200000,true,true")
    with pytest.raises(DataError, match=r"BTCUSDT-aggTrades-2024-01-01.csv:11: non-numeric"):
        build_series(_request(mirror, tmp_path))
    skipped = build_series(_request(mirror, tmp_path, on_bad_rows="skip"))
    sources = json.loads(skipped.metadata["seriesfactory.sources"])
    assert sources[0]["bad_rows"] == 1
    # the skipping run's ticks are not reused: an 'error' run still refuses the file
    with pytest.raises(DataError, match=r"2024-01-01.csv:11: non-numeric"):
        build_series(_request(mirror, tmp_path))
    again = build_series(_request(mirror, tmp_path, on_bad_rows="skip"))
    assert again.from_cache["ticks"]
    assert json.loads(again.metadata["seriesfactory.sources"]) == sources


def test_cli_series_reads_the_mirror_from_the_environment(
    mirror, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _add_spot(mirror, "2024-01-01", micro=False)
    monkeypatch.setenv("SERIESFACTORY_BINANCE_DATA_URL", mirror.url)
    args = ["series", "--sources", "binance", "--from", "2024-01-01", "--to", "2024-01-02",
            "--agg-step", "3600000", "--cache-dir", str(tmp_path / "c"),
            "--output-dir", str(tmp_path / "o"), "--quiet"]  # fmt: skip
    assert main(args) == 0
    assert (tmp_path / "o" / "btc-usdt_binance_20240101-20240102_time-3600000.parquet").is_file()
    monkeypatch.setenv("SERIESFACTORY_BINANCE_DATA_URL", "ftp://nowhere")
    assert main(args) == 2
    assert "SERIESFACTORY_BINANCE_DATA_URL" in capsys.readouterr().err


def test_two_venues_merged_and_rebased_cross(mirror, tmp_path: Path) -> None:
    _add_spot(mirror, "2024-01-01", micro=False)
    rel = "data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-01.zip"
    body = _spot_day("2024-01-01", micro=False).replace(",true\n", "\n")  # 7 columns
    header = (
        "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n"
    )
    mirror.add_archive(mirror.roots[0], rel, header + body)
    req = _request(mirror, tmp_path, sources="binance|binance-usdm", weights=(0.6, 0.4))
    merged = build_series(req)
    assert (
        merged.output.name
        == "btc-usdt_binance+binance-usdm_20240101-20240102_time-60000_ttl60000_w0.6-0.4.parquet"
    )
    single = build_series(_request(mirror, tmp_path))
    # identical prices on both venues: the merged mid equals the single-venue mid; volume doubles
    np.testing.assert_allclose(
        merged.table.column("close"), single.table.column("close"), rtol=1e-12
    )
    np.testing.assert_allclose(
        merged.table.column("vbid").to_numpy(), 2 * single.table.column("vbid").to_numpy()
    )
    # ETH-USDT at a constant 2000: BTC/ETH = BTC-USDT / 2000 (bid over ask, ask over bid)
    flag = ["false", "true"]
    eth = "".join(f"{i},2000.00,1.0,{i},{i},{1704067200000 + i * 50_000},{flag[i % 2]},true\n"
                  for i in range(1700))  # fmt: skip
    mirror.add_archive(
        mirror.roots[0], rel.replace("futures/um", "spot").replace("BTC", "ETH"), eth
    )
    cross = build_series(_request(mirror, tmp_path, quote="ETH"))
    assert cross.output.name.startswith("btc-eth_binance_")
    close = cross.table.column("close").to_numpy()
    assert np.all((close > 20.0) & (close < 22.0))
