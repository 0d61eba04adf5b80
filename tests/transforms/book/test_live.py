"""Live tailing: a capture written piece by piece is rebuilt as it grows, as in batch."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import zstandard

from seriesfactory.raw.follow import NativeFollower
from seriesfactory.raw.readers import read_records
from seriesfactory.transforms.book.api import BookRows, rebuild
from seriesfactory.transforms.book.live import LiveBook
from seriesfactory.transforms.book.report import snapshot_table


def test_live_rows_equal_batch_rows_across_flushes_partial_lines_and_rotation(
    shared_real: Path, tmp_path: Path
) -> None:
    src = shared_real / "binance" / "hftbacktest" / "spot" / "btcusdt_20240808.gz"
    lines = [
        (
            json.dumps(
                {
                    "recv_ns": r.recv_ns,
                    "conn": "c",
                    "venue": "binance",
                    "kind": r.kind,
                    "data": r.data,
                }
            )
            + "\n"
        ).encode()
        for r in read_records([src])
    ][:8000]
    folder = tmp_path / "raw"
    folder.mkdir()
    live = LiveBook(
        NativeFollower(folder), venue="binance", symbol="BTCUSDT", price_decimals=2, depth=3
    )
    got: list[BookRows] = []
    assert len(live.poll().ts) == 0  # nothing written yet
    cctx = zstandard.ZstdCompressor()
    first, second = folder / "cap-0001.jsonl.zst", folder / "cap-0002.jsonl.zst"
    # file 1: eight zstd frames cut at byte offsets, so lines are split across frames
    blob = b"".join(lines[:4000])
    cuts = [*range(0, len(blob), len(blob) // 8), len(blob)]
    for lo, hi in itertools.pairwise(cuts):
        with open(first, "ab") as fh:
            fh.write(cctx.compress(blob[lo:hi]))
        got.append(live.poll())
    # file 2 (rotation): one streaming frame, flushed block by block like a recorder
    with open(second, "wb") as fh:
        writer = cctx.stream_writer(fh)
        for k in range(4000, 8000, 400):
            writer.write(b"".join(lines[k : k + 400]))
            writer.flush(zstandard.FLUSH_BLOCK)
            fh.flush()
            got.append(live.poll())
        writer.close()
    live_rows = BookRows.concat(got, 3)
    batch = rebuild(
        [str(first), str(second)], venue="binance", symbol="BTCUSDT", price_decimals=2, depth=3
    )
    n = len(live_rows.ts)
    assert n >= len(batch.rows.ts) - 1  # only the last row waits for finish()
    np.testing.assert_array_equal(live_rows.ts, batch.rows.ts[:n])
    np.testing.assert_array_equal(live_rows.bid_px, batch.rows.bid_px[:n])
    np.testing.assert_array_equal(live_rows.ask_qty, batch.rows.ask_qty[:n])
    table = live.part()  # the rows gathered so far, with their trade summary
    want = snapshot_table(batch).slice(0, n)
    assert table.num_rows == n and table.column_names == want.column_names
    assert table.column("trade_count").to_pylist() == want.column("trade_count").to_pylist()
    assert sum(table.column("trade_count").to_pylist()) > 0
    assert live.part().num_rows == 0  # a part is handed out once


def test_cli_live_writes_parts_until_its_duration(shared_real: Path, tmp_path: Path) -> None:
    from seriesfactory.cli import main

    src = shared_real / "binance" / "hftbacktest" / "usdm" / "btcusdt_20240808.gz"
    recs = list(read_records([src]))[:3000]
    text = "".join(
        json.dumps(
            {
                "recv_ns": r.recv_ns,
                "conn": "c",
                "venue": "binance-usdm",
                "kind": r.kind,
                "data": r.data,
            }
        )
        + "\n"
        for r in recs
    )
    folder = tmp_path / "raw"
    folder.mkdir()
    (folder / "cap-0001.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(text.encode()))
    out = tmp_path / "parts"
    args = [
        "book",
        "live",
        "--input-dir",
        str(folder),
        "--venue",
        "binance-usdm",
        "--symbol",
        "BTCUSDT",
        "--price-decimals",
        "1",
        "--output-dir",
        str(out),
        "--depth",
        "2",
        "--poll",
        "50ms",
        "--part",
        "200ms",
        "--duration",
        "600ms",
    ]
    assert main(args) == 0
    parts = sorted(out.glob("*.parquet"))
    assert len(parts) >= 1
    import pyarrow.parquet as pq

    rows = sum(pq.read_table(p).num_rows for p in parts)
    batch = rebuild(
        [str(folder / "cap-0001.jsonl.zst")],
        venue="binance-usdm",
        symbol="BTCUSDT",
        price_decimals=1,
    )
    assert rows == len(batch.rows.ts)  # stopping flushes the last row, as batch does


def test_follow_book_parts_by_the_injected_clock_equal_batch(
    shared_real: Path, tmp_path: Path
) -> None:
    """The library loop: a part each ``part_s`` of its clock, CSV pairs, the same rows as batch."""
    import pyarrow.csv as pacsv
    import pytest

    from seriesfactory.errors import InputError
    from seriesfactory.lake.outputs import sidecar_path
    from seriesfactory.transforms.book.live import follow_book

    src = shared_real / "binance" / "hftbacktest" / "usdm" / "btcusdt_20240808.gz"
    recs = list(read_records([src]))[:3000]
    text = "".join(
        json.dumps({"recv_ns": r.recv_ns, "conn": "c", "venue": "binance-usdm",
                    "kind": r.kind, "data": r.data}) + "\n"
        for r in recs
    )  # fmt: skip
    folder = tmp_path / "raw"
    folder.mkdir()
    (folder / "cap-0001.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(text.encode()))
    now = [0.0]
    seen: list[tuple[Path, int]] = []
    done = follow_book(
        folder, tmp_path / "parts", venue="binance-usdm", symbol="BTCUSDT", price_decimals=1,
        depth=2, poll_s=1.0, part_s=2.0, duration_s=5.0, fmt="csv",
        on_part=lambda path, rows: seen.append((path, rows)),
        clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s),
    )  # fmt: skip
    # polls at t = 0..4 (the first reads the whole capture); parts are due at t = 2 and t = 4
    # and at the close: only the first has rows, the others write nothing
    assert done.parts == [p for p, _ in seen] and len(done.parts) == 1
    assert done.parts[0].suffix == ".csv"
    assert done.records == len(recs) and done.bad_frames == []
    assert all(sidecar_path(p).is_file() for p in done.parts)  # a CSV part is published as a pair
    rows = sum(pacsv.read_csv(p).num_rows for p in done.parts)
    batch = rebuild(
        [str(folder / "cap-0001.jsonl.zst")], venue="binance-usdm", symbol="BTCUSDT",
        price_decimals=1,
    )  # fmt: skip
    assert rows == len(batch.rows.ts) == sum(n for _, n in seen)
    with pytest.raises(InputError, match="no message for symbol 'ETHUSDT'"):
        follow_book(
            folder, tmp_path / "none", venue="binance-usdm", symbol="ETHUSDT", price_decimals=1,
            duration_s=0.0, clock=lambda: 0.0, sleep=lambda s: None,
        )  # fmt: skip
