"""Remembered raw-file hashes: used only while the file is unchanged; the raw tier keeps them."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from seriesfactory.raw import cache as raw_cache
from seriesfactory.raw import hashes


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_second_call_uses_the_record(tmp_path: Path, hash_reads: list[str]) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(b"abc" * 1000)
    assert hashes.raw_sha256(path) == _sha(b"abc" * 1000)
    assert hashes.raw_sha256(path) == _sha(b"abc" * 1000)
    assert hash_reads == ["a.zip"]
    doc = json.loads(path.with_name("a.zip.sha256").read_text())
    st = path.stat()
    assert doc == {
        "sha256": _sha(b"abc" * 1000), "size": st.st_size,
        "mtime_ns": st.st_mtime_ns, "inode": st.st_ino,
    }  # fmt: skip


def test_any_change_of_the_file_reads_it_again(tmp_path: Path, hash_reads: list[str]) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(b"one")
    hashes.raw_sha256(path)
    # rewritten in place with the same size (same inode): the modification time
    path.write_bytes(b"two")
    old = time.time() - 3600
    os.utime(path, (old, old))
    assert hashes.raw_sha256(path) == _sha(b"two")
    # appended to: size
    with open(path, "ab") as fh:
        fh.write(b"!")
    os.utime(path, (old, old))
    assert hashes.raw_sha256(path) == _sha(b"two!")
    # replaced by rename (how every raw file is written): inode
    new = tmp_path / "new"
    new.write_bytes(b"six!")
    st = path.stat()
    os.utime(new, ns=(st.st_atime_ns, st.st_mtime_ns))
    new.replace(path)
    assert hashes.raw_sha256(path) == _sha(b"six!")
    assert hash_reads == ["a.zip"] * 4


def test_a_broken_record_is_ignored_and_rewritten(tmp_path: Path, hash_reads: list[str]) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(b"data")
    record = path.with_name("a.zip.sha256")
    for text in ["", "{not json", "[1, 2]", '{"sha256": ""}', json.dumps({"sha256": "x" * 64})]:
        record.write_text(text)
        assert hashes.raw_sha256(path) == _sha(b"data")
    assert hash_reads == ["a.zip"] * 5
    assert hashes.raw_sha256(path) == _sha(b"data")
    assert len(hash_reads) == 5


def test_touch_keeps_the_data_file_time_and_the_record_valid(
    tmp_path: Path, hash_reads: list[str]
) -> None:
    root = tmp_path / "raw" / "v"
    root.mkdir(parents=True)
    path = root / "a.zip"
    path.write_bytes(b"data")
    path.with_name("a.zip.CHECKSUM").write_text(f"{_sha(b'data')}  a.zip\n")
    old = time.time() - 10 * 86_400
    os.utime(path, (old, old))
    hashes.raw_sha256(path)
    before = path.stat().st_mtime_ns
    raw_cache.touch(path)
    assert path.stat().st_mtime_ns == before
    assert hashes.raw_sha256(path) == _sha(b"data") and hash_reads == ["a.zip"]
    # the entry counts as used now (its side files' time), with all three files
    (entry,) = raw_cache.list_entries(tmp_path)
    assert entry.last_used_s > time.time() - 60
    assert sorted(f.name for f in entry.files) == ["a.zip", "a.zip.CHECKSUM", "a.zip.sha256"]
    # a file without side files is touched itself
    lone = root / "b.jsonl"
    lone.write_bytes(b"x")
    os.utime(lone, (old, old))
    raw_cache.touch(lone)
    assert lone.stat().st_mtime > time.time() - 60


def test_gc_removes_the_record_with_its_file_and_an_orphan_record(tmp_path: Path) -> None:
    root = tmp_path / "raw" / "v"
    root.mkdir(parents=True)
    for name in ("a.zip", "b.zip"):
        (root / name).write_bytes(b"x" * 10)
        hashes.raw_sha256(root / name)
    (root / "b.zip").unlink()  # the record of b is now an orphan
    old = time.time() - 40 * 86_400
    for f in root.iterdir():
        os.utime(f, (old, old))
    report = raw_cache.gc(tmp_path, retention_days=30, max_bytes=10**9)
    assert report.removed_expired == 2
    assert list(root.iterdir()) == []


def test_forget(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(b"x")
    hashes.raw_sha256(path)
    hashes.forget_sha256(path)
    hashes.forget_sha256(path)  # nothing left: no error
    assert not path.with_name("a.zip.sha256").exists()
