"""Readers of recorded raw market data: our own captures and formats users bring.

Every reader yields :class:`RawRecord` objects, one per received message, in
receive order, with the message text exactly as recorded. Formats:

``native``
    Our recorder's capture: zstd-compressed JSONL, one object per line::

        {"recv_ns": 1723161253937085768, "conn": "binance-1", "venue": "binance",
         "kind": "msg", "url": "wss://...", "data": "{\\"stream\\": ...}"}

    ``kind`` is ``msg`` (a WebSocket message), ``rest`` (a REST body, with
    ``url``), ``open`` / ``close`` (connection lifecycle) or ``gap`` (a known
    gap, e.g. a reconnect). Rotated files are read in name order. A file cut short
    by a crash may end in a partial line (or a partial zstd frame): that line is
    reported in :attr:`ReadReport.truncated` and skipped, never fatal.
``hftbacktest``
    gzip text, ``<local receive ns> <raw JSON>`` per line; the JSON is a
    combined-stream envelope ``{"stream": ..., "data": ...}`` or a bare REST body.
``cryptofeed``
    cryptofeed's raw captures. v1 text (``BINANCE.ws.1.0``, ``BINANCE.http.0.0``):
    ``<url> <-> <ts>`` (connect), ``<url> <- <ts>: <json>`` (sent, skipped),
    ``<ts>: <json>`` (received), ``<url> -> <ts>: <body>`` (REST); ``ts`` in
    float seconds. v3 (``*.jsonl.zst``): JSONL records ``{"t": "recv"|"http"|
    "connect"|"send"|"header"|..., "conn", "ts", "data", "url"|"addr"}``.
    Several files are merged by receive time.

Damage
------
Only the end of a file that may still be growing or was cut by a crash may be torn:
a ``.part`` file, or the newest input (last in name order for native captures, the
latest modified otherwise). There a partial last line, an unfinished zstd frame or
a cut gzip stream is reported in :attr:`ReadReport.truncated` and skipped. Anywhere
else damage is an error naming the file and byte offset (zstd: the damaged frame's
offset in the file; gzip: the offset in the decompressed stream), or, with
``on_bad_frames="skip"``, skipped, counted in :attr:`ReadReport.bad_frames` and
reported: a damaged zstd frame is skipped and the frames after it are still read
(the next frame is found by its magic number); a damaged gzip stream cannot be
resynchronised, so the rest of that file is skipped. An empty file (a ``.part``
the recorder had just opened) is skipped with a note in :attr:`ReadReport.skipped`.
"""

from __future__ import annotations

import heapq
import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import zstandard

from seriesfactory.errors import DataError, InputError
from seriesfactory.raw.formats import FORMATS
from seriesfactory.schema.raw import RawRecord

__all__ = [
    "FORMATS",
    "ReadReport",
    "detect_format",
    "on_bad_frames_choice",
    "read_records",
]

_KINDS = frozenset({"msg", "rest", "open", "close", "gap"})
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


@dataclass(slots=True)
class ReadReport:
    """What the readers noticed.

    ``truncated`` holds ``(path, line)`` of torn ends (line 0: a torn compressed
    frame); ``bad_frames`` ``(path, offset, reason)`` of damage skipped with
    ``on_bad_frames="skip"``; ``skipped`` ``(path, reason)`` of files not read.
    """

    truncated: list[tuple[str, int]] = field(default_factory=list)
    records: int = 0
    bad_frames: list[tuple[str, int, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def warnings(self) -> list[str]:
        """One ``warning: ...`` line per thing noticed (for standard error)."""
        out = [f"warning: {p}: skipped: {why}" for p, why in self.skipped]
        for path, line in self.truncated:
            where = f"{path}:{line}" if line else path
            out.append(f"warning: {where}: torn end (cut short while written) skipped")
        for path, offset, why in self.bad_frames:
            out.append(f"warning: {path}: damaged data at byte {offset} skipped ({why})")
        if self.bad_frames:
            out.append(f"warning: {len(self.bad_frames)} damaged frame(s) skipped in all")
        return out

    def to_dict(self) -> dict[str, object]:
        """The report as plain JSON-able values."""
        return {
            "records": self.records,
            "truncated": [{"file": p, "line": n} for p, n in self.truncated],
            "bad_frames": [{"file": p, "offset": o, "reason": r} for p, o, r in self.bad_frames],
            "skipped_files": [{"file": p, "reason": r} for p, r in self.skipped],
        }


@dataclass(frozen=True, slots=True)
class _Policy:
    """How one file is read: may its end be torn, and what to do with damage."""

    tearable: bool = True
    on_bad_frames: str = "error"


_LENIENT = _Policy()


def _seconds_to_ns(text: str) -> int:
    """``'1633998512.0633569'`` -> ns, exactly (no float rounding)."""
    whole, _, frac = text.strip().partition(".")
    return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9] or "0")


