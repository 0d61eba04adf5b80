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


def test_plain_python_kernel_equals_compiled() -> None:
    compiled, plain = run(False), run(True)
    assert json.dumps(compiled) == json.dumps(plain)  # NaN-safe exact comparison
    assert len(compiled["time"][0][0]) > 3  # type: ignore[index]


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
