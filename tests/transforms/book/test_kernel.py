"""The book kernel: hand-computed sequences per rule, its plain-Python twin, chunk invariance."""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from seriesfactory.schema import RULE_BINANCE, RULE_BINANCE_F, RULE_NEXT, RULE_NONE, RULE_PREV
from seriesfactory.sources._book_base import EventBuffer
from seriesfactory.transforms.book import nb, nb_side
from seriesfactory.transforms.book.api import BookBuilder, BookRows
from seriesfactory.transforms.book.reference import reference_book


def events_of(msgs: list[dict[str, object]]) -> np.ndarray:
    """Event array from message dicts (keys of ``EventBuffer.message`` plus ``gap``)."""
    buf = EventBuffer()
    for m in msgs:
        if m.get("gap"):
            buf.gap(int(m["ts"]), int(m["ts"]))  # type: ignore[call-overload]
            continue
        buf.message(
            int(m["ts"]),  # type: ignore[call-overload]
            int(m["ts"]),  # type: ignore[call-overload]
            list(m.get("bids", [])),  # type: ignore[call-overload]
            list(m.get("asks", [])),  # type: ignore[call-overload]
            first_id=int(m.get("first", -1)),  # type: ignore[call-overload]
            last_id=int(m.get("last", -1)),  # type: ignore[call-overload]
            prev_id=int(m.get("prev", -1)),  # type: ignore[call-overload]
            snapshot=bool(m.get("snapshot", False)),
            relative=bool(m.get("relative", False)),
        )
    return buf.take()[0]


def run_chunked(
    events: np.ndarray,
    cuts: list[int],
    *,
    rule: int,
    decimals: int,
    interval_ns: int,
    depth: int,
    window_ticks: int = 1 << 20,
) -> tuple[np.ndarray, BookRows]:
    """Run the kernel over ``events`` cut at ``cuts``; return all messages and rows."""
    b = BookBuilder(
        rule=rule,
        price_decimals=decimals,
        interval_ns=interval_ns,
        depth=depth,
        window_ticks=window_ticks,
    )
    bounds = [0, *sorted(set(c for c in cuts if 0 < c < len(events))), len(events)]
    msgs, rows = [], []
    for lo, hi in itertools.pairwise(bounds):
        m, r = b.update(events[lo:hi])
        msgs.append(m)
        rows.append(r)
    rows.append(b.finish())
    return np.concatenate(msgs), BookRows.concat(rows, depth)


MS = 1_000_000


def _run(
    msgs: list[dict[str, object]], rule: int, interval_ns: int = 0, depth: int = 2
) -> tuple[np.ndarray, BookRows]:
    return run_chunked(
        events_of(msgs), [], rule=rule, decimals=2, interval_ns=interval_ns, depth=depth
    )


def test_binance_spot_rules_hand_computed() -> None:
    # snapshot L=100; u=100 stale (u <= L); U=99,u=103 first applied (U <= 101 <= u);
    # U=104 next; U=104 again (u=105 <= 105) duplicate; U=107 gap (expected 106)
    msgs: list[dict[str, object]] = [
        {
            "ts": 1 * MS,
            "first": 100,
            "last": 100,
            "snapshot": True,
            "bids": [(10.0, 1.0)],
            "asks": [(10.5, 2.0)],
        },
        {"ts": 2 * MS, "first": 98, "last": 100, "bids": [(10.0, 9.0)]},
        {"ts": 3 * MS, "first": 99, "last": 103, "bids": [(10.1, 3.0)]},
        {"ts": 4 * MS, "first": 104, "last": 105, "asks": [(10.5, 0.0), (10.6, 4.0)]},
        {"ts": 5 * MS, "first": 104, "last": 105, "asks": [(10.2, 1.0)]},
        {"ts": 6 * MS, "first": 107, "last": 108, "bids": [(10.2, 1.0)]},
        {"ts": 7 * MS, "first": 109, "last": 110, "bids": [(10.2, 1.0)]},
        {
            "ts": 8 * MS,
            "first": 200,
            "last": 200,
            "snapshot": True,
            "bids": [(9.0, 1.0)],
            "asks": [(9.5, 1.0)],
        },
    ]
    m, _ = _run(msgs, RULE_BINANCE)
    assert m["status"].tolist() == [
        nb.ST_SNAPSHOT,
        nb.ST_STALE,
        nb.ST_APPLIED,
        nb.ST_APPLIED,
        nb.ST_DUPLICATE,
        nb.ST_GAP,
        nb.ST_UNSYNCED,
        nb.ST_RESYNC,
    ]
    assert m["expect"][5] == 106
    # after message 4: bids 10.1x3, 10.0x1 ; asks 10.6x4 (10.5 deleted)
    assert (m["bid_px"][3], m["bid_qty"][3], m["ask_px"][3], m["ask_qty"][3]) == (
        10.1,
        3.0,
        10.6,
        4.0,
    )
    assert m["valid"].tolist() == [True, True, True, True, True, False, False, True]


