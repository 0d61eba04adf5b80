"""Book features: hand cases, kernel = twin, chunk invariance, no look-ahead, gaps, live."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from seriesfactory.errors import DataError
from seriesfactory.raw.follow import NativeFollower
from seriesfactory.raw.readers import read_records
from seriesfactory.sources._book_base import EventBuffer
from seriesfactory.transforms.book import nb as book_nb
from seriesfactory.transforms.features import nb
from seriesfactory.transforms.features.api import BookFeatureBuilder, book_features
from seriesfactory.transforms.features.live import LiveBookFeatures
from seriesfactory.transforms.features.reference import ref_ofi

MS = 1_000_000


def same(a: pa.Table, b: pa.Table) -> None:
    """Tables equal value by value, NaN equal to NaN."""
    assert a.column_names == b.column_names
    assert a.num_rows == b.num_rows
    for name in a.column_names:
        x = a.column(name).to_numpy(zero_copy_only=False)
        y = b.column(name).to_numpy(zero_copy_only=False)
        if x.dtype.kind == "f":
            np.testing.assert_array_equal(x, y, err_msg=name)
        else:
            assert (x == y).all(), name


def run(buf_msgs: list[EventBuffer], **kw: object) -> pa.Table:
    """Feed each buffer as one chunk, finish, concatenate."""
    b = BookFeatureBuilder(
        rule=kw.pop("rule", book_nb.R_NONE),  # type: ignore[arg-type]
        price_decimals=0,
        interval_ns=100 * MS,
        **kw,  # type: ignore[arg-type]
    )
    parts = []
    for buf in buf_msgs:
        ev, tr = buf.take()
        parts.append(b.update(ev, tr))
    parts.append(b.finish())
    return pa.concat_tables(parts)


def two_books(
    bids0: list[tuple[float, float]],
    asks0: list[tuple[float, float]],
    bids1: list[tuple[float, float]],
    asks1: list[tuple[float, float]],
) -> pa.Table:
    buf = EventBuffer()
    buf.message(10 * MS, 0, bids0, asks0, snapshot=True)
    buf.message(150 * MS, 0, bids1, asks1)
    buf.message(250 * MS, 0, [], [])
    return run([buf], depth=1, with_trades=False)


@pytest.mark.parametrize(
    ("bids0", "asks0", "bids1", "asks1", "ofi", "naive"),
    [
        # bid improves 10000x500 -> 10001x20: +20 (naive 20 - 500 = -480)
        ([(10000, 500)], [(10002, 300)], [(10001, 20)], [], 20.0, -480.0),
        # bid queue exhausted 10000x50 -> 9999x900: -50 (naive +850)
        ([(10000, 50), (9999, 900)], [(10002, 300)], [(10000, 0)], [], -50.0, 850.0),
        # ask improves 10002x300 -> 10001x40: -40 (naive -(40 - 300) = +260)
        ([(10000, 50)], [(10002, 300)], [], [(10001, 40)], -40.0, 260.0),
    ],
)
def test_ofi_hand_cases(
    bids0: list[tuple[float, float]],
    asks0: list[tuple[float, float]],
    bids1: list[tuple[float, float]],
    asks1: list[tuple[float, float]],
    ofi: float,
    naive: float,
) -> None:
    t = two_books(bids0, asks0, bids1, asks1)
    rows = t.to_pylist()
    assert [r["ts"].value for r in rows] == [100 * MS, 200 * MS]
    assert rows[0]["ofi"] == 0.0 and rows[1]["ofi"] == ofi
    assert rows[1]["ofi_cumulative"] == ofi
    d = [rows[1][k] - rows[0][k] for k in ("bid_sz_01", "ask_sz_01")]
    assert d[0] - d[1] == naive  # what the popular formula would say


def test_microprice_imbalance_spread_liquidity() -> None:
    buf = EventBuffer()
    buf.message(10 * MS, 0, [(100, 900), (99, 50)], [(101, 100), (102, 50)], snapshot=True)
    buf.message(120 * MS, 0, [], [])
    t = run([buf], depth=2, with_trades=False).to_pylist()[0]
    assert t["microprice"] == pytest.approx(100.9, abs=1e-12)
    assert t["midprice"] == 100.5 and t["spread"] == 1.0
    assert t["spread_bps"] == pytest.approx(1e4 / 100.5)
    assert t["imbalance"] == pytest.approx(0.8)
    assert t["liquidity_1"] == 1000.0
    assert t["liquidity_usd_1"] == 100 * 900 + 101 * 100
    assert "imbalance_5" not in t  # only levels the table has


def test_trades_of_the_interval_and_last_trade_age() -> None:
    buf = EventBuffer()
    buf.message(10 * MS, 0, [(100, 1)], [(101, 1)], snapshot=True)
    buf.trade(50 * MS, 0, 100.0, 2.0, 1, 1)
    buf.trade(100 * MS, 0, 101.0, 1.0, -1, 2)  # exactly at the row: in it
    buf.trade(100 * MS + 1, 0, 99.0, 5.0, -1, 3)  # the next row
    buf.message(350 * MS, 0, [], [])
    rows = run([buf], depth=1).to_pylist()
    r0, r1, r2 = rows[0], rows[1], rows[2]
    assert (r0["taker_buy_volume"], r0["taker_sell_volume"], r0["trade_count"]) == (2.0, 1.0, 2)
    assert r0["signed_volume"] == 1.0 and r0["volume_imbalance"] == pytest.approx(1 / 3)
    assert r0["vwap"] == pytest.approx((200 + 101) / 3)
    assert (r0["last_trade_px"], r0["last_trade_qty"], r0["last_trade_age"]) == (101.0, 1.0, 0.0)
    assert r1["trade_count"] == 1 and r1["last_trade_px"] == 99.0
    assert r2["trade_count"] == 0 and math.isnan(r2["vwap"]) and r2["last_trade_px"] == 99.0
    assert r2["last_trade_age"] == pytest.approx((300 * MS - 100 * MS - 1) / 1e9)


def test_gap_gives_invalid_rows_and_restarts_ofi() -> None:
    buf = EventBuffer()
    buf.message(10 * MS, 0, [(100, 10)], [(102, 10)], snapshot=True, last_id=1)
    buf.message(110 * MS, 0, [(100, 15)], [], first_id=2, last_id=2)  # +5
    buf.message(250 * MS, 0, [(100, 15)], [], first_id=3, last_id=3)  # no flow
    buf.message(260 * MS, 0, [(100, 18)], [], first_id=6, last_id=6)  # gap (4, 5 lost)
    buf.message(330 * MS, 0, [(100, 30)], [(102, 10)], snapshot=True, last_id=9)  # resync
    buf.message(410 * MS, 0, [(100, 31)], [], first_id=10, last_id=10)  # +1
    buf.message(520 * MS, 0, [], [], first_id=11, last_id=11)
    rows = run([buf], depth=1, rule=book_nb.R_NEXT, ofi_window=2, with_trades=False).to_pylist()
    by_t = {r["ts"].value // MS: r for r in rows}
    assert by_t[100]["book_valid"] and by_t[200]["book_valid"]
    assert by_t[200]["ofi"] == 5.0 and by_t[200]["ofi_cumulative"] == 5.0
    assert by_t[200]["ofi_2"] == 5.0
    assert not by_t[300]["book_valid"]  # between the gap and its resync
    assert all(math.isnan(by_t[300][k]) for k in ("midprice", "ofi", "ofi_cumulative", "imbalance"))
    assert by_t[400]["book_valid"] and by_t[400]["ofi"] == 0.0  # the resync is no flow
    assert by_t[400]["ofi_cumulative"] == 0.0 and math.isnan(by_t[400]["ofi_2"])
    assert by_t[500]["ofi"] == 1.0 and by_t[500]["ofi_cumulative"] == 1.0
    assert by_t[500]["ofi_2"] == 1.0  # restarted window: only rows since the resync


# --- kernel = twin ----------------------------------------------------------------------------
def _random_messages(
    rng: np.random.Generator, n: int, depth: int
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    ts = np.cumsum(rng.integers(0, 40, n)) * MS
    valid = rng.random(n) > 0.08
    bid = np.full((n, depth), -1, np.int64)
    ask = np.full((n, depth), -1, np.int64)
    bq = np.full((n, depth), np.nan)
    aq = np.full((n, depth), np.nan)
    for i in range(n):
        if not valid[i]:
            continue
        mid = 1000 + int(rng.integers(-3, 4))
        nb_ = int(rng.integers(0, depth + 1))
        na = int(rng.integers(0, depth + 1))
        bid[i, :nb_] = mid - 1 - np.arange(nb_)
        ask[i, :na] = mid + 1 + np.arange(na)
        bq[i, :nb_] = rng.integers(1, 9, nb_)
        aq[i, :na] = rng.integers(1, 9, na)
    return ts, valid, (bid, bq, ask, aq)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), depth=st.integers(1, 3), window=st.integers(1, 4))
def test_ofi_kernel_equals_twin_in_any_chunking(seed: int, depth: int, window: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 120))
    ts, valid, lv = _random_messages(rng, n, depth)
    grid = np.arange(0, int(ts[-1]) + 100 * MS, 100 * MS, dtype=np.int64)
    r_valid = rng.random(len(grid)) > 0.1
    msgs = [
        (
            int(ts[i]),
            bool(valid[i]),
            [(int(lv[0][i, k]), float(lv[1][i, k])) for k in range(depth)],
            [(int(lv[2][i, k]), float(lv[3][i, k])) for k in range(depth)],
        )
        for i in range(n)
    ]
    want = ref_ofi(msgs, list(zip(grid.tolist(), r_valid.tolist(), strict=True)), window)
    si, sf, ring = nb.ofi_state(depth, window)
    cuts = sorted({0, n, *rng.integers(0, n + 1, 4).tolist()})
    got_lv, got_cum, got_roll = [], [], []
    r0 = 0
    for lo, hi in itertools.pairwise(cuts):
        final = hi == n
        out_lv = np.empty((len(grid), depth))
        out_c = np.empty(len(grid))
        out_r = np.empty(len(grid))
        j = nb.ofi_rows(
            ts[lo:hi],
            valid[lo:hi],
            lv[0][lo:hi],
            lv[1][lo:hi],
            lv[2][lo:hi],
            lv[3][lo:hi],
            grid[r0:],
            r_valid[r0:],
            final,
            si,
            sf,
            ring,
            out_lv,
            out_c,
            out_r,
        )
        got_lv.append(out_lv[:j])
        got_cum.append(out_c[:j])
        got_roll.append(out_r[:j])
        r0 += j
    assert r0 == len(grid)
    np.testing.assert_array_equal(np.concatenate(got_lv), np.array([w[0] for w in want]))
    np.testing.assert_array_equal(np.concatenate(got_cum), np.array([w[1] for w in want]))
    np.testing.assert_array_equal(np.concatenate(got_roll), np.array([w[2] for w in want]))


# --- builder: chunk invariance and no look-ahead ---------------------------------------------
def _random_stream(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Book events (R_NEXT ids, a gap and resync now and then) and trades, as arrays."""
    rng = np.random.default_rng(seed)
    buf = EventBuffer()
    t = 0
    ident = 1
    buf.message(
        t,
        0,
        [(1000 - k, 5) for k in range(4)],
        [(1001 + k, 5) for k in range(4)],
        snapshot=True,
        last_id=ident,
    )
    for _ in range(n):
        t += int(rng.integers(0, 60)) * MS
        r = rng.random()
        if r < 0.03:
            ident += 5  # lost messages: a gap
            buf.message(t, 0, [(999, 1)], [], first_id=ident, last_id=ident)
        elif r < 0.06:
            ident += 1
            mid = 1000 + int(rng.integers(-3, 4))
            bids = [(float(mid - k), 3.0) for k in range(3)]
            buf.message(
                t,
                0,
                bids,
                [(float(mid + 1 + k), 3.0) for k in range(3)],
                snapshot=True,
                last_id=ident,
            )
        else:
            ident += 1
            side = rng.random() < 0.5
            px = float(1000 + int(rng.integers(-5, 6)))
            q = float(rng.integers(0, 6))
            lv = [(px, q)]
            buf.message(t, 0, lv if side else [], [] if side else lv, first_id=ident, last_id=ident)
        if rng.random() < 0.5:
            buf.trade(
                t + int(rng.integers(-5, 5)) * MS,
                0,
                float(1000 + int(rng.integers(-3, 4))),
                float(rng.integers(1, 4)),
                int(rng.choice([-1, 1])),
                0,
            )
    return buf.take()


