"""``book`` answers only the question asked: a symbol or venue absent from the input is an error.

The captures are cut from the real Binance spot hftbacktest recording (BTCUSDT only,
MIT, in ``../shared``): its REST snapshot carries no symbol, so before this was fixed
``book verify --symbol ETHUSDT`` took it as an ETHUSDT book and said ``synced: true``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import zstandard

from seriesfactory.errors import DataError
from seriesfactory.raw.capture import CaptureWriter
from seriesfactory.raw.follow import NativeFollower

Cli = Callable[..., tuple[int, str, str]]
Line = Callable[[str], str]
LINES = 3000


def _lines(shared_real: Path) -> list[str]:
    src = shared_real / "binance" / "hftbacktest" / "spot" / "btcusdt_20240808.gz"
    with gzip.open(src, "rt") as fh:
        return [next(fh).rstrip("\n") for _ in range(LINES)]


@pytest.fixture
def hft(tmp_path: Path, shared_real: Path) -> Path:
    path = tmp_path / "btcusdt.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("".join(line + "\n" for line in _lines(shared_real)))
    return path


@pytest.fixture
def native(tmp_path: Path, shared_real: Path) -> Path:
    writer = CaptureWriter(tmp_path / "cap", venue="binance", key="btcusdt", rotate_s=1e9)
    for line in _lines(shared_real):
        ns, _, body = line.partition(" ")
        kind = "msg" if body.startswith('{"stream"') else "rest"
        writer.write(kind, body, conn="binance-0", recv_ns=int(ns))  # type: ignore[arg-type]
    writer.close()
    return writer.completed[0]


@pytest.mark.parametrize("command", ["verify", "snapshots"])
def test_a_symbol_absent_from_the_input_is_an_error(
    command: str, hft: Path, tmp_path: Path, cli: Cli, one_error_line: Line
) -> None:
    out = tmp_path / "eth.parquet"
    extra = ["--output", str(out)] if command == "snapshots" else []
    code, stdout, err = cli("book", command, "--input", str(hft), "--venue", "binance",
                            "--symbol", "ETHUSDT", *extra)  # fmt: skip
    assert code == 2, err
    assert "--symbol 'ETHUSDT': no message for it" in one_error_line(err)
    assert '"synced"' not in stdout and not out.exists()
    code, stdout, err = cli("book", "verify", "--input", str(hft), "--venue", "binance",
                            "--symbol", "BTCUSDT")  # fmt: skip
    assert code == 0 and json.loads(stdout)["synced"] is True  # the right question still passes


def test_a_venue_other_than_the_capture_names_is_an_error(
    native: Path, cli: Cli, one_error_line: Line
) -> None:
    code, _, err = cli("book", "verify", "--input", str(native), "--venue", "binance-usdm",
                       "--symbol", "BTCUSDT")  # fmt: skip
    assert code == 2, err
    line = one_error_line(err)
    assert "recorded from 'binance'" in line and "--venue binance" in line


def test_book_live_with_an_absent_symbol_is_an_error(
    native: Path, tmp_path: Path, cli: Cli, one_error_line: Line
) -> None:
    code, _, err = cli("book", "live", "--input-dir", str(native.parent), "--venue", "binance",
                       "--symbol", "ETHUSDT", "--price-decimals", "2", "--output-dir",
                       str(tmp_path / "parts"), "--poll", "50ms",
                       "--duration", "300ms")  # fmt: skip
    assert code == 2, err
    assert "no message for symbol 'ETHUSDT'" in one_error_line(err)


def test_snapshots_honour_the_csv_suffix_with_sidecars(
    native: Path, tmp_path: Path, cli: Cli, one_error_line: Line
) -> None:
    out = tmp_path / "bk.csv"
    code, _, err = cli("book", "snapshots", "--input", str(native), "--venue", "binance",
                       "--symbol", "BTCUSDT", "--output", str(out), "--depth", "2")  # fmt: skip
    assert code == 0, err
    table = pacsv.read_csv(out)
    assert table.column_names[:3] == ["ts", "bid_px_01", "bid_px_02"] and table.num_rows > 100
    for path in (out, tmp_path / "bk.gaps.csv"):
        side = json.loads(path.with_name(path.name + ".meta.json").read_text())
        assert side["seriesfactory.data_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert json.loads(side["seriesfactory.book"])["symbol"] == "BTCUSDT"
    parquet = tmp_path / "bk.parquet"
    code, _, err = cli("book", "snapshots", "--input", str(native), "--venue", "binance",
                       "--symbol", "BTCUSDT", "--output", str(parquet), "--depth", "2")  # fmt: skip
    assert code == 0 and pq.read_table(parquet).num_rows == table.num_rows
    code, _, err = cli("book", "snapshots", "--input", str(native), "--venue", "binance",
                       "--symbol", "BTCUSDT", "--output", str(tmp_path / "x.csv"),
                       "--out-format", "parquet")  # fmt: skip
    assert code == 2 and "make them agree" in one_error_line(err)
    assert not (tmp_path / "x.csv").exists()


# -- book live: the follower ----------------------------------------------------------------------
def _frames(records: list[str]) -> list[bytes]:
    cctx = zstandard.ZstdCompressor(write_checksum=True)
    return [
        cctx.compress("".join(records[i : i + 50]).encode()) for i in range(0, len(records), 50)
    ]


def _records(shared_real: Path) -> list[str]:
    out = []
    for line in _lines(shared_real):
        ns, _, body = line.partition(" ")
        kind = "msg" if body.startswith('{"stream"') else "rest"
        rec = {"recv_ns": int(ns), "conn": "binance-0", "venue": "binance", "kind": kind,
               "data": body}  # fmt: skip
        out.append(json.dumps(rec) + "\n")
    return out


def test_follower_reads_the_live_part_file_and_carries_on_after_its_rename(
    tmp_path: Path, shared_real: Path
) -> None:
    records = _records(shared_real)
    frames = _frames(records)
    live = tmp_path / "binance_000000_0000.jsonl.zst.part"
    live.write_bytes(b"".join(frames[:10]))
    follower = NativeFollower(tmp_path)
    got = [r.data for r in follower.poll()]
    assert len(got) == 500  # the live file is followed while it is written
    with open(live, "ab") as fh:
        fh.write(b"".join(frames[10:]))
    live.rename(tmp_path / "binance_000000_0000.jsonl.zst")  # rotated: renamed as whole
    got += [r.data for r in follower.poll()]
    assert got == [json.loads(r)["data"] for r in records]


def test_follower_damaged_frame_error_or_skip(tmp_path: Path, shared_real: Path) -> None:
    records = _records(shared_real)
    frames = _frames(records)
    data = bytearray(b"".join(frames))
    start = sum(len(f) for f in frames[:7])
    data[start + len(frames[7]) // 2] ^= 0x44  # inside frame 7
    path = tmp_path / "binance_000000_0000.jsonl.zst"
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=f"damaged zstd frame at byte {start}"):
        NativeFollower(tmp_path).poll()
    follower = NativeFollower(tmp_path, on_bad_frames="skip")
    got = [r.data for r in follower.poll()]
    follower.close()
    want = [json.loads(r)["data"] for r in records]
    assert [b[1] for b in follower.bad_frames] == [start]
    assert got[-1] == want[-1] and len(want) - 50 <= len(got) < len(want)
    assert all(g in want for g in got)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_of_book_snapshots_then_rerun_is_byte_identical(
    seed: int, native: Path, tmp_path: Path, cli: Cli
) -> None:
    import random
    import subprocess
    import sys
    import time

    clean = tmp_path / "clean.csv"
    args = ["book", "snapshots", "--input", str(native), "--venue", "binance",
            "--symbol", "BTCUSDT", "--depth", "3"]  # fmt: skip
    assert cli(*args, "--output", str(clean))[0] == 0
    out = tmp_path / "out" / "bk.csv"
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from seriesfactory.cli import main; sys.exit(main())",
         *args, "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(random.Random(seed).uniform(0.1, 2.0))
    proc.kill()
    proc.wait(timeout=20)
    if out.exists():  # finished before the kill: then whole, with its sidecar
        assert out.read_bytes() == clean.read_bytes()
        assert out.with_name(out.name + ".meta.json").exists()
    assert cli(*args, "--output", str(out), "--overwrite")[0] == 0
    assert out.read_bytes() == clean.read_bytes()
    side = json.loads(out.with_name(out.name + ".meta.json").read_text())
    assert side["seriesfactory.data_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
