"""Damaged captures: flipped bytes and truncation in every capture format.

The promise (``docs/reliability.md``): damage is detected and is either a clear
error naming the file and byte offset (or line), or, with ``--on-bad-frames skip``,
skipped, counted and reported while the frames after it still read. Only the end of
a ``.part`` file or of the newest input may be torn, and a torn end is reported. A
read is never silently different from what was written.

The captures are built from the real Binance spot hftbacktest recording (MIT, in
``../shared``); flips are at seeded random offsets, a bounded number per format.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seriesfactory.errors import DataError
from seriesfactory.raw.capture import CaptureWriter
from seriesfactory.raw.readers import ReadReport, read_records
from seriesfactory.schema.raw import RawRecord

LINES = 3000  # hftbacktest lines: diffs, trades and the REST snapshot
FRAME_RECORDS = 100  # records per zstd frame in the native capture
FLIPS = 24  # seeded flips per format: bounded


def _hft_lines(shared_real: Path) -> list[str]:
    src = shared_real / "binance" / "hftbacktest" / "spot" / "btcusdt_20240808.gz"
    out = []
    with gzip.open(src, "rt") as fh:
        for line in fh:
            out.append(line.rstrip("\n"))
            if len(out) == LINES:
                break
    return out


SHARED_REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"


@pytest.fixture(scope="module")
def hft_lines() -> list[str]:
    if not SHARED_REAL.is_dir():
        pytest.skip(f"{SHARED_REAL} is absent: the recorded real data lives only in ../shared")
    return _hft_lines(SHARED_REAL)


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory, hft_lines: list[str]) -> Path:
    """A finished native capture of many zstd frames (the recorder's own writer)."""
    root = tmp_path_factory.mktemp("native")
    writer = CaptureWriter(root, venue="binance", key="btcusdt", rotate_s=1e9, flush_s=1e6)
    for i, line in enumerate(hft_lines):
        ns, _, body = line.partition(" ")
        kind = "msg" if body.startswith('{"stream"') else "rest"
        writer.write(kind, body, conn="binance-0", recv_ns=int(ns))  # type: ignore[arg-type]
        if i % FRAME_RECORDS == FRAME_RECORDS - 1:
            writer.flush()
    writer.close()
    (path,) = writer.completed
    return path


Text = tuple[int, str, str]


def _texts(recs: list[RawRecord]) -> list[Text]:
    return [(r.recv_ns, r.kind, r.data) for r in recs]


def _read(
    paths: list[Path], mode: str = "error", fmt: str = "auto"
) -> tuple[list[Text], ReadReport]:
    report = ReadReport()
    recs = list(read_records(paths, fmt, report, on_bad_frames=mode))
    return _texts(recs), report


def _is_subsequence(part: list[Text], whole: list[Text]) -> bool:
    it = iter(whole)
    return all(any(x == y for y in it) for x in part)


def _all_text(path: Path) -> bytes:
    """Every frame of a zstd file, decoded."""
    import zstandard

    with open(path, "rb") as fh:
        reader = zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True)
        return reader.read()


def _flip(src: Path, dst: Path, offset: int) -> Path:
    data = bytearray(src.read_bytes())
    data[offset] ^= 0x5A
    dst.write_bytes(bytes(data))
    return dst


# -- native zstd ----------------------------------------------------------------------------------
def test_native_flipped_byte_is_detected_never_silently_different(
    native: Path, tmp_path: Path
) -> None:
    original, _ = _read([native])
    assert len(original) == LINES
    rng = random.Random(17)
    size = native.stat().st_size
    outcomes = set()
    for n in range(FLIPS):
        (tmp_path / f"f{n}").mkdir()
        damaged = _flip(native, tmp_path / f"f{n}" / native.name, rng.randrange(size))
        try:
            got, report = _read([damaged])
        except DataError as exc:
            assert str(damaged) in str(exc) and "at byte" in str(exc), exc
            outcomes.add("error")
        else:  # a flip in the last frame of the newest file reads as a torn end, reported
            assert got == original[: len(got)]
            assert got == original or report.truncated, "a damaged read went unreported"
            outcomes.add("torn" if got != original else "same")
        got, report = _read([damaged], "skip")
        assert _is_subsequence(got, original)
        assert got == original or report.bad_frames or report.truncated
    assert "error" in outcomes


