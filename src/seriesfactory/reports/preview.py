"""The preview printed after a ``series`` run: first and last rows, then a summary."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from seriesfactory._time import NS_PER_MS, format_ms
from seriesfactory.transforms.aggregates import AggregateSummary, FilterCounts

__all__ = ["render_preview"]

_PERCENT = {"dispersion", "drift"}


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
) -> None:
    """Print the first and last rows, then averages, volume and filter counts.

    Timestamps read ``YYYYMMDD HH:MM:SS.fff`` (UTC); dispersion and drift are percentages.
    """
    n = summary.rows
    arrays = summary.edge_rows()
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("timestamp")
    for name in fields:
        table.add_column(name, justify="right")
    shown = arrays.rows
    head = shown if n == shown else summary.keep
    for i in range(shown):
        if i == head:
            table.add_row("…", *["…" for _ in fields])
        ts = int(arrays.timestamp_ns[i]) // NS_PER_MS * NS_PER_MS
        table.add_row(format_ms(ts), *[_fmt(f, float(arrays.column(f)[i])) for f in fields])
    console.print(table)
    if n:
        avg_price = summary.sum_mid / n
        avg_spread = summary.sum_spread / n
        console.print(
            f"rows: {n:,}  average price: {avg_price:,.4f}  average spread: {avg_spread:.6f} "
            f"({avg_spread * 1e4:.2f} bp)  total volume: {summary.volume:,.0f} (quote)"
        )
    else:
        console.print("rows: 0")
    console.print(
        f"ticks: {counts.ticks:,}  removed by the deviation filter: {counts.deviation:,}  "
        f"stale quotes (prices not used): {counts.stale:,}"
    )
