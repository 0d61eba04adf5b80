"""core.state.load_state: the one way a builder is continued from a --state file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from seriesfactory.core.atomic import atomic_write_json
from seriesfactory.errors import InputError
from seriesfactory.pipeline.bars import load_state
from seriesfactory.transforms.bars import BarArrays, BarBuilder, BarSpec


def _trades(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ts = np.arange(lo, hi, dtype=np.int64) * 1_000_000
    price = 100.0 + np.sin(np.arange(lo, hi)).astype(np.float64)
    return ts, price, np.ones(hi - lo), np.where(np.arange(lo, hi) % 3 == 0, -1, 1).astype(np.int8)


def test_saved_state_continues_exactly_and_refuses_other_options(tmp_path: Path) -> None:
    spec = BarSpec(type="tick", threshold=7)
    state = tmp_path / "bars.json"
    fresh = load_state(state, spec)  # no file yet: a fresh builder
    first = fresh.update(*_trades(0, 50))
    atomic_write_json(state, fresh.state())
    resumed = load_state(state, spec)
    second = resumed.update(*_trades(50, 100))
    whole = BarBuilder(spec).update(*_trades(0, 100))
    assert first.rows + second.rows == whole.rows == 100 // 7
    assert BarArrays.concat([first, second]).to_arrow(spec).equals(whole.to_arrow(spec))
    with pytest.raises(InputError, match=r"was saved for .*'threshold': 7.*not .*'threshold': 8"):
        load_state(state, BarSpec(type="tick", threshold=8))
    state.write_text("{not json")
    with pytest.raises(InputError, match=r"^--state .*bars.json cannot be read .*; remove it$"):
        load_state(state, spec)
    state.write_text(json.dumps({"version": -1}))  # the builder's own refusal passes through
    with pytest.raises(InputError, match="version"):
        load_state(state, spec)
