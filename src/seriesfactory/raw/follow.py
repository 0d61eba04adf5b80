"""Follow a native capture while the recorder writes it (live tailing).

:class:`NativeFollower` watches a folder of ``*.jsonl.zst`` capture files and, on
each :meth:`~NativeFollower.poll`, returns the records whose lines became complete
since the last poll. Files are taken in name order; when a newer file appears the
older one is read to its end and left (rotation). Each file is decoded
incrementally (zstd blocks or frames flushed by the writer decode as soon as they
are on disk), so a record is available one poll after its bytes are written.
"""

from __future__ import annotations

import json
from pathlib import Path

import zstandard

from seriesfactory.errors import DataError
from seriesfactory.raw.capture import PART_SUFFIX
from seriesfactory.schema import RawRecord

__all__ = ["NativeFollower"]

_CHUNK = 1 << 20
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class _Tail:
    """Decoding state of one growing file: byte offset, decoder, partial last line.

    ``on_bad_frames="skip"``: a frame that fails to decode is recorded in
    ``bad_frames`` as ``(path, offset, reason)``, the partial line it cut is
    dropped, and decoding resumes at the next frame's magic number.
    """

    def __init__(self, path: Path, on_bad_frames: str = "error") -> None:
        self.path = path
        self.offset = 0
        self.lineno = 0
        self.partial = b""
        self.dctx = zstandard.ZstdDecompressor()
        self.dobj = self.dctx.decompressobj()
        self.on_bad_frames = on_bad_frames
        self.frame_start = 0  # file offset where the current frame began
        self.resync = False  # after skipped damage: looking for the next frame
        self.bad_frames: list[tuple[str, int, str]] = []
        self.counting = True  # False while resynchronising: false starts are not counted

    def _damaged(self, exc: Exception) -> None:
        if self.on_bad_frames != "skip":
            raise DataError(
                f"damaged zstd frame at byte {self.frame_start} ({exc}); restore "
                "the file, or pass --on-bad-frames skip to skip it",
                path=str(self.path),
            )
        if self.counting:
            self.bad_frames.append((str(self.path), self.frame_start, str(exc)))
        self.counting = False

    def read_new(self) -> list[tuple[int, bytes]]:
        """Complete lines appended since the last call, as ``(lineno, bytes)``."""
        data = b""
        with open(self.path, "rb") as fh:
            while True:
                fh.seek(self.offset)
                block = fh.read(_CHUNK)
                if not block:
                    break
                if self.resync:  # after skipped damage: find the next frame
                    found = block.find(_ZSTD_MAGIC)
                    if found < 0:
                        if len(block) < 4:
                            break  # wait for more bytes
                        self.offset += len(block) - 3  # a magic may straddle blocks
                        if len(block) < _CHUNK:
                            break
                        continue
                    self.offset += found
                    self.frame_start = self.offset
                    self.resync = False
                    continue
                base = self.offset  # file offset of block[0]
                self.offset += len(block)
                while block:
                    try:
                        data += self.dobj.decompress(block)
                    except zstandard.ZstdError as exc:
                        self._damaged(exc)
                        joined = self.partial + data  # drop the line the damage cut
                        data, self.partial = joined[: joined.rfind(b"\n") + 1], b""
                        self.dobj = self.dctx.decompressobj()
                        self.resync = True
                        self.offset = self.frame_start + 1
                        break
                    if not self.dobj.eof:
                        break
                    base += len(block) - len(self.dobj.unused_data)
                    self.frame_start = base
                    self.counting = True  # a whole frame decoded: resynchronised
                    block = self.dobj.unused_data
                    self.dobj = self.dctx.decompressobj()
        parts = (self.partial + data).split(b"\n")
        self.partial = parts.pop()
        out = []
        for part in parts:
            self.lineno += 1
            out.append((self.lineno, part))
        return out


class NativeFollower:
    """Records appended to the capture files in ``folder``, poll by poll.

    The recorder's live file (``*.jsonl.zst.part``) is followed too; when it is
    renamed to its final name the follower carries on in the renamed file at the
    same offset.
    """

    def __init__(
        self, folder: Path, pattern: str = "*.jsonl.zst", *, on_bad_frames: str = "error"
    ) -> None:
        self.folder = folder
        self.pattern = pattern
        self.on_bad_frames = on_bad_frames
        self._tail: _Tail | None = None
        self._done: set[str] = set()
        #: Damaged frames skipped so far (``on_bad_frames="skip"``): ``(path, offset, reason)``.
        self.bad_frames: list[tuple[str, int, str]] = []

    def _files(self) -> list[Path]:
        found = [
            p
            for pattern in (self.pattern, self.pattern + PART_SUFFIX)
            for p in self.folder.glob(pattern)
            if not p.name.startswith(".tmp-")
        ]
        return sorted(found, key=lambda p: _final_name(p.name))

    def poll(self) -> list[RawRecord]:
        """Every record completed since the last poll (possibly none)."""
        out: list[RawRecord] = []
        while True:
            files = [p for p in self._files() if _final_name(p.name) not in self._done]
            if self._tail is None:
                if not files:
                    return out
                self._tail = _Tail(files[0], self.on_bad_frames)
            tail = self._tail
            if not tail.path.exists():  # the live file was renamed to its final name
                final = tail.path.with_name(_final_name(tail.path.name))
                if final.exists():
                    tail.path = final
            out.extend(self._records(tail))
            current = _final_name(tail.path.name)
            newer = [p for p in files if _final_name(p.name) > current]
            if not newer:
                return out
            # rotated: the current file is complete; read what is left and move on
            out.extend(self._records(tail))
            self.bad_frames.extend(tail.bad_frames)
            self._done.add(current)
            self._tail = None

    def close(self) -> None:
        """Gather the damage counted in the file being followed (call when stopping)."""
        if self._tail is not None:
            self.bad_frames.extend(self._tail.bad_frames)
            self._tail.bad_frames = []

    @staticmethod
    def _records(tail: _Tail) -> list[RawRecord]:
        recs = []
        for lineno, raw in tail.read_new():
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
                recs.append(
                    RawRecord(
                        int(obj["recv_ns"]),
                        str(obj["conn"]),
                        str(obj["kind"]),
                        str(obj.get("data", "")),
                        obj.get("url"),
                        str(tail.path),
                        lineno,
                        obj.get("venue"),
                    )
                )
            except (ValueError, KeyError, TypeError):
                raise DataError(
                    f"not a JSON capture record: {raw[:80]!r}", path=str(tail.path), line=lineno
                ) from None
        return recs


def _final_name(name: str) -> str:
    return name.removesuffix(PART_SUFFIX)
