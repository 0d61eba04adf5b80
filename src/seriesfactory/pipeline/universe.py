"""Universe jobs: one command over many symbols, split into Dask tasks (docs/scale.md).

A universe job is a single-symbol job (``download``, ``trades``, ``series``, ``bars build``,
``features trades``) run for every symbol of a list. It is split into tasks that are
independent and idempotent:

- **fetch** tasks, one per raw-file unit of one symbol (a calendar month the venue archives
  as one monthly file, else one day): download and verify the raw file(s) into the raw tier
  and, for the commands that read the trades tier, parse them into it. A fetch task writes
  only files whose names its inputs fix (raw file name; trades day files keyed by the raw
  file's SHA-256), through a temporary name and a rename, so running it twice, or two copies
  of it at once, leaves the same bytes.
- one **symbol** task per symbol, after its fetch tasks: the sequential pass (ticks,
  aggregation, bars, features carry state in time order), fed partition by partition from
  the tiers, writing the symbol's output. It is the very function a single-symbol run calls,
  so its output is byte-identical to that run's.
- a symbol whose range is one fetch unit is one task: the fetch, then the pass.

:func:`run_universe` builds the graph once (``dask.delayed``) and hands it to the scheduler
``--scheduler`` names: ``sync`` (Dask's synchronous scheduler, in process), ``processes``
(Dask's process-pool scheduler over the local cores, on workers forked from a fork server that
has imported what the tasks need: :mod:`seriesfactory.pipeline.pool`) or ``tcp://host:port`` (a
running Dask cluster through ``distributed.Client``). Workers read and write the tiers
themselves; what travels back to the client is one small :class:`SymbolOutcome` per symbol. A
symbol that fails is reported in its outcome and does not stop the others.

Every path is made by the job from ``cache_dir`` / ``output_dir`` (:class:`Paths`), the one
place a storage layer other than the local file system would slot in.

Symbol lists (:func:`resolve_symbols`) are checked before any task starts: each name by the
file-name rule of :mod:`seriesfactory.core.names`, duplicates, and (on Binance, when its
``exchangeInfo`` can be fetched) symbols the venue does not list. ``VENUE:top:N`` takes the
``N`` trading symbols with the largest 24-hour quote volume in the venue's home quote.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import re
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from seriesfactory.config import Settings
from seriesfactory.core import progress
from seriesfactory.core.names import check_symbol
from seriesfactory.core.time import NS_PER_DAY, format_range_part
from seriesfactory.errors import InputError, NetworkError, SeriesFactoryError
from seriesfactory.pipeline.pool import SCHEDULER_ENV, requested_scheduler

if TYPE_CHECKING:
    from seriesfactory.core.storage import Remote
    from seriesfactory.pipeline.pool import CommandLanes
    from seriesfactory.transforms.aggregates import AggregationParams
    from seriesfactory.transforms.bars import BarSpec

__all__ = [
    "SCHEDULER_ENV",
    "BarsJob",
    "DownloadJob",
    "FeaturesJob",
    "Pair",
    "SeriesJob",
    "SymbolOutcome",
    "TradesJob",
    "UniverseJob",
    "fetch_units",
    "resolve_symbols",
    "run_universe",
    "scheduler_choice",
    "trades_name",
    "write_trades",
]

#: Seconds to wait for a Dask scheduler to answer before giving up.
CONNECT_TIMEOUT_S = 5.0
#: Seconds to wait for a venue's exchangeInfo / 24h ticker.
INFO_TIMEOUT_S = 10.0

_TCP = re.compile(r"^tcp://[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")
_TOP = re.compile(r"^([a-z-]+):top:(\d+)$", re.IGNORECASE)

#: REST paths of a Binance market's exchange info and 24h ticker, and its home quote.
_BINANCE_INFO: dict[str, tuple[str, str, str, str]] = {
    "binance": ("binance_spot_api_url", "/api/v3/exchangeInfo", "/api/v3/ticker/24hr", "USDT"),
    "binance-usdm": (
        "binance_usdm_api_url", "/fapi/v1/exchangeInfo", "/fapi/v1/ticker/24hr", "USDT"
    ),
    "binance-coinm": (
        "binance_coinm_api_url", "/dapi/v1/exchangeInfo", "/dapi/v1/ticker/24hr", "USD"
    ),
}  # fmt: skip


# -- symbol lists ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Pair:
    """One symbol of a universe as the venue writes it, with its base and quote assets."""

    symbol: str
    base: str
    quote: str


def _get_json(url: str) -> Any:
    import httpx

    try:
        response = httpx.get(url, timeout=INFO_TIMEOUT_S, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise NetworkError(f"{url}: {exc or type(exc).__name__}") from None
    if response.status_code != 200:
        raise NetworkError(f"{url}: HTTP {response.status_code}")
    try:
        return response.json()
    except ValueError as exc:
        raise NetworkError(f"{url}: not JSON ({exc})") from None


def exchange_info(venue: str, settings: Settings) -> dict[str, dict[str, Any]]:
    """The venue's listed symbols (``exchangeInfo``): symbol -> its entry. Binance only."""
    attr, info_path, _, _ = _BINANCE_INFO[venue]
    url = f"{getattr(settings, attr)}{info_path}"
    doc = _get_json(url)
    try:
        return {str(s["symbol"]): s for s in doc["symbols"]}
    except (KeyError, TypeError) as exc:
        raise NetworkError(f"{url}: unexpected exchangeInfo body (no {exc})") from None