def _open_text(
    path: Path, report: ReadReport | None = None, policy: _Policy = _LENIENT
) -> Iterator[tuple[int, str, bool]]:
    """Lines of a plain, gzip or zstd file as ``(lineno, text, ends_with_newline)``.

    A line cut by skipped damage is dropped (never glued to the next frame's first line).
    """
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic.startswith(_ZSTD_MAGIC):
        lines: Iterable[bytes] = _lines(_zstd_chunks(path, report, policy))
    elif magic.startswith(_GZIP_MAGIC):
        lines = _lines(_gzip_chunks(path, report, policy))
    else:
        lines = _lines(_plain_chunks(path))
    for lineno, line in enumerate(lines, start=1):
        complete = line.endswith(b"\n")
        yield lineno, line.decode("utf-8", errors="replace").rstrip("\r\n"), complete


def _lines(chunks: Iterable[bytes | None]) -> Iterator[bytes]:
    """Split a byte stream into lines (keeping ``\\n``); the last may lack one.

    ``None`` in ``chunks`` marks skipped damage: the partial line before it is dropped.
    """
    tail = b""
    for chunk in chunks:
        if chunk is None:
            tail = b""
            continue
        parts = (tail + chunk).split(b"\n")
        tail = parts.pop()
        for part in parts:
            yield part + b"\n"
    if tail:
        yield tail


def _plain_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            yield block


def _damaged(
    path: Path, offset: int, reason: str, report: ReadReport | None, policy: _Policy, unit: str
) -> None:
    """Skip (count) or raise for damage at ``offset`` of ``path``, as the policy says."""
    if policy.on_bad_frames == "skip":
        if report is not None:
            report.bad_frames.append((str(path), offset, reason))
        return
    raise DataError(
        f"damaged {unit} at byte {offset} ({reason}); the file is not a torn live file, so "
        "this is corruption: restore the file, or pass --on-bad-frames skip to skip it",
        path=str(path),
    )


def _gzip_chunks(path: Path, report: ReadReport | None, policy: _Policy) -> Iterator[bytes | None]:
    """Decoded bytes of a gzip file (every member); a cut or damaged stream per the policy.

    zlib checks each member's CRC-32 and length, so damaged data is an error, not
    different data. Offsets are in the compressed file.
    """
    with open(path, "rb") as fh:
        dobj = zlib.decompressobj(wbits=31)
        pos = 0  # file offset of the next block
        member = 0  # file offset of the current member
        started = False
        while block := fh.read(_CHUNK):
            while block:
                try:
                    out = dobj.decompress(block)
                except zlib.error as exc:
                    reason = f"{exc}; the rest of this gzip file cannot be read"
                    _damaged(path, member, reason, report, policy, "gzip data")
                    yield None
                    return
                started = True
                if out:
                    yield out
                if not dobj.eof:
                    pos += len(block)
                    break
                used = len(block) - len(dobj.unused_data)
                member = pos + used
                pos += used
                block = dobj.unused_data
                dobj = zlib.decompressobj(wbits=31)
                started = False
        if started and not dobj.eof:
            if policy.tearable:  # the file ends inside a member: torn
                if report is not None:
                    report.truncated.append((str(path), 0))
                return
            _damaged(path, member, "the gzip stream ends early", report, policy, "gzip data")
            yield None


#: A frame's decoded bytes are held until its checksum is verified, up to this many.
_FRAME_HOLD = 64 << 20


