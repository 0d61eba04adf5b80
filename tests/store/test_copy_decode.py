"""Reading trades back: the numba COPY decoder against its plain-Python twin and the server.

The kernel (``store/nb.py``) and the twin (``store/reference.py``) are compared on
encoded bytes (hypothesis), and on a real server the fast read (libpq drained by
the kernel, two connections for long ranges) is compared with psycopg's own COPY
iteration and with PostgreSQL's ``numeric::float8``.
"""

from __future__ import annotations

import math
import struct
from decimal import Decimal

import numpy as np
import psycopg
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seriesfactory._jit import JIT_DISABLED
from seriesfactory.errors import DataError
from seriesfactory.schema import TS_TYPE
from seriesfactory.store import reference
from seriesfactory.store.io import SPLIT_NS, Store, _libpq, decode_trades

HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
T0 = 1_735_689_600 * 10**9


def numeric_send(d: Decimal) -> bytes:
    """``d`` in PostgreSQL's binary numeric format (as ``numeric_send`` writes it)."""
    if d.is_nan():
        return struct.pack(">hhHh", 0, 0, 0xC000, 0)
    if d.is_infinite():
        return struct.pack(">hhHh", 0, 0, 0xF000 if d < 0 else 0xD000, 0)
    sign, digits, exp = d.as_tuple()
    assert isinstance(exp, int)
    dscale = max(0, -exp)
    text = "".join(map(str, digits)).lstrip("0")
    if not text:
        return struct.pack(">hhHh", 0, 0, 0, dscale)
    pad = exp % 4
    text += "0" * pad
    exp -= pad
    text = "0" * (-len(text) % 4) + text
    groups = [int(text[i : i + 4]) for i in range(0, len(text), 4)]
    while groups[-1] == 0:
        groups.pop()
        exp += 4
    weight = len(groups) - 1 + exp // 4
    head = struct.pack(">hhHh", len(groups), weight, 0x4000 if sign else 0, dscale)
    return head + struct.pack(f">{len(groups)}h", *groups)


def encode_rows(rows: list[tuple[int, int, Decimal, Decimal, str | None]]) -> bytes:
    out = [HEADER]
    for ts_us, tid, price, size, side in rows:
        fields = [
            struct.pack(">q", ts_us),
            struct.pack(">q", tid),
            numeric_send(price),
            numeric_send(size),
            None if side is None else side.encode(),
        ]
        row = [struct.pack(">h", len(fields))]
        for f in fields:
            row.append(struct.pack(">i", -1) if f is None else struct.pack(">i", len(f)) + f)
        out.append(b"".join(row))
    out.append(b"\xff\xff")
    return b"".join(out)


def decode(data: bytes) -> pa.Table:
    return decode_trades(np.frombuffer(data, np.uint8), len(data))


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def test_numeric_hand_examples() -> None:
    # 68923.67 = 6·10000 + 8923 + 6700/10000: digits [6, 8923, 6700], weight 1, scale 2;
    # 0.00012 = 1/10000 + 2000/10000²: digits [1, 2000], weight -1, scale 5
    assert numeric_send(Decimal("68923.67"))[:8] == struct.pack(">hhHh", 3, 1, 0, 2)
    assert numeric_send(Decimal("68923.67"))[8:] == struct.pack(">3h", 6, 8923, 6700)
    assert numeric_send(Decimal("0.00012")) == struct.pack(">hhHh2h", 2, -1, 0, 5, 1, 2000)
    rows = [
        (0, 1, Decimal("68923.67"), Decimal("0.00012"), "buy"),
        (1, 2, Decimal("-1E+30"), Decimal("0"), "sell"),
        (2, 3, Decimal("0.10000000000000001"), Decimal("NaN"), None),  # 17 digits: text path
        (3, 4, Decimal("123456789012345678901234"), Decimal("Infinity"), "buy"),
    ]
    got = decode(encode_rows(rows))
    assert got.column("price").to_pylist()[:2] == [68923.67, -1e30]
    assert got.column("price").to_pylist()[2:] == [0.1, 1.2345678901234568e23]
    assert got.column("qty").to_pylist()[:2] == [0.00012, 0.0]
    assert math.isnan(got.column("qty")[2].as_py())
    assert got.column("qty")[3].as_py() == math.inf
    assert got.column("side").to_pylist() == [1, -1, 0, 1]
    assert got.column("trade_id").to_pylist() == [1, 2, 3, 4]
    assert got.column("ts").cast(pa.int64()).to_pylist() == [
        (k + 946_684_800_000_000) * 1000 for k in range(4)
    ]