def top_symbols(venue: str, n: int, settings: Settings) -> list[str]:
    """The ``n`` trading symbols of ``venue`` quoted in its home quote, by 24h quote volume.

    Ties (equal volume) are broken by the symbol's name, so the list is deterministic.
    """
    attr, _, ticker_path, home = _BINANCE_INFO[venue]
    listed = exchange_info(venue, settings)
    url = f"{getattr(settings, attr)}{ticker_path}"
    rows = _get_json(url)
    if not isinstance(rows, list):
        raise NetworkError(f"{url}: unexpected 24h ticker body (not a list)")
    volumes: list[tuple[float, str]] = []
    for row in rows:
        try:
            sym = str(row["symbol"])
            volume = float(row.get("quoteVolume") or row.get("volume") or 0.0)
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        entry = listed.get(sym)
        if entry is None:
            continue
        status = entry.get("status", entry.get("contractStatus", "TRADING"))
        quote = entry.get("quoteAsset", "")
        if status == "TRADING" and quote == home:
            volumes.append((volume, sym))
    volumes.sort(key=lambda v: (-v[0], v[1]))
    return [s for _, s in volumes[:n]]


def _read_symbols_file(path: Path) -> list[tuple[str, str]]:
    """``(symbol, where)`` per line of ``path``: blank lines and ``#`` comments are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"--symbols-file {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--symbols-file {path} cannot be read ({exc})") from None
    out: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        name = line.split("#", 1)[0].strip()
        if name:
            out.append((name, f"--symbols-file {path}:{number}"))
    if not out:
        raise InputError(f"--symbols-file {path} lists no symbol (one a line; '#' comments)")
    return out


def resolve_symbols(
    symbols: str | None, symbols_file: Path | None, *, venue: str, settings: Settings,
    split: Callable[[str, str], tuple[str, str]],
) -> list[Pair]:  # fmt: skip
    """The universe ``--symbols`` / ``--symbols-file`` name, checked before any work.

    ``split`` turns ``(venue, symbol)`` into ``(base, quote)`` (raising
    :class:`InputError` for a symbol it cannot split). Refused, with one line naming the
    entry: an empty entry, a name that cannot be a file name (path separators, ``..``),
    a duplicate (case-insensitive), a symbol the venue's exchange info does not list.
    """
    if symbols is not None and symbols_file is not None:
        raise InputError("give --symbols or --symbols-file, not both")
    entries: list[tuple[str, str]]
    checked_listing = False
    if symbols_file is not None:
        entries = _read_symbols_file(symbols_file)
    else:
        assert symbols is not None
        top = _TOP.match(symbols.strip())
        if top is not None:
            named, n = top.group(1).lower(), int(top.group(2))
            if named != venue:
                raise InputError(
                    f"--symbols {symbols!r} names venue {named!r} but the job's venue is "
                    f"{venue!r}; write {venue}:top:{n}"
                )
            if venue not in _BINANCE_INFO:
                raise InputError(
                    f"--symbols {symbols!r}: top-N lists need a venue with exchange info "
                    f"({', '.join(_BINANCE_INFO)}); list the symbols instead"
                )
            if not 1 <= n <= 2000:
                raise InputError(f"--symbols {symbols!r}: N must be between 1 and 2000")
            entries = [(s, f"--symbols {symbols}") for s in top_symbols(venue, n, settings)]
            if not entries:
                raise InputError(f"--symbols {symbols!r}: the venue lists no trading symbol")
            checked_listing = True
        else:
            parts = [s.strip() for s in symbols.split(",")]
            if not symbols.strip():
                raise InputError("--symbols is empty; give e.g. --symbols BTCUSDT,ETHUSDT")
            if "" in parts:
                raise InputError(
                    f"--symbols {symbols!r} holds an empty entry; separate symbols by one comma"
                )
            entries = [(s, "--symbols") for s in parts]
    seen: dict[str, str] = {}
    pairs: list[Pair] = []
    for name, where in entries:
        check_symbol(name, venue=venue, option=where)
        key = name.upper()
        if key in seen:
            raise InputError(
                f"{where}: {name} is listed twice (also as {seen[key]}); give each symbol once"
            )
        seen[key] = name
        base, quote = split(venue, name)
        pairs.append(Pair(name, base, quote))
    if not checked_listing and venue in _BINANCE_INFO:
        _check_listed(pairs, venue, settings)
    return pairs


def _check_listed(pairs: list[Pair], venue: str, settings: Settings) -> None:
    """Refuse symbols the venue's exchange info does not list (skipped when it is unreachable)."""
    try:
        listed = exchange_info(venue, settings)
    except NetworkError as exc:
        progress.current().notice(
            f"cannot check the symbols against {venue}'s exchange info ({exc}); each symbol is "
            "checked when its files are fetched"
        )
        return
    upper = {s.upper() for s in listed}
    unknown = [p.symbol for p in pairs if p.symbol.upper() not in upper]
    if unknown:
        raise InputError(
            f"--symbols: {', '.join(unknown)} not listed by {venue}'s exchange info; check the "
            "spelling (as the venue writes it, e.g. BTCUSDT)"
        )