def _features(events: np.ndarray, trades: np.ndarray, cuts: list[int]) -> pa.Table:
    b = BookFeatureBuilder(
        rule=book_nb.R_NEXT, price_decimals=0, interval_ns=100 * MS, depth=3, ofi_window=3
    )
    parts = []
    # chunk trades beside the events, in their stream order (contiguous pieces)
    te = np.searchsorted(events["ts"], np.maximum.accumulate(trades["ts"]))
    bounds = [0, *cuts, len(events)]
    for lo, hi in itertools.pairwise(bounds):
        sel = (te >= lo) & (te < hi) if hi < len(events) else te >= lo
        parts.append(b.update(events[lo:hi], trades[sel]))
    parts.append(b.finish())
    return pa.concat_tables(parts)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), data=st.data())
def test_any_chunking_gives_the_same_rows(seed: int, data: st.DataObject) -> None:
    events, trades = _random_stream(seed, 150)
    whole = _features(events, trades, [])
    cuts = sorted(data.draw(st.lists(st.integers(1, len(events) - 1), max_size=6)))
    same(_features(events, trades, cuts), whole)
    assert whole.num_rows > 0


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), frac=st.floats(0.05, 0.95))
def test_no_look_ahead_cut_and_scramble(seed: int, frac: float) -> None:
    events, trades = _random_stream(seed, 150)
    full = _features(events, trades, [])
    cut_t = int(events["ts"][-1] * frac)
    ts = full.column("ts").cast(pa.int64()).to_numpy()
    # 1. data <= T alone gives the full run's rows stamped <= T (as far as it reaches)
    part = _features(events[events["ts"] <= cut_t], trades[trades["ts"] <= cut_t], [])
    assert part.num_rows <= int(np.count_nonzero(ts <= cut_t))
    same(part, full.slice(0, part.num_rows))
    # 2. scrambling every input after T changes no row stamped <= T
    rng = np.random.default_rng(seed)
    ev2, tr2 = events.copy(), trades.copy()
    late = ev2["ts"] > cut_t
    ev2["qty"][late & (ev2["side"] != 0)] = rng.integers(
        0, 50, int(np.count_nonzero(late & (ev2["side"] != 0)))
    )
    lt = tr2["ts"] > cut_t
    tr2["qty"][lt] = rng.random(int(lt.sum())) * 100
    tr2["price"][lt] = 1000 + rng.integers(-9, 9, int(lt.sum()))
    other = _features(ev2, tr2, [])
    k = int(np.count_nonzero(ts <= cut_t))
    same(other.slice(0, k), full.slice(0, k))


