"""Reading archives in the raw tier: the one member of a zip, guarded, inflated fast.

A venue's archive (e.g. a Binance ``.zip``) holds exactly one CSV. :func:`read_single_member`
returns it whole; :func:`iter_member_pieces` streams it in pieces of whole lines. Both
refuse a member whose name escapes its folder (zip-slip: absolute, ``..``, a drive or a
backslash), a member over ``max_bytes`` uncompressed, a corrupt zip and a zip that does not
hold exactly one file, and both check the member's CRC-32 and size. Deflate runs through
ISA-L (``isal``: several times zlib, GIL released) when installed, else :mod:`zipfile`.
"""

from __future__ import annotations

import gzip
import importlib
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal

from seriesfactory.errors import IntegrityError

_isal: Any
_igzip: Any
try:  # ISA-L inflate and CRC-32, several times faster than zlib; optional
    _isal = importlib.import_module("isal.isal_zlib")
    _igzip = importlib.import_module("isal.igzip_lib")
    _crc32 = _isal.crc32
except ImportError:  # pragma: no cover - depends on the platform's wheels
    _isal = _igzip = None
    _crc32 = zlib.crc32

__all__ = ["iter_member_pieces", "read_gzip", "read_pieces", "read_single_member"]


def _single(zf: zipfile.ZipFile, path: Path, max_bytes: int) -> zipfile.ZipInfo:
    members = [i for i in zf.infolist() if not i.is_dir()]
    for info in members:
        name = info.filename
        parts = PurePosixPath(name).parts
        if name.startswith("/") or "\\" in name or ":" in name or ".." in parts:
            raise IntegrityError(
                f"{path}: member {name!r} escapes the archive folder; refusing it "
                "(delete the file; the mirror is serving a bad archive)"
            )
        if info.file_size > max_bytes:
            raise IntegrityError(
                f"{path}: member {name!r} is {info.file_size} bytes uncompressed, over "
                f"the {max_bytes}-byte limit (raise max_member_bytes if it is genuine)"
            )
    if len(members) != 1:
        raise IntegrityError(f"{path}: expected one CSV, found {len(members)} members")
    return members[0]


def iter_member_pieces(
    path: Path, *, max_bytes: int, block_bytes: int = 1 << 20
) -> Iterator[tuple[str, bytes | memoryview]]:
    """The one CSV inside an archive in pieces of whole lines: ``(member, piece)``.

    Same guards as :func:`read_single_member`. Pieces are views of the inflated
    blocks (a few MB each from ``block_bytes`` of compressed input), cut after
    their last newline; the partial line at a block's end is joined to the next
    block's first line, the only copy. The CRC-32 and size are checked after
    the last block (a bad archive raises there, before its last piece).
    """
    try:
        with zipfile.ZipFile(path) as zf:
            info = _single(zf, path, max_bytes)
            name = info.filename
            carry = b""
            crc = 0
            total = 0
            for block in _inflate_blocks(zf, info, path, block_bytes):
                total += len(block)
                if total > max_bytes:
                    raise IntegrityError(f"{path}: member exceeds {max_bytes} bytes when inflated")
                crc = _crc32(block, crc)
                last = block.rfind(b"\n")
                if last < 0:  # a line longer than a block
                    carry += block
                    continue
                start = 0
                if carry:
                    start = block.find(b"\n") + 1
                    yield name, carry + block[:start]
                if last + 1 > start:
                    yield name, memoryview(block)[start : last + 1]
                carry = block[last + 1 :]
            if total != info.file_size or crc != info.CRC:
                raise IntegrityError(f"{path}: CRC or size mismatch in {name!r}; delete it")
            if carry:
                yield name, carry
    except zipfile.BadZipFile as exc:
        raise IntegrityError(f"{path}: not a valid zip ({exc}); delete it to re-download") from exc