# -- where tasks run ------------------------------------------------------------------------------
Scheduler = str  # "sync", "processes" or "tcp://host:port"


def scheduler_choice(text: str | None, symbols: int) -> Scheduler:
    """``--scheduler`` (else ``SERIESFACTORY_SCHEDULER``, else sync for one symbol, processes
    for several), checked."""
    value = requested_scheduler(text, several=symbols > 1)
    option = "--scheduler" if text is not None else SCHEDULER_ENV
    if value.lower() in ("sync", "processes"):
        return value.lower()
    if _TCP.match(value):
        return value
    raise InputError(
        f"{option} {value!r} is unknown; use sync, processes or tcp://host:port (a Dask scheduler)"
    )


# -- outcomes -------------------------------------------------------------------------------------
@dataclass(slots=True)
class SymbolOutcome:
    """What a universe job did for one symbol: rows written, seconds, outputs, the error."""

    symbol: str
    rows: int = 0
    seconds: float = 0.0
    outputs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass(slots=True)
class SymbolDone:
    """What a symbol pass returns: rows written, the outputs, warnings for the user."""

    rows: int
    outputs: Sequence[Path | str]
    warnings: list[str] = field(default_factory=list)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, SeriesFactoryError):
        return str(exc)
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    frame = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    at = f" at {Path(frame[0].filename).name}:{frame[0].lineno}" if frame else ""
    return f"{type(exc).__name__}: {exc}{at}"


# -- jobs -----------------------------------------------------------------------------------------
class UniverseJob(Protocol):
    """A single-symbol job, split into fetch units and one sequential pass per symbol."""

    @property
    def venue(self) -> str: ...

    @property
    def from_ns(self) -> int: ...

    @property
    def to_ns(self) -> int: ...

    def fetch(self, pair: Pair, lo_ns: int, hi_ns: int) -> None:
        """Download, verify (and parse into a tier) the raw files of ``[lo_ns, hi_ns)``."""

    def run(self, pair: Pair) -> SymbolDone:
        """The symbol's sequential pass over the tiers: write its output(s)."""


def fetch_units(
    from_ns: int, to_ns: int, *, today_index: int | None = None
) -> list[tuple[int, int]]:
    """``[lo, hi)`` ranges of one raw-file unit each covering ``[from_ns, to_ns)``.

    A calendar month whose every day the range touches, wholly before today, is one unit (one
    monthly archive on Binance); every other day is its own unit (one daily file). That is
    the split the venues' own planning makes (by the days a range touches), so a unit fetched
    alone names the same files as the whole range does. Units are clipped to the range.
    """
    if today_index is None:
        today_index = time.time_ns() // NS_PER_DAY
    first, last = from_ns // NS_PER_DAY, (to_ns - 1) // NS_PER_DAY
    units: list[tuple[int, int]] = []
    day = first
    epoch = dt.date(1970, 1, 1)
    while day <= last:
        date = epoch + dt.timedelta(days=day)
        if date.day == 1:
            nxt = dt.date(date.year + (date.month == 12), date.month % 12 + 1, 1)
            end = (nxt - epoch).days
            if end - 1 <= last and end <= today_index:
                units.append((max(day * NS_PER_DAY, from_ns), min(end * NS_PER_DAY, to_ns)))
                day = end
                continue
        units.append((max(day * NS_PER_DAY, from_ns), min((day + 1) * NS_PER_DAY, to_ns)))
        day += 1
    return units


