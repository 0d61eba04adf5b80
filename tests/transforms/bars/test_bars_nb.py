"""The kernel compiled and as plain Python agree; saved state is checked when restored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seriesfactory.errors import InputError
from seriesfactory.transforms.bars import BarBuilder, BarSpec, read_trades_file

DATA = Path(__file__).resolve().parents[2] / "data" / "prado" / "tick_data.csv"

SCRIPT = f"""
import json
from seriesfactory.transforms.bars import BarBuilder, BarSpec, read_trades_file
t = read_trades_file(__import__("pathlib").Path({str(DATA)!r}))
out = {{}}
for kind in ("time", "dollar", "vib", "drb"):
    kw = {{"time": {{"interval": "10s"}}, "dollar": {{"threshold": 20000.0}}}}.get(
        kind, {{"expected_ticks": 5, "ewma_window": 3}})
    b = BarBuilder(BarSpec(type=kind, **kw))
    bars = b.update(t.ts_ns, t.price, t.qty_base, t.side)
    out[kind] = [bars.ints.tolist(), bars.floats.tolist(), b.state()["sf"]]
print(json.dumps(out))
"""


def run(disable_jit: bool) -> dict[str, object]:
    env = dict(os.environ, SERIESFACTORY_DISABLE_JIT="1" if disable_jit else "0")
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, env=env
    )
    result: dict[str, object] = json.loads(out.stdout)
    return result


def _time_bars_by_numpy(interval_ns: int) -> tuple[list[int], list[list[float]]]:
    """10 s time bars computed independently of the kernel: group trades by bucket.

    Every bucket with trades but the last (still open) is a bar: its tick count and
    open, high, low, close, volume (base) and dollar volume.
    """
    t = read_trades_file(DATA)
    bucket = t.ts_ns // interval_ns
    cuts = np.flatnonzero(np.diff(bucket)) + 1
    starts, ends = np.r_[0, cuts], np.r_[cuts, len(bucket)]
    counts, rows = [], []
    for lo, hi in zip(starts[:-1], ends[:-1], strict=True):
        p, q = t.price[lo:hi], t.qty_base[lo:hi]
        counts.append(int(hi - lo))
        rows.append([p[0], p.max(), p.min(), p[-1], q.sum(), float((p * q).sum())])
    return counts, rows


def test_plain_python_kernel_equals_compiled() -> None:
    compiled, plain = run(False), run(True)
    assert json.dumps(compiled) == json.dumps(plain)  # NaN-safe exact comparison
    assert len(compiled["time"][0][0]) > 3  # type: ignore[index]
    # ... and both equal an expectation that shares no code with the kernel.
    time_bars: list[list[list[float]]] = compiled["time"]  # type: ignore[assignment]
    ints, floats = time_bars[0], time_bars[1]
    counts, rows = _time_bars_by_numpy(10_000_000_000)
    assert ints[2] == counts
    got = np.array(floats[:6]).T
    np.testing.assert_allclose(got, np.array(rows), rtol=1e-12)


def test_restore_rejects_a_malformed_state() -> None:
    builder = BarBuilder(BarSpec(type="tib"))
    trades = read_trades_file(DATA)
    builder.update(trades.ts_ns, trades.price, trades.qty_base, trades.side)
    state = builder.state()
    with pytest.raises(InputError, match="malformed"):
        BarBuilder.from_state({k: v for k, v in state.items() if k != "si"})
    with pytest.raises(InputError, match="version"):
        BarBuilder.from_state({**state, "version": 99})
    with pytest.raises(InputError, match="expected"):
        BarBuilder.from_state({**state, "sf": state["sf"][:-1]})
    with pytest.raises(InputError, match="--ewma-window"):
        BarBuilder.from_state({**state, "spec": {**state["spec"], "ewma_window": 0}})
    again = BarBuilder.from_state(json.loads(json.dumps(state)))
    assert again.state() == state
    assert np.isnan(BarBuilder(BarSpec(type="tick", threshold=5)).current_threshold())
