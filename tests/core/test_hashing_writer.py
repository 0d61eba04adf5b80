"""HashingWriter: the hash of what was written equals the file's, across background syncs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from seriesfactory.core.atomic import HashingWriter


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_hash_while_writing_equals_the_files_hash(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    sink = HashingWriter(path, sync_bytes=10)  # a background fdatasync every 10 bytes
    parts: list[bytes | memoryview] = [b"abc" * 5, b"", memoryview(b"0123456789" * 7), b"z"]
    for part in parts:
        assert sink.write(part) == len(part)
    assert sink.tell() == sum(len(p) for p in parts)
    sink.close()
    sink.close()  # idempotent
    assert sink.closed
    expected = hashlib.sha256(b"".join(bytes(p) for p in parts)).hexdigest()
    assert sink.hexdigest() == expected == file_sha256(path)


def test_parquet_written_through_it_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    table = pa.table({"x": list(range(100_000)), "y": [0.5] * 100_000})
    sink = HashingWriter(path, sync_bytes=1 << 16)
    with pq.ParquetWriter(sink, table.schema) as writer:
        writer.write_table(table, row_group_size=30_000)
    sink.close()
    assert pq.read_table(path).equals(table)
    assert sink.hexdigest() == file_sha256(path)