@dataclass(frozen=True, slots=True, kw_only=True)
class _TierJob:
    venue: str
    from_ns: int
    to_ns: int
    #: This machine's cache folder (the raw tier; the whole lake when ``lake`` is None).
    cache_dir: Path
    settings: Settings
    #: The lake on an object store (docs/scale.md): the trades tier, tick sets and aggregates
    #: entries published there; the raw tier stays in ``cache_dir`` on each machine.
    lake: Remote | None = None

    def _download(self, pair: Pair, lo_ns: int, hi_ns: int, kind: Any = "aggTrades") -> bool:
        from seriesfactory.pipeline.raw_files import download_raw

        got = download_raw(
            self.venue, base=pair.base, quote=pair.quote, from_ns=lo_ns, to_ns=hi_ns,
            cache_dir=self.cache_dir, settings=self.settings, kind=kind,
        )  # fmt: skip
        return bool(got.paths)

    def _ingest(self, pair: Pair, lo_ns: int, hi_ns: int, kind: Any, on_bad_rows: str) -> None:
        """Download the unit's raw files, then parse them into the trades tier (with a lake,
        a raw file whose ingest record is published there is not downloaded: docs/scale.md)."""
        from seriesfactory.pipeline.exchange import ensure_trades

        if self.lake is not None or self._download(pair, lo_ns, hi_ns, kind):
            ensure_trades(
                self.venue, base=pair.base, quote=pair.quote, from_ns=lo_ns, to_ns=hi_ns,
                cache_dir=self.cache_dir, settings=self.settings, on_bad_rows=on_bad_rows,
                kind=kind, lake=self.lake, empty_ok=True,
            )  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class DownloadJob(_TierJob):
    """``download``: raw files only; with ``candles_dir`` (klines) also the candles file."""

    kind: Literal["aggTrades", "trades", "klines"] = "aggTrades"
    interval: str = "1m"
    candles_dir: Path | None = None

    def fetch(self, pair: Pair, lo_ns: int, hi_ns: int) -> None:
        self._download(pair, lo_ns, hi_ns, self.kind)

    def run(self, pair: Pair) -> SymbolDone:
        from seriesfactory.core.atomic import atomic_write_parquet
        from seriesfactory.pipeline.raw_files import download_raw, klines_table

        got = download_raw(
            self.venue, base=pair.base, quote=pair.quote, from_ns=self.from_ns, to_ns=self.to_ns,
            cache_dir=self.cache_dir, settings=self.settings, kind=self.kind,
            interval=self.interval,
        )  # fmt: skip
        if not got.paths and not got.recent_days:
            from seriesfactory.errors import SourceError

            raise SourceError(
                f"{self.venue}: no file of {got.symbol} exists for the range on the server; "
                "check the symbol, the dates and the mirror URL"
            )
        outputs = list(got.paths)
        rows = len(got.paths)
        if self.candles_dir is not None:
            table = klines_table(
                got.paths, from_ns=self.from_ns, to_ns=self.to_ns,
                max_bytes=self.settings.max_member_bytes,
            )  # fmt: skip
            if table is not None:
                out = self.candles_dir / klines_name(
                    pair.base, pair.quote, self.venue, self.from_ns, self.to_ns, self.interval
                )
                atomic_write_parquet(out, table)
                outputs, rows = [out], table.num_rows
        return SymbolDone(rows, outputs)


def klines_name(base: str, quote: str, venue: str, from_ns: int, to_ns: int, interval: str) -> str:
    """``{base}-{quote}_{venue}_{from}-{to}_klines-{interval}.parquet``, lower case."""
    span = f"{format_range_part(from_ns)}-{format_range_part(to_ns)}"
    return f"{base}-{quote}_{venue}_{span}_klines-{interval}.parquet".lower()


def trades_name(
    base: str, quote: str, venue: str, from_ns: int, to_ns: int, kind: str, fmt: str
) -> str:
    """``{base}-{quote}_{venue}_{from}-{to}_{kind}.{fmt}``, lower case: the scheme of ``series``."""
    span = f"{format_range_part(from_ns)}-{format_range_part(to_ns)}"
    return f"{base}-{quote}_{venue}_{span}_{kind}.{fmt}".lower()


@dataclass(slots=True)
class TradesWritten:
    #: Where the file is: a local path or an object-store URL.
    output: str
    rows: int
    bad_rows: int
    warning: str | None