def test_binance_futures_rules_hand_computed() -> None:
    # L=100: u=99 stale (u < L); U=95,u=100 first (U <= L <= u); then pu chaining
    msgs: list[dict[str, object]] = [
        {"ts": 1, "first": 100, "last": 100, "snapshot": True, "bids": [(1.0, 1.0)]},
        {"ts": 2, "first": 90, "last": 99, "prev": 89},
        {"ts": 3, "first": 95, "last": 100, "prev": 94},
        {"ts": 4, "first": 101, "last": 120, "prev": 100},
        {"ts": 5, "first": 125, "last": 130, "prev": 121},
    ]
    m, _ = _run(msgs, RULE_BINANCE_F)
    assert m["status"].tolist() == [
        nb.ST_SNAPSHOT,
        nb.ST_STALE,
        nb.ST_APPLIED,
        nb.ST_APPLIED,
        nb.ST_GAP,
    ]
    assert m["expect"][4] == 120


def test_next_prev_none_rules_and_gap_marker() -> None:
    base: dict[str, object] = {
        "ts": 1,
        "first": 5,
        "last": 5,
        "prev": 4,
        "snapshot": True,
        "bids": [(1.0, 1.0)],
    }
    msgs: list[dict[str, object]] = [
        base,
        {"ts": 2, "first": 6, "last": 6, "prev": 5},
        {"ts": 3, "first": 6, "last": 6, "prev": 5},
        {"ts": 4, "first": 8, "last": 8, "prev": 7},
    ]
    m, _ = _run(msgs, RULE_NEXT)
    assert m["status"].tolist() == [nb.ST_SNAPSHOT, nb.ST_APPLIED, nb.ST_DUPLICATE, nb.ST_GAP]
    m, _ = _run(msgs, RULE_PREV)
    # a repeated prevSeqId is not the previous seqId: a gap, then unsynced until a snapshot
    assert m["status"].tolist() == [nb.ST_SNAPSHOT, nb.ST_APPLIED, nb.ST_GAP, nb.ST_UNSYNCED]
    m, _ = _run([base, {"gap": True, "ts": 2}, {"ts": 3, "bids": [(2.0, 1.0)]}, base], RULE_NONE)
    assert m["status"].tolist() == [nb.ST_SNAPSHOT, nb.ST_MARKER, nb.ST_UNSYNCED, nb.ST_RESYNC]


def test_relative_levels_and_crossing() -> None:
    msgs: list[dict[str, object]] = [
        {
            "ts": 1,
            "first": 1,
            "last": 1,
            "snapshot": True,
            "bids": [(1.0, 2.0)],
            "asks": [(1.2, 1.0)],
        },
        {"ts": 2, "first": 2, "last": 2, "bids": [(1.0, -0.5)], "relative": True},
        {"ts": 3, "first": 3, "last": 3, "bids": [(1.0, -1.5)], "relative": True},
        {"ts": 4, "first": 4, "last": 4, "bids": [(1.3, 1.0)]},
    ]
    m, _ = _run(msgs, RULE_NEXT)
    assert m["bid_qty"][1] == 1.5
    assert math.isnan(m["bid_px"][2])  # 2.0 - 0.5 - 1.5 = 0 deletes the level
    assert m["crossed"].tolist() == [False, False, False, True]  # bid 1.3 >= ask 1.2


