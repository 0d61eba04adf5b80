"""Recorder and book engine together: record a local venue, rebuild the book from the capture.

The replay server serves the real Binance spot hftbacktest recording (MIT; its REST
snapshot and the diffs, trades and bookTickers after it) on 127.0.0.1; the real
recorder writes a native capture; ``seriesfactory book verify`` and ``book snapshots``
read that capture. A replay must equal the live run: every recorded bookTicker equals
the rebuilt top of book at the same ``u``, and the 100 ms snapshots equal those rebuilt
from the original hftbacktest file wherever both books are synced, also after a
dropped diff and a dropped connection once the recorder's fresh REST snapshot resyncs.
Every run is bounded (``duration_s``, timeouts on every wait).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow.parquet as pq
import pytest
from tests.replay_server import (
    BinanceDepthBook,
    Faults,
    ReplayServer,
    VenueFeed,
    feed_from_hftbacktest,
)

from seriesfactory.cli import main
from seriesfactory.raw.capture import read_records
from seriesfactory.raw.config import RecordConfig
from seriesfactory.raw.recorder import Recorder

MESSAGES = 2500  # about 2 minutes of exchange time: diffs, trades and bookTickers
FAST = {
    "reconnect_delay_s": 0.01,
    "reconnect_max_delay_s": 0.05,
    "stale_timeout_s": 2.0,
    "ping_interval_s": 1.0,
    "ping_timeout_s": 1.0,
    "heartbeat_s": 1.0,
    "flush_s": 0.1,
    "duration_s": 25.0,
}
BOOK_COLUMNS = ("bid_px", "bid_sz", "ask_px", "ask_sz")


@pytest.fixture
def source(shared_real: Path) -> Path:
    return shared_real / "binance" / "hftbacktest" / "spot" / "btcusdt_20240808.gz"


@pytest.fixture
def feed(source: Path) -> VenueFeed:
    return feed_from_hftbacktest(source, MESSAGES)


def _rest(book: BinanceDepthBook) -> Callable[[str], tuple[int, bytes]]:
    def rest(path: str) -> tuple[int, bytes]:
        if path.startswith("/api/v3/depth?symbol=BTCUSDT"):
            return 200, book.body()
        return 400, b'{"code":-1121,"msg":"Invalid symbol."}'

    return rest


def _record(tmp_path: Path, feed: VenueFeed, faults: list[Faults], sessions: int) -> Path:
    """Serve ``feed`` with ``faults``, record it to ``tmp_path``; return the capture folder."""
    assert feed.snapshot is not None
    book = BinanceDepthBook(feed.snapshot)
    server = ReplayServer(
        {"/stream": feed.messages}, faults=faults, rest=_rest(book), on_send=book.apply,
        pace=(20, 0.01),  # about 1.3 s for the feed: the first snapshot comes early
    )  # fmt: skip

    async def run() -> None:
        async with server:
            config = RecordConfig(
                venue="binance", symbols=("btcusdt",),
                streams=("depth@100ms", "trade", "bookTicker"), cache_dir=tmp_path,
                ws_url=server.url, api_url=server.http_url, **FAST,
            )  # fmt: skip
            recorder = Recorder(config)
            task = asyncio.create_task(recorder.run())
            await server.wait_exhausted(30)
            for _ in range(100):  # bounded: at most 10 s
                if len(server.sent) >= sessions:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.3)
            recorder.stop()
            await asyncio.wait_for(task, 10)

    asyncio.run(asyncio.wait_for(run(), timeout=60))
    assert len(server.sent) == sessions
    return tmp_path / "raw" / "stream"


def _captured(folder: Path) -> tuple[list[Path], list[dict[str, Any]]]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    assert files and not [p for p in files if p.name.endswith(".part")]
    return files, [rec for path in files for rec in read_records(path)]


def _cli(*args: str) -> int:
    return main(list(args))


def _verify(files: list[Path], tmp_path: Path) -> tuple[int, dict[str, Any]]:
    out = tmp_path / "verify.json"
    inputs = [a for f in files for a in ("--input", str(f))]
    code = _cli(
        "book", "verify", *inputs, "--input-format", "native", "--venue", "binance",
        "--symbol", "BTCUSDT", "--output", str(out),
    )  # fmt: skip
    report: dict[str, Any] = json.loads(out.read_text())
    return code, report


def _snapshots(files: list[Path], fmt: str, out: Path) -> dict[str, np.ndarray[Any, Any]]:
    inputs = [a for f in files for a in ("--input", str(f))]
    code = _cli(
        "book", "snapshots", *inputs, "--input-format", fmt, "--venue", "binance", "--symbol",
        "BTCUSDT", "--interval", "100ms", "--depth", "5", "--output", str(out),
    )  # fmt: skip
    assert code == 0
    table = pq.read_table(out)
    return {
        name: table.column(name).cast("int64").to_numpy()
        if name == "ts"
        else table.column(name).to_numpy(zero_copy_only=False)
        for name in table.column_names
    }


def _exact_from_ns(feed: VenueFeed, last_update_id: int) -> int:
    """Exchange time of the diff that ends at ``last_update_id`` (a REST snapshot's sync point).

    From there on the capture's book holds exactly the diffs with exchange time <= t;
    between the snapshot's receipt and that diff's arrival it may already hold diffs
    the recorder had not yet received when it asked for the snapshot.
    """
    for text in feed.messages:
        data = orjson.loads(text)["data"]
        if data.get("e") == "depthUpdate" and data["U"] <= last_update_id <= data["u"]:
            return int(data["E"]) * 1_000_000
    raise AssertionError(f"no diff covers lastUpdateId {last_update_id}")


def _sync_points(feed: VenueFeed, records: list[dict[str, Any]]) -> list[int]:
    """Per recorded REST snapshot, the exchange time from which the book is exact.

    The later of the snapshot's own sync point (:func:`_exact_from_ns`) and the latest
    exchange time received before it (rows up to there closed while still unsynced).
    """
    out, seen_ns = [], 0
    for rec in records:
        if rec["kind"] == "rest":
            last_id = orjson.loads(rec["data"])["lastUpdateId"]
            out.append(max(seen_ns, _exact_from_ns(feed, last_id)))
        elif rec["kind"] == "msg" and rec["data"].startswith('{"stream"'):
            data = orjson.loads(rec["data"])["data"]
            ms = data.get("T", data.get("E")) if data.get("e") == "trade" else data.get("E")
            seen_ns = max(seen_ns, int(ms or 0) * 1_000_000)
    return out


def _tickers_at_diffs(feed: VenueFeed, from_id: int) -> int:
    """bookTickers whose ``u`` is the last id of a diff at or after ``from_id``."""
    data = [orjson.loads(text)["data"] for text in feed.messages]
    diff_ids = {d["u"] for d in data if d.get("e") == "depthUpdate" and d["u"] >= from_id}
    return sum(1 for d in data if "e" not in d and "B" in d and d["u"] in diff_ids)


def _book_rows(
    snap: dict[str, np.ndarray[Any, Any]], ts: np.ndarray[Any, Any]
) -> np.ndarray[Any, Any]:
    idx = np.searchsorted(snap["ts"], ts)
    assert np.array_equal(snap["ts"][idx], ts)
    cols = [k for k in snap if k.startswith(BOOK_COLUMNS)]
    assert len(cols) == 20
    return np.stack([snap[c][idx] for c in cols], axis=1)


def _assert_equal_after(
    capture: dict[str, np.ndarray[Any, Any]],
    source: dict[str, np.ndarray[Any, Any]],
    windows: list[tuple[int, int]],
) -> int:
    """Capture rows inside ``windows`` are valid and equal the source rows; return the count."""
    ts = capture["ts"]
    inside = np.zeros(len(ts), bool)
    for lo, hi in windows:
        inside |= (ts >= lo) & (ts < hi)
    assert capture["book_valid"][inside].all(), ts[inside & ~capture["book_valid"]]
    chosen = ts[inside]
    assert source["book_valid"][np.searchsorted(source["ts"], chosen)].all()
    np.testing.assert_array_equal(_book_rows(capture, chosen), _book_rows(source, chosen))
    return int(inside.sum())


def test_clean_recording_rebuilds_the_live_book(
    tmp_path: Path, feed: VenueFeed, source: Path
) -> None:
    folder = _record(tmp_path, feed, [], sessions=1)
    files, records = _captured(folder)
    rest = [r for r in records if r["kind"] == "rest"]
    assert len(rest) == 1 and not [r for r in records if r["kind"] == "gap"]

    code, report = _verify(files, tmp_path)
    assert code == 0, report
    assert report["synced"] and report["valid_at_end"]
    assert report["crossed_messages"] == 0 and report["gaps"] == []
    assert report["statuses"]["snapshot"] == 1
    last_id = orjson.loads(rest[0]["data"])["lastUpdateId"]
    assert report["ticker_mismatches"] == 0
    assert report["ticker_matches"] == _tickers_at_diffs(feed, last_id) > 20

    capture = _snapshots(files, "native", tmp_path / "capture.parquet")
    original = _snapshots([source], "hftbacktest", tmp_path / "source.parquet")
    (sync_ns,) = _sync_points(feed, records)
    compared = _assert_equal_after(capture, original, [(sync_ns, int(capture["ts"][-1]))])
    assert compared > 150  # rows of 100 ms: the replayed span (about 24 s) after sync
    assert not capture["book_valid"][capture["ts"] < sync_ns - 1_000_000_000].any()


def test_gap_and_reconnect_resync_to_the_uninterrupted_book(
    tmp_path: Path, feed: VenueFeed, source: Path
) -> None:
    diffs = [i for i, m in enumerate(feed.messages) if "depthUpdate" in m]
    assert len(diffs) > 200
    drop = diffs[60]
    dropped = orjson.loads(feed.messages[drop])["data"]
    faults = [Faults(drop=frozenset({drop}), close_after=diffs[150])]
    folder = _record(tmp_path, feed, faults, sessions=2)
    files, records = _captured(folder)

    gaps = [orjson.loads(r["data"]) for r in records if r["kind"] == "gap"]
    assert gaps[0] == {
        "reason": "sequence", "key": "BTCUSDT", "expected": dropped["U"], "got": dropped["u"] + 1,
    }  # fmt: skip
    assert len(gaps) == 2 and "from_ns" in gaps[1]  # the reconnect
    rest = [orjson.loads(r["data"])["lastUpdateId"] for r in records if r["kind"] == "rest"]
    assert len(rest) == 3  # connect, resync after the gap, reconnect

    code, report = _verify(files, tmp_path)
    assert code == 1  # gaps are problems
    assert report["crossed_messages"] == 0 and report["ticker_mismatches"] == 0
    assert report["valid_at_end"] and report["resyncs"] >= 2
    seq = [g for g in report["gaps"] if g["kind"] == "sequence"]
    assert seq and seq[0]["expected_id"] == str(dropped["U"])
    assert seq[0]["got_id"] == str(dropped["u"] + 1) and seq[0]["resync_ts"] is not None
    # Two gaps: the lost diff (found by the book; the recorder's own record of it follows
    # before the resync, so it is part of that gap) and the cut connection (its close and
    # the reconnect record: one marker). The statuses count both markers.
    assert [g["kind"] for g in report["gaps"]] == ["sequence", "marker"]
    assert report["statuses"]["gap"] == 1 and report["statuses"]["gap_marker"] == 2

    capture = _snapshots(files, "native", tmp_path / "capture.parquet")
    original = _snapshots([source], "hftbacktest", tmp_path / "source.parquet")
    gap_ns = int(dropped["E"]) * 1_000_000
    sync = _sync_points(feed, records)
    first_session = records[: next(i for i, r in enumerate(records) if r["kind"] == "close")]
    close_ns = max(
        orjson.loads(r["data"])["data"]["E"] * 1_000_000
        for r in first_session
        if r["kind"] == "msg" and "depthUpdate" in r["data"]
    )
    assert sync[0] < gap_ns < sync[1] < close_ns < sync[2]
    # The book cannot know when the lost diff happened, only that it followed the
    # diff before it: rows from that diff's time on are not valid.
    before_ns = int(orjson.loads(feed.messages[diffs[59]])["data"]["E"]) * 1_000_000
    assert sync[0] < before_ns <= gap_ns
    windows = [(sync[0], before_ns), (sync[1], close_ns), (sync[2], int(capture["ts"][-1]))]
    assert _assert_equal_after(capture, original, windows) > 150
    # From each gap as verify reports it to its resync no row claims a valid book.
    ts, invalid = capture["ts"], 0
    for gap in report["gaps"]:
        lo, hi = (_iso_ns(gap[k]) for k in ("ts", "resync_ts"))
        assert lo < hi
        span = (ts >= lo) & (ts < hi)
        assert not capture["book_valid"][span].any(), gap
        invalid += int(span.sum())
    assert invalid > 0  # the gaps are visible in the grid
    # Rows between the diff before the lost one and the diff that reveals the gap.
    lost = (ts >= before_ns) & (ts < _iso_ns(seq[0]["ts"]))
    assert (ts[lost] >= gap_ns).any()  # the span holds rows after the lost diff
    assert not capture["book_valid"][lost].any(), ts[lost]


def _iso_ns(text: str) -> int:
    """``'2024-08-08 23:54:21.311000+00:00'`` (verify's JSON) -> ns since the epoch."""
    return int(np.datetime64(text.replace("+00:00", ""), "ns").astype(np.int64))
