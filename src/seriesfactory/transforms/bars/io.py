"""Read trades for bars from a CSV or Parquet file, or from an in-memory frame.

Columns are found by name (case, spaces and underscores ignored) or given as
``ts=...,price=...,qty=...[,side=...]``:

============  ===========================================================
field         names recognised
============  ===========================================================
``ts``        ``Date and Time``, ``DateTime``, ``date_time``, ``timestamp``, ``time``, ``ts``
``price``     ``price``, ``px``
``qty``       ``volume``, ``size``, ``qty``, ``quantity``, ``amount``
``side``      ``side``, ``aggressor``, ``taker_side`` (optional)
============  ===========================================================

Timestamps are date-time text (one format per file; naive means UTC, an offset
or ``Z`` is honoured), Arrow/polars datetimes (naive means UTC) or integers
since the epoch, whose unit is read from their size (s, ms, us or ns). Sides are
``buy``/``sell``/``b``/``s`` (any case) or +1/-1/0.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl
import zstandard

from seriesfactory.errors import DataError, InputError
from seriesfactory.transforms.bars.api import check_trades

__all__ = ["TradeArrays", "parse_columns", "read_trades_file", "trades_from_frame"]

_NAMES: Final = {
    "ts": ("ts", "timestamp", "dateandtime", "datetime", "time", "date"),
    "price": ("price", "px"),
    "qty": ("volume", "size", "qty", "quantity", "amount"),
    "side": ("side", "aggressor", "takerside"),
}
_LINE: Final = "__seriesfactory_line__"
_SIDE_TEXT: Final = {"buy": 1, "b": 1, "sell": -1, "s": -1, "": 0, "unknown": 0}


@dataclass(frozen=True, slots=True)
class TradeArrays:
    """Trades as numpy arrays: ns UTC, quote per base, base units, aggressor side."""

    ts_ns: npt.NDArray[np.int64]
    price: npt.NDArray[np.float64]
    qty_base: npt.NDArray[np.float64]
    side: npt.NDArray[np.int8]

    @property
    def rows(self) -> int:
        return int(self.ts_ns.shape[0])


def _key(name: str) -> str:
    return name.lower().replace(" ", "").replace("_", "").replace("-", "")


def parse_columns(text: str) -> dict[str, str]:
    """``'ts=Date and Time,price=Price,qty=Volume'`` -> ``{'ts': ..., 'price': ..., ...}``."""
    out: dict[str, str] = {}
    for part in text.split(","):
        field, sep, column = part.partition("=")
        field = field.strip()
        if not sep or field not in _NAMES or not column.strip():
            raise InputError(
                f"--columns {text!r}: each item must be FIELD=COLUMN with FIELD one of "
                "ts, price, qty, side, e.g. 'ts=Date and Time,price=Price,qty=Volume'"
            )
        out[field] = column.strip()
    return out


def _pick(names: list[str], given: Mapping[str, str] | None, where: str) -> dict[str, str]:
    given = dict(given or {})
    for field, column in given.items():
        if column not in names:
            raise InputError(f"{where}: column {column!r} (for {field}) is not among {names}")
    keys = {_key(n): n for n in names}
    for field, aliases in _NAMES.items():
        if field in given:
            continue
        found = next((keys[a] for a in aliases if a in keys), None)
        if found is not None:
            given[field] = found
        elif field != "side":
            raise InputError(
                f"{where}: no {field} column found among {names}; name it one of "
                f"{', '.join(aliases)} or pass --columns {field}=NAME"
            )
    return given


def _epoch_to_ns(values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Integers since the epoch -> ns, the unit read from the largest magnitude."""
    top = int(np.abs(values).max()) if values.size else 0
    scale = 1 if top >= 10**17 else 10**3 if top >= 10**14 else 10**6 if top >= 10**11 else 10**9
    return values * scale


def _ts_column(col: pl.Series, rowname: Any) -> npt.NDArray[np.int64]:
    """ns UTC; integers in a column named ``ts`` are ns (the trade schema), others by size."""
    dtype = col.dtype
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            col = col.dt.convert_time_zone("UTC")
        parsed = col.dt.cast_time_unit("ns").cast(pl.Int64)
    elif dtype.is_integer():
        parsed = col.cast(pl.Int64)
    elif dtype == pl.String and col.len() and col.str.strip_chars().str.contains(r"^-?\d+$").all():
        parsed = col.str.strip_chars().cast(pl.Int64)
        dtype = pl.Int64()
    elif dtype == pl.String:
        parsed = col.str.strip_chars().str.to_datetime(time_unit="ns", strict=False)
        if isinstance(parsed.dtype, pl.Datetime) and parsed.dtype.time_zone is not None:
            parsed = parsed.dt.convert_time_zone("UTC")
        parsed = parsed.cast(pl.Int64)
    else:
        raise rowname(0, f"timestamp column {col.name!r} has type {dtype}; use text or datetime")
    bad = parsed.is_null()
    if bad.any():
        i = int(bad.arg_true()[0])
        raise rowname(i, f"timestamp {col[i]!r} cannot be parsed; use e.g. 2024-01-31 12:00:00.123")
    values = parsed.to_numpy().astype(np.int64)
    if isinstance(dtype, pl.Datetime | pl.String) or col.name == "ts":
        return values
    return _epoch_to_ns(values)