decimals = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: Decimal(repr(f))),
    st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
        lambda d: abs(d.adjusted()) < 300
    ),
    st.integers(0, 10**12).map(lambda k: Decimal(k).scaleb(-8)),
    st.sampled_from([Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")]),
)
rows_st = st.lists(
    st.tuples(
        st.integers(-(2**50), 2**50),
        st.integers(-(2**63), 2**63 - 1),
        decimals,
        decimals,
        st.sampled_from(["buy", "sell", None]),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(rows=rows_st)
def test_kernel_equals_its_twin_and_the_exact_float(rows) -> None:
    data = encode_rows(rows)
    got = decode(data)
    ts, ids, price, size, side = reference.parse_trades(data)
    assert got.column("ts").cast(pa.int64()).to_pylist() == ts
    assert got.column("trade_id").to_pylist() == ids
    assert got.column("side").to_pylist() == side
    for col, ref, src in (("price", price, 2), ("qty", size, 3)):
        values = got.column(col).to_pylist()
        assert all(same(a, b) for a, b in zip(values, ref, strict=True))
        assert all(same(a, float(r[src])) for a, r in zip(values, rows, strict=True))


@settings(max_examples=100, deadline=None)
@given(rows=rows_st.filter(bool), cut=st.integers(1, 10_000))
def test_cut_or_damaged_input_is_a_data_error(rows, cut: int) -> None:
    data = encode_rows(rows)
    short = data[: max(0, len(data) - 1 - cut % len(data))]
    with pytest.raises(DataError, match="COPY output"):
        decode(short)
    bad = bytearray(data)
    bad[19:21] = b"\x00\x04"  # the first row claims 4 fields
    with pytest.raises(DataError, match="unexpected fields"):
        decode(bytes(bad))


# -- on the server ------------------------------------------------------------------------------
def test_the_test_encoder_writes_what_the_server_sends(conn: psycopg.Connection) -> None:
    values = ["68923.67", "0.00012", "-1E+30", "0.0", "0.10000000000000001", "NaN", "123.4500"]
    for v in values:
        row = conn.execute("SELECT numeric_send(%s::numeric)", (v,)).fetchone()
        assert row is not None and bytes(row[0]) == numeric_send(Decimal(v)), v


def _table(prices: list[float], sizes: list[float], t0: int, span_ns: int) -> pa.Table:
    n = len(prices)
    ts = t0 + np.linspace(0, span_ns - 1000, n).astype(np.int64) // 1000 * 1000
    return pa.table(
        {
            "ts": pa.array(ts).cast(TS_TYPE),
            "price": pa.array(prices, pa.float64()),
            "qty": pa.array(sizes, pa.float64()),
            "side": pa.array(np.resize(np.array([1, -1, 0], np.int8), n)),
            "trade_id": pa.array(np.arange(n, dtype=np.int64)),
        }
    )


positive = st.floats(min_value=1e-12, max_value=1e12, allow_nan=False)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(prices=st.lists(positive, min_size=1, max_size=300), data=st.data())
def test_fast_read_equals_psycopg_iteration_and_the_server_cast(
    conn: psycopg.Connection, prices: list[float], data
) -> None:
    sizes = data.draw(st.lists(positive | st.just(0.0), min_size=len(prices), max_size=len(prices)))
    store = Store(conn)
    conn.execute("TRUNCATE raw_trades")
    table = _table(prices, sizes, T0, 3 * SPLIT_NS)
    with store.transaction():
        store.write_trades("coinbase", "X-USD", table)
    hi = T0 + 3 * SPLIT_NS
    fast = store.read_trades("coinbase", "X-USD", T0, hi)  # two halves, two connections
    assert (store._helper_conn is not None) == (not JIT_DISABLED)  # compiled: two connections
    store.fast_copy = False
    slow = store.read_trades("coinbase", "X-USD", T0, hi)
    store.close()
    assert fast.equals(slow)
    assert fast.column("price").to_pylist() == prices  # float -> shortest decimal -> same float
    assert fast.column("qty").to_pylist() == sizes
    cast = conn.execute(
        "SELECT price::float8, size::float8 FROM raw_trades ORDER BY timestamp, trade_id"
    ).fetchall()
    assert [p for p, _ in cast] == prices and [s for _, s in cast] == sizes


@pytest.mark.skipif(JIT_DISABLED, reason="the libpq drain runs compiled only (JIT disabled)")
def test_fast_path_is_the_one_used_and_a_small_buffer_grows(conn: psycopg.Connection) -> None:
    assert _libpq() is not None, "the libpq psycopg uses was not found: reads would be slow"
    store = Store(conn)
    rng = np.random.default_rng(3)
    n = 20_000
    table = _table(
        list(np.round(rng.uniform(1, 5000, n), 2)),
        list(np.round(rng.exponential(1, n), 8)),
        T0,
        SPLIT_NS // 2,
    )
    with store.transaction():
        store.write_trades("binance", "BTCUSDT", table)
    store._copy_bufs = [np.empty(64, np.uint8), np.empty(64, np.uint8)]
    fast = store.read_trades("binance", "BTCUSDT")  # unbounded: one connection
    assert store._helper_conn is None and store._copy_bufs[0].size > 20_000 * 54
    store.fast_copy = False
    assert fast.equals(store.read_trades("binance", "BTCUSDT"))
    assert fast.column("trade_id").to_pylist() == list(range(n))
    # inside a transaction the second connection would not see uncommitted rows: one connection
    store.fast_copy = True
    with store.transaction():
        extra = _table([9.5], [1.0], T0 + SPLIT_NS, 1000).set_column(
            4, "trade_id", pa.array([n], pa.int64())
        )
        store.write_trades("binance", "BTCUSDT", extra)
        inside = store.read_trades("binance", "BTCUSDT", T0, T0 + 2 * SPLIT_NS)
        assert inside.num_rows == n + 1 and store._helper_conn is None
    empty = store.read_trades("binance", "NONE", T0, T0 + 2 * SPLIT_NS)
    assert empty.num_rows == 0
    store.close()


def test_a_copy_cancelled_midway_is_one_error_and_the_connection_lives_on(
    conn: psycopg.Connection,
) -> None:
    store = Store(conn)
    n = 200_000
    table = _table([1.5] * n, [2.5] * n, T0, SPLIT_NS // 2)
    with store.transaction():
        store.write_trades("binance", "ETHUSDT", table)
    conn.execute("SET statement_timeout = '5ms'")
    with pytest.raises(psycopg.OperationalError):
        for _ in range(20):  # bounded: some read is cut by the timeout
            store.read_trades("binance", "ETHUSDT")
    conn.execute("SET statement_timeout = 0")
    assert store.read_trades("binance", "ETHUSDT").num_rows == n


def test_iter_trades_with_prefetch_equals_one_read(conn: psycopg.Connection) -> None:
    store = Store(conn)
    rng = np.random.default_rng(8)
    n = 6_000
    table = _table(list(np.round(rng.uniform(1, 9, n), 3)), [1.0] * n, T0, 5 * 86_400 * 10**9)
    with store.transaction():
        store.write_trades("coinbase", "SOL-USD", table)
    hi = T0 + 6 * 86_400 * 10**9
    whole = store.read_trades("coinbase", "SOL-USD", T0, hi)
    parts = list(store.iter_trades("coinbase", "SOL-USD", T0 - 86_400 * 10**9, hi))
    assert len(parts) == 5 and pa.concat_tables(parts).equals(whole)
    assert whole.column("trade_id").to_pylist() == list(range(n))
    # leaving early waits for the read in flight; the store is usable at once
    for first in store.iter_trades("coinbase", "SOL-USD", T0, hi):
        assert first.num_rows > 0
        break
    assert store.read_trades("coinbase", "SOL-USD").num_rows == n
    store.close()


@pytest.mark.skipif(JIT_DISABLED, reason="the libpq drain runs compiled only (JIT disabled)")
def test_a_user_without_a_second_connection_slot_reads_on_one(
    conn: psycopg.Connection, db_url: str
) -> None:
    """A role limited to one connection: the split read's helper cannot connect, so a long
    range is read whole on the one connection, with the same rows, and it is not retried."""
    role = "sf_one_slot"
    conn.execute(f'DROP ROLE IF EXISTS "{role}"')
    conn.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 1')
    conn.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{role}"')
    conn.commit()
    writer = Store(conn)
    table = _table([float(i % 97) + 0.5 for i in range(4000)], [1.25] * 4000, T0, 3 * SPLIT_NS)
    with writer.transaction():
        writer.write_trades("coinbase", "X-USD", table)
    rest = db_url.split("@", 1)[1]  # host:port/database of the session's cluster
    try:
        with psycopg.connect(f"postgresql://{role}@{rest}") as limited:
            store = Store(limited)
            hi = T0 + 3 * SPLIT_NS
            got = store.read_trades("coinbase", "X-USD", T0, hi)
            assert store._helper_conn is None and store._helper_failed
            assert got.equals(writer.read_trades("coinbase", "X-USD", T0, hi))
            assert got.num_rows == 4000
            store.read_trades("coinbase", "X-USD", T0, hi)  # no second attempt to connect
            assert store._helper_conn is None
            store.close()
    finally:
        writer.close()
        conn.execute(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{role}"')
        conn.execute(f'DROP ROLE "{role}"')
        conn.commit()


def _message(*fields: bytes | None, after: bytes = b"") -> bytes:
    """One row of the given raw fields (``None``: NULL) between the header and the trailer."""
    row = [struct.pack(">h", len(fields))]
    for f in fields:
        row.append(struct.pack(">i", -1) if f is None else struct.pack(">i", len(f)) + f)
    return HEADER + b"".join(row) + b"\xff\xff" + after


_TS, _ID = struct.pack(">q", 5), struct.pack(">q", 9)
_PRICE = numeric_send(Decimal("1.5"))


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (_message(_TS, _ID, _PRICE, _PRICE, b"buy", after=b"x"), "unexpected fields"),
        (_message(b"\x00" * 4, _ID, _PRICE, _PRICE, b"buy"), "unexpected fields"),  # ts 4 bytes
        (_message(_TS, b"\x00" * 4, _PRICE, _PRICE, b"buy"), "unexpected fields"),  # id 4 bytes
        (_message(_TS, _ID, b"\x00" * 6, _PRICE, b"buy"), "malformed numeric"),  # under 8 bytes
        (_message(_TS, _ID, _PRICE[:-2], _PRICE, b"buy"), "malformed numeric"),  # 1 digit short
        (
            _message(_TS, _ID, struct.pack(">hhHh", 0, 0, 0x1234, 0), _PRICE, b"buy"),
            "malformed numeric",
        ),  # a sign that is none of +, -, NaN, ±inf
        (
            _message(_TS, _ID, struct.pack(">hhHhh", 1, 0, 0, 0, 10000), _PRICE, b"buy"),
            "malformed numeric",
        ),  # a base-10000 digit of 10000
        (_message(_TS, _ID, _PRICE, _PRICE, b"hold"), "unexpected fields"),  # neither buy nor sell
        (b"XGCOPY\n\xff\r\n\x00" + b"\x00" * 8 + b"\xff\xff", "no binary header"),
    ],
    ids=[
        "after-trailer",
        "ts-len",
        "id-len",
        "numeric-short",
        "numeric-len",
        "numeric-sign",
        "numeric-digit",
        "side",
        "header",
    ],
)
def test_each_malformed_field_is_a_data_error_naming_its_byte(data: bytes, needle: str) -> None:
    """Hand-made damage the server never sends: one ``DataError``, never a wrong row."""
    with pytest.raises(DataError, match=f"the server's COPY output .*{needle}.* \\(byte \\d+\\)"):
        decode(data)


def test_zero_and_negative_numerics_beyond_the_fast_path() -> None:
    """17 significant digits take the text path: 0 with a scale, and a negative value."""
    rows: list[tuple[int, int, Decimal, Decimal, str | None]] = [
        (0, 1, Decimal("-0.10000000000000001"), Decimal("0.000"), "sell"),
        (1, 2, Decimal("-12345678901234567.5"), Decimal("1E-20"), "buy"),
    ]
    got = decode(encode_rows(rows))
    assert got.column("price").to_pylist() == [-0.1, -12345678901234568.0]
    assert got.column("qty").to_pylist() == [0.0, 1e-20]


def test_more_rows_than_the_arrays_hold_is_reported_not_written() -> None:
    from seriesfactory.store import nb

    data = np.frombuffer(encode_rows([(0, 1, Decimal(1), Decimal(2), "buy")] * 2), np.uint8)
    one = [np.empty(1, t) for t in (np.int64, np.int64, np.float64, np.float64, np.int8,
                                    np.uint8, np.int64, np.int64)]  # fmt: skip
    p10 = np.array([10.0**k for k in range(23)])
    rows, err, _ = nb.parse_trades(data, data.size, one[0], one[1], one[2], one[3], one[4],
                                   one[5], one[6], one[7], p10)  # fmt: skip
    assert (rows, err) == (1, nb.ERR_ROOM)
