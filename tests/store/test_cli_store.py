"""The store commands end to end: db up/down, status, bars build/export, export-trades, pipeline."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import psycopg
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from seriesfactory.cli import main
from seriesfactory.store.io import Store
from seriesfactory.transforms.bars import BarBuilder, BarSpec

from .conftest import CoinbaseTape

DAY = 1_704_067_200


def test_db_up_prints_a_url_and_down_stops_it(capsys) -> None:
    root = Path(tempfile.mkdtemp(prefix="sf-up-", dir="/tmp"))
    os.chmod(root, 0o755)
    data = root / "pgdata"
    try:
        assert main(["db", "up", "--data-dir", str(data)]) == 0
        url = capsys.readouterr().out.strip()
        assert url.startswith("postgresql://") and "@127.0.0.1:" in url
        assert (data / "PG_VERSION").is_file()
        assert main(["db", "up", "--data-dir", str(data)]) == 0  # already running: same URL
        assert capsys.readouterr().out.strip() == url
        assert main(["db", "init", "--database-url", url]) == 0
        assert main(["db", "status", "--database-url", url]) == 0
        out = capsys.readouterr().out
        assert "schema version: 1 (latest 1)" in out and "native monthly partitions" in out
        assert main(["db", "down", "--data-dir", str(data)]) == 0
        assert "stopped" in capsys.readouterr().out
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=2)
        assert main(["db", "down", "--data-dir", str(data)]) == 0
        assert "no server was running" in capsys.readouterr().out
    finally:
        main(["db", "down", "--data-dir", str(data)])
        shutil.rmtree(root, ignore_errors=True)


def test_db_up_refuses_a_folder_that_is_not_a_cluster(tmp_path: Path, capsys) -> None:
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "file.txt").write_text("x")
    code = main(["db", "up", "--data-dir", str(tmp_path / "junk")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: --data-dir") and err.count("\n") == 1


@pytest.fixture
def filled(mirror, db_url: str, tmp_path: Path) -> tuple[str, CoinbaseTape, Path]:
    tape = CoinbaseTape.generate("ETH-USD", DAY, DAY + 6 * 3600, 3000, seed=4)
    tape.serve(mirror)
    cfg = tmp_path / "seriesfactory.toml"
    cfg.write_text(
        f'coinbase_api_url = "{mirror.url}"\ncoinbase_requests_per_s = 1000000.0\n'
        f'database_url = "{db_url}"\nstore_pairs = ["ETH-USD"]\n'
        'store_bars = ["tick 100", "tib ewma 5 expected 50", "time 1h"]\n'
    )
    args = ["ingest", "coinbase", "ETH-USD", "--from", "2024-01-01", "--to", "2024-01-01T06:00Z"]
    assert main([*args, "--config", str(cfg), "--quiet"]) == 0
    return db_url, tape, cfg


def test_bars_build_and_export_from_the_store(filled, tmp_path: Path, capsys) -> None:
    db_url, _tape, cfg = filled
    build = ["bars", "build", "--store", "postgres", "--venue", "coinbase", "--symbol", "ETH-USD"]
    assert main([*build, "--type", "tick", "--threshold", "100", "--config", str(cfg)]) == 0
    assert "30 new tick_100 bars" in capsys.readouterr().out
    assert main([*build, "--type", "tick", "--threshold", "100", "--config", str(cfg)]) == 0
    assert "0 new tick_100 bars of coinbase ETH-USD (30 stored)" in capsys.readouterr().out
    assert (
        main(
            [
                *build,
                "--type",
                "tib",
                "--expected-ticks",
                "50",
                "--ewma-window",
                "5",
                "--config",
                str(cfg),
            ]
        )
        == 0
    )
    capsys.readouterr()
    # the stored bars equal a builder fed the stored trades in one go
    with psycopg.connect(db_url) as conn:
        trades = Store(conn).read_trades("coinbase", "ETH-USD")
    ref = BarBuilder(BarSpec(type="tib", expected_ticks=50, ewma_window=5))
    want = ref.update(
        trades.column("ts").cast("int64").to_numpy(),
        trades.column("price").to_numpy(),
        trades.column("qty").to_numpy(),
        trades.column("side").to_numpy(),
    ).to_arrow(ref.spec)
    out = tmp_path / "tib.parquet"
    assert (
        main(
            [
                "bars",
                "export",
                "--store",
                "postgres",
                "--type",
                "tib",
                "--pair",
                "ETH-USD",
                "--output",
                str(out),
                "--config",
                str(cfg),
            ]
        )
        == 0
    )
    got = pq.read_table(out)
    assert got.num_rows == want.num_rows > 0
    for name in ("time_start", "time_end", "open", "high", "low", "close", "volume", "tick_count"):
        assert got.column(name).equals(want.column(name)), name
    assert np.allclose(got.column("vwap").to_numpy(), want.column("vwap").to_numpy())
    csv = tmp_path / "tick.csv"
    assert (
        main(
            [
                "bars",
                "export",
                "--store",
                "postgres",
                "--type",
                "tick_100",
                "--symbol",
                "ETH-USD",
                "--format",
                "csv",
                "--output",
                str(csv),
                "--config",
                str(cfg),
            ]
        )
        == 0
    )
    assert pacsv.read_csv(csv).num_rows == 30


def test_export_trades_status_and_pipeline_run(filled, tmp_path: Path, capsys) -> None:
    db_url, tape, cfg = filled
    out = tmp_path / "trades.parquet"
    assert (
        main(
            [
                "db",
                "export-trades",
                "--venue",
                "coinbase",
                "--symbol",
                "ETH-USD",
                "--output",
                str(out),
                "--database-url",
                db_url,
            ]
        )
        == 0
    )
    table = pq.read_table(out)
    assert table.num_rows == 3000
    assert table.column("trade_id").to_pylist() == [int(i) for i in tape.ids]
    assert (
        main(
            [
                "db",
                "export-trades",
                "--venue",
                "coinbase",
                "--symbol",
                "ETH-USD",
                "--output",
                str(out),
                "--database-url",
                db_url,
            ]
        )
        == 2
    )  # exists, no --overwrite
    capsys.readouterr()
    # a gap: nothing between 06:00 and the one trade at 09:00
    tape.add(DAY + 9 * 3600 + 0.5)
    assert main(["pipeline", "run", "--config", str(cfg), "--from", "2024-01-01"]) == 0
    capsys.readouterr()
    assert main(["status", "--config", str(cfg), "--gap", "2h"]) == 0
    out_text = capsys.readouterr().out
    assert "coinbase ETH-USD: 3001 trades, 2024-01-01T00:" in out_text
    assert "bars tick_100: 30" in out_text and "bars tib_ewma5_e50:" in out_text
    assert "bars time_1h: 6" in out_text
    assert "heartbeat: last poll" in out_text and "gap: 2024-01-01T05:" in out_text
    assert db_url.split("@")[1] in out_text


def test_store_options_refuse_bad_input_in_one_line(db_url: str, tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "sf.toml"
    cfg.write_text(f'database_url = "{db_url}"\nstore_bars = ["tick 500", "tib ewma 15 oops"]\n')
    cases = [
        ["pipeline", "schedule", "--config", str(cfg)],  # no store_pairs
        ["daemon", "ETH-USD", "--config", str(cfg)],  # a malformed store_bars entry
        ["bars", "export", "--store", "sqlite", "--type", "tick", "--output", "x.parquet"],
        ["bars", "build", "--store", "postgres", "--type", "tick", "--threshold", "5",
         "--symbol", "ETH-USD", "--database-url", db_url],  # no --venue
        ["db", "export-trades", "--venue", "coinbase", "--symbol", "ETH-USD", "--output",
         str(tmp_path / "t.csv"), "--database-url", db_url],  # Parquet only
    ]  # fmt: skip
    for args in cases:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, (args, err)


def test_db_up_refuses_data_dirs_it_cannot_use_in_one_line(tmp_path: Path, capsys) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    long_dir = tmp_path / ("d" * 120)
    cases = [
        (afile, f"--data-dir {afile} exists and is not a folder"),
        (long_dir, "path too long for the server's unix socket"),
    ]
    if os.geteuid() == 0:  # as root the server runs as 'postgres', who cannot enter tmp_path
        private = tmp_path / "private"
        private.mkdir(mode=0o700)
        cases.append((private / "pg", "is not reachable by the 'postgres' user"))
    for data_dir, needle in cases:
        assert main(["db", "up", "--data-dir", str(data_dir)]) == 2, data_dir
        err = capsys.readouterr().err
        assert err.startswith("error: --data-dir ") and needle in err, err
        assert err.count("\n") == 1
    assert not long_dir.exists() and afile.read_text() == "x"


def test_db_up_on_a_port_in_use_says_why_the_server_did_not_start(pg, capsys) -> None:
    root = Path(tempfile.mkdtemp(prefix="sf-busy-", dir="/tmp"))
    os.chmod(root, 0o755)
    try:
        code = main(["db", "up", "--data-dir", str(root / "pg"), "--port", str(pg.port)])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith(f"error: the server in {root / 'pg'} did not start")
        assert err.count("\n") == 1, err
        assert main(["db", "down", "--data-dir", str(root / "pg")]) == 0
        assert "no server was running" in capsys.readouterr().out
    finally:
        main(["db", "down", "--data-dir", str(root / "pg")])
        shutil.rmtree(root, ignore_errors=True)