def write_trades(
    venue: str, *, base: str, quote: str, from_ns: int, to_ns: int, cache_dir: Path,
    output_dir: Path | Remote, settings: Settings, on_bad_rows: str, kind: str, fmt: str,
    from_text: str, to_text: str, lake: Remote | None = None,
) -> TradesWritten:  # fmt: skip
    """What ``trades`` writes for one symbol: the trades tier's range as one file.

    ``from_text`` / ``to_text`` are the range as the user wrote it (kept in the metadata);
    ``output_dir`` may be an object-store folder and ``lake`` the trades tier's store
    (docs/scale.md).
    """
    import pyarrow as pa

    from seriesfactory.lake.outputs import output_folder, publish_table
    from seriesfactory.pipeline.exchange import venue_trades
    from seriesfactory.schema import TRADE_SCHEMA
    from seriesfactory.sources.binance.history import MARKETS

    summary, days = venue_trades(
        venue, base=base, quote=quote, from_ns=from_ns, to_ns=to_ns, cache_dir=cache_dir,
        settings=settings, on_bad_rows=on_bad_rows,
        kind="trades" if kind == "trades" else "aggTrades", lake=lake,
    )  # fmt: skip
    parts = [t for t, _ in days]
    table = pa.concat_tables(parts) if parts else TRADE_SCHEMA.empty_table()
    # History files carry no receive time: the column would be null in every row (docs/cli.md).
    table = table.drop_columns(["recv_ts"])
    named = kind if venue in MARKETS else "trades"  # Bybit and Coinbase have one kind
    name = trades_name(base, quote, venue, from_ns, to_ns, named, fmt)
    meta = {"seriesfactory.trades": json.dumps(
        {"venue": venue, "symbol": summary.symbol, "kind": kind, "from": from_text, "to": to_text}
    )}  # fmt: skip
    with output_folder(output_dir) as folder:
        out = folder.publish(publish_table(folder.local / name, table, fmt, meta))
    return TradesWritten(out, table.num_rows, summary.bad_rows, summary.warning())


@dataclass(frozen=True, slots=True, kw_only=True)
class TradesJob(_TierJob):
    """``trades``: the trades tier's range of each symbol as one file in ``output_dir``."""

    output_dir: Path | Remote
    from_text: str
    to_text: str
    kind: Literal["aggTrades", "trades"] = "aggTrades"
    on_bad_rows: str = "error"
    fmt: str = "parquet"

    def fetch(self, pair: Pair, lo_ns: int, hi_ns: int) -> None:
        self._ingest(pair, lo_ns, hi_ns, self.kind, self.on_bad_rows)

    def run(self, pair: Pair) -> SymbolDone:
        got = write_trades(
            self.venue, base=pair.base, quote=pair.quote, from_ns=self.from_ns, to_ns=self.to_ns,
            cache_dir=self.cache_dir, output_dir=self.output_dir, settings=self.settings,
            on_bad_rows=self.on_bad_rows, kind=self.kind, fmt=self.fmt,
            from_text=self.from_text, to_text=self.to_text, lake=self.lake,
        )  # fmt: skip
        return SymbolDone(got.rows, [got.output], [got.warning] if got.warning else [])


@dataclass(frozen=True, slots=True, kw_only=True)
class SeriesJob(_TierJob):
    """``series`` from one venue: each symbol's ticks tier, aggregated into one output file."""

    params: AggregationParams
    output_dir: Path | Remote
    fields: tuple[str, ...]
    weight_mode: Literal["static", "volume", "mixed"] = "static"
    weights: tuple[float, ...] | None = None
    out_format: Literal["parquet", "csv"] = "parquet"
    on_bad_rows: str = "error"

    def fetch(self, pair: Pair, lo_ns: int, hi_ns: int) -> None:
        """Download the unit's archives, except with a lake: the pass then finds a published
        tick set through the archives' checksums and downloads only when there is none (a
        second machine downloads nothing; docs/scale.md)."""
        if self.lake is None:
            self._download(pair, lo_ns, hi_ns)

    def run(self, pair: Pair) -> SymbolDone:
        from seriesfactory.lake.outputs import output_folder
        from seriesfactory.lake.shared import shared_lake
        from seriesfactory.pipeline.missing import missing_days_warning
        from seriesfactory.pipeline.series import SeriesRequest, build_series

        request = SeriesRequest(
            sources=self.venue, from_ns=self.from_ns, to_ns=self.to_ns, base=pair.base,
            quote=pair.quote, cache_dir=self.cache_dir, on_bad_rows=self.on_bad_rows,
            settings=self.settings, params=self.params, fields=self.fields,
            weight_mode=self.weight_mode, weights=self.weights, out_format=self.out_format,
            output_dir=Path("."),
        )  # fmt: skip
        with output_folder(self.output_dir) as folder, shared_lake(self.cache_dir, self.lake):
            result = build_series(dataclasses.replace(request, output_dir=folder.local))
            written = folder.publish(result.output)
        warning = missing_days_warning(json.loads(result.metadata["seriesfactory.sources"]))
        return SymbolDone(result.summary.rows, [written], [warning] if warning else [])


