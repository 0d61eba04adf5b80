"""Binance public archives: which files cover a range, fetching them, reading them safely.

Archive layout (``{binance_data_url}/``)::

    data/{spot|futures/um|futures/cm}/{daily|monthly}/{trades|aggTrades|klines}/SYMBOL/
        [INTERVAL/]SYMBOL-[INTERVAL|KIND]-{YYYY-MM-DD|YYYY-MM}.zip  (+ .CHECKSUM)

Plan for ``[from, to)``: days before today (UTC) come from archives; a calendar
month wholly inside the range and wholly past comes from its monthly file,
every other day from its daily file. A monthly file not yet published (404)
falls back to the month's daily files. Days from today on are not archived yet.

Sources: ``binance`` (spot, ``BTCUSDT``), ``binance-usdm`` (``BTCUSDT``),
``binance-coinm`` (``BTCUSD_PERP``; the quote must be USD).
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal

from seriesfactory.config import Settings
from seriesfactory.core.threads import prefetch
from seriesfactory.core.time import NS_PER_DAY
from seriesfactory.errors import InputError, IntegrityError, MissingFileError, SourceError
from seriesfactory.sources._fetch import Fetcher
from seriesfactory.sources.binance.parse import Kind, Market, ParsedTrades, parse_trades_csv

_isal: Any
_igzip: Any
try:  # ISA-L inflate and CRC-32, several times faster than zlib; optional
    _isal = importlib.import_module("isal.isal_zlib")
    _igzip = importlib.import_module("isal.igzip_lib")
    _crc32 = _isal.crc32
except ImportError:  # pragma: no cover - depends on the platform's wheels
    _isal = _igzip = None
    _crc32 = zlib.crc32

__all__ = [
    "MARKETS",
    "Archive",
    "contract_size",
    "fetch_archives",
    "iter_member_pieces",
    "parse_archive",
    "plan_archives",
    "read_single_member",
    "symbol_for",
]

MARKETS: dict[str, Market] = {"binance": "spot", "binance-usdm": "usdm", "binance-coinm": "coinm"}
_ROOTS: dict[str, str] = {
    "spot": "data/spot",
    "usdm": "data/futures/um",
    "coinm": "data/futures/cm",
}
ArchiveKind = Literal["trades", "aggTrades", "klines"]


def symbol_for(market: Market, base: str, quote: str) -> str:
    """The venue symbol of a pair: ``BTCUSDT``; ``BTCUSD_PERP`` on COIN-M."""
    b, q = base.upper(), quote.upper()
    if market == "coinm":
        if q != "USD":
            raise InputError(
                f"binance-coinm quotes in USD (e.g. BTCUSD_PERP); use --quote USD, not {quote}"
            )
        return f"{b}USD_PERP"
    return f"{b}{q}"


def _date(day_index: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=day_index)


@dataclass(frozen=True, slots=True)
class Archive:
    """One archive: its path under the data URL and the day indices it covers."""

    path: str
    days: tuple[int, ...]
    monthly: bool

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name


def daily_archive(
    market: Market, kind: ArchiveKind, symbol: str, day_index: int, interval: str = "1m"
) -> Archive:
    d = _date(day_index).isoformat()
    sub = f"{symbol}/{interval}" if kind == "klines" else symbol
    label = interval if kind == "klines" else kind
    return Archive(
        f"{_ROOTS[market]}/daily/{kind}/{sub}/{symbol}-{label}-{d}.zip", (day_index,), False
    )


def monthly_archive(
    market: Market, kind: ArchiveKind, symbol: str, days: tuple[int, ...], interval: str = "1m"
) -> Archive:
    m = _date(days[0]).strftime("%Y-%m")
    sub = f"{symbol}/{interval}" if kind == "klines" else symbol
    label = interval if kind == "klines" else kind
    return Archive(f"{_ROOTS[market]}/monthly/{kind}/{sub}/{symbol}-{label}-{m}.zip", days, True)


def plan_archives(
    market: Market,
    kind: ArchiveKind,
    symbol: str,
    from_ns: int,
    to_ns: int,
    *,
    today_index: int,
    interval: str = "1m",
) -> tuple[list[Archive], list[int]]:
    """Archives covering ``[from_ns, to_ns)``, and the day indices not archived yet."""
    first, last = from_ns // NS_PER_DAY, (to_ns - 1) // NS_PER_DAY
    archived = [d for d in range(first, last + 1) if d < today_index]
    recent = [d for d in range(first, last + 1) if d >= today_index]
    months: dict[tuple[int, int], list[int]] = {}
    for d in archived:
        date = _date(d)
        months.setdefault((date.year, date.month), []).append(d)
    plan: list[Archive] = []
    for (year, month), days in months.items():
        nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
        month_days = (nxt - dt.date(year, month, 1)).days
        if len(days) == month_days:
            plan.append(monthly_archive(market, kind, symbol, tuple(days), interval))
        else:
            plan.extend(daily_archive(market, kind, symbol, d, interval) for d in days)
    return plan, recent


def raw_path(cache_dir: Path, archive: Archive) -> Path:
    return cache_dir / "raw" / "binance" / archive.path


def fetch_archives(
    archives: list[Archive],
    *,
    cache_dir: Path,
    settings: Settings,
    downloader: Fetcher,
    market: Market,
    kind: ArchiveKind,
    symbol: str,
    interval: str = "1m",
) -> list[tuple[Archive, Path]]:
    """Download (or reuse) every archive, verified; monthly 404 -> that month's daily files.

    A month whose monthly file is not in the raw tier but whose daily files all
    are (an earlier run fell back to them) uses those, without a request, so a
    warm run needs no server. A daily file the server does not have (404) is
    left out: the venue had no trading that day or the symbol did not exist.
    Every other failure raises.
    """

    def cached(a: Archive) -> bool:
        path = raw_path(cache_dir, a)
        return path.is_file() and path.with_name(path.name + ".CHECKSUM").is_file()

    def one(a: Archive) -> list[tuple[Archive, Path]]:
        url = f"{settings.binance_data_url}/{a.path}"
        if a.monthly and not cached(a):
            dailies = [daily_archive(market, kind, symbol, d, interval) for d in a.days]
            if all(cached(d) for d in dailies):
                return [pair for part in downloader.map(one, dailies) for pair in part]
        try:
            return [(a, downloader.fetch_verified(url, raw_path(cache_dir, a)))]
        except MissingFileError:
            if not a.monthly:
                return []
        dailies = [daily_archive(market, kind, symbol, d, interval) for d in a.days]
        return [pair for part in downloader.map(one, dailies) for pair in part]

    return [pair for part in downloader.map(one, archives) for pair in part]


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


def parse_archive(
    path: Path,
    *,
    market: Market,
    kind: Kind,
    contract_size: float | None = None,
    on_bad_rows: str = "error",
    max_bytes: int,
    block_bytes: int = 1 << 20,
) -> Iterator[ParsedTrades]:
    """An archive's trades, piece by piece, in time order (:func:`parse_trades_csv` each).

    Inflating runs a few pieces ahead on its own thread (ISA-L releases the
    GIL) while the caller parses; line numbers and the time-order check carry
    across pieces, so the result equals parsing the whole member at once.
    """
    after = -(2**63)
    line = 1
    pieces = iter_member_pieces(path, max_bytes=max_bytes, block_bytes=block_bytes)
    for member, data in prefetch(pieces):
        parsed = parse_trades_csv(
            data, name=f"{path}!{member}", market=market, kind=kind, contract_size=contract_size,
            on_bad_rows=on_bad_rows, first_line=line, header=None if line == 1 else False,
            after_ts_ns=after,
        )  # fmt: skip
        assert parsed.lines is not None
        line += parsed.lines
        if parsed.table.num_rows:
            after = int(parsed.table.column("ts").cast("int64")[-1].as_py())
        yield parsed


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


def contract_size(
    symbol: str, *, cache_dir: Path, settings: Settings, downloader: Fetcher
) -> float:
    """USD per contract of a COIN-M symbol, from ``/dapi/v1/exchangeInfo`` (cached).

    The cached body is reused while it lists the symbol; otherwise it is fetched
    again. A symbol the venue does not list is an error: the size is never guessed.
    """
    path = cache_dir / "raw" / "binance" / "dapi" / "v1" / "exchangeInfo.json"
    for attempt in range(2):
        if attempt == 1 or not path.is_file():
            downloader.fetch(f"{settings.binance_coinm_api_url}/dapi/v1/exchangeInfo", path)
        try:
            doc = json.loads(path.read_bytes())
            sizes = {s["symbol"]: float(s["contractSize"]) for s in doc["symbols"]}
        except (ValueError, KeyError, TypeError) as exc:
            path.unlink(missing_ok=True)
            raise SourceError(f"{path}: unexpected exchangeInfo body ({exc})") from exc
        if symbol in sizes and sizes[symbol] > 0:
            return sizes[symbol]
    raise SourceError(
        f"{symbol} is not listed in {settings.binance_coinm_api_url}/dapi/v1/exchangeInfo; "
        "check the symbol (COIN-M perpetuals look like BTCUSD_PERP)"
    )