def test_native_bad_middle_frame_error_names_offset_skip_reads_the_rest(
    native: Path, tmp_path: Path, cli: Callable[..., tuple[int, str, str]],
    one_error_line: Callable[[str], str],
) -> None:  # fmt: skip
    original, _ = _read([native])
    size = native.stat().st_size
    damaged = _flip(native, tmp_path / native.name, size // 3)
    with pytest.raises(DataError, match=r"damaged zstd frame at byte \d+") as info:
        _read([damaged])
    assert str(damaged) in str(info.value)
    got, report = _read([damaged], "skip")
    assert len(report.bad_frames) == 1
    assert report.bad_frames[0][0] == str(damaged)
    assert len(original) - FRAME_RECORDS <= len(got) < len(original)
    assert got[-1] == original[-1]  # the frames after the damage still read
    assert _is_subsequence(got, original)
    # the CLI: error names file and offset; skip reports the count on standard error
    base = ["book", "snapshots", "--input", str(damaged), "--venue", "binance",
            "--symbol", "BTCUSDT", "--output", str(tmp_path / "bk.parquet")]  # fmt: skip
    code, _, err = cli(*base)
    assert code == 1
    line = one_error_line(err)
    assert str(damaged) in line and "at byte" in line and "--on-bad-frames skip" in line
    code, _, err = cli(*base, "--on-bad-frames", "skip")
    assert code == 0, err
    assert "1 damaged frame(s) skipped" in err
    code, out, err = cli(
        "book", "verify", "--input", str(damaged), "--venue", "binance",
        "--symbol", "BTCUSDT", "--on-bad-frames", "skip",
    )  # fmt: skip
    assert code == 1  # skipped damage is reported, and verify does not pass it
    assert len(json.loads(out)["read"]["bad_frames"]) == 1


def test_native_cut_short_only_the_newest_file_may_be_torn(native: Path, tmp_path: Path) -> None:
    original, _ = _read([native])
    data = native.read_bytes()
    older = tmp_path / native.name  # e.g. binance_000000_0000.jsonl.zst
    newer = tmp_path / native.name.replace("_0000.", "_0001.")
    older.write_bytes(data[: len(data) * 2 // 3])
    shutil.copy(native, newer)
    with pytest.raises(DataError, match="cut short") as info:
        _read([older, newer])
    assert str(older) in str(info.value)
    got, report = _read([older, newer], "skip")
    assert report.bad_frames and got[-len(original) :] == original
    # as the newest (or a .part) file, the same cut is a torn end: reported, not fatal
    for torn in (older, older.rename(tmp_path / (native.name + ".part"))):
        if not torn.exists():
            continue
        got, report = _read([torn])
        assert report.truncated and got == original[: len(got)] and len(got) > LINES // 2


def test_empty_part_file_is_skipped_with_a_warning(native: Path, tmp_path: Path) -> None:
    empty = tmp_path / native.name.replace("_0000.", "_0001.")
    empty = empty.with_name(empty.name + ".part")
    empty.write_bytes(b"")
    original, _ = _read([native])
    got, report = _read([native, empty])
    assert got == original
    assert report.skipped and report.skipped[0][0] == str(empty)
    assert any("skipped" in w and str(empty) in w for w in report.warnings())


# -- gzip (hftbacktest) --------------------------------------------------------------------------
@pytest.fixture
def hft_gz(tmp_path: Path, hft_lines: list[str]) -> Path:
    path = tmp_path / "btcusdt_20240808.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("".join(line + "\n" for line in hft_lines))
    return path


def test_gzip_cut_short_is_a_torn_end_only_when_newest(hft_gz: Path, tmp_path: Path) -> None:
    original, _ = _read([hft_gz])
    cut = tmp_path / "cut.gz"
    data = hft_gz.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.3)])  # cut at 30%, as in the issue
    got, report = _read([cut])  # the only (newest) input: a torn end, reported
    assert report.truncated == [(str(cut), 0)] or report.truncated[0][0] == str(cut)
    assert got == original[: len(got)] and 0 < len(got) < len(original)
    other = tmp_path / "later.gz"
    shutil.copy(hft_gz, other)
    past = cut.stat().st_mtime - 3600
    os.utime(cut, (past, past))  # cut is now the older input: its end may not be torn
    with pytest.raises(DataError, match="gzip") as info:
        _read([cut, other])
    assert str(cut) in str(info.value)
    got, report = _read([cut, other], "skip")
    assert len(report.bad_frames) == 1 and report.bad_frames[0][0] == str(cut)


