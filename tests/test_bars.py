"""The one-call public API ``seriesfactory.bars`` over every supported input kind."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from seriesfactory import bars
from seriesfactory.errors import InputError
from seriesfactory.schema import TRADE_DTYPE, TRADE_SCHEMA

S = 1_000_000_000
TS = np.arange(1, 8, dtype=np.int64) * S + 1_700_000_000 * S
PRICE = np.array([10.0, 11.0, 10.0, 12.0, 13.0, 12.0, 11.0])
QTY = np.array([1.0, 2.0, 1.0, 1.0, 3.0, 1.0, 2.0])


def arrow_trades() -> pa.Table:
    n = TS.shape[0]
    return pa.Table.from_arrays(
        [
            pa.array(TS).cast(TRADE_SCHEMA.field("ts").type),
            pa.nulls(n, TRADE_SCHEMA.field("recv_ts").type),
            pa.array(PRICE),
            pa.array(QTY),
            pa.array(np.zeros(n, np.int8)),
            pa.array(np.arange(n, dtype=np.int64)),
        ],
        schema=TRADE_SCHEMA,
    )


def test_public_surface() -> None:
    assert set(bars.__all__) == {
        "BAR_TYPES",
        "BarBuilder",
        "BarSpec",
        "bar_schema",
        "build_bars",
        "dollar_bars",
        "dollar_imbalance_bars",
        "dollar_run_bars",
        "tick_bars",
        "tick_imbalance_bars",
        "tick_run_bars",
        "time_bars",
        "volume_bars",
        "volume_imbalance_bars",
        "volume_run_bars",
    }


def test_every_input_kind_gives_the_same_bars() -> None:
    want = bars.dollar_bars(arrow_trades(), threshold=40)
    assert isinstance(want, pa.Table)
    assert want["dollar_volume"].to_pylist() == [42.0, 51.0]
    structured = np.zeros(TS.shape[0], TRADE_DTYPE)
    structured["ts"], structured["price"], structured["qty"] = TS, PRICE, QTY
    assert bars.dollar_bars(structured, threshold=40).equals(want)
    assert bars.dollar_bars({"ts": TS, "price": PRICE, "qty": QTY}, threshold=40).equals(want)
    frame = pl.DataFrame({"timestamp": TS, "price": PRICE, "size": QTY})
    out = bars.dollar_bars(frame.with_columns(pl.col("timestamp").cast(pl.Datetime("ns"))), 40)
    assert isinstance(out, pl.DataFrame)
    assert out.to_arrow().cast(want.schema).equals(want)


def test_pandas_frames_when_pandas_is_installed() -> None:
    pd = pytest.importorskip("pandas", reason="pandas is optional and not installed here")
    frame = pd.DataFrame({"ts": TS, "price": PRICE, "qty": QTY})
    out = bars.tick_bars(frame, threshold=3)
    assert isinstance(out, pd.DataFrame) and list(out["tick_count"]) == [3, 3]


def test_importing_bars_does_not_import_pandas() -> None:
    code = "import sys, seriesfactory.bars; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_family_has_a_call_and_emit_partial_flags_the_last_bar() -> None:
    trades = {"ts": TS, "price": PRICE, "qty": QTY}
    calls = [
        bars.time_bars(trades, "2s", emit_partial=True),
        bars.tick_bars(trades, 3, emit_partial=True),
        bars.volume_bars(trades, 4, emit_partial=True),
        bars.dollar_bars(trades, 40, emit_partial=True),
    ]
    for fn in (
        bars.tick_imbalance_bars,
        bars.volume_imbalance_bars,
        bars.dollar_imbalance_bars,
        bars.tick_run_bars,
        bars.volume_run_bars,
        bars.dollar_run_bars,
    ):
        table = fn(trades, expected_ticks=2, ewma_window=3, min_ticks=1, emit_partial=True)
        assert "threshold" in table.column_names
        calls.append(table)
    for table in calls:
        flags = table["is_partial"].to_pylist()
        ticks = table["tick_count"].to_pylist()
        assert not any(flags[:-1])
        assert sum(ticks) == TS.shape[0]  # nothing dropped
    for table in calls[:4]:  # these leave trades open at the end: the last bar is flagged
        assert table["is_partial"].to_pylist()[-1] is True


def test_unsupported_input() -> None:
    with pytest.raises(InputError, match="not supported"):
        bars.tick_bars([1, 2, 3], threshold=1)
