"""The numba CSV kernel (``csv_nb.py``): hand-checked rows, where it stops, exactness.

Reference for every decimal is Python's ``float(text)`` (correctly rounded);
for every file, ``parse_trades_csv`` with the kernel must equal the exact
row-by-row reader it falls back to.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seriesfactory.errors import DataError
from seriesfactory.sources.binance import csv_nb
from seriesfactory.sources.binance import parse as parse_mod
from seriesfactory.sources.binance.parse import parse_trades_csv


def _kernel(text: bytes, after: int = -1) -> tuple[tuple[int, int, int, int], dict[str, list[Any]]]:
    buf = np.frombuffer(text, np.uint8)
    cap = len(text) // 16 + 1
    ids, ts = np.empty(cap, np.int64), np.empty(cap, np.int64)
    price, qty, side = np.empty(cap), np.empty(cap), np.empty(cap, np.int8)
    got = csv_nb.parse_lines(
        buf, 0, buf.size, 8, 5, 6, after, csv_nb.POW10, ids, ts, price, qty, side
    )
    n = got[0]
    cols: dict[str, np.ndarray[Any, Any]] = {
        "id": ids,
        "ts_ns": ts,
        "price": price,
        "qty": qty,
        "side": side,
    }
    return got, {k: a[:n].tolist() for k, a in cols.items()}


def test_hand_checked_rows() -> None:
    text = (
        b"5,42000.12000000,0.00100000,1,1,1704067200000,True,True\n"
        b"\r\n"  # an empty line (CRLF) is skipped but counted
        b"6,42000.5,4e-05,2,3,1735689600000123,fAlSe,True\r\n"  # microseconds, exponent
        b"7,1E+2,0,4,4,1735689600000124,TRUE,false"  # no final newline
    )
    (n, status, stop, lines), cols = _kernel(text)
    assert (n, status, stop, lines) == (3, csv_nb.OK, len(text), 4)
    assert cols["id"] == [5, 6, 7]
    assert cols["ts_ns"] == [1704067200000 * 10**6, 1735689600000123 * 1000, 1735689600000124000]
    assert cols["price"] == [42000.12, 42000.5, 100.0]
    assert cols["qty"] == [0.001, 4e-05, 0.0]
    assert cols["side"] == [-1, 1, -1]  # buyer is maker -> taker sold


@pytest.mark.parametrize(
    "line",
    [
        b"1,-5.0,1.0,1,1,1704067200000,true,true",  # a sign
        b"1,5.0, 1.0,1,1,1704067200000,true,true",  # a space
        b'1,"5.0",1.0,1,1,1704067200000,true,true',  # quotes
        b"1,5.0,1.0,1,1,1704067200000,true",  # a field short
        b"1,5.0,1.0,1,1,1704067200000,true,true,x",  # a field more
        b"1,0.0,1.0,1,1,1704067200000,true,true",  # zero price
        b"1,12345678901234567,1.0,1,1,1704067200000,true,true",  # 17 digits
        b"1,5.0,1e-23,1,1,1704067200000,true,true",  # exponent beyond 10**22
        b"1,nan,1.0,1,1,1704067200000,true,true",
        b"1,5.0,1.0,1,1,9300000000000,true,true",  # ms past year 2262
        b"1,5.0,1.0,1,1,1704067200000,yes,true",
        b"1,5.0,1.0,1,1,1704067100000,true,true",  # before the previous line's time
    ],
)
def test_stops_at_the_first_line_it_does_not_read(line: bytes) -> None:
    first = b"0,5.0,1.0,1,1,1704067200000,true,true\n"
    (n, status, stop, lines), _ = _kernel(first + line + b"\n")
    assert (n, status, stop, lines) == (1, csv_nb.STOP, len(first), 1)


def test_a_stop_falls_back_to_the_exact_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (
        b"1,5.5,+1.0,1,1,1704067200000,true,true\n"  # "+1.0": the kernel stops, Python reads it
        b"2,5.5,2.0,1,1,1704067200001,false,true\n"
    )
    got = parse_trades_csv(text, name="f.csv", market="spot", kind="aggTrades")
    assert got.table.column("qty").to_pylist() == [1.0, 2.0] and got.lines == 2
    bad = text + b"3,5.5,-1.0,1,1,1704067200002,true,true\n"
    with pytest.raises(DataError, match=r"f\.csv:3: quantity must be >= 0"):
        parse_trades_csv(bad, name="f.csv", market="spot", kind="aggTrades")
    # the kernel is what ran on a clean file: without it the result is the same
    clean = b"1,5.5,1.0,1,1,1704067200000,true,true\n"
    fast = parse_trades_csv(clean, name="f.csv", market="spot", kind="aggTrades")
    monkeypatch.setattr(parse_mod, "_kernel", lambda *a: None)
    slow = parse_trades_csv(clean, name="f.csv", market="spot", kind="aggTrades")
    assert fast.table.equals(slow.table) and fast.lines == slow.lines == 1


_DECIMALS = st.one_of(
    st.floats(min_value=1e-9, max_value=1e9).map(repr),
    st.floats(min_value=1e-4, max_value=1e9).map(lambda x: f"{x:.8f}"),
    st.floats(min_value=1e-6, max_value=1e6).map(lambda x: f"{x:.3e}"),
    st.builds(
        lambda m, k: f"{m}.{'0' * k}" if k else str(m),
        st.integers(1, 10**17),
        st.integers(0, 12),
    ),
    st.builds(
        lambda m, f: f"{m // 10**f}.{m % 10**f:0{f}d}" if f else str(m),
        st.integers(1, 10**17),
        st.integers(0, 25),
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.tuples(_DECIMALS, _DECIMALS, st.integers(0, 10**6), st.sampled_from(
            ["true", "false", "True", "False", "TRUE", "FALSE"])),
        min_size=1,
        max_size=20,
    ),
    crlf=st.booleans(),
)  # fmt: skip
def test_values_equal_pythons_correctly_rounded_float(
    rows: list[tuple[str, str, int, str]], crlf: bool
) -> None:
    end = "\r\n" if crlf else "\n"
    t0 = 1704067200000
    ordered = sorted(rows, key=lambda r: r[2])  # in time order, as the archives are
    lines = [f"{i},{p},{q},{i},{i},{t0 + dt},{m},True" for i, (p, q, dt, m) in enumerate(ordered)]
    text = (end.join(lines) + end).encode()
    got = parse_trades_csv(text, name="h", market="spot", kind="aggTrades")
    prices = got.table.column("price").to_numpy()
    qtys = got.table.column("qty").to_numpy()
    assert prices.tolist() == [float(r[0]) for r in ordered]
    assert qtys.tolist() == [float(r[1]) for r in ordered]
    assert got.table.column("side").to_pylist() == [
        -1 if r[3].lower() == "true" else 1 for r in ordered
    ]
    assert got.lines == len(rows)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(parse_mod, "_kernel", lambda *a: None)
        slow = parse_trades_csv(text, name="h", market="spot", kind="aggTrades")
    assert got.table.equals(slow.table)
