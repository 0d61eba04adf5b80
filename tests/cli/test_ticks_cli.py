"""``seriesfactory ticks`` over a venue: the ``age_ns`` column and ``--on-bad-rows``.

The archives are served by the real local mirror of ``tests/conftest.py`` (127.0.0.1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from seriesfactory.cli import main
from seriesfactory.errors import DataError

REL = "data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-01.zip"
NAME = "btc-usdt_binance_20240101-20240102_ticks"
T0_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC
MS = 1_000_000  # ns

#: (ms after T0, price, qty, is_buyer_maker) in the documented spot format (no header).
TRADES = [
    (10, "100.00", "2", "true"),  # market sell: bid = 100, ask unknown -> 100; age 0
    (20, "101.00", "1", "false"),  # market buy: ask = 101, bid set at 10 ms -> age 10 ms
    (20, "101.50", "2", "false"),  # same ts, same side: grouped with the row above
    (50, "99.50", "4", "true"),  # sell: bid = 99.5, ask set at 20 ms -> age 30 ms
    (1000, "102.00", "1", "true"),  # sell above the ask: the ask is lifted to 102 -> age 0
    (1500, "101.00", "1", "false"),  # buy below the bid: the bid is lowered to 101 -> age 0
]
#: Hand-computed ticks (docs/sources.md "Trades to ticks"): ts, bid, ask, vbid, vask, age_ns.
EXPECTED = [
    (T0_MS * MS + 10 * MS, 100.0, 100.0, 200.0, 0.0, 0),
    (T0_MS * MS + 20 * MS, 100.0, 101.5, 0.0, 101.0 + 203.0, 10 * MS),
    (T0_MS * MS + 50 * MS, 99.5, 101.5, 398.0, 0.0, 30 * MS),
    (T0_MS * MS + 1000 * MS, 102.0, 102.0, 102.0, 0.0, 0),
    (T0_MS * MS + 1500 * MS, 101.0, 101.0, 0.0, 101.0, 0),
]


def _csv(bad: str | None = None) -> str:
    rows = [
        f"{i},{price},{qty},{i},{i},{T0_MS + ms},{maker},true"
        for i, (ms, price, qty, maker) in enumerate(TRADES)
    ]
    if bad is not None:
        rows.insert(2, bad)  # line 3 of the CSV
    return "\n".join(rows) + "\n"


def _ticks(tmp_path: Path, *extra: str) -> int:
    dirs = ["--cache-dir", str(tmp_path / "cache"), "--output-dir", str(tmp_path / "out")]
    span = ["--from", "2024-01-01", "--to", "2024-01-02"]
    return main(["ticks", "--sources", "binance", *span, *dirs, *extra])


@pytest.fixture
def served(mirror, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SERIESFACTORY_BINANCE_DATA_URL", mirror.url)
    return mirror


def _assert_expected(table: pa.Table) -> None:
    assert table.column_names == ["ts", "bid", "ask", "vbid", "vask", "age_ns"]
    got = list(
        zip(
            table.column("ts").cast(pa.int64()).to_pylist(),
            *(table.column(c).to_pylist() for c in ("bid", "ask", "vbid", "vask", "age_ns")),
            strict=True,
        )
    )
    assert got == EXPECTED


def test_venue_ticks_file_keeps_age_ns(served, tmp_path: Path) -> None:
    served.add_archive(served.roots[0], REL, _csv())
    assert _ticks(tmp_path) == 0
    table = pq.read_table(tmp_path / "out" / f"{NAME}.parquet")
    assert table.schema.field("age_ns").type == pa.int64()
    assert table.schema.field("ts").type == pa.timestamp("ns", tz="UTC")
    _assert_expected(table)
    # the CSV output has the same column, the second run is served by the ticks tier
    assert _ticks(tmp_path, "--out-format", "csv") == 0
    csv = pacsv.read_csv(tmp_path / "out" / f"{NAME}.csv")
    assert csv.column_names[-1] == "age_ns"
    assert csv.column("age_ns").to_pylist() == [t[-1] for t in EXPECTED]
    np.testing.assert_array_equal(csv.column("vask").to_numpy(), [t[4] for t in EXPECTED])


def test_bad_row_stops_by_default_and_is_skipped_and_reported_on_request(
    served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = "99,101.00,lots,99,99,1704067200020,false,true"
    served.add_archive(served.roots[0], REL, _csv(bad=bad))
    # bad data is a DataError: exit status 1 (errors.py: 2 is for bad arguments)
    assert _ticks(tmp_path) == DataError.exit_code == 1
    err = capsys.readouterr().err
    assert "BTCUSDT-aggTrades-2024-01-01.csv:3: non-numeric" in err and "--on-bad-rows" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()

    assert _ticks(tmp_path, "--on-bad-rows", "skip") == 0
    out = capsys.readouterr().out
    assert "skipped 1 malformed row(s) (--on-bad-rows=skip)" in out
    assert "5 ticks; wrote" in out
    _assert_expected(pq.read_table(tmp_path / "out" / f"{NAME}.parquet"))


def test_unknown_bad_row_policy_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _ticks(tmp_path, "--on-bad-rows", "ignore") == 2
    assert "--on-bad-rows 'ignore' is unknown; use error or skip" in capsys.readouterr().err
