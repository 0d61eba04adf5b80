"""Damaged archives: every kind of damage is one ``IntegrityError`` naming the file (and saying
to delete it), from the whole-member reader and the streaming one alike, never wrong rows.

The archives are written with :mod:`zipfile` and then damaged byte by byte at the offsets the
zip format documents (local header: CRC at 14, sizes at 18/22; central header: CRC at 16,
sizes at 20/24).
"""

from __future__ import annotations

import gzip
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from seriesfactory.errors import IntegrityError
from seriesfactory.raw.archives import iter_member_pieces, read_gzip, read_single_member

ROWS = "".join(f"{i},{100 + i % 7}.25,0.5,{1704067200000 + i}\n" for i in range(3000)).encode()


def _zip(path: Path, data: bytes = ROWS, method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        zf.writestr("day.csv", data)
    return path


def _streamed(path: Path, max_bytes: int = 10**9, block_bytes: int = 256) -> bytes:
    return b"".join(bytes(p) for _, p in iter_member_pieces(path, max_bytes=max_bytes,
                                                            block_bytes=block_bytes))  # fmt: skip


def _whole(path: Path, max_bytes: int = 10**9) -> bytes:
    return read_single_member(path, max_bytes=max_bytes)[1]


READERS: list[Callable[..., bytes]] = [_whole, _streamed]


def _patch(path: Path, edit: Callable[[bytearray], None]) -> Path:
    data = bytearray(path.read_bytes())
    edit(data)
    path.write_bytes(bytes(data))
    return path


def _set_u32(data: bytearray, offset: int, value: int) -> None:
    data[offset : offset + 4] = struct.pack("<I", value)


def _central(data: bytearray) -> int:
    return data.rindex(b"PK\x01\x02")


@pytest.mark.parametrize("read", READERS)
@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
def test_a_sound_archive_reads_back_exactly(tmp_path: Path, read, method: int) -> None:
    path = _zip(tmp_path / "a.zip", method=method)
    assert read(path) == ROWS


@pytest.mark.parametrize("block_bytes", [7, 4096])
def test_a_last_line_without_newline_is_kept(tmp_path: Path, block_bytes: int) -> None:
    path = _zip(tmp_path / "a.zip", ROWS + b"9,1.5,2,3")
    assert _streamed(path, block_bytes=block_bytes) == ROWS + b"9,1.5,2,3"


def _flip_body(data: bytearray) -> None:
    data[30 + len("day.csv") + 40] ^= 0xFF  # inside the deflate stream


def _wrong_crc(data: bytearray) -> None:
    crc = struct.unpack("<I", data[14:18])[0] ^ 1
    _set_u32(data, 14, crc)
    _set_u32(data, _central(data) + 16, crc)


def _bad_local_header(data: bytearray) -> None:
    data[0:4] = b"PK\x09\x09"


def _lying_size(data: bytearray) -> None:
    """Headers claim 1000 bytes uncompressed (under the limit); the stream holds more."""
    _set_u32(data, 22, 1000)
    _set_u32(data, _central(data) + 24, 1000)


@pytest.mark.parametrize("read", READERS)
@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (_flip_body, "; delete it"),
        (_wrong_crc, "CRC or size mismatch in 'day.csv'; delete it"),
        (_bad_local_header, "; delete it"),
        (lambda d: d.__delitem__(slice(len(d) // 2, None)), "not a valid zip"),
    ],
    ids=["flipped", "crc", "header", "truncated"],
)
def test_damage_is_one_integrity_error_naming_the_file(
    tmp_path: Path, read, edit: Callable[[bytearray], None], needle: str
) -> None:
    path = _patch(_zip(tmp_path / "a.zip"), edit)
    with pytest.raises(IntegrityError) as info:
        read(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and needle in message, message
    assert "\n" not in message


@pytest.mark.parametrize("read", READERS)
def test_a_member_larger_than_its_header_says_stops_at_the_limit(tmp_path: Path, read) -> None:
    path = _patch(_zip(tmp_path / "a.zip"), _lying_size)
    with pytest.raises(IntegrityError, match="exceeds 2000 bytes when inflated"):
        read(path, max_bytes=2000)


def test_a_stored_member_whose_size_lies_is_refused(tmp_path: Path) -> None:
    path = _patch(_zip(tmp_path / "a.zip", method=zipfile.ZIP_STORED), _lying_size)
    with pytest.raises(IntegrityError, match=f"{path}: not a valid zip .*Bad CRC-32"):
        _whole(path, max_bytes=2000)


def test_gzip_reads_every_member_and_refuses_damage(tmp_path: Path) -> None:
    path = tmp_path / "a.gz"
    path.write_bytes(gzip.compress(ROWS[:100]) + gzip.compress(ROWS[100:]))  # two members
    assert read_gzip(path, max_bytes=10**9) == ROWS
    with pytest.raises(IntegrityError, match=f"{path}: over 1000 bytes when inflated"):
        read_gzip(path, max_bytes=1000)
    path.write_bytes(gzip.compress(ROWS)[:-20])  # cut: the CRC and part of the stream lost
    with pytest.raises(IntegrityError, match=r"corrupt gzip .*; delete it to re-download"):
        read_gzip(path, max_bytes=10**9)
