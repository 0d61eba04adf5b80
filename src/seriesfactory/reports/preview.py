"""The preview printed after a ``series`` run: first and last rows, then a summary."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from seriesfactory.core.time import NS_PER_MS, format_ms
from seriesfactory.transforms.aggregates import AggregateArrays, AggregateSummary, FilterCounts

__all__ = ["PREVIEW_PRIORITY", "render_preview"]

_PERCENT = {"dispersion", "drift"}

#: The order in which fields earn a place in the preview when the terminal is too narrow for all
#: of them: the candle first, then the quote, then the analytics.
PREVIEW_PRIORITY: tuple[str, ...] = (
    "close",
    "open",
    "high",
    "low",
    "spread",
    "mid",
    "vbid",
    "vask",
    "velocity",
    "dispersion",
    "drift",
)


def _fmt(name: str, value: float) -> str:
    if name in _PERCENT:
        return f"{value:.4f}%"
    if name == "spread":
        return f"{value:.6f}"
    if name in ("vbid", "vask"):
        return f"{value:,.0f}"
    if name == "velocity":
        return f"{value:.2f}"
    return f"{value:,.4f}"


def render_preview(
    console: Console,
    summary: AggregateSummary,
    counts: FilterCounts,
    fields: tuple[str, ...],
    *,
    fit: bool = False,
) -> None:
    """Print the first and last rows (``summary.keep`` each), then averages, volume and filter
    counts (gathered while the rows were written: the rows themselves are not all in memory).

    Timestamps read ``YYYYMMDD HH:MM:SS.fff`` (UTC); dispersion and drift are percentages.
    With ``fit``, only the columns that fit ``console.width`` are shown, taken in
    :data:`PREVIEW_PRIORITY` order and printed in output order; the line after the table names
    the fields left out.
    """
    n = summary.rows
    arrays = summary.edge_rows()
    shown_rows = arrays.rows
    keep = summary.keep
    picks = (
        list(range(shown_rows)) if n == shown_rows else [*range(keep), -1, *range(keep, shown_rows)]
    )
    shown = _fitting(console, arrays, fields, picks) if fit else fields
    console.print(_table(arrays, shown, picks))
    hidden = [f for f in fields if f not in shown]
    if hidden:
        console.print(f"not shown (terminal too narrow): {', '.join(hidden)}; --preview-fields")
    if n:
        avg_price = summary.sum_mid / n
        avg_spread = summary.sum_spread / n
        volume = summary.volume
        console.print(
            f"rows: {n:,}  average price: {avg_price:,.4f}  average spread: {avg_spread:.6f} "
            f"({avg_spread * 1e4:.2f} bp)  total volume: {volume:,.0f} (quote)"
        )
    else:
        console.print("rows: 0")
    console.print(
        f"ticks: {counts.ticks:,}  removed by the deviation filter: {counts.deviation:,}  "
        f"stale quotes (prices not used): {counts.stale:,}"
    )


def _table(arrays: AggregateArrays, fields: tuple[str, ...], picks: list[int]) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("timestamp")
    for name in fields:
        table.add_column(name, justify="right")
    for i in picks:
        if i < 0:
            table.add_row("…", *["…" for _ in fields])
            continue
        ts = int(arrays.timestamp_ns[i]) // NS_PER_MS * NS_PER_MS
        table.add_row(format_ms(ts), *[_fmt(f, float(arrays.column(f)[i])) for f in fields])
    return table


def _fitting(
    console: Console, arrays: AggregateArrays, fields: tuple[str, ...], picks: list[int]
) -> tuple[str, ...]:
    """The fields, in output order, that fit the console: added in priority order while they fit."""
    order = [f for f in PREVIEW_PRIORITY if f in fields] + [
        f for f in fields if f not in PREVIEW_PRIORITY
    ]
    chosen: set[str] = set()
    for name in order:
        trial = tuple(f for f in fields if f in chosen or f == name)
        wide = console.options.update_width(1 << 20)
        if console.measure(_table(arrays, trial, picks), options=wide).maximum <= console.width:
            chosen.add(name)
    return tuple(f for f in fields if f in chosen)
