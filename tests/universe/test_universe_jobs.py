"""Universe jobs (``--symbols``) on every scheduler: byte-identical outputs, identical keys.

Real parts: the generated archives on the local HTTP mirror (127.0.0.1), the real Dask
schedulers (sync, the process pool) and a real cluster (``dask scheduler`` + two workers).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from seriesfactory.cli import main


def _digests(folder: Path) -> dict[str, str]:
    """Relative name -> SHA-256 of every file under ``folder`` (temporary names included)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _keys(cache: Path) -> list[str]:
    """The tiers' content-addressed names: tick sets, aggregates entries, trades records."""
    names = []
    for tier in ("ticks", "aggregates", "trades"):
        root = cache / tier
        if root.is_dir():
            names += sorted(str(p.relative_to(cache)) for p in root.rglob("*") if p.is_file())
    return names


def test_series_universe_is_identical_on_every_scheduler(universe, dask_cluster, tmp_path):
    """sync, processes and tcp:// give the same bytes and the same cache keys as one-symbol runs."""
    results = {}
    for name, scheduler in (
        ("sync", "sync"), ("processes", "processes"), ("tcp", dask_cluster.address)
    ):  # fmt: skip
        cache, out = tmp_path / name / "cache", tmp_path / name / "out"
        args = ["series", "--sources", "binance", "--agg-step", "60000", *universe.span(),
                "--symbols", ",".join(universe.symbols), "--scheduler", scheduler,
                "--cache-dir", str(cache), "--output-dir", str(out), "--quiet"]  # fmt: skip
        assert main(args) == 0
        results[name] = (_digests(out), _keys(cache))
    single_cache, single_out = tmp_path / "single" / "cache", tmp_path / "single" / "out"
    for symbol in universe.symbols:
        base = symbol.removesuffix("USDT")
        args = ["series", "--sources", "binance", "--agg-step", "60000", *universe.span(),
                "--base", base, "--quote", "USDT", "--cache-dir", str(single_cache),
                "--output-dir", str(single_out), "--quiet"]  # fmt: skip
        assert main(args) == 0
    single = (_digests(single_out), _keys(single_cache))
    assert len(single[0]) == len(universe.symbols)
    assert results["sync"] == results["processes"] == results["tcp"] == single


def test_trades_universe_is_identical_on_every_scheduler(universe, dask_cluster, tmp_path):
    results = {}
    for name, scheduler in (
        ("sync", "sync"), ("processes", "processes"), ("tcp", dask_cluster.address)
    ):  # fmt: skip
        cache, out = tmp_path / name / "cache", tmp_path / name / "out"
        args = ["trades", *universe.span(), "--symbols", ",".join(universe.symbols),
                "--scheduler", scheduler, "--cache-dir", str(cache), "--output-dir", str(out),
                "--quiet"]  # fmt: skip
        assert main(args) == 0
        results[name] = (_digests(out), _keys(cache))
    single_cache, single_out = tmp_path / "single" / "cache", tmp_path / "single" / "out"
    for symbol in universe.symbols:
        args = ["trades", *universe.span(), "--symbol", symbol, "--cache-dir", str(single_cache),
                "--output-dir", str(single_out), "--quiet"]  # fmt: skip
        assert main(args) == 0
    assert results["sync"] == results["processes"] == results["tcp"]
    assert results["sync"] == (_digests(single_out), _keys(single_cache))


@pytest.mark.parametrize(
    "command",
    [
        ["bars", "build", "--type", "volume", "--threshold", "500"],
        ["features", "trades", "--interval", "5m"],
    ],
    ids=["bars", "features"],
)
def test_tier_commands_write_one_file_per_symbol_as_single_runs_do(
    universe, dask_cluster, tmp_path: Path, command: list[str]
) -> None:
    """``bars build`` / ``features trades`` with --symbols: --output's {symbol}, same bytes."""
    results = {}
    schedulers = (("sync", "sync"), ("processes", "processes"), ("tcp", dask_cluster.address))
    for name, scheduler in schedulers:
        root = tmp_path / name
        args = [*command, "--venue", "binance", *universe.span(),
                "--symbols", ",".join(universe.symbols), "--scheduler", scheduler,
                "--cache-dir", str(root / "cache"),
                "--output", str(root / "out" / "{symbol}.parquet"), "--quiet"]  # fmt: skip
        assert main(args) == 0
        results[name] = (_digests(root / "out"), _keys(root / "cache"))
    root = tmp_path / "single"
    for symbol in universe.symbols:
        args = [*command, "--venue", "binance", *universe.span(), "--symbol", symbol,
                "--cache-dir", str(root / "cache"),
                "--output", str(root / "out" / f"{symbol.lower()}.parquet"), "--quiet"]  # fmt: skip
        assert main(args) == 0
    single = (_digests(root / "out"), _keys(root / "cache"))
    assert sorted(single[0]) == [f"{s.lower()}.parquet" for s in sorted(universe.symbols)]
    assert results["sync"] == results["processes"] == results["tcp"] == single