def test_gzip_flipped_byte_is_detected_never_silently_different(
    hft_gz: Path, tmp_path: Path
) -> None:
    original, _ = _read([hft_gz])
    rng = random.Random(23)
    size = hft_gz.stat().st_size
    errors = 0
    for n in range(FLIPS):
        (tmp_path / f"f{n}").mkdir()
        damaged = _flip(hft_gz, tmp_path / f"f{n}" / hft_gz.name, rng.randrange(10, size))
        try:
            got, report = _read([damaged])
        except DataError as exc:
            assert str(damaged) in str(exc)
            errors += 1
            continue
        # gzip's CRC-32 covers every byte of data: a read that succeeds is the original,
        # or a reported torn end
        assert got == original or (report.truncated and got == original[: len(got)])
    assert errors > 0


# -- plain JSONL and cryptofeed text -------------------------------------------------------------
def test_plain_jsonl_cut_and_broken_lines(native: Path, tmp_path: Path) -> None:

    text = _all_text(native)
    plain = tmp_path / "a_0000.jsonl"
    plain.write_bytes(text[: len(text) // 2])  # cut mid-line
    got, report = _read([plain], fmt="native")
    whole, _ = _read([native])
    assert report.truncated and report.truncated[0][0] == str(plain)
    assert 0 < len(got) < len(whole) and got == whole[: len(got)]
    later = tmp_path / "a_0001.jsonl"
    later.write_bytes(text)
    with pytest.raises(DataError, match="cut short") as info:
        _read([plain, later], fmt="native")
    assert f"{plain}:" in str(info.value)  # names file and line
    broken = bytearray(text)
    broken[len(text) // 4] = ord("\x01")  # a control character inside JSON: not a record
    bad = tmp_path / "b_0000.jsonl"
    bad.write_bytes(bytes(broken))
    try:
        _read([bad], fmt="native")
    except DataError as exc:
        assert f"{bad}:" in str(exc)
    else:  # inside a JSON string a control byte may parse: then it is in "data", visibly
        pass


def test_cryptofeed_v1_text_cut_is_a_reported_torn_end(shared_real: Path, tmp_path: Path) -> None:
    src = shared_real / "binance" / "cryptofeed" / "BINANCE.ws.1.0"
    data = src.read_bytes()
    cut = tmp_path / "BINANCE.ws.1.0"
    cut.write_bytes(data[: len(data) // 2 + 7])
    report = ReadReport()
    recs = list(read_records([cut], "cryptofeed", report))
    assert recs and report.truncated and report.truncated[0][0] == str(cut)


def test_cryptofeed_v3_zstd_cut_is_a_reported_torn_end(shared_real: Path, tmp_path: Path) -> None:
    src = shared_real / "coinbase" / "cryptofeed-v3" / "COINBASE.jsonl.zst"
    data = src.read_bytes()
    cut = tmp_path / "COINBASE.jsonl.zst"
    cut.write_bytes(data[: int(len(data) * 0.4)])
    whole = list(read_records([src], "cryptofeed"))
    report = ReadReport()
    recs = list(read_records([cut], "cryptofeed", report))
    assert report.truncated and 0 < len(recs) < len(whole)
    assert _texts(recs) == _texts(whole)[: len(recs)]


# -- any framing reads the same -------------------------------------------------------------
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=10**9), max_size=12), checksum=st.booleans()
)
def test_any_split_into_zstd_frames_or_gzip_members_reads_the_same(
    native: Path, tmp_path: Path, cuts: list[int], checksum: bool
) -> None:
    """Frames (or gzip members) may end anywhere, even mid-line: the records are the same."""
    import zstandard

    text = _all_text(native)
    points = sorted({0, len(text), *(c % (len(text) + 1) for c in cuts)})
    pieces = [text[a:b] for a, b in itertools.pairwise(points)]
    cctx = zstandard.ZstdCompressor(write_checksum=checksum)
    whole, _ = _read([native])
    framed = tmp_path / f"z{len(points)}_{int(checksum)}.jsonl.zst"
    framed.write_bytes(b"".join(cctx.compress(p) for p in pieces))
    got, report = _read([framed])
    assert got == whole and not report.truncated and not report.bad_frames
    members = tmp_path / f"g{len(points)}_{int(checksum)}.jsonl.gz"
    members.write_bytes(b"".join(gzip.compress(p) for p in pieces))
    got, report = _read([members], fmt="native")
    assert got == whole and not report.truncated and not report.bad_frames
