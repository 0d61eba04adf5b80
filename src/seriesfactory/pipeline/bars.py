"""Bars from trades, as a job: from a trades file or the trades tier, with saved builder state.

:func:`build_bars` is what ``seriesfactory bars build`` runs: it reads trades
(:class:`TradesFile`, a CSV or Parquet file; or :class:`TradesTier`, a venue's
days from the trades tier, fetched first if missing), feeds them to one
:class:`~seriesfactory.transforms.bars.BarBuilder` (continued from a saved
state when ``state_file`` exists), writes the bars atomically and then saves the
builder's state, so a run over the next days continues exactly where this one
stopped. :func:`export_bars` rewrites built bars as Parquet or CSV.

A Parquet output carries its spec and its input under the metadata key
:data:`META_KEY` (JSON): ``{"spec": ..., "input": path}`` or ``{"spec": ...,
"venue", "symbol", "from", "to", "raw": [{"name", "sha256"}, ...]}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from seriesfactory.config import Settings
from seriesfactory.core import progress
from seriesfactory.core import state as core_state
from seriesfactory.core.atomic import atomic_write_json
from seriesfactory.core.storage import Remote
from seriesfactory.core.time import to_datetime
from seriesfactory.errors import DataError, InputError, SourceError
from seriesfactory.lake.outputs import publish_table
from seriesfactory.pipeline.exchange import split_symbol, venue_trades
from seriesfactory.transforms.bars import (
    BAR_COLUMNS,
    BarArrays,
    BarBuilder,
    BarSpec,
    TradeArrays,
    read_trades_file,
)

__all__ = [
    "META_KEY",
    "BarsBuilt",
    "TradesFile",
    "TradesTier",
    "build_bars",
    "export_bars",
    "load_state",
    "tier_trades",
    "write_bars",
]

#: Parquet metadata key of a bars file: its spec and input (JSON).
META_KEY = "seriesfactory.bars"

BarsFormat = Literal["parquet", "csv"]


@dataclass(frozen=True, slots=True)
class TradesFile:
    """Trades from a CSV or Parquet file; ``columns`` maps our names to the file's."""

    path: Path
    columns: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class TradesTier:
    """A venue's trades of ``[from_ns, to_ns)`` (whole UTC days) from the trades tier."""

    venue: str
    symbol: str
    from_ns: int
    to_ns: int
    cache_dir: Path
    settings: Settings
    on_bad_rows: str = "error"
    #: The trades tier on an object store (``cache_dir`` then holds the raw tier): scale.md.
    lake: Remote | None = None


@dataclass(slots=True)
class BarsBuilt:
    """What :func:`build_bars` did."""

    table: pa.Table
    trades: int
    output: Path
    #: Warnings for the user (days the server has no file for), one line each.
    warnings: list[str] = field(default_factory=list)


def load_state(path: Path, spec: BarSpec) -> BarBuilder:
    """The builder saved at ``path`` (a fresh one when the file does not exist yet)."""
    return core_state.load_state(
        path,
        fresh=lambda: BarBuilder(spec),
        from_state=BarBuilder.from_state,
        options=lambda builder: builder.spec.to_dict(),
    )


def write_bars(table: pa.Table, output: Path, fmt: BarsFormat, meta: Mapping[str, str]) -> None:
    """Write ``table`` to ``output`` atomically: Parquet (with ``meta``) or CSV plus its sidecar."""
    publish_table(output, table, fmt, meta)


def _day(ts_ns: int) -> str:
    return to_datetime(ts_ns).date().isoformat()


def tier_trades(
    tier: TradesTier, warn: Callable[[str], None]
) -> tuple[Iterator[tuple[TradeArrays, str]], dict[str, object]]:
    """Day-by-day trades of the tier (fetched first if missing), and what to record of them.

    Warnings for the user (days the server has no file for) are passed to ``warn``
    as soon as they are known, before the first day is read.
    """
    base, quote = split_symbol(tier.venue, tier.symbol)
    summary, days = venue_trades(
        tier.venue, base=base, quote=quote, from_ns=tier.from_ns, to_ns=tier.to_ns,
        cache_dir=tier.cache_dir, settings=tier.settings, on_bad_rows=tier.on_bad_rows,
        lake=tier.lake,
    )  # fmt: skip
    if warning := summary.warning():
        warn(warning)

    def chunks() -> Iterator[tuple[TradeArrays, str]]:
        for table, path in days:
            if table.num_rows == 0:
                continue
            yield (
                TradeArrays(
                    table.column("ts").cast(pa.int64()).to_numpy(),
                    table.column("price").to_numpy(),
                    table.column("qty").to_numpy(),
                    table.column("side").to_numpy(),
                ),
                path,
            )

    source: dict[str, object] = {
        "venue": tier.venue, "symbol": summary.symbol,
        "from": _day(tier.from_ns), "to": _day(tier.to_ns),
        "raw": [{"name": r.raw_name, "sha256": r.raw_sha256} for r in summary.records],
    }  # fmt: skip
    return chunks(), source