def test_an_output_without_its_symbol_field_is_refused(universe, tmp_path: Path, capsys) -> None:
    args = ["bars", "build", "--type", "tick", "--threshold", "10", "--venue", "binance",
            *universe.span(), "--symbols", "BTCUSDT,ETHUSDT", "--output",
            str(tmp_path / "bars.parquet")]  # fmt: skip
    assert main(args) == 2
    assert "--output must hold {symbol}" in capsys.readouterr().err
    assert not (tmp_path / "bars.parquet").exists()


def test_download_universe_fills_the_raw_tier_as_single_runs_do(universe, tmp_path: Path) -> None:
    got = {}
    for name, how in (("universe", ["--symbols", ",".join(universe.symbols)]), ("single", [])):
        cache = tmp_path / name / "cache"
        if how:
            assert main(["download", *universe.span(), *how, "--cache-dir", str(cache)]) == 0
        for symbol in universe.symbols if not how else []:
            args = ["download", *universe.span(), "--symbol", symbol, "--cache-dir", str(cache)]
            assert main(args) == 0
        # the .sha256 sidecars remember a hash with the file's size and time: local, not data
        got[name] = {k: v for k, v in _digests(cache / "raw").items() if not k.endswith(".sha256")}
    assert got["universe"] == got["single"]
    assert len([n for n in got["single"] if n.endswith(".zip")]) == 3 * len(universe.symbols)


def _klines_csv(symbol: str, day: str) -> str:
    """A generated day of 1-minute klines (Binance's 12 columns, millisecond times)."""
    import datetime as dt

    t0 = int(dt.datetime.fromisoformat(f"{day}T00:00:00+00:00").timestamp() * 1000)
    base = 100 + len(symbol)
    rows = []
    for i in range(1440):
        o, c = base + (i % 7) * 0.5, base + (i % 5) * 0.5
        hi, lo = max(o, c) + 1, min(o, c) - 1
        rows.append(
            f"{t0 + i * 60_000},{o:.2f},{hi:.2f},{lo:.2f},{c:.2f},{1 + i % 3}.5,"
            f"{t0 + i * 60_000 + 59_999},{(1 + i % 3) * o:.4f},{10 + i % 4},1.0,{o:.4f},0"
        )
    return "\n".join(rows) + "\n"


def test_download_klines_universe_writes_one_candles_file_per_symbol(
    universe, tmp_path: Path
) -> None:
    days = ("2024-02-01", "2024-02-02")
    for symbol in ("BTCUSDT", "ETHUSDT"):
        for day in days:
            rel = f"data/spot/daily/klines/{symbol}/1m/{symbol}-1m-{day}.zip"
            universe.mirror.add_archive(universe.mirror.roots[0], rel, _klines_csv(symbol, day))
    span = ["--from", days[0], "--to", "2024-02-03", "--kind", "klines", "--interval", "1m"]
    got = {}
    universe_runs = [(s, ["--symbols", "BTCUSDT,ETHUSDT", "--scheduler", s])
                     for s in ("processes", "sync")]  # fmt: skip
    for name, how in (*universe_runs, ("single", [])):
        root = tmp_path / name
        dirs = ["--cache-dir", str(root / "cache"), "--output-dir", str(root / "k")]
        if how:
            assert main(["download", *span, *how, *dirs]) == 0
        for symbol in ("BTCUSDT", "ETHUSDT") if not how else ():
            assert main(["download", *span, "--symbol", symbol, *dirs]) == 0
        got[name] = _digests(root / "k")
    assert got["processes"] == got["sync"] == got["single"]
    assert sorted(got["single"]) == [
        "btc-usdt_binance_20240201-20240203_klines-1m.parquet",
        "eth-usdt_binance_20240201-20240203_klines-1m.parquet",
    ]


def test_a_download_universe_reports_a_symbol_without_files_and_fetches_the_others(
    universe, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # XRPUSDT is listed by the exchange info but the mirror holds no archive of it
    cache = tmp_path / "cache"
    args = ["download", *universe.span(), "--symbols", "BTCUSDT,XRPUSDT", "--scheduler", "sync",
            "--cache-dir", str(cache)]  # fmt: skip
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "error: XRPUSDT: binance: no file of XRPUSDT exists for the range on the server" in (
        captured.err
    ), captured.err
    assert "1 of 2 symbol(s) done; 1 failed" in captured.out
    zips = sorted(p.name for p in (cache / "raw").rglob("*.zip"))
    assert zips == [
        f"BTCUSDT-aggTrades-{d}.zip" for d in ("2024-02-01", "2024-02-02", "2024-02-03")
    ]