def _zstd_chunks(path: Path, report: ReadReport | None, policy: _Policy) -> Iterator[bytes | None]:
    """Decoded bytes of every zstd frame, streamed; ``None`` where damage was skipped.

    A frame's output is yielded once the frame ends (so its checksum, when the
    writer stored one, is verified first); a frame larger than 64 MB decoded streams.
    A last frame cut short (the file ends inside it) is a torn end: reported as
    ``(path, 0)`` in ``report.truncated`` where the policy allows, else damage. A
    frame that fails to decode is damage (or a torn end when nothing but it follows
    in a file that may be torn); with ``skip`` reading resumes at the next frame.
    """
    dctx = zstandard.ZstdDecompressor()
    size = path.stat().st_size
    with open(path, "rb") as fh:
        start = 0  # file offset of the current frame
        resyncing = False  # after skipped damage: candidate frames that fail are not counted
        pending = b""  # bytes read past the last frame's end (they start at ``start``)
        while start < size:
            dobj = dctx.decompressobj()
            if not pending:
                fh.seek(start)
            pos = start
            held: list[bytes] = []
            held_bytes = 0
            streaming = False
            end: int | None = None
            error: str | None = None
            while end is None and error is None:
                block, pending = (pending, b"") if pending else (fh.read(_CHUNK), b"")
                if not block:
                    break  # the file ends inside this frame
                try:
                    out = dobj.decompress(block)
                except zstandard.ZstdError as exc:
                    error = str(exc)
                    break
                if out:
                    if streaming:
                        yield out
                    else:
                        held.append(out)
                        held_bytes += len(out)
                        if held_bytes > _FRAME_HOLD:
                            streaming = True
                            yield b"".join(held)
                            held = []
                if dobj.eof:
                    end = pos + len(block) - len(dobj.unused_data)
                    pending = dobj.unused_data  # the file position is just past it
                pos += len(block)
            if end is not None:
                if held:
                    yield b"".join(held)
                resyncing = False
                start = end
                continue
            if error is None:  # the file ends inside this frame
                if held:
                    yield b"".join(held)  # decoded whole blocks; a partial line is reported
                if policy.tearable:
                    if report is not None:
                        report.truncated.append((str(path), 0))
                    return
                why = "the last zstd frame is cut short"
                _damaged(path, start, why, report, policy, "zstd frame")
                return
            pending = b""
            following = _next_magic(fh, start + 1, size)
            if error is not None and following is None and policy.tearable and not resyncing:
                if report is not None:
                    report.truncated.append((str(path), 0))  # garbage after a crash: torn end
                return
            if not resyncing:
                _damaged(path, start, error, report, policy, "zstd frame")
                yield None
            if following is None:
                return
            resyncing = True
            start = following


def _next_magic(fh: BinaryIO, offset: int, size: int) -> int | None:
    """The file offset of the next zstd frame magic at or after ``offset``, if any."""
    fh.seek(offset)
    carry = b""
    base = offset
    while base < size:
        block = fh.read(_CHUNK)
        if not block:
            return None
        data = carry + block
        found = data.find(_ZSTD_MAGIC)
        if found >= 0:
            return base - len(carry) + found
        carry = data[-3:]
        base += len(block)
    return None


def detect_format(path: Path) -> str:
    """Guess the format of ``path`` from its first bytes and first line."""
    found = _detect(path, _LENIENT)
    if found is None:
        raise InputError(
            f"{path}: cannot tell its format; pass --input-format native|hftbacktest|cryptofeed"
        )
    return found


def _detect(path: Path, policy: _Policy) -> str | None:
    """The format of ``path`` by its first non-empty line; ``None`` when it cannot tell."""
    for _, text, _ in _open_text(path, ReadReport(), policy):  # only the first line is read
        if not text.strip():
            continue
        if text.startswith('{"recv_ns"') or ('"recv_ns"' in text and '"kind"' in text):
            return "native"
        if text.startswith('{"t":') or text.startswith('{"t" :'):
            return "cryptofeed"
        head = text.split(" ", 1)[0]
        if head.isdigit() and len(head) >= 16:
            return "hftbacktest"
        if "<->" in text or " -> " in text or (":" in text and head.rstrip(":")[:1].isdigit()):
            return "cryptofeed"
        break
    return None