# --- real captures -----------------------------------------------------------------------------
def test_real_capture_rows_are_sane_and_chunking_free(shared_real: Path) -> None:
    path = str(shared_real / "binance" / "hftbacktest" / "spot" / "btcusdt_20240808.gz")
    t = book_features([path], venue="binance", symbol="BTCUSDT", depth=5)
    small = book_features([path], venue="binance", symbol="BTCUSDT", depth=5, chunk_events=997)
    same(small, t)
    v = t.column("book_valid").to_numpy(zero_copy_only=False)
    bid = t.column("bid_px_01").to_numpy()[v]
    ask = t.column("ask_px_01").to_numpy()[v]
    micro = t.column("microprice").to_numpy()[v]
    assert (bid < ask).all() and ((micro >= bid) & (micro <= ask)).all()
    ofi = t.column("ofi").to_numpy()[v]
    cum = t.column("ofi_cumulative").to_numpy()[v]
    first = int(np.argmax(v))  # one snapshot, no gap: the running sum is the cumsum of rows
    assert v[first:].all()
    np.testing.assert_allclose(cum, np.cumsum(ofi), atol=1e-6)
    np.testing.assert_array_equal(t.column("mlofi_01").to_numpy(), t.column("ofi").to_numpy())
    assert int(pa.compute.sum(t.column("trade_count")).as_py()) > 1000


