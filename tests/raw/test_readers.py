"""Readers of raw captures: native (rotation, truncation), hftbacktest, cryptofeed v1/v3."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import zstandard

from seriesfactory.errors import DataError, InputError
from seriesfactory.raw.readers import ReadReport, detect_format, read_records


def _native_line(recv_ns: int, data: object, kind: str = "msg", url: str | None = None) -> bytes:
    rec = {
        "recv_ns": recv_ns,
        "conn": "c1",
        "venue": "binance",
        "kind": kind,
        "data": json.dumps(data),
    }
    if url:
        rec["url"] = url
    return (json.dumps(rec) + "\n").encode()


def _zst(path: Path, payload: bytes) -> Path:
    path.write_bytes(zstandard.ZstdCompressor().compress(payload))
    return path


def test_native_rotated_files_read_in_name_order(tmp_path: Path) -> None:
    _zst(tmp_path / "cap-0002.jsonl.zst", _native_line(3, {"a": 3}))
    _zst(
        tmp_path / "cap-0001.jsonl.zst",
        _native_line(1, {"a": 1}) + _native_line(2, {"a": 2}, "rest", "u"),
    )
    recs = list(read_records(sorted(tmp_path.iterdir(), reverse=True)))
    assert [r.recv_ns for r in recs] == [1, 2, 3]
    assert recs[1].kind == "rest" and recs[1].url == "u" and json.loads(recs[0].data) == {"a": 1}
    assert detect_format(tmp_path / "cap-0001.jsonl.zst") == "native"


def test_native_truncated_last_line_is_reported_not_fatal(tmp_path: Path) -> None:
    whole = _native_line(1, {"a": 1}) + _native_line(2, {"a": 2})
    path = _zst(tmp_path / "cap.jsonl.zst", whole[:-15])  # a crash mid-line
    report = ReadReport()
    recs = list(read_records([path], "native", report))
    assert [r.recv_ns for r in recs] == [1]
    assert report.truncated == [(str(path), 2)]


def test_native_partial_zstd_frame_keeps_earlier_frames(tmp_path: Path) -> None:
    cctx = zstandard.ZstdCompressor()
    second = cctx.compress(b"".join(_native_line(i, {"i": i}) for i in range(2, 400)))
    path = tmp_path / "cap.jsonl.zst"
    path.write_bytes(cctx.compress(_native_line(1, {"a": 1})) + second[: len(second) // 2])
    report = ReadReport()
    recs = list(read_records([path], "native", report))
    assert recs[0].recv_ns == 1 and [r.recv_ns for r in recs] == list(range(1, len(recs) + 1))
    assert (str(path), 0) in report.truncated


def test_native_broken_middle_line_names_file_and_line(tmp_path: Path) -> None:
    path = _zst(
        tmp_path / "cap.jsonl.zst", _native_line(1, {}) + b"{not json\n" + _native_line(3, {})
    )
    with pytest.raises(DataError, match=r"cap\.jsonl\.zst:2: not a JSON capture record"):
        list(read_records([path], "native"))


def test_hftbacktest_lines_split_stream_and_rest(tmp_path: Path) -> None:
    path = tmp_path / "x.gz"
    with gzip.open(path, "wt") as fh:
        fh.write('1723161253937085768 {"stream":"btcusdt@trade","data":{}}\n')
        fh.write('1723161254206652067 {"lastUpdateId":5,"bids":[],"asks":[]}\n')
    recs = list(read_records([path]))
    assert [(r.recv_ns, r.kind) for r in recs] == [
        (1723161253937085768, "msg"),
        (1723161254206652067, "rest"),
    ]


def test_cryptofeed_v1_merges_ws_and_http_by_time(tmp_path: Path) -> None:
    ws = tmp_path / "BINANCE.ws.1.0"
    ws.write_text(
        "wss://stream <-> 1633998511.159679\n"
        'wss://stream <- 1633998511.2: {"method":"SUBSCRIBE"}\n'
        '1633998512.0633569: {"stream":"a","data":{}}\n\n'
        '1633998513.5: {"stream":"b","data":{}}\n'
    )
    http = tmp_path / "BINANCE.http.0.0"
    http.write_text('https://api/depth?symbol=X -> 1633998512.320639: {"lastUpdateId":1}\n')
    recs = list(read_records([ws, http]))
    assert [r.kind for r in recs] == ["open", "msg", "rest", "msg"]
    assert recs[1].recv_ns == 1633998512063356900 and recs[2].url == "https://api/depth?symbol=X"


def test_cryptofeed_v3_kinds_and_connection_address(tmp_path: Path) -> None:
    lines = [
        {"t": "header", "format": 2},
        {"t": "connect", "conn": "B.ws.2", "ts": 1.5, "addr": "wss://x/v5/public/spot"},
        {"t": "send", "conn": "B.ws.2", "ts": 1.6, "data": "{}"},
        {"t": "recv", "conn": "B.ws.2", "ts": 2.0, "data": '{"topic":"t"}'},
    ]
    path = _zst(tmp_path / "B.jsonl.zst", "".join(json.dumps(x) + "\n" for x in lines).encode())
    recs = list(read_records([path], "cryptofeed"))
    assert [(r.kind, r.recv_ns, r.url) for r in recs] == [
        ("open", 1_500_000_000, "wss://x/v5/public/spot"),
        ("msg", 2_000_000_000, "wss://x/v5/public/spot"),
    ]


def test_missing_file_and_unknown_format_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        list(read_records([tmp_path / "nope"]))
    (tmp_path / "f").write_text("hello world\n")
    with pytest.raises(InputError, match="cannot tell its format"):
        list(read_records([tmp_path / "f"]))