def _whole(body: str, complete: bool) -> bool:
    """Whether a line's JSON body is whole: a last line without its newline must parse."""
    if complete:
        return True
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def _torn_line(path: Path, lineno: int, report: ReadReport, policy: _Policy) -> None:
    """A last line without its end: torn where the policy allows, else damage."""
    if policy.tearable:
        report.truncated.append((str(path), lineno))
        return
    if policy.on_bad_frames == "skip":
        report.bad_frames.append((str(path), 0, f"line {lineno} is cut short"))
        return
    raise DataError(
        "the last line is cut short, but this is not a .part file nor the newest input: "
        "the file is damaged; restore it or pass --on-bad-frames skip",
        path=str(path),
        line=lineno,
    )


def _native(path: Path, report: ReadReport, policy: _Policy = _LENIENT) -> Iterator[RawRecord]:
    pending: tuple[int, str] | None = None
    for lineno, text, complete in _open_text(path, report, policy):
        if pending is not None:  # an earlier line failed to parse but was not the last one
            raise DataError(
                f"not a JSON capture record: {pending[1][:80]!r}", path=str(path), line=pending[0]
            )
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
            rec = RawRecord(
                recv_ns=int(obj["recv_ns"]),
                conn=str(obj["conn"]),
                kind=str(obj["kind"]),
                data=str(obj.get("data", "")),
                url=obj.get("url"),
                path=str(path),
                line=lineno,
                venue=obj.get("venue"),
            )
        except (ValueError, KeyError, TypeError):
            if not complete:
                _torn_line(path, lineno, report, policy)
                continue
            pending = (lineno, text)
            continue
        if rec.kind not in _KINDS:
            raise DataError(
                f"unknown kind {rec.kind!r}; expected one of {sorted(_KINDS)}",
                path=str(path),
                line=lineno,
            )
        yield rec
    if pending is not None:  # the last line is broken: a crash mid-write
        _torn_line(path, pending[0], report, policy)


def _hftbacktest(path: Path, report: ReadReport, policy: _Policy = _LENIENT) -> Iterator[RawRecord]:
    for lineno, text, complete in _open_text(path, report, policy):
        if not text.strip():
            continue
        head, sep, body = text.partition(" ")
        if not sep or not head.isdigit() or not body.startswith("{") or not _whole(body, complete):
            if not complete:
                _torn_line(path, lineno, report, policy)
                continue
            raise DataError(
                f"expected '<ns> <json>', got {text[:60]!r}", path=str(path), line=lineno
            )
        kind = "msg" if body.startswith('{"stream"') else "rest"
        yield RawRecord(int(head), "hftbacktest", kind, body, None, str(path), lineno)


def _cryptofeed_v1(
    path: Path, report: ReadReport, policy: _Policy = _LENIENT
) -> Iterator[RawRecord]:
    conn = path.name
    addr: str | None = None
    for lineno, text, complete in _open_text(path, report, policy):
        if not text.strip():
            continue
        try:
            if " <-> " in text:
                addr, _, ts = text.partition(" <-> ")
                yield RawRecord(_seconds_to_ns(ts), conn, "open", "", addr, str(path), lineno)
            elif " <- " in text.split(": ", 1)[0]:
                continue  # a message we sent (subscribe): not market data
            elif " -> " in text.split(": ", 1)[0]:
                url, _, rest = text.partition(" -> ")
                ts, _, body = rest.partition(": ")
                if not _whole(body, complete):
                    raise ValueError("a cut REST body")
                yield RawRecord(_seconds_to_ns(ts), conn, "rest", body, url, str(path), lineno)
            else:
                ts, _, body = text.partition(": ")
                if not _whole(body, complete):
                    raise ValueError("a cut JSON body")
                yield RawRecord(_seconds_to_ns(ts), conn, "msg", body, addr, str(path), lineno)
        except ValueError:
            if not complete:
                _torn_line(path, lineno, report, policy)
                continue
            raise DataError(
                f"not a cryptofeed capture line: {text[:60]!r}", path=str(path), line=lineno
            ) from None


_V3_KINDS = {"recv": "msg", "http": "rest", "connect": "open", "disconnect": "close"}


