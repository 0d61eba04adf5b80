"""Our own capture format end to end: a dropped diff, a reconnect, resyncs, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import zstandard

from seriesfactory.cli import main
from seriesfactory.raw.readers import read_records
from seriesfactory.schema import TRADE_DTYPE, RawRecord
from seriesfactory.sources._book_base import get_parser
from seriesfactory.transforms.book import nb
from seriesfactory.transforms.book.api import (
    MESSAGE_DTYPE,
    BookBuilder,
    BookResult,
    BookRows,
    parse_records,
    rebuild,
)
from seriesfactory.transforms.book.report import gap_table, ticker_check, verify_report


def _capture(shared_real: Path, tmp_path: Path) -> tuple[Path, int]:
    """The real spot file as a native capture (two rotated files), with faults added.

    The 200th diff after the snapshot is dropped (a sequence gap); the REST snapshot
    is repeated later (resync); a ``gap`` record marks a reconnect after that, and
    the snapshot comes once more. Returns the folder and the dropped diff's ``U``.
    """
    src = shared_real / "binance" / "hftbacktest" / "spot" / "btcusdt_20240808.gz"
    recs = list(read_records([src]))
    out: list[dict[str, object]] = []
    diffs = 0
    dropped = -1
    for i, r in enumerate(recs):
        if r.kind == "msg" and "depthUpdate" in r.data:
            diffs += 1
            if diffs == 400:
                dropped = json.loads(r.data)["data"]["U"]
                continue
        out.append(
            {"recv_ns": r.recv_ns, "conn": "c1", "venue": "binance", "kind": r.kind, "data": r.data}
        )
        if i in (len(recs) // 2, 3 * len(recs) // 4):
            if i == 3 * len(recs) // 4:
                out.append(
                    {
                        "recv_ns": r.recv_ns,
                        "conn": "c1",
                        "venue": "binance",
                        "kind": "gap",
                        "data": "",
                    }
                )
            out.append(
                {
                    "recv_ns": r.recv_ns,
                    "conn": "c2",
                    "venue": "binance",
                    "kind": "rest",
                    "url": "https://x/api/v3/depth?symbol=BTCUSDT&limit=1000",
                    "data": _snapshot_at(recs, i + 1),
                }
            )
    folder = tmp_path / "raw"
    folder.mkdir()
    half = len(out) // 2
    for k, part in enumerate((out[:half], out[half:])):
        text = "".join(json.dumps(x) + "\n" for x in part).encode()
        (folder / f"binance-{k:04d}.jsonl.zst").write_bytes(
            zstandard.ZstdCompressor().compress(text)
        )
    return folder, int(dropped)


def _snapshot_at(recs: list[RawRecord], i: int) -> str:
    """A REST body holding the uninterrupted book after the records before ``i``."""
    parser = get_parser("binance", "BTCUSDT")
    events, _ = parse_records(parser, recs[:i])
    b = BookBuilder(rule=parser.rule, price_decimals=2, interval_ns=0, depth=1)
    b.update(events)
    bids = [[repr(p), repr(q)] for p, q in b.levels(1)]
    asks = [[repr(p), repr(q)] for p, q in b.levels(-1)]
    return json.dumps({"lastUpdateId": int(b.state[nb.S_LAST]), "bids": bids, "asks": asks})


def test_native_capture_gap_and_resync(shared_real: Path, tmp_path: Path) -> None:
    folder, dropped = _capture(shared_real, tmp_path)
    files = sorted(str(p) for p in folder.iterdir())
    res = rebuild(files, venue="binance", symbol="BTCUSDT", interval_ns=100_000_000, depth=3)
    status = res.messages["status"]
    assert np.count_nonzero(status == nb.ST_GAP) == 1
    assert np.count_nonzero(status == nb.ST_MARKER) == 1
    assert np.count_nonzero(status == nb.ST_RESYNC) == 2
    gaps = gap_table(res).to_pylist()
    assert [g["kind"] for g in gaps] == ["sequence", "marker"]
    assert gaps[0]["expected_id"] == dropped and gaps[0]["got_id"] > dropped
    assert all(g["resync_ts"] is not None and g["duration_ns"] >= 0 for g in gaps)
    # between the gap and the resync no row is valid
    gap_ts, resync_ts = (
        int(gaps[0]["ts"].timestamp() * 1e9),
        int(gaps[0]["resync_ts"].timestamp() * 1e9),
    )
    inside = (res.rows.ts > gap_ts + 100_000_000) & (res.rows.ts < resync_ts)
    assert inside.any() and not res.rows.valid[inside].any()
    report = verify_report(res)
    assert report["resyncs"] == 2 and report["crossed_messages"] == 0
    # resynced from the true book, the rebuilt top agrees with every bookTicker it meets
    matches, mismatches, _ = ticker_check(res)
    assert mismatches == 0 and matches > 100
    clean = rebuild(
        [str(shared_real / "binance/hftbacktest/spot/btcusdt_20240808.gz")],
        venue="binance",
        symbol="BTCUSDT",
        interval_ns=100_000_000,
        depth=3,
    )
    np.testing.assert_array_equal(clean.rows.bid_qty[-50:], res.rows.bid_qty[-50:])


def test_cli_snapshots_and_verify(shared_real: Path, tmp_path: Path, capsys) -> None:
    folder, _ = _capture(shared_real, tmp_path)
    files = sorted(folder.iterdir())
    out = tmp_path / "book.parquet"
    args = [a for f in files for a in ("--input", str(f))]
    code = main(
        [
            "book",
            "snapshots",
            *args,
            "--venue",
            "binance",
            "--symbol",
            "BTCUSDT",
            "--interval",
            "1s",
            "--depth",
            "2",
            "--output",
            str(out),
        ]
    )
    assert code == 0
    table = pq.read_table(out)
    assert table.column_names[:9] == [
        "ts",
        "bid_px_01",
        "bid_px_02",
        "bid_sz_01",
        "bid_sz_02",
        "ask_px_01",
        "ask_px_02",
        "ask_sz_01",
        "ask_sz_02",
    ]
    assert table.column_names[9:] == [
        "book_valid",
        "trade_count",
        "buy_qty_base",
        "sell_qty_base",
        "vwap",
        "last_price",
    ]
    ts = table.column("ts").cast("int64").to_numpy()
    assert np.all(ts % 1_000_000_000 == 0) and np.all(np.diff(ts) == 1_000_000_000)
    assert pq.read_table(tmp_path / "book.gaps.parquet").num_rows == 2
    assert sum(table.column("trade_count").to_pylist()) > 0
    code = main(["book", "verify", *args, "--venue", "binance", "--symbol", "BTCUSDT"])
    assert code == 1  # gaps were found
    assert '"gap": 1' in capsys.readouterr().out
    assert (
        main(
            [
                "book",
                "snapshots",
                *args,
                "--venue",
                "binance",
                "--symbol",
                "BTCUSDT",
                "--interval",
                "soon",
                "--output",
                str(out),
            ]
        )
        == 2
    )
    assert main(["book", "verify", *args, "--venue", "nowhere", "--symbol", "X"]) == 2


def test_gap_table_one_row_per_gap_until_its_resync() -> None:
    """Hand-made statuses: a gap's later markers fold into it until the resync."""
    plan = [  # (ts, status, expect, first_id)
        (10, nb.ST_SNAPSHOT, -1, 100),
        (20, nb.ST_APPLIED, -1, 101),
        (30, nb.ST_GAP, 102, 105),  # the book finds a lost diff
        (31, nb.ST_MARKER, -1, 0),  # the recorder's record of the same gap: folded
        (40, nb.ST_UNSYNCED, -1, 106),
        (50, nb.ST_RESYNC, -1, 200),
        (60, nb.ST_MARKER, -1, 0),  # a cut connection: a new gap
        (65, nb.ST_MARKER, -1, 0),  # and its close while resyncing: folded
        (70, nb.ST_RESYNC, -1, 300),
        (80, nb.ST_GAP, 301, 303),  # never resynced
        (90, nb.ST_MARKER, -1, 0),  # folded
    ]
    msgs = np.zeros(len(plan), MESSAGE_DTYPE)
    for k, (ts, st, expect, first) in enumerate(plan):
        msgs[k]["ts"], msgs[k]["status"], msgs[k]["expect"], msgs[k]["first_id"] = (
            ts, st, expect, first,
        )  # fmt: skip
    res = BookResult(
        venue="binance", symbol="X", interval_ns=0, depth=1, price_decimals=2, messages=msgs,
        rows=BookRows.concat([], 1), trades=np.empty(0, TRADE_DTYPE), tickers=[], parser_stats={},
    )  # fmt: skip
    table = gap_table(res)
    got = {name: table.column(name).cast("int64").to_pylist() for name in ("ts", "resync_ts")}
    got |= {name: table.column(name).to_pylist() for name in table.column_names if name not in got}
    assert got["ts"] == [30, 60, 80]
    assert got["kind"] == ["sequence", "marker", "sequence"]
    assert got["expected_id"] == [102, None, 301] and got["got_id"] == [105, None, 303]
    assert got["resync_ts"] == [50, 70, None]
    assert got["duration_ns"] == [20, 10, None]
    assert verify_report(res)["statuses"]["gap_marker"] == 4  # every marker still counted