def _float_column(col: pl.Series, field: str, rowname: Any) -> npt.NDArray[np.float64]:
    if col.dtype == pl.String:
        parsed = col.str.strip_chars().cast(pl.Float64, strict=False)
    else:
        parsed = col.cast(pl.Float64, strict=False)
    bad = parsed.is_null()
    if bad.any():
        i = int(bad.arg_true()[0])
        raise rowname(i, f"{field} {col[i]!r} is not a number")
    return parsed.to_numpy().astype(np.float64)


def _side_column(col: pl.Series, rowname: Any) -> npt.NDArray[np.int8]:
    if col.dtype == pl.String:
        mapped = col.fill_null("").str.strip_chars().str.to_lowercase()
        numeric = mapped.cast(pl.Int64, strict=False)
        words = mapped.replace_strict(_SIDE_TEXT, default=None, return_dtype=pl.Int64)
        parsed = numeric.fill_null(words)
    else:
        parsed = col.cast(pl.Int64, strict=False).fill_null(0)
    bad = parsed.is_null() | (parsed.abs() > 1)
    if bad.any():
        i = int(bad.arg_true()[0])
        raise rowname(i, f"side {col[i]!r} is not buy, sell, +1, -1 or 0")
    return parsed.to_numpy().astype(np.int8)


def trades_from_frame(
    frame: pl.DataFrame,
    columns: Mapping[str, str] | None = None,
    *,
    path: str | None = None,
    first_line: int = 1,
    lines: npt.NDArray[np.int64] | None = None,
) -> TradeArrays:
    """Trades from a polars frame; errors name ``path`` and line ``first_line + row``.

    ``lines`` (when given) holds the file line of every row instead.
    """
    where = path or "trades"

    def rowname(i: int, message: str) -> DataError:
        line = int(lines[i]) if lines is not None else first_line + i
        return DataError(message, path=path, line=line)

    picked = _pick(list(frame.columns), columns, where)
    trades = TradeArrays(
        _ts_column(frame[picked["ts"]], rowname),
        _float_column(frame[picked["price"]], "price", rowname),
        _float_column(frame[picked["qty"]], "size", rowname),
        _side_column(frame[picked["side"]], rowname)
        if "side" in picked
        else np.zeros(frame.height, np.int8),
    )
    problem = check_trades(trades.ts_ns, trades.price, trades.qty_base, trades.side, None)
    if problem is not None:
        raise rowname(problem[0], problem[1])
    return trades


@contextlib.contextmanager
def _csv_text(path: Path) -> Iterator[IO[str]]:
    """A plain, gzip or zstd CSV file as text (for checks polars does not make)."""
    with open(path, "rb") as fh:
        magic = fh.read(4)
        fh.seek(0)
        raw: Any = fh
        if magic.startswith(b"\x1f\x8b"):
            raw = gzip.GzipFile(fileobj=fh)
        elif magic == b"\x28\xb5\x2f\xfd":
            raw = zstandard.ZstdDecompressor().stream_reader(fh, closefd=False)
        yield io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")


def _check_csv_header(path: Path) -> list[str]:
    """The header row; a column named twice is refused (polars would rename it silently)."""
    with _csv_text(path) as text:
        header = next((row for row in csv.reader(text) if row), [])
    seen: set[str] = set()
    for col in header:
        name = col.strip()
        if name in seen:
            raise DataError(
                f"the header names column {name!r} twice; rename or remove one",
                path=str(path),
                line=1,
            )
        seen.add(name)
    return header


def _find_ragged_line(path: Path, width: int) -> None:
    """Raise naming the first line with more fields than the header's ``width``, if any."""
    with _csv_text(path) as text:
        reader = csv.reader(text)
        for row in reader:
            if len(row) > width:
                raise DataError(
                    f"{len(row)} fields, but the header has {width}; fix or remove the line",
                    path=str(path),
                    line=reader.line_num,
                )


def read_trades_file(path: Path, columns: Mapping[str, str] | None = None) -> TradeArrays:
    """Trades from a CSV (``.csv``, ``.csv.gz``, ...) or Parquet (``.parquet``, ``.pq``) file.

    Errors name the file and, for CSV, the line (the header is line 1; blank
    lines are skipped and not counted), for Parquet the 1-based row.
    """
    if not path.is_file():
        raise InputError(f"--input {path}: no such file")
    name = path.name.lower()
    header: list[str] = []
    try:
        if name.endswith((".parquet", ".pq")):
            return trades_from_frame(pl.read_parquet(path), columns, path=str(path), first_line=1)
        header = _check_csv_header(path)
        frame = pl.read_csv(path, infer_schema=False, row_index_name=_LINE, row_index_offset=2)
    except (pl.exceptions.PolarsError, OSError) as exc:
        if header:
            _find_ragged_line(path, len(header))
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(
            f"cannot read the file ({reason}); give CSV or Parquet", path=str(path)
        ) from None
    # blank lines arrive as all-null rows: drop them, keep every row's file line for errors
    data = [c for c in frame.columns if c != _LINE]
    frame = frame.filter(~pl.all_horizontal([pl.col(c).is_null() for c in data]))
    lines = frame[_LINE].to_numpy().astype(np.int64)
    return trades_from_frame(frame.drop(_LINE), columns, path=str(path), lines=lines)