@dataclass(frozen=True, slots=True, kw_only=True)
class BarsJob(_TierJob):
    """``bars build`` from the trades tier: ``output`` holds ``{symbol}``."""

    spec: BarSpec
    output: str
    fmt: Literal["parquet", "csv"] = "parquet"
    on_bad_rows: str = "error"
    emit_partial: bool = False

    def fetch(self, pair: Pair, lo_ns: int, hi_ns: int) -> None:
        self._ingest(pair, lo_ns, hi_ns, "aggTrades", self.on_bad_rows)

    def run(self, pair: Pair) -> SymbolDone:
        from seriesfactory.lake.outputs import output_folder
        from seriesfactory.pipeline.bars import TradesTier, build_bars

        tier = TradesTier(
            self.venue, pair.symbol, self.from_ns, self.to_ns, self.cache_dir, self.settings,
            self.on_bad_rows, lake=self.lake,
        )  # fmt: skip
        where = output_location(self.output, pair.symbol, self.settings)
        with output_folder(where.parent) as folder:
            local = folder.local / where.name
            built = build_bars(self.spec, tier, local, fmt=self.fmt, emit_partial=self.emit_partial)
            written = folder.publish(local)
        return SymbolDone(built.table.num_rows, [written], built.warnings)


#: Parquet metadata key of a feature table (as ``features`` writes it).
FEATURES_META_KEY = "seriesfactory.features"


def write_feature_table(table: Any, output: Path, fmt: str, meta: dict[str, Any]) -> None:
    """Write a feature table atomically: Parquet (``meta`` as JSON under
    :data:`FEATURES_META_KEY`) or CSV plus its ``.meta.json`` sidecar."""
    from seriesfactory.core.atomic import atomic_write_parquet
    from seriesfactory.lake.outputs import publish_table

    if fmt == "parquet":
        text = json.dumps(meta, default=str)
        atomic_write_parquet(output, table, metadata={FEATURES_META_KEY: text})
        return
    publish_table(output, table, "csv", meta)


def tier_trade_features(
    venue: str, symbol: str, *, from_ns: int, to_ns: int, cache_dir: Path, settings: Settings,
    on_bad_rows: str, params: Any, lake: Remote | None = None,
) -> tuple[Any, dict[str, Any], int, list[str]]:  # fmt: skip
    """Trade features of a symbol's trades tier (fetched first if missing), day by day, as
    ``features trades --venue --symbol --from --to`` computes them.

    Returns ``(table, metadata, trades read, warnings)``.
    """
    import pyarrow as pa

    from seriesfactory.errors import SourceError
    from seriesfactory.pipeline.bars import TradesTier, tier_trades
    from seriesfactory.transforms.features.api import TradeFeatureBuilder

    warnings: list[str] = []
    tier = TradesTier(venue, symbol, from_ns, to_ns, cache_dir, settings, on_bad_rows, lake=lake)
    chunks, source = tier_trades(tier, warnings.append)
    meta: dict[str, Any] = {"kind": "trades", "params": params.to_dict(), **source}
    feats = TradeFeatureBuilder(params)
    parts, rows = feed_trade_features(feats, chunks)
    if rows == 0:
        raise SourceError(f"no trades in {symbol} on {venue}; check the symbol and the dates")
    parts.append(feats.finish(to_ns))
    return pa.concat_tables(parts), meta, rows, warnings


def feed_trade_features(builder: Any, chunks: Iterable[tuple[Any, str]]) -> tuple[list[Any], int]:
    """Feed every chunk of trades (``TradeArrays``, where it came from) to ``builder`` (a
    ``TradeFeatureBuilder``), with a progress bar; returns the feature tables and the trades read.
    A bad value is a ``DataError`` naming the chunk's file."""
    from seriesfactory.errors import DataError

    parts: list[Any] = []
    rows = 0
    with progress.current().task("trade features", unit="trades") as task:
        for tr, path in chunks:
            try:
                parts.append(builder.update(tr.ts_ns, tr.price, tr.qty_base, tr.side))
            except DataError as exc:
                raise DataError(str(exc), path=path) from None
            rows += tr.rows
            task.advance(tr.rows)
    return parts, rows


