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
from seriesfactory.schema import RawRecord

__all__ = ["NativeFollower"]

_CHUNK = 1 << 20


class _Tail:
    """Decoding state of one growing file: byte offset, decoder, partial last line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.lineno = 0
        self.partial = b""
        self.dctx = zstandard.ZstdDecompressor()
        self.dobj = self.dctx.decompressobj()

    def read_new(self) -> list[tuple[int, bytes]]:
        """Complete lines appended since the last call, as ``(lineno, bytes)``."""
        data = b""
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            while block := fh.read(_CHUNK):
                start = self.offset
                self.offset += len(block)
                while block:
                    try:
                        data += self.dobj.decompress(block)
                    except zstandard.ZstdError as exc:
                        raise DataError(
                            f"damaged zstd data in the block read at byte {start} ({exc}); "
                            "restore the file, or read it with 'book snapshots "
                            "--on-bad-frames skip'",
                            path=str(self.path),
                        ) from None
                    if not self.dobj.eof:
                        break
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
    """Records appended to the capture files in ``folder`` (``pattern``), poll by poll."""

    def __init__(self, folder: Path, pattern: str = "*.jsonl.zst") -> None:
        self.folder = folder
        self.pattern = pattern
        self._tail: _Tail | None = None
        self._done: set[str] = set()

    def _files(self) -> list[Path]:
        return sorted(
            (p for p in self.folder.glob(self.pattern) if not p.name.startswith(".tmp-")),
            key=lambda p: p.name,
        )

    def poll(self) -> list[RawRecord]:
        """Every record completed since the last poll (possibly none)."""
        out: list[RawRecord] = []
        while True:
            files = [p for p in self._files() if p.name not in self._done]
            if self._tail is None:
                if not files:
                    return out
                self._tail = _Tail(files[0])
            out.extend(self._records(self._tail))
            newer = [p for p in files if p.name > self._tail.path.name]
            if not newer:
                return out
            # rotated: the current file is complete; read what is left and move on
            out.extend(self._records(self._tail))
            self._done.add(self._tail.path.name)
            self._tail = None

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
