"""BookBuilder.dump_state / load_state: a rebuild saved mid-stream continues with the same rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from seriesfactory.raw.readers import read_records
from seriesfactory.sources._book_base import get_parser
from seriesfactory.transforms.book.api import BookBuilder, BookRows, parse_records


@pytest.mark.parametrize("window_ticks", [64, 1 << 20])  # 64: most levels cold
def test_saved_builder_continues_identically(shared_real: Path, window_ticks: int) -> None:
    parser = get_parser("binance", "BTCUSDT")
    path = shared_real / "binance" / "hftbacktest" / "spot" / "btcusdt_20240808.gz"
    events, _ = parse_records(parser, read_records([path]))

    def fresh() -> BookBuilder:
        return BookBuilder(
            rule=parser.rule, price_decimals=2, interval_ns=100_000_000, depth=5,
            window_ticks=window_ticks, message_depth=3,
        )  # fmt: skip

    whole = fresh()
    m_all, r_all = whole.update(events)
    lv_all = whole.message_levels
    rows_all = BookRows.concat([r_all, whole.finish()], 5)
    cut = len(events) // 2 + 7  # inside a message
    b = fresh()
    m1, r1 = b.update(events[:cut])
    lv1 = b.message_levels
    b = BookBuilder.load_state(json.loads(json.dumps(b.dump_state())))
    m2, r2 = b.update(events[cut:])
    rows = BookRows.concat([r1, r2, b.finish()], 5)
    m = np.concatenate([m1, m2])
    for name in m_all.dtype.names or ():
        np.testing.assert_array_equal(m[name], m_all[name], err_msg=name)
    for a, x, y in zip(lv_all, lv1, b.message_levels, strict=True):
        np.testing.assert_array_equal(np.concatenate([x, y]), a)
    for name in BookRows.__slots__:
        np.testing.assert_array_equal(getattr(rows, name), getattr(rows_all, name))
    assert whole.levels(1) == b.levels(1) and whole.levels(-1) == b.levels(-1)
