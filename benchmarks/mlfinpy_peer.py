"""Peer side of ``bench_bars.py``: runs mlfinpy 0.1.2 in its own virtual environment.

Usage: ``python mlfinpy_peer.py FILE ROWS TYPES_JSON``. Reads the first ROWS trades of FILE
with pandas (not timed), then times only each mlfinpy bar call. Prints one JSON object:
``{type: {"seconds": s, "rows": n, "bars": m}}``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import mlfinpy.data_structure as ds  # type: ignore[import-not-found]
import pandas as pd  # type: ignore[import-untyped]


def calls(params: dict[str, Any]) -> dict[str, Any]:
    e0, window, lo, hi = (params[k] for k in ("e0", "window", "min_ticks", "max_ticks"))
    sampled = {
        "num_prev_bars": window,
        "expected_imbalance_window": window * e0,
        "exp_num_ticks_init": e0,
        "exp_num_ticks_constraints": [lo, hi],
        "verbose": False,
    }
    return {
        "time": lambda df: ds.get_time_bars(df, resolution="MIN", num_units=1, verbose=False),
        "tick": lambda df: ds.get_tick_bars(df, threshold=params["tick"], verbose=False),
        "volume": lambda df: ds.get_volume_bars(df, threshold=params["volume"], verbose=False),
        "dollar": lambda df: ds.get_dollar_bars(df, threshold=params["dollar"], verbose=False),
        "tib": lambda df: ds.get_ema_tick_imbalance_bars(df, **sampled),
        "vib": lambda df: ds.get_ema_volume_imbalance_bars(df, **sampled),
        "dib": lambda df: ds.get_ema_dollar_imbalance_bars(df, **sampled),
        "trb": lambda df: ds.get_ema_tick_run_bars(df, **sampled),
        "vrb": lambda df: ds.get_ema_volume_run_bars(df, **sampled),
        "drb": lambda df: ds.get_ema_dollar_run_bars(df, **sampled),
    }


def main() -> None:
    path, plan = sys.argv[1], json.loads(sys.argv[2])
    frame = pd.read_csv(path, parse_dates=[0])
    frame.columns = ["date_time", "price", "volume"]
    table = calls(plan["params"])
    out: dict[str, dict[str, float]] = {}
    for bar_type, rows in plan["rows"].items():
        df = frame.iloc[:rows].copy()
        start = time.perf_counter()
        result = table[bar_type](df)
        seconds = time.perf_counter() - start
        bars = result[0] if isinstance(result, tuple) else result
        out[bar_type] = {"seconds": seconds, "rows": rows, "bars": len(bars)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