def test_live_rows_equal_batch_rows(shared_real: Path, tmp_path: Path) -> None:
    src = shared_real / "binance" / "hftbacktest" / "spot" / "btcusdt_20240808.gz"
    recs = list(read_records([src]))[:6000]
    lines = [
        (
            json.dumps(
                {
                    "recv_ns": r.recv_ns,
                    "conn": "c",
                    "venue": "binance",
                    "kind": r.kind,
                    "data": r.data,
                }
            )
            + "\n"
        ).encode()
        for r in recs
    ]
    folder = tmp_path / "raw"
    folder.mkdir()
    live = LiveBookFeatures(
        NativeFollower(folder), venue="binance", symbol="BTCUSDT", price_decimals=2, depth=3
    )
    cctx = zstandard.ZstdCompressor()
    got = []
    cap = folder / "cap-0001.jsonl.zst"
    for k in range(0, len(lines), 700):
        with open(cap, "ab") as fh:
            fh.write(cctx.compress(b"".join(lines[k : k + 700])))
        got.append(live.poll())
    got.append(live.close())
    batch = book_features([str(cap)], venue="binance", symbol="BTCUSDT", depth=3, price_decimals=2)
    live_t = pa.concat_tables(got)
    assert live_t.num_rows == batch.num_rows > 100
    same(live_t, batch)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), data=st.data())