def test_grid_rows_are_the_book_after_events_up_to_t() -> None:
    # interval 10: messages at 3, 10, 25 -> rows 10 (after ts 3 and 10), 20 (same), and
    # the final row 20 only; a row at 30 would be past the last message
    msgs: list[dict[str, object]] = [
        {
            "ts": 3,
            "first": 1,
            "last": 1,
            "snapshot": True,
            "bids": [(1.0, 1.0)],
            "asks": [(2.0, 1.0)],
        },
        {"ts": 10, "first": 2, "last": 2, "bids": [(1.5, 2.0)]},
        {"ts": 25, "first": 3, "last": 3, "bids": [(1.7, 3.0)]},
    ]
    _, rows = _run(msgs, RULE_NEXT, interval_ns=10, depth=2)
    assert rows.ts.tolist() == [10, 20]
    assert rows.bid_px[0].tolist() == [1.5, 1.0] and rows.bid_qty[0].tolist() == [2.0, 1.0]
    assert rows.ask_px[1, 0] == 2.0 and math.isnan(rows.ask_px[1, 1])


def test_rows_before_a_revealed_gap_are_invalid() -> None:
    # interval 10: id 3 is lost. The diff at 34 (first id 4) reveals it; the lost diff
    # fell somewhere after the message at 12, so rows 20 and 30 (written when the diff
    # at 34 starts) are invalid; row 10 (written at 12, before it) stays valid.
    msgs: list[dict[str, object]] = [
        {"ts": 5, "first": 1, "last": 1, "snapshot": True, "bids": [(1.0, 1.0)]},
        {"ts": 12, "first": 2, "last": 2, "bids": [(1.5, 2.0)]},
        {"ts": 34, "first": 4, "last": 4, "bids": [(1.7, 3.0)]},
        {"ts": 41, "first": 5, "last": 5, "snapshot": True, "bids": [(1.2, 1.0)]},
    ]
    m, rows = _run(msgs, RULE_NEXT, interval_ns=10, depth=1)
    assert m["status"].tolist() == [nb.ST_SNAPSHOT, nb.ST_APPLIED, nb.ST_GAP, nb.ST_RESYNC]
    assert rows.ts.tolist() == [10, 20, 30, 40]
    assert rows.valid.tolist() == [True, False, False, False]
    assert rows.bid_px[:, 0].tolist()[0] == 1.0
    assert np.isnan(rows.bid_px[1:, 0]).all() and np.isnan(rows.bid_qty[1:, 0]).all()
    for cuts in ([1], [2], [2, 3]):  # the same whichever chunk writes the rows
        _, again = run_chunked(
            events_of(msgs), cuts, rule=RULE_NEXT, decimals=2, interval_ns=10, depth=1
        )
        assert again.valid.tolist() == rows.valid.tolist()


@st.composite
def streams(draw: st.DrawFn) -> tuple[np.ndarray, int, int, int, list[int], int]:
    rule = draw(st.sampled_from([RULE_NONE, RULE_BINANCE, RULE_BINANCE_F, RULE_NEXT, RULE_PREV]))
    n = draw(st.integers(1, 40))
    msgs: list[dict[str, object]] = []
    last_id, ts = 10, 0
    for _ in range(n):
        ts += draw(st.integers(0, 30))
        kind = draw(st.sampled_from(["delta"] * 6 + ["snapshot", "gap", "skip", "dup"]))
        if kind == "gap":
            msgs.append({"gap": True, "ts": ts})
            continue
        step = {"delta": 1, "snapshot": 1, "skip": 3, "dup": 0}[kind]
        first = last_id + step
        last = first + draw(st.integers(0, 2))
        lv = st.tuples(
            st.integers(1, 300).map(lambda t: t / 100), st.sampled_from([0.0, 0.5, 1.0, 2.5])
        )
        bids = draw(st.lists(lv, max_size=4))
        asks = [(p + 0.3, q) for p, q in draw(st.lists(lv, max_size=4))]
        msgs.append(
            {
                "ts": ts,
                "first": first,
                "last": last,
                "prev": last_id,
                "bids": bids,
                "asks": asks,
                "snapshot": kind == "snapshot",
            }
        )
        last_id = max(last_id, last)
    events = events_of(msgs)
    cuts = draw(st.lists(st.integers(0, len(events)), max_size=5))
    window = draw(st.sampled_from([64, 128, 1 << 20]))  # small windows exercise cold levels
    return events, rule, draw(st.sampled_from([0, 7, 20])), draw(st.integers(1, 3)), cuts, window


