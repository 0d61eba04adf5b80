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
"""

from __future__ import annotations

import gzip
import heapq
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import zstandard

from seriesfactory.errors import DataError, InputError
from seriesfactory.schema.raw import RawRecord

__all__ = ["FORMATS", "ReadReport", "detect_format", "read_records"]

Format = Literal["auto", "native", "hftbacktest", "cryptofeed"]
FORMATS: tuple[str, ...] = ("auto", "native", "hftbacktest", "cryptofeed")
_KINDS = frozenset({"msg", "rest", "open", "close", "gap"})
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


@dataclass(slots=True)
class ReadReport:
    """What the readers noticed: ``truncated`` holds ``(path, line)`` of cut-short lines."""

    truncated: list[tuple[str, int]] = field(default_factory=list)
    records: int = 0


def _seconds_to_ns(text: str) -> int:
    """``'1633998512.0633569'`` -> ns, exactly (no float rounding)."""
    whole, _, frac = text.strip().partition(".")
    return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9] or "0")


def _open_text(path: Path, report: ReadReport | None = None) -> Iterator[tuple[int, str, bool]]:
    """Lines of a plain, gzip or zstd file as ``(lineno, text, ends_with_newline)``."""
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic.startswith(_ZSTD_MAGIC):
        lines: Iterable[bytes] = _lines(_zstd_chunks(path, report))
    elif magic.startswith(_GZIP_MAGIC):
        lines = _lines(_gzip_chunks(path))
    else:
        lines = _lines(_plain_chunks(path))
    for lineno, line in enumerate(lines, start=1):
        complete = line.endswith(b"\n")
        yield lineno, line.decode("utf-8", errors="replace").rstrip("\r\n"), complete


def _lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Split a byte stream into lines (keeping ``\\n``); the last may lack one."""
    tail = b""
    for chunk in chunks:
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


def _gzip_chunks(path: Path) -> Iterator[bytes]:
    with gzip.open(path, "rb") as fh:
        try:
            while block := fh.read(_CHUNK):
                yield block
        except EOFError:
            return  # cut short: the partial last line is reported by the caller


def _zstd_chunks(path: Path, report: ReadReport | None) -> Iterator[bytes]:
    """Decoded bytes of every zstd frame, streamed.

    A last frame cut short by a crash yields what it decoded and is reported as
    ``(path, 0)`` in ``report.truncated``.
    """
    dctx = zstandard.ZstdDecompressor()
    dobj = dctx.decompressobj()
    fed = False
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            while block:
                try:
                    out = dobj.decompress(block)
                except zstandard.ZstdError:
                    if report is not None:
                        report.truncated.append((str(path), 0))
                    return
                fed = True
                if out:
                    yield out
                if not dobj.eof:
                    break
                block = dobj.unused_data
                dobj = dctx.decompressobj()
                fed = False
    if fed and report is not None:
        report.truncated.append((str(path), 0))


def detect_format(path: Path) -> str:
    """Guess the format of ``path`` from its first bytes and first line."""
    for _, text, _ in _open_text(path):  # only the first non-empty line is read
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
    raise InputError(
        f"{path}: cannot tell its format; pass --input-format native|hftbacktest|cryptofeed"
    )


def _native(path: Path, report: ReadReport) -> Iterator[RawRecord]:
    pending: tuple[int, str] | None = None
    for lineno, text, complete in _open_text(path, report):
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
            )
        except (ValueError, KeyError, TypeError):
            if not complete:
                report.truncated.append((str(path), lineno))
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
        report.truncated.append((str(path), pending[0]))


def _hftbacktest(path: Path, report: ReadReport) -> Iterator[RawRecord]:
    for lineno, text, complete in _open_text(path):
        if not text.strip():
            continue
        head, sep, body = text.partition(" ")
        if not sep or not head.isdigit() or not body.startswith("{"):
            if not complete:
                report.truncated.append((str(path), lineno))
                continue
            raise DataError(
                f"expected '<ns> <json>', got {text[:60]!r}", path=str(path), line=lineno
            )
        kind = "msg" if body.startswith('{"stream"') else "rest"
        yield RawRecord(int(head), "hftbacktest", kind, body, None, str(path), lineno)


def _cryptofeed_v1(path: Path, report: ReadReport) -> Iterator[RawRecord]:
    conn = path.name
    addr: str | None = None
    for lineno, text, complete in _open_text(path):
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
                yield RawRecord(_seconds_to_ns(ts), conn, "rest", body, url, str(path), lineno)
            else:
                ts, _, body = text.partition(": ")
                yield RawRecord(_seconds_to_ns(ts), conn, "msg", body, addr, str(path), lineno)
        except ValueError:
            if not complete:
                report.truncated.append((str(path), lineno))
                continue
            raise DataError(
                f"not a cryptofeed capture line: {text[:60]!r}", path=str(path), line=lineno
            ) from None


_V3_KINDS = {"recv": "msg", "http": "rest", "connect": "open", "disconnect": "close"}


def _cryptofeed_v3(path: Path, report: ReadReport) -> Iterator[RawRecord]:
    addrs: dict[str, str] = {}
    for lineno, text, complete in _open_text(path):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except ValueError:
            if not complete:
                report.truncated.append((str(path), lineno))
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


def _reader(path: Path, fmt: str, report: ReadReport) -> Iterator[RawRecord]:
    if fmt == "native":
        return _native(path, report)
    if fmt == "hftbacktest":
        return _hftbacktest(path, report)
    if fmt == "cryptofeed":
        with open(path, "rb") as fh:
            is_v3 = fh.read(4).startswith(_ZSTD_MAGIC)
        return _cryptofeed_v3(path, report) if is_v3 else _cryptofeed_v1(path, report)
    raise InputError(f"--input-format {fmt!r} is unknown; use one of {', '.join(FORMATS)}")


def read_records(
    paths: Iterable[Path | str], fmt: str = "auto", report: ReadReport | None = None
) -> Iterator[RawRecord]:
    """Yield the records of ``paths`` in receive order.

    ``native`` files are read one after the other in name order (rotation keeps
    time order); other formats are merged by receive time (e.g. a cryptofeed
    ``.ws`` file and its ``.http`` snapshots).
    """
    report = report if report is not None else ReadReport()
    files = [Path(p) for p in paths]
    for p in files:
        if not p.is_file():
            raise InputError(f"--input {p}: no such file")
    formats = [detect_format(p) if fmt == "auto" else fmt for p in files]
    if all(f == "native" for f in formats):
        streams: list[Iterator[RawRecord]] = [
            _reader(p, "native", report) for p in sorted(files, key=lambda p: p.name)
        ]
        for stream in streams:
            for rec in stream:
                report.records += 1
                yield rec
        return
    merged = heapq.merge(
        *(_reader(p, f, report) for p, f in zip(files, formats, strict=True)),
        key=lambda r: r.recv_ns,
    )
    for rec in merged:
        report.records += 1
        yield rec