def test_saved_state_continues_with_the_same_rows(seed: int, data: st.DataObject) -> None:
    events, trades = _random_stream(seed, 120)
    whole = _features(events, trades, [])
    cut = data.draw(st.integers(1, len(events) - 1))
    te = np.searchsorted(events["ts"], np.maximum.accumulate(trades["ts"]))
    b = BookFeatureBuilder(
        rule=book_nb.R_NEXT, price_decimals=0, interval_ns=100 * MS, depth=3, ofi_window=3
    )
    first = b.update(events[:cut], trades[te < cut])
    b = BookFeatureBuilder.from_state(json.loads(json.dumps(b.state())))
    rest = b.update(events[cut:], trades[te >= cut])
    same(pa.concat_tables([first, rest, b.finish()]), whole)


def test_real_capture_with_a_dropped_diff(shared_real: Path, tmp_path: Path) -> None:
    """A real capture with one diff dropped, resynced by a later REST snapshot, via the CLI."""
    from seriesfactory.cli import main
    from seriesfactory.sources._book_base import get_parser
    from seriesfactory.transforms.book.api import BookBuilder, parse_records

    src = shared_real / "binance" / "hftbacktest" / "spot" / "btcusdt_20240808.gz"
    recs = list(read_records([src]))
    resync_at = len(recs) // 2
    out: list[bytes] = []
    diffs = 0
    for i, r in enumerate(recs):
        if r.kind == "msg" and "depthUpdate" in r.data:
            diffs += 1
            if diffs == 400:
                continue  # lost: a sequence gap
        line = {"recv_ns": r.recv_ns, "conn": "c", "venue": "binance", "kind": r.kind}
        out.append((json.dumps({**line, "data": r.data}) + "\n").encode())
        if i == resync_at:  # a REST snapshot of the uninterrupted book resyncs it
            parser = get_parser("binance", "BTCUSDT")
            events, _ = parse_records(parser, recs[: i + 1])
            b = BookBuilder(rule=parser.rule, price_decimals=2, interval_ns=0, depth=1)
            b.update(events)
            body = {
                "lastUpdateId": int(b.state[book_nb.S_LAST]),
                "bids": [[repr(p), repr(q)] for p, q in b.levels(1)],
                "asks": [[repr(p), repr(q)] for p, q in b.levels(-1)],
            }
            rest = {**line, "kind": "rest", "url": "https://x/api/v3/depth?symbol=BTCUSDT"}
            out.append((json.dumps({**rest, "data": json.dumps(body)}) + "\n").encode())
    cap = tmp_path / "cap-0001.jsonl.zst"
    cap.write_bytes(zstandard.ZstdCompressor().compress(b"".join(out)))
    dest = tmp_path / "f.parquet"
    assert (
        main(
            [
                "features",
                "book",
                "--venue",
                "binance",
                "--symbol",
                "BTCUSDT",
                "--input",
                str(cap),
                "--depth",
                "5",
                "--output",
                str(dest),
                "--quiet",
            ]
        )
        == 0
    )
    t = pa.parquet.read_table(dest)
    v = t.column("book_valid").to_numpy(zero_copy_only=False)
    first = int(np.argmax(v))
    bad = np.flatnonzero(~v[first:]) + first
    assert len(bad) > 10 and v[bad[-1] + 1 :].all()  # one invalid span, then valid to the end
    for name in ("midprice", "microprice", "imbalance_5", "ofi", "mlofi_03", "ofi_cumulative"):
        assert np.isnan(t.column(name).to_numpy()[bad]).all(), name
    ofi = t.column("ofi").to_numpy()
    cum = t.column("ofi_cumulative").to_numpy()
    before, after = slice(first, bad[0]), slice(bad[-1] + 1, None)
    np.testing.assert_allclose(cum[before], np.cumsum(ofi[before]), atol=1e-6)
    np.testing.assert_allclose(cum[after], np.cumsum(ofi[after]), atol=1e-6)  # restarted
    roll = t.column("ofi_10").to_numpy()[after]
    assert np.isnan(roll[:9]).all() and np.isfinite(roll[9:]).all()
    assert int(pa.compute.sum(t.column("trade_count")).as_py()) > 1000