def build_bars(
    spec: BarSpec,
    trades: TradesFile | TradesTier,
    output: Path,
    *,
    fmt: BarsFormat = "parquet",
    state_file: Path | None = None,
    emit_partial: bool = False,
    on_warning: Callable[[str], None] | None = None,
) -> BarsBuilt:
    """Build ``spec`` bars from ``trades``, write them to ``output``, then save the state.

    With ``state_file``, the builder continues from the state saved there (if the
    file exists; it must be for the same spec) and its state after the last
    trade is saved there once the bars are written. ``emit_partial`` appends the
    unfinished last bar (flagged in the ``partial`` column). Warnings (days the
    server has no file for) are returned in :attr:`BarsBuilt.warnings` and, when
    ``on_warning`` is given, also passed to it as soon as they are known. Progress
    goes to :func:`seriesfactory.core.progress.current`.

    Raises
    ------
    SourceError
        The trades tier holds no trades of the range.
    DataError
        Trades out of order (also: older than the saved state's last), naming the file.
    """
    warnings: list[str] = []

    def warn(line: str) -> None:
        warnings.append(line)
        if on_warning is not None:
            on_warning(line)

    if isinstance(trades, TradesTier):
        chunks, source = tier_trades(trades, warn)
    else:
        table = read_trades_file(trades.path, dict(trades.columns) if trades.columns else None)
        chunks = iter([(table, str(trades.path))])
        source = {"input": str(trades.path)}
    builder = load_state(state_file, spec) if state_file is not None else BarBuilder(spec)
    parts: list[BarArrays] = []
    rows = 0
    with progress.current().task(f"building {spec.type} bars", unit="trades") as task:
        for chunk, path in chunks:
            try:
                parts.append(builder.update(chunk.ts_ns, chunk.price, chunk.qty_base, chunk.side))
            except DataError as exc:  # e.g. the first trade is older than the saved state's last
                note = f" (continuing from --state {state_file})" if state_file is not None else ""
                raise DataError(f"{exc}{note}", path=path) from None
            rows += chunk.rows
            task.advance(chunk.rows)
    if isinstance(trades, TradesTier) and rows == 0:
        raise SourceError(
            f"no trades of {trades.symbol} on {trades.venue} in [{source['from']}, "
            f"{source['to']}) in the trades tier under {trades.cache_dir} (the server's files "
            "held none); check the symbol and the dates"
        )
    if emit_partial:
        parts.append(builder.partial())
    table = BarArrays.concat(parts).to_arrow(spec, with_partial=emit_partial)
    meta = {META_KEY: json.dumps({"spec": spec.to_dict(), **source})}
    write_bars(table, output, fmt, meta)
    if state_file is not None:
        atomic_write_json(state_file, builder.state())
    return BarsBuilt(table, rows, output, warnings)


def export_bars(input_file: Path, output: Path, fmt: BarsFormat) -> pa.Table:
    """Read bars built by :func:`build_bars` (Parquet or CSV); write them as ``fmt``."""
    if not input_file.is_file():
        raise InputError(f"--input {input_file}: no such file")
    try:
        if input_file.suffix.lower() == ".csv":
            table = pacsv.read_csv(input_file)
            meta: dict[str, str] = {}
        else:
            table = pq.read_table(input_file)
            raw = (table.schema.metadata or {}).get(META_KEY.encode())
            meta = {META_KEY: raw.decode()} if raw else {}
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"cannot read bars ({exc})", path=str(input_file)) from None
    missing = [c for c in BAR_COLUMNS[:-1] if c not in table.column_names]
    if missing:
        raise DataError(
            f"not a bars file: columns {missing} are missing; build it with 'bars build'",
            path=str(input_file),
        )
    write_bars(table, output, fmt, meta)
    return table