def _cryptofeed_v3(
    path: Path, report: ReadReport, policy: _Policy = _LENIENT
) -> Iterator[RawRecord]:
    addrs: dict[str, str] = {}
    for lineno, text, complete in _open_text(path, report, policy):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except ValueError:
            if not complete:
                _torn_line(path, lineno, report, policy)
                continue
            raise DataError("not a JSON record", path=str(path), line=lineno) from None
        kind = _V3_KINDS.get(obj.get("t", ""))
        if kind is None:
            continue  # header, send, ...
        conn = str(obj.get("conn", path.name))
        if "addr" in obj:
            addrs[conn] = obj["addr"]
        url = obj.get("url") or addrs.get(conn)
        ts_ns = round(float(obj["ts"]) * 1e9)
        yield RawRecord(ts_ns, conn, kind, str(obj.get("data", "")), url, str(path), lineno)


def _reader(
    path: Path, fmt: str, report: ReadReport, policy: _Policy = _LENIENT
) -> Iterator[RawRecord]:
    if fmt == "native":
        return _native(path, report, policy)
    if fmt == "hftbacktest":
        return _hftbacktest(path, report, policy)
    if fmt == "cryptofeed":
        with open(path, "rb") as fh:
            is_v3 = fh.read(4).startswith(_ZSTD_MAGIC)
        if is_v3:
            return _cryptofeed_v3(path, report, policy)
        return _cryptofeed_v1(path, report, policy)
    raise InputError(f"--input-format {fmt!r} is unknown; use one of {', '.join(FORMATS)}")


def _newest(files: list[Path], fmt: str) -> Path | None:
    """The input whose end may be torn besides ``.part`` files: the newest one."""
    if not files:
        return None
    names = [p.name for p in files]
    if fmt == "native" or all(".jsonl.zst" in n for n in names):
        return max(files, key=lambda p: p.name.removesuffix(".part"))
    return max(files, key=lambda p: (p.stat().st_mtime_ns, p.name))


def on_bad_frames_choice(text: str, option: str = "--on-bad-frames") -> str:
    """``'error'`` or ``'skip'``, as given; anything else is refused."""
    if text not in ("error", "skip"):
        raise InputError(f"{option} {text!r} is unknown; use error or skip")
    return text


def read_records(
    paths: Iterable[Path | str],
    fmt: str = "auto",
    report: ReadReport | None = None,
    *,
    on_bad_frames: str = "error",
) -> Iterator[RawRecord]:
    """Yield the records of ``paths`` in receive order.

    ``native`` files are read one after the other in name order (rotation keeps
    time order); other formats are merged by receive time (e.g. a cryptofeed
    ``.ws`` file and its ``.http`` snapshots). Damage: see the module docstring;
    ``on_bad_frames`` is ``error`` (stop, naming file and offset) or ``skip``.
    """
    on_bad_frames_choice(on_bad_frames)
    report = report if report is not None else ReadReport()
    files = [Path(p) for p in paths]
    for p in files:
        if not p.is_file():
            raise InputError(f"--input {p}: no such file")
    newest = _newest(files, fmt)
    policies = {p: _Policy(p.name.endswith(".part") or p == newest, on_bad_frames) for p in files}
    formats: list[str] = []
    kept: list[Path] = []
    for p in files:
        found = _detect(p, policies[p]) if fmt == "auto" else fmt
        if found is None and (p.name.endswith(".part") or p.stat().st_size == 0):
            why = "empty" if p.stat().st_size == 0 else "no complete record yet"
            report.skipped.append((str(p), f"{why} (a capture file just opened)"))
            continue
        if found is None:
            raise InputError(
                f"{p}: cannot tell its format; pass --input-format native|hftbacktest|cryptofeed"
            )
        formats.append(found)
        kept.append(p)
    files = kept
    if all(f == "native" for f in formats):
        streams: list[Iterator[RawRecord]] = [
            _reader(p, "native", report, policies[p]) for p in sorted(files, key=lambda p: p.name)
        ]
        for stream in streams:
            for rec in stream:
                report.records += 1
                yield rec
        return
    merged = heapq.merge(
        *(_reader(p, f, report, policies[p]) for p, f in zip(files, formats, strict=True)),
        key=lambda r: r.recv_ns,
    )
    for rec in merged:
        report.records += 1
        yield rec