@dataclass(frozen=True, slots=True, kw_only=True)
class FeaturesJob(_TierJob):
    """``features trades`` from the trades tier: ``output`` holds ``{symbol}``."""

    params: Any  # TradeFeatureParams
    output: str
    fmt: str = "parquet"
    on_bad_rows: str = "error"

    def fetch(self, pair: Pair, lo_ns: int, hi_ns: int) -> None:
        self._ingest(pair, lo_ns, hi_ns, "aggTrades", self.on_bad_rows)

    def run(self, pair: Pair) -> SymbolDone:
        table, meta, _, warnings = tier_trade_features(
            self.venue, pair.symbol, from_ns=self.from_ns, to_ns=self.to_ns,
            cache_dir=self.cache_dir, settings=self.settings, on_bad_rows=self.on_bad_rows,
            params=self.params, lake=self.lake,
        )  # fmt: skip
        out = output_for(self.output, pair.symbol)
        write_feature_table(table, out, self.fmt, meta)
        return SymbolDone(table.num_rows, [out], warnings)


#: The placeholder an ``--output`` of a universe job holds.
SYMBOL_FIELD = "{symbol}"


def output_for(template: str, symbol: str) -> Path:
    """``template`` with ``{symbol}`` replaced by ``symbol`` in lower case."""
    return Path(template.replace(SYMBOL_FIELD, symbol.lower()))


def output_location(template: str, symbol: str, settings: Settings) -> Path | Remote:
    """As :func:`output_for`, where ``template`` may also be a ``file://`` or object-store URL
    (its store settings from ``settings``: docs/scale.md)."""
    from seriesfactory.core.storage import is_url, parse_location

    text = template.replace(SYMBOL_FIELD, symbol.lower())
    if not is_url(text):
        return Path(text)
    return parse_location(text, option="--output", options=settings.storage_options())


# -- tasks and the graph --------------------------------------------------------------------------
def _fetch_task(job: UniverseJob, pair: Pair, lo_ns: int, hi_ns: int) -> str | None:
    """One fetch unit; its error as one line (``None``: done)."""
    try:
        job.fetch(pair, lo_ns, hi_ns)
    except Exception as exc:  # reported per symbol; the other symbols go on
        return _error_text(exc)
    return None


def _symbol_task(job: UniverseJob, pair: Pair, *fetched: str | None) -> SymbolOutcome:
    """One symbol's pass, after its fetch units; a fetch error stops this symbol only."""
    started = time.perf_counter()
    errors = [e for e in fetched if e is not None]
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return SymbolOutcome(pair.symbol, error=f"{errors[0]}{more}")
    try:
        done = job.run(pair)
    except Exception as exc:
        return SymbolOutcome(
            pair.symbol, seconds=time.perf_counter() - started, error=_error_text(exc)
        )
    return SymbolOutcome(
        pair.symbol,
        rows=done.rows,
        seconds=time.perf_counter() - started,
        outputs=[str(p) for p in done.outputs],
        warnings=done.warnings,
    )


def _whole_symbol_task(job: UniverseJob, pair: Pair, lo_ns: int, hi_ns: int) -> SymbolOutcome:
    """A symbol whose range is one fetch unit: the fetch, then the pass, in one task."""
    return _symbol_task(job, pair, _fetch_task(job, pair, lo_ns, hi_ns))


def build_graph(job: UniverseJob, pairs: Sequence[Pair]) -> tuple[list[Any], int]:
    """The job's task graph: one delayed symbol pass per pair (and the number of tasks).

    A symbol whose range is one fetch unit is one task (nothing of the symbol could run beside
    its fetch; and a cluster places a task where its inputs are, so separate fetch tasks, done in
    a moment wherever a worker was free, would pull several symbols' passes onto one worker).
    """
    from dask.delayed import delayed

    nodes: list[Any] = []
    tasks = 0
    for pair in pairs:
        slug = pair.symbol.lower()
        units = fetch_units(job.from_ns, job.to_ns)
        if len(units) == 1:
            (lo, hi), key = units[0], f"pass-{slug}"
            nodes.append(
                delayed(_whole_symbol_task, pure=False)(job, pair, lo, hi, dask_key_name=key)
            )
            tasks += 1
            continue
        fetches = [
            delayed(_fetch_task, pure=False)(
                job, pair, lo, hi, dask_key_name=f"fetch-{slug}-{format_range_part(lo)}"
            )
            for lo, hi in units
        ]
        nodes.append(
            delayed(_symbol_task, pure=False)(job, pair, *fetches, dask_key_name=f"pass-{slug}")
        )
        tasks += len(fetches) + 1
    return nodes, tasks