@settings(max_examples=150, deadline=None)
@given(streams())
def test_kernel_equals_reference_in_any_chunking(
    case: tuple[np.ndarray, int, int, int, list[int], int],
) -> None:
    events, rule, interval, depth, cuts, window = case
    kw = {"rule": rule, "decimals": 2, "interval_ns": interval, "depth": depth}
    whole_m, whole_r = run_chunked(events, [], **kw, window_ticks=window)
    cut_m, cut_r = run_chunked(events, cuts, **kw, window_ticks=1 << 20)
    for name in whole_m.dtype.names or ():
        np.testing.assert_array_equal(whole_m[name], cut_m[name])
    np.testing.assert_array_equal(whole_r.ts, cut_r.ts)
    np.testing.assert_array_equal(whole_r.bid_px, cut_r.bid_px)
    np.testing.assert_array_equal(whole_r.ask_qty, cut_r.ask_qty)
    cols = {k: events[k] for k in ("ts", "side", "qty", "first_id", "last_id", "prev_id", "flags")}
    cols["tick"] = np.rint(np.nan_to_num(events["price"]) * 100).astype(np.int64)
    ref_m, ref_r = reference_book(cols, rule, interval, depth)
    assert [r.status for r in ref_m] == whole_m["status"].tolist()
    assert [r.valid for r in ref_m] == whole_m["valid"].tolist()
    assert [r.crossed for r in ref_m] == whole_m["crossed"].tolist()
    ref_top = np.array([r.top for r in ref_m]).reshape(-1, 4)
    np.testing.assert_array_equal(ref_top[:, 0] / 100, whole_m["bid_px"])
    np.testing.assert_array_equal(ref_top[:, 3], whole_m["ask_qty"])
    assert [r.ts for r in ref_r] == whole_r.ts.tolist()
    ref_bids = np.array([[q for _, q in r.bids] for r in ref_r]).reshape(-1, depth)
    np.testing.assert_array_equal(ref_bids, whole_r.bid_qty)


def test_capacity_overflow_names_the_event() -> None:
    import pytest

    from seriesfactory.errors import DataError

    ev = events_of(
        [
            {
                "ts": 1,
                "first": 1,
                "last": 1,
                "snapshot": True,
                "bids": [(1.0, 1.0), (20.0, 1.0), (30.0, 1.0)],
            }
        ]
    )
    b = BookBuilder(
        rule=RULE_NEXT, price_decimals=1, interval_ns=0, depth=1, max_levels=1, window_ticks=4
    )
    with pytest.raises(DataError, match="more than 1 levels outside its window"):
        b.update(ev)


def test_window_moves_when_the_best_level_leaves_it() -> None:
    # window of 64 ticks (decimals 0): bid 100 places it at [52, 116); bid 500 is cold and
    # the best, so the window moves to [452, 516); deleting 500 leaves 100 the best (cold),
    # and the window moves back
    msgs: list[dict[str, object]] = [
        {"ts": 1, "first": 1, "last": 1, "snapshot": True, "bids": [(100.0, 1.0), (90.0, 2.0)]},
        {"ts": 2, "first": 2, "last": 2, "bids": [(500.0, 3.0)]},
        {"ts": 3, "first": 3, "last": 3, "bids": [(500.0, 0.0)]},
    ]
    b = BookBuilder(rule=RULE_NEXT, price_decimals=0, interval_ns=0, depth=2, window_ticks=64)
    m, _ = b.update(events_of(msgs))
    assert m["bid_px"].tolist() == [100.0, 500.0, 100.0]
    assert m["bid_qty"].tolist() == [1.0, 3.0, 1.0]
    assert b.levels(1) == [(100.0, 1.0), (90.0, 2.0)]
    assert (
        b.state[nb.S_BID + nb_side.W_BASE] == 100 - 48 and b.state[nb.S_BID + nb_side.C_COUNT] == 0
    )