def _member_data(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> tuple[IO[bytes], int]:
    """The archive's file and the offset of the member's compressed bytes.

    The offset is ``header_offset + 30 + name length + extra length``, read from
    the member's 30-byte local file header (signature ``PK\\x03\\x04``).
    """
    fp = zf.fp
    assert fp is not None
    fp.seek(info.header_offset)
    header = fp.read(30)
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        raise IntegrityError(f"{path}: bad local header of {info.filename!r}; delete it")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return fp, info.header_offset + 30 + name_len + extra_len


def _inflate_blocks(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, block_bytes: int = 1 << 20
) -> Iterator[bytes]:
    """Inflated blocks of a member, ``block_bytes`` of compressed input at a time.

    ISA-L's streaming inflater (GIL released; about three times zlib) when
    installed and the member is deflated; otherwise :mod:`zipfile`.
    """
    if info.compress_type != zipfile.ZIP_DEFLATED or _igzip is None:
        with zf.open(info) as fh:
            while block := fh.read(4 * block_bytes):
                yield block
        return
    fp, offset = _member_data(zf, info, path)
    left = info.compress_size
    inflater = _igzip.IgzipDecompressor(flag=_igzip.DECOMP_DEFLATE)
    try:
        while left > 0 and not inflater.eof:
            fp.seek(offset)
            raw = fp.read(min(block_bytes, left))
            if not raw:
                raise IntegrityError(f"{path}: archive truncated; delete it")
            offset += len(raw)
            left -= len(raw)
            out = inflater.decompress(raw)
            if out:
                yield out
        if not inflater.eof:
            raise IntegrityError(f"{path}: {info.filename!r} ends early (truncated); delete it")
    except _igzip.error as exc:
        raise IntegrityError(f"{path}: corrupt deflate stream ({exc}); delete it") from exc


def read_single_member(path: Path, *, max_bytes: int) -> tuple[str, bytes]:
    """The one CSV inside an archive, with zip-slip and size guards.

    Raises
    ------
    IntegrityError
        A member whose name escapes its folder (absolute, ``..``, a drive or a
        backslash), a member over ``max_bytes`` uncompressed, a corrupt zip, or
        not exactly one file.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            info = _single(zf, path, max_bytes)
            return info.filename, _inflate(zf, info, path, max_bytes)
    except zipfile.BadZipFile as exc:
        raise IntegrityError(f"{path}: not a valid zip ({exc}); delete it to re-download") from exc


def _inflate(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, max_bytes: int) -> bytes:
    """The member's bytes: deflate via ISA-L when installed (about 2x zlib), CRC-checked."""
    if info.compress_type != zipfile.ZIP_DEFLATED or _isal is None:
        with zf.open(info) as fh:
            data = fh.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise IntegrityError(f"{path}: member exceeds {max_bytes} bytes when inflated")
        return data
    fp, offset = _member_data(zf, info, path)
    fp.seek(offset)
    raw = fp.read(info.compress_size)
    try:
        out = _isal.decompressobj(-15)
        data = out.decompress(raw, max_bytes + 1)
    except _isal.error as exc:
        raise IntegrityError(f"{path}: corrupt deflate stream ({exc}); delete it") from exc
    if len(data) > max_bytes:
        raise IntegrityError(f"{path}: member exceeds {max_bytes} bytes when inflated")
    if len(data) != info.file_size or _isal.crc32(data) != info.CRC:
        raise IntegrityError(f"{path}: CRC or size mismatch in {info.filename!r}; delete it")
    return bytes(data)


def read_gzip(path: Path, *, max_bytes: int) -> bytes:
    """The decompressed bytes (every gzip member), CRC-checked, at most ``max_bytes``."""
    try:
        with gzip.open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise IntegrityError(f"{path}: corrupt gzip ({exc}); delete it to re-download") from exc
    if len(data) > max_bytes:
        raise IntegrityError(f"{path}: over {max_bytes} bytes when inflated")
    return data


def read_pieces(
    path: Path, container: Literal["zip", "gzip", "plain"], *, max_bytes: int
) -> Iterable[tuple[str, bytes | memoryview]]:
    """A raw file's content as ``(member, whole lines)`` pieces, however it is stored.

    ``zip``: :func:`iter_member_pieces` (streamed); ``gzip``: :func:`read_gzip` (one
    piece); ``plain``: the file's bytes (one piece). The member name of a one-piece
    file is the file's name.
    """
    if container == "zip":
        return iter_member_pieces(path, max_bytes=max_bytes)
    if container == "gzip":
        return [(path.name, read_gzip(path, max_bytes=max_bytes))]
    return [(path.name, path.read_bytes())]
