"""The E[T] feedback of imbalance/run bars on real E-mini trades: unbounded vs bounded.

Usage: ``.venv/bin/python benchmarks/study_bar_feedback.py`` (prints the tables quoted in
``docs/bars.md``). Tick-rule signs, E0[T] = 100; "unbounded" is E[T] in [1, 1e18],
"bounded" the default [E0/4, 4 E0] = [25, 400].
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from seriesfactory.transforms.bars import BarBuilder, BarSpec, read_trades_file

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "prado"
FILE = DATA / "mlfinpy_dataset_tick_data.csv"


def row(bar_type: str, window: int, bounded: bool) -> str:
    trades = read_trades_file(FILE)
    spec = BarSpec(
        type=bar_type,  # type: ignore[arg-type]
        expected_ticks=100,
        ewma_window=window,
        min_ticks=None if bounded else 1.0,
        max_ticks=None if bounded else 1e18,
        sign="tick-rule",
    )
    builder = BarBuilder(spec)
    bars = builder.update(trades.ts_ns, trades.price, trades.qty_base, trades.side)
    ticks = bars.ints[2]
    one = float((ticks == 1).mean()) if bars.rows else 0.0
    biggest = int(ticks.max()) if bars.rows else 0
    label = "[25, 400]" if bounded else "none"
    return (
        f"| {bar_type} | {window} | {label} | {bars.rows:,} | {np.median(ticks):.0f} "
        f"| {one:.1%} | {biggest:,} | {builder.expected_ticks:,.1f} |"
    )


def main() -> None:
    if not FILE.is_file():
        sys.exit(f"{FILE} is absent")
    print("| type | window | E[T] bounds | bars | median T | 1-trade bars | longest | final E[T] |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for bar_type in ("tib", "vib", "dib", "trb", "vrb", "drb"):
        for window in (3, 15, 60):
            for bounded in (False, True):
                print(row(bar_type, window, bounded))


if __name__ == "__main__":
    main()
