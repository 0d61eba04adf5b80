"""The rotating zstd JSONL capture writer and its reader."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from seriesfactory.errors import DataError
from seriesfactory.raw.capture import CaptureWriter, read_records

T0_NS = 1_723_161_600_000_000_000  # 2024-08-09T00:00:00Z, a whole hour


def _all(folder: Path) -> list[dict[str, Any]]:
    return [r for p in sorted(folder.rglob("*.jsonl.zst")) for r in read_records(p)]


def test_record_line_format_is_exact(tmp_path: Path) -> None:
    w = CaptureWriter(tmp_path, venue="binance", key="btcusdt")
    w.write("msg", '{"a": 1}', conn="binance-0", recv_ns=T0_NS + 5)
    w.write("rest", "{}", conn="binance-0", recv_ns=T0_NS + 6, url="https://x/api/v3/depth")
    w.close()
    (path,) = w.completed
    assert path == tmp_path / "binance/btcusdt/20240809/binance_000000_0000.jsonl.zst"
    lines = zstandard.ZstdDecompressor().stream_reader(path.read_bytes()).read().splitlines()
    assert lines[0] == (
        b'{"recv_ns":1723161600000000005,"conn":"binance-0","venue":"binance",'
        b'"kind":"msg","data":"{\\"a\\": 1}"}'
    )
    assert json.loads(lines[1])["url"] == "https://x/api/v3/depth"


def test_rotation_by_time_starts_files_on_the_boundary(tmp_path: Path) -> None:
    w = CaptureWriter(tmp_path, venue="bybit", key="btcusdt", rotate_s=3600)
    stamps = [T0_NS + k * 900 * 10**9 for k in range(9)]  # every 15 min over 2 hours
    for i, ns in enumerate(stamps):
        w.write("msg", str(i), conn="c", recv_ns=ns)
    w.close()
    names = [p.name for p in w.completed]
    assert names == ["bybit_000000_0000.jsonl.zst", "bybit_010000_0001.jsonl.zst",
                     "bybit_020000_0002.jsonl.zst"]  # fmt: skip
    per_file = [[r["data"] for r in read_records(p)] for p in w.completed]
    assert per_file == [["0", "1", "2", "3"], ["4", "5", "6", "7"], ["8"]]


def test_rotation_by_size_gives_complete_files_and_loses_nothing(tmp_path: Path) -> None:
    # The size is checked whenever a frame ends (every flush_s = 0.1 s of receive time here).
    w = CaptureWriter(tmp_path, venue="coinbase", key="btc-usd", rotate_bytes=4096, flush_s=0.1)
    texts = [json.dumps({"sequence_num": i, "pad": "x" * (i % 97)}) for i in range(3000)]
    for i, text in enumerate(texts):
        w.write("msg", text, conn="coinbase-0", recv_ns=T0_NS + i * 10**6)
    w.close()
    assert len(w.completed) > 3
    assert all(p.stat().st_size >= 4096 for p in w.completed[:-1])
    for path in w.completed:  # each file decodes on its own, as complete frames
        assert list(read_records(path))
    assert [r["data"] for r in _all(tmp_path)] == texts
    assert sorted(w.completed) == w.completed  # names sort in write order


def test_live_part_file_is_readable_and_a_crash_loses_at_most_the_unflushed_tail(
    tmp_path: Path,
) -> None:
    w = CaptureWriter(tmp_path, venue="binance", key="btcusdt", flush_s=1.0)
    for i in range(100):
        w.write("msg", f"m{i}", conn="c", recv_ns=T0_NS + i * 10**7)  # 0 .. 0.99 s
    w.write("msg", "m100", conn="c", recv_ns=T0_NS + 10**9)  # 1 s later: a frame ends here
    w.write("msg", "m101", conn="c", recv_ns=T0_NS + 10**9 + 1)  # still in memory
    live = w.live_path
    assert live is not None and live.name.endswith(".jsonl.zst.part")
    crashed = tmp_path / "crashed.jsonl.zst.part"
    shutil.copy(live, crashed)  # what a kill -9 would leave on disk now
    assert [r["data"] for r in read_records(crashed)] == [f"m{i}" for i in range(101)]
    # A torn final frame (the crash hit mid-write) is dropped, the rest survives.
    torn = tmp_path / "torn.jsonl.zst.part"
    torn.write_bytes(crashed.read_bytes() + zstandard.ZstdCompressor().compress(b'{"x":1}\n')[:9])
    assert len(list(read_records(torn))) == 101
    w.close()
    assert not live.exists()
    assert [r["data"] for r in _all(tmp_path / "binance")] == [f"m{i}" for i in range(102)]


def test_final_file_must_be_whole(tmp_path: Path) -> None:
    w = CaptureWriter(tmp_path, venue="binance", key="btcusdt")
    w.write("msg", "x" * 1000, conn="c", recv_ns=T0_NS)
    w.close()
    (path,) = w.completed
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(DataError, match=r"binance_000000_0000\.jsonl\.zst: corrupt zstd"):
        list(read_records(path))


def test_not_a_record_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl.zst"
    body = b'{"recv_ns":1,"conn":"c","venue":"binance","kind":"msg","data":""}\nnope\n'
    path.write_bytes(zstandard.ZstdCompressor().compress(body))
    with pytest.raises(DataError, match=r"bad\.jsonl\.zst:2: not a JSON capture record"):
        list(read_records(path))


def test_names_never_collide_within_one_second(tmp_path: Path) -> None:
    a = CaptureWriter(tmp_path, venue="extended", key="btc-usd")
    b = CaptureWriter(tmp_path, venue="extended", key="btc-usd")
    a.write("msg", "a", conn="x", recv_ns=T0_NS)
    b.write("msg", "b", conn="y", recv_ns=T0_NS)
    a.close()
    b.close()
    assert a.completed[0] != b.completed[0]
    assert sorted(r["data"] for r in _all(tmp_path)) == ["a", "b"]


@settings(max_examples=40, deadline=None)
@given(
    texts=st.lists(st.text(max_size=60), min_size=1, max_size=60),
    raw=st.binary(max_size=40),
    rotate_bytes=st.integers(200, 5000),
)
def test_any_text_round_trips_exactly_through_any_rotation(
    tmp_path_factory: pytest.TempPathFactory, texts: list[str], raw: bytes, rotate_bytes: int
) -> None:
    root = tmp_path_factory.mktemp("cap")
    # A binary frame is stored as surrogate-escaped UTF-8 and comes back byte for byte.
    binary_text = raw.decode("utf-8", "surrogateescape")
    w = CaptureWriter(root, venue="bybit", key="k", rotate_bytes=rotate_bytes, flush_s=0.001)
    for i, text in enumerate([*texts, binary_text]):
        w.write("msg", text, conn="bybit-0", recv_ns=T0_NS + i * 10**6)
    w.close()
    got = [r["data"] for r in _all(root)]
    assert got[:-1] == texts
    assert got[-1].encode("utf-8", "surrogateescape") == raw


def test_tick_flushes_an_idle_file_and_closes_it_at_the_time_boundary(tmp_path: Path) -> None:
    period_ns = 500_000_000  # files start on multiples of 0.5 s since the epoch
    now = [T0_NS + 10_000_000]  # an injected clock: 10 ms after a boundary (T0 is one)
    w = CaptureWriter(
        tmp_path, venue="bybit", key="btcusdt", rotate_s=0.5, flush_s=0.05, clock=lambda: now[0]
    )
    w.write("msg", "a", conn="c")
    w.write("msg", "b", conn="c")
    live = w.live_path
    assert live is not None
    assert list(read_records(live)) == []  # nothing flushed yet: still in memory
    now[0] += 40_000_000
    w.tick()  # 40 ms later: no frame due yet
    assert list(read_records(live)) == []
    now[0] += 20_000_000
    w.tick()  # idle, but a frame is due (60 ms since the first write)
    assert [r["data"] for r in read_records(live)] == ["a", "b"]
    now[0] = T0_NS + period_ns - 1
    w.tick()  # 1 ns before the boundary: still the live file
    assert w.live_path == live
    now[0] = T0_NS + period_ns
    w.tick()  # the time boundary passed with no message: the file is completed
    assert w.live_path is None and not live.exists()
    assert [r["data"] for r in read_records(w.completed[0])] == ["a", "b"]
