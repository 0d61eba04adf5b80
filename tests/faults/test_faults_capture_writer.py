"""The recorder and ``book live`` when storage fails or the process is killed.

* A full disk, a read-only folder or a folder that cannot exist stops ``record`` at
  once with one ``error:`` line naming the file and exit 1; what was written before
  stays readable (never a reconnect loop, never "recorded 0 messages", exit 0).
* A malformed venue URL is a configuration error at start (exit 2).
* ``--duration`` ending with nothing recorded is exit 1, saying why.
* ``kill -9`` of ``record`` at seeded random points loses nothing that was flushed
  (at most the last flush interval), and a rerun beside the killed run's ``.part``
  reads as one capture; ``kill -9`` of ``book live`` leaves only whole parts, and a
  rerun gives exactly the batch ``book snapshots`` rows.

The venue is the local replay server (127.0.0.1) serving the real Binance spot
hftbacktest recording from ``../shared``. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.replay_server import BinanceDepthBook, ReplayServer, feed_from_hftbacktest

from seriesfactory.raw.capture import CaptureWriter
from seriesfactory.raw.readers import ReadReport, read_records
from seriesfactory.transforms.book.api import rebuild
from seriesfactory.transforms.book.report import snapshot_table

CLI = ["-c", "import sys; from seriesfactory.cli import main; sys.exit(main())"]
SEEDS = (1, 2, 3)  # kill points per command: bounded


def _spot(shared_real: Path) -> Path:
    return shared_real / "binance" / "hftbacktest" / "spot" / "btcusdt_20240808.gz"


async def _cli(*args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    import os
    import sys

    return await asyncio.create_subprocess_exec(
        sys.executable, *CLI, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


def _record_args(cache: Path, server: ReplayServer, *extra: str) -> list[str]:
    return ["record", "--venue", "binance", "--symbol", "btcusdt",
            "--streams", "trade,bookTicker", "--cache-dir", str(cache),
            "--rotate-hours", "1000",  # no rotation by the clock within a test
            "--ws-url", server.url, "--api-url", server.http_url, *extra]  # fmt: skip


def _msgs(root: Path) -> tuple[list[str], ReadReport]:
    files = sorted(p for p in root.rglob("*.jsonl.zst*") if p.is_file())
    report = ReadReport()
    recs = list(read_records(files, "native", report)) if files else []
    return [r.data for r in recs if r.kind == "msg"], report


async def _wait_sent(server: ReplayServer, count: int, limit_s: float = 40.0) -> None:
    for _ in range(int(limit_s * 10)):  # bounded
        if server.sent and len(server.sent[0]) >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the recorder never received enough messages")


def _storage_failure_run(
    shared_real: Path, cache: Path
) -> tuple[int, str, list[str], ReplayServer]:
    feed = feed_from_hftbacktest(_spot(shared_real), 20000)
    server = ReplayServer({"/stream": feed.messages}, pace=(10, 0.005))

    async def main() -> tuple[int, str]:
        async with server:
            proc = await _cli(*_record_args(cache, server, "--duration", "60"))
            _, err = await asyncio.wait_for(proc.communicate(), 60)
            assert proc.returncode is not None
            return proc.returncode, err.decode()

    code, err = asyncio.run(main())
    return code, err, server.sent[0] if server.sent else [], server


def test_full_disk_stops_record_with_one_line_and_keeps_what_was_written(
    shared_real: Path, small_disk: Callable[[str], Path], one_error_line: Callable[[str], str]
) -> None:
    disk = small_disk("384k")
    code, err, sent, _ = _storage_failure_run(shared_real, disk / "cache")
    assert code == 1, err
    line = one_error_line(err)
    assert "No space left on device" in line and str(disk) in line, line
    msgs, _ = _msgs(disk / "cache")
    assert msgs, "nothing written before the disk filled"
    assert msgs == sent[: len(msgs)]  # what is there is exactly what arrived, in order


def test_read_only_and_impossible_folders_stop_record_at_once(
    shared_real: Path, tmp_path: Path, read_only_disk: Callable[..., Path],
    one_error_line: Callable[[str], str],
) -> None:  # fmt: skip
    ro = read_only_disk(lambda p: None)
    code, err, _, _ = _storage_failure_run(shared_real, ro / "cache")
    assert code == 1, err
    assert "Read-only file system" in one_error_line(err)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, err, _, _ = _storage_failure_run(shared_real, blocker / "cache")
    assert code == 1, err
    line = one_error_line(err)
    assert "Not a directory" in line and str(blocker) in line, line


@pytest.mark.parametrize("url", ["garbage", "http://127.0.0.1:9/x", "ws://", "ws://h:99999"])
def test_a_malformed_venue_url_is_a_config_error_at_start(
    url: str, tmp_path: Path, one_error_line: Callable[[str], str]
) -> None:
    async def main() -> tuple[int, str]:
        proc = await _cli("record", "--venue", "binance", "--symbol", "btcusdt",
                          "--cache-dir", str(tmp_path), "--duration", "30",
                          env={"SERIESFACTORY_BINANCE_WS_URL": url})  # fmt: skip
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        return proc.returncode or 0, err.decode()

    code, err = asyncio.run(main())
    assert code == 2, err
    assert "SERIESFACTORY_BINANCE_WS_URL" in one_error_line(err)
    assert not (tmp_path / "raw").exists()


def test_duration_ending_with_nothing_recorded_is_an_error(
    tmp_path: Path, one_error_line: Callable[[str], str]
) -> None:
    async def closed_port() -> str:
        server = ReplayServer({"*": []})
        async with server:
            return server.url

    url = asyncio.run(closed_port())

    async def main() -> tuple[int, str]:
        proc = await _cli("record", "--venue", "bybit", "--symbol", "BTCUSDT", "--ws-url", url,
                          "--cache-dir", str(tmp_path), "--reconnect-delay", "0.05",
                          "--duration", "1.5")  # fmt: skip
        _, err = await asyncio.wait_for(proc.communicate(), 30)
        return proc.returncode or 0, err.decode()

    code, err = asyncio.run(main())
    assert code == 1, err
    line = one_error_line(err)
    assert "recorded nothing" in line and "ConnectionRefused" in line, line


@pytest.mark.parametrize("seed", SEEDS)
def test_kill_9_of_record_at_a_random_point_loses_nothing_flushed(
    seed: int, shared_real: Path, tmp_path: Path
) -> None:
    rng = random.Random(seed)
    feed = feed_from_hftbacktest(_spot(shared_real), 8000)
    assert feed.snapshot is not None
    book = BinanceDepthBook(feed.snapshot)
    server = ReplayServer({"/stream": feed.messages}, rest=lambda _p: (200, book.body()),
                          on_send=book.apply, pace=(10, 0.01))  # fmt: skip
    cache = tmp_path / "cache"
    delay = rng.uniform(0.2, 2.5)

    async def main() -> int:
        async with server:
            proc = await _cli(*_record_args(cache, server, "--duration", "60"))
            await _wait_sent(server, 300)
            await asyncio.sleep(delay)
            sent_before = len(server.sent[0])
            await asyncio.sleep(1.2)  # more than one flush interval (1 s)
            proc.kill()
            await asyncio.wait_for(proc.wait(), 20)
            # rerun into the same cache: new files beside the killed run's .part
            again = await _cli(*_record_args(cache, server, "--duration", "1.5"))
            _, err = await asyncio.wait_for(again.communicate(), 40)
            assert again.returncode == 0, err.decode()
            return sent_before

    sent_before = asyncio.run(main())
    (part,) = list(cache.rglob("*.part"))  # the killed run's live file, never renamed as whole
    first, _ = _msgs_of([part])
    assert len(first) >= sent_before  # all but (at most) the last flush interval survived
    assert first == server.sent[0][: len(first)]
    later = [m for session in server.sent[1:] for m in session]
    others = sorted(p for p in cache.rglob("*.jsonl.zst") if p.is_file())
    second, _ = _msgs_of(others)
    assert second and second == later[: len(second)]
    whole, report = _msgs(cache)  # the folder reads as one capture
    assert whole == first + second
    assert not report.bad_frames  # a torn end of the .part is the only damage, and allowed


def _msgs_of(files: list[Path]) -> tuple[list[str], ReadReport]:
    report = ReadReport()
    return [r.data for r in read_records(files, "native", report) if r.kind == "msg"], report


def _capture(tmp_path: Path, shared_real: Path, lines: int = 4000) -> Path:
    import gzip

    folder = tmp_path / "capture"
    writer = CaptureWriter(folder, venue="binance", key="btcusdt", rotate_s=1e9, flush_s=1e6)
    with gzip.open(_spot(shared_real), "rt") as fh:
        for i, line in enumerate(fh):
            if i == lines:
                break
            ns, _, body = line.rstrip("\n").partition(" ")
            kind = "msg" if body.startswith('{"stream"') else "rest"
            writer.write(kind, body, conn="binance-0", recv_ns=int(ns))  # type: ignore[arg-type]
    writer.close()
    return writer.completed[0].parent


def _live_args(folder: Path, out: Path, duration: str) -> list[str]:
    return ["book", "live", "--input-dir", str(folder), "--venue", "binance",
            "--symbol", "BTCUSDT", "--price-decimals", "2", "--output-dir", str(out),
            "--depth", "5", "--poll", "50ms", "--part", "100ms",
            "--duration", duration]  # fmt: skip


def _parts(out: Path) -> pa.Table | None:
    files = sorted(out.glob("*.parquet"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    return pa.concat_tables([pq.read_table(p) for p in files]) if files else None


@pytest.mark.parametrize("seed", SEEDS)
def test_kill_9_of_book_live_leaves_whole_parts_and_a_rerun_equals_batch(
    seed: int, shared_real: Path, tmp_path: Path
) -> None:
    folder = _capture(tmp_path, shared_real)
    out = tmp_path / "out"
    delay = random.Random(seed).uniform(0.5, 3.0)

    async def main() -> None:
        proc = await _cli(*_live_args(folder, out, "30s"))
        await asyncio.sleep(delay)
        proc.kill()
        await asyncio.wait_for(proc.wait(), 20)
        again = await _cli(*_live_args(folder, tmp_path / "again", "2s"))
        _, err = await asyncio.wait_for(again.communicate(), 60)
        assert again.returncode == 0, err.decode()

    asyncio.run(main())
    if out.exists():  # every visible part is whole (atomic rename); temps are hidden names
        for part in out.glob("*.parquet"):
            pq.read_table(part)
    batch = rebuild(
        [str(p) for p in sorted(folder.glob("*.jsonl.zst"))],
        venue="binance", symbol="BTCUSDT", price_decimals=2, depth=5,
    )  # fmt: skip
    expected = snapshot_table(batch).drop_columns(
        [c for c in snapshot_table(batch).column_names if c.startswith("trade")]
    )
    got = _parts(tmp_path / "again")
    assert got is not None
    got = got.drop_columns([c for c in got.column_names if c.startswith("trade")])
    assert got.column_names == expected.column_names and got.num_rows == expected.num_rows
    for name in expected.column_names:  # NaN (an absent level) equals NaN here
        np.testing.assert_array_equal(got[name].to_numpy(), expected[name].to_numpy(), name)