def run_universe(
    job: UniverseJob, pairs: Sequence[Pair], scheduler: Scheduler, *,
    workers: int | None = None, on_cluster: Callable[[str], None] | None = None,
) -> list[SymbolOutcome]:  # fmt: skip
    """Run ``job`` for every pair on ``scheduler``; one outcome per pair, in the pairs' order.

    ``workers``: processes of the local pool (default: the machine's cores).
    ``on_cluster`` is told the cluster's dashboard link once connected.
    """
    nodes, tasks = build_graph(job, pairs)
    what = f"universe: {len(pairs)} symbol(s)"
    if scheduler.startswith("tcp://"):
        client = connect(address=scheduler)  # before any progress: unreachable is one line
        try:
            if on_cluster is not None:
                on_cluster(str(client.dashboard_link))
            with progress.current().task(what, total=len(nodes), unit="symbols") as t:
                return _on_cluster(client, nodes, t)
        finally:
            client.close(timeout=CONNECT_TIMEOUT_S)
    # before any progress (whose bar runs a thread): the pool's workers are forked from here
    lanes = _lanes(scheduler, workers, DownloadJob if isinstance(job, DownloadJob) else None)
    try:
        with progress.current().task(what, total=tasks, unit="tasks") as t:
            return _local(nodes, scheduler, t, lanes, workers)
    finally:
        if lanes is not None:
            lanes.shutdown(wait=True, cancel_futures=True)


def _lanes(scheduler: str, workers: int | None, kind: type | None) -> CommandLanes | None:
    """The ``processes`` scheduler's executor: the command and ``workers - 1`` processes forked
    from it (from the fork server when it cannot fork itself now; None where neither exists:
    Dask's own spawned pool then)."""
    if scheduler != "processes":
        return None
    from seriesfactory.pipeline.pool import (
        PRELOAD,
        PRELOAD_FETCH,
        CommandLanes,
        forked_pool,
        import_task_modules,
        local_pool,
    )

    fetch_only = kind is DownloadJob
    # what the tasks need, imported once: for this process's lane and the workers forked from it
    import_task_modules(fetch_only=fetch_only)
    count = _workers(workers)
    if count == 1:
        return CommandLanes(1, None)
    pool = forked_pool(count - 1) or local_pool(count - 1, PRELOAD_FETCH if fetch_only else PRELOAD)
    return CommandLanes(count, pool) if pool is not None else None


def _workers(workers: int | None) -> int:
    return workers or os.cpu_count() or 1


def _get_sync() -> Callable[..., Any]:
    from dask.local import get_sync

    return get_sync


def _get_processes() -> Callable[..., Any]:
    from dask.multiprocessing import get

    return get


_LOCAL_SCHEDULERS = {"sync": _get_sync, "processes": _get_processes}


def _local(
    nodes: list[Any], scheduler: str, task: progress.Task, lanes: CommandLanes | None,
    workers: int | None,
) -> list[SymbolOutcome]:  # fmt: skip
    from dask.base import compute
    from dask.callbacks import Callback

    def done(key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        task.advance(1)

    # Dask's local schedulers as functions: named by a string, dask.compute imports distributed
    # (0.2 s) to look for a default Client first
    options: dict[str, Any] = {"scheduler": _LOCAL_SCHEDULERS[scheduler]()}
    if scheduler == "processes":
        options["chunksize"] = 1  # Dask's default (6) hands 6 of 8 symbol passes to one worker
        if lanes is not None:
            options["pool"] = lanes
        else:
            options["num_workers"] = _workers(workers)

    def run() -> Any:
        return compute(*nodes, **options)  # type: ignore[no-untyped-call]

    with Callback(posttask=done):  # type: ignore[no-untyped-call]
        return list(lanes.run(run) if lanes is not None else run())


def connect(address: str) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address``; one line when unreachable."""
    from distributed import Client

    try:
        return Client(  # type: ignore[no-untyped-call]
            address, timeout=f"{CONNECT_TIMEOUT_S}s", set_as_default=False
        )
    except (OSError, TimeoutError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise NetworkError(
            f"--scheduler {address}: no Dask scheduler answers ({first}); start one "
            "('dask scheduler') or check the address"
        ) from None


def _on_cluster(client: Any, nodes: list[Any], task: progress.Task) -> list[SymbolOutcome]:
    """Submit the graph to the cluster; gather the outcomes (cancelled when interrupted)."""
    futures: list[Any] = []
    try:
        futures = client.compute(nodes)
        results: list[SymbolOutcome] = []
        for future in futures:  # in order; the others run meanwhile
            results.append(future.result())
            task.advance(1)
        return results
    except BaseException:
        with contextlib.suppress(Exception):
            client.cancel(futures)
        raise