def test_a_recording_without_a_snapshot_is_refused(shared_real: Path, tmp_path: Path) -> None:
    src = shared_real / "binance" / "hftbacktest" / "spot" / "btcusdt_20240808.gz"
    lines = [
        (
            json.dumps(
                {
                    "recv_ns": r.recv_ns,
                    "conn": "c",
                    "venue": "binance",
                    "kind": r.kind,
                    "data": r.data,
                }
            )
            + "\n"
        ).encode()
        for r in read_records([src])
        if r.kind == "msg"
    ][:500]  # diffs only: never synced
    cap = tmp_path / "cap-0001.jsonl.zst"
    cap.write_bytes(zstandard.ZstdCompressor().compress(b"".join(lines)))
    with pytest.raises(DataError, match="never valid"):
        book_features([str(cap)], venue="binance", symbol="BTCUSDT", depth=3)


def test_gap_and_resync_inside_one_interval_count_only_the_flow_after_it() -> None:
    buf = EventBuffer()
    buf.message(10 * MS, 0, [(100, 10)], [(102, 10)], snapshot=True, last_id=1)
    buf.message(110 * MS, 0, [(100, 12)], [], first_id=2, last_id=2)  # +2 before the gap
    buf.message(120 * MS, 0, [(100, 13)], [], first_id=5, last_id=5)  # gap (3, 4 lost)
    buf.message(150 * MS, 0, [(100, 20)], [(102, 10)], snapshot=True, last_id=7)  # resync
    buf.message(170 * MS, 0, [(100, 23)], [], first_id=8, last_id=8)  # +3 after it
    buf.message(250 * MS, 0, [], [], first_id=9, last_id=9)
    rows = run([buf], depth=1, rule=book_nb.R_NEXT, with_trades=False).to_pylist()
    r = {x["ts"].value // MS: x for x in rows}[200]
    assert r["book_valid"] and r["ofi"] == 3.0 and r["ofi_cumulative"] == 3.0
    assert math.isnan(r["ofi_10"])
