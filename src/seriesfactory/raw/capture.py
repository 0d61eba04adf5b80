"""The raw stream capture: rotating, zstd-compressed JSONL files, one record per line.

Every WebSocket message, REST snapshot body and connection event the recorder sees
is written as one JSON object per line::

    {"recv_ns": 1723161255208000000, "conn": "binance-0", "venue": "binance",
     "kind": "msg", "url": "wss://...", "data": "{\\"stream\\":\\"btcusdt@trade\\",...}"}

``recv_ns`` (int, ns since the epoch, UTC) is the local receive time; ``conn`` the
connection id; ``venue`` one of ``binance``, ``binance-usdm``, ``coinbase``, ``bybit``,
``extended``; ``kind`` one of ``msg`` (a WebSocket message), ``rest`` (a REST body),
``open``, ``close`` (connection lifecycle) and ``gap`` (a reconnect or sequence
gap); ``url`` is optional; ``data`` is the message text exactly as received, as a
JSON string. Binary frames are decoded as UTF-8 with ``surrogateescape``; when one is
not valid UTF-8 its stray bytes appear as ``\\udcXX`` escapes (which Python's ``json``
reads, and ``data.encode("utf-8", "surrogateescape")`` turns back into the original
bytes). No venue recorded here sends binary frames.

Files
-----
``{root}/{venue}/{key}/{YYYYMMDD}/{venue}_{HHMMSS}_{seq:04d}.jsonl.zst`` where the
date and time are the UTC opening time of the file and ``seq`` counts the files this
writer opened. Names sort by time. The live file carries a ``.part`` suffix and is
renamed to its final name when it is rotated or closed, so a name without ``.part``
is always complete. The writer ends a zstd frame at least every ``flush_s`` seconds
(default 1 s) and at every rotation, so a ``.part`` file is readable while open and
a crash loses at most the last unflushed second; :func:`read_records` reads ``.part``
files too, stopping cleanly before a truncated final frame.

Rotation happens when the wall clock crosses a multiple of ``rotate_s`` since the
epoch (so hourly files start on the hour) or when the compressed file reaches
``rotate_bytes``. The compressed size is known when a frame ends, so a file can pass
``rotate_bytes`` by up to one flush interval of data.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson
import zstandard

from seriesfactory.errors import DataError

__all__ = ["PART_SUFFIX", "CaptureWriter", "RecordKind", "read_records"]

PART_SUFFIX = ".part"
RecordKind = Literal["msg", "rest", "open", "close", "gap"]
_KINDS = frozenset({"msg", "rest", "open", "close", "gap"})


@dataclass(frozen=True, kw_only=True)
class _OpenFile:
    final: Path
    part: Path
    opened_ns: int
    boundary_ns: int


class CaptureWriter:
    """Append capture records to rotating zstd JSONL files.

    Parameters
    ----------
    root:
        The raw stream tier, e.g. ``{cache_dir}/raw/stream``.
    venue, key:
        The folder names: the venue and the symbols (or streams) captured.
    rotate_s:
        Rotate when the clock crosses a multiple of this many seconds (> 0).
    rotate_bytes:
        Rotate when the compressed file reaches this size (> 0).
    flush_s:
        End a zstd frame (and ``fsync``-free flush to the OS) at least this often.
    level:
        zstd compression level.
    clock:
        The wall clock in ns since the epoch (records without ``recv_ns``, flushes and
        rotation read it); tests pass their own.
    """

    def __init__(
        self,
        root: Path,
        *,
        venue: str,
        key: str,
        rotate_s: float = 3600.0,
        rotate_bytes: int = 1 << 30,
        flush_s: float = 1.0,
        level: int = 3,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        if rotate_s <= 0 or rotate_bytes <= 0 or flush_s <= 0:
            raise ValueError("rotate_s, rotate_bytes and flush_s must be positive")
        self.folder = Path(root) / venue / key
        self.venue = venue
        self._clock = clock
        self._rotate_ns = int(rotate_s * 1e9)
        self._rotate_bytes = rotate_bytes
        self._flush_ns = int(flush_s * 1e9)
        self._cctx = zstandard.ZstdCompressor(level=level, write_checksum=True)
        self._venue_json = orjson.dumps(venue).decode()
        self._seq = 0
        self._file: _OpenFile | None = None
        self._fh: io.BufferedWriter | None = None
        self._zw: Any = None
        self._last_flush_ns = 0
        self._file_bytes = 0
        self._pending: list[bytes] = []
        self._mids: dict[tuple[str, str], bytes] = {}
        self.records = 0
        self.completed: list[Path] = []

    # -- writing -----------------------------------------------------------------
    def write(
        self,
        kind: RecordKind,
        data: str,
        *,
        conn: str,
        recv_ns: int | None = None,
        url: str | None = None,
    ) -> None:
        """Append one record; rotate or flush first when due."""
        now_ns = self._clock() if recv_ns is None else recv_ns
        if self._file is None or now_ns >= self._file.boundary_ns:
            self._rotate(now_ns)
        if url is None:
            mid = self._mids.get((conn, kind))
            if mid is None:
                mid = self._mids[(conn, kind)] = self._mid(conn, kind, None)
        else:
            mid = self._mid(conn, kind, url)
        line = b"".join((b'{"recv_ns":', b"%d" % now_ns, mid, _json_str(data), b"}\n"))
        self._pending.append(line)
        self.records += 1
        if len(self._pending) >= 1024:
            self._drain()
            assert self._fh is not None
            if self._fh.tell() >= self._rotate_bytes:  # a zstd block went out already
                self._close_file()
                return
        if now_ns - self._last_flush_ns >= self._flush_ns:
            self.flush(now_ns)

    def _mid(self, conn: str, kind: str, url: str | None) -> bytes:
        """The bytes between ``recv_ns`` and the data string of a record."""
        if kind not in _KINDS:
            raise ValueError(f"unknown capture record kind {kind!r}")
        text = f',"conn":{orjson.dumps(conn).decode()},"venue":{self._venue_json},"kind":"{kind}",'
        if url is not None:
            text += f'"url":{orjson.dumps(url).decode()},'
        return (text + '"data":').encode()

    def _drain(self) -> None:
        if self._pending:
            self._zw.write(b"".join(self._pending))
            self._pending.clear()

    def flush(self, now_ns: int | None = None) -> None:
        """End the current zstd frame so everything written so far is readable on disk."""
        if self._zw is None:
            return
        self._drain()
        self._zw.flush(zstandard.FLUSH_FRAME)
        assert self._fh is not None
        self._fh.flush()
        self._file_bytes = self._fh.tell()
        self._last_flush_ns = self._clock() if now_ns is None else now_ns
        if self._file_bytes >= self._rotate_bytes:
            self._close_file()

    def tick(self) -> None:
        """Flush if a frame is due and rotate if the time boundary passed (call ~1/s)."""
        now_ns = self._clock()
        if self._file is not None and now_ns >= self._file.boundary_ns:
            self._close_file()
        elif self._zw is not None and now_ns - self._last_flush_ns >= self._flush_ns:
            self.flush(now_ns)

    def close(self) -> None:
        """Flush and close the live file, renaming it to its final name."""
        self._close_file()

    # -- files -------------------------------------------------------------------
    def _rotate(self, now_ns: int) -> None:
        self._close_file()
        boundary_ns = (now_ns // self._rotate_ns + 1) * self._rotate_ns
        stamp = time.strftime("%Y%m%d %H%M%S", time.gmtime(now_ns // 1_000_000_000))
        day, hms = stamp.split()
        folder = self.folder / day
        folder.mkdir(parents=True, exist_ok=True)
        while True:
            final = folder / f"{self.venue}_{hms}_{self._seq:04d}.jsonl.zst"
            self._seq += 1
            part = final.with_name(final.name + PART_SUFFIX)
            if not final.exists() and not part.exists():
                break
        self._file = _OpenFile(final=final, part=part, opened_ns=now_ns, boundary_ns=boundary_ns)
        self._fh = open(part, "xb")  # noqa: SIM115 - closed in _close_file
        self._zw = self._cctx.stream_writer(self._fh, closefd=False)
        self._last_flush_ns = now_ns
        self._file_bytes = 0

    def _close_file(self) -> None:
        if self._file is None:
            return
        assert self._fh is not None
        try:
            self._drain()
            self._zw.flush(zstandard.FLUSH_FRAME)
            self._zw.close()
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError:
            # A storage failure (full disk, ...): the file keeps its ``.part`` name, so
            # readers treat its end as possibly torn; what was flushed before stays readable.
            self._pending.clear()
            with contextlib.suppress(OSError):
                self._fh.close()
            self._file = None
            self._fh = None
            self._zw = None
            raise
        self._fh.close()
        os.replace(self._file.part, self._file.final)
        self.completed.append(self._file.final)
        self._file = None
        self._fh = None
        self._zw = None

    @property
    def live_path(self) -> Path | None:
        """The ``.part`` file being written, if any."""
        return None if self._file is None else self._file.part


def _json_str(text: str) -> bytes:
    """``text`` as a UTF-8 JSON string literal (lone surrogates escaped as ``\\udcXX``)."""
    try:
        return orjson.dumps(text)
    except orjson.JSONEncodeError:
        return json.dumps(text).encode()


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the records of one capture file (final or ``.part``), in order.

    A final file must decode completely. A ``.part`` file (live, or left by a crash)
    may end in a truncated frame or line: reading stops before it.

    Raises
    ------
    DataError
        A line that is not a capture record, naming the file and line.
    """
    partial = path.name.endswith(PART_SUFFIX)
    data = path.read_bytes()
    dctx = zstandard.ZstdDecompressor()
    frames: list[bytes] = []
    while data:
        dobj = dctx.decompressobj()
        try:
            block = dobj.decompress(data)
        except zstandard.ZstdError as exc:
            if partial:
                break
            raise DataError(f"corrupt zstd data: {exc}", path=str(path)) from None
        if not dobj.eof:  # a torn last frame: a crash mid-write, or a damaged file
            if partial:
                break
            raise DataError(
                "corrupt zstd data: the last frame is incomplete; the file was cut short",
                path=str(path),
            )
        frames.append(block)
        data = dobj.unused_data
    lines = b"".join(frames).split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            try:  # a non-UTF-8 binary frame: lone-surrogate escapes orjson refuses
                record = json.loads(line)
            except ValueError:
                msg = f"not a JSON capture record: {exc}"
                raise DataError(msg, path=str(path), line=number) from None
        if not isinstance(record, dict) or record.get("kind") not in _KINDS:
            raise DataError("not a capture record (kind missing)", path=str(path), line=number)
        yield record
