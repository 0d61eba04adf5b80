"""Tables and reports from a :class:`~seriesfactory.transforms.book.api.BookResult`.

* :func:`snapshot_table` — the fixed-interval top-N book with the per-interval trade
  summary beside it (one Arrow table).
* :func:`gap_table` — one row per gap: when it was seen, what was expected, what
  came, and when (if ever) a snapshot resynced the book.
* :func:`verify_report` — counts of statuses, gaps, crossings, stale periods,
  resyncs and, where the venue sends them, top-of-book checks.

Formulas and edge cases: ``docs/book.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from seriesfactory.schema import TS_TYPE, book_snapshot_schema
from seriesfactory.transforms.book import nb
from seriesfactory.transforms.book.api import BookResult

__all__ = [
    "STATUS_NAMES",
    "gap_table",
    "snapshot_table",
    "ticker_check",
    "trade_summary",
    "verify_report",
]

STATUS_NAMES = {
    nb.ST_APPLIED: "applied",
    nb.ST_SNAPSHOT: "snapshot",
    nb.ST_STALE: "stale",
    nb.ST_DUPLICATE: "duplicate",
    nb.ST_GAP: "gap",
    nb.ST_UNSYNCED: "unsynced",
    nb.ST_MARKER: "gap_marker",
    nb.ST_RESYNC: "resync",
}


def trade_summary(
    trades: np.ndarray, row_ts: np.ndarray, interval_ns: int
) -> dict[str, np.ndarray]:
    """Per grid row ``t``: the trades with ``t - interval < ts <= t``.

    Columns: ``trade_count``, ``buy_qty_base`` / ``sell_qty_base`` (aggressor buys /
    sells, base units), ``vwap`` (``sum(p*q) / sum(q)``, NaN without trades) and
    ``last_price`` (price of the latest trade in the interval, NaN without).
    """
    n = len(row_ts)
    out = {
        "trade_count": np.zeros(n, np.int64),
        "buy_qty_base": np.zeros(n),
        "sell_qty_base": np.zeros(n),
        "vwap": np.full(n, np.nan),
        "last_price": np.full(n, np.nan),
    }
    if n == 0 or len(trades) == 0:
        return out
    order = np.argsort(trades["ts"], kind="stable")
    t = trades[order]
    # row index of each trade: the first row stamp >= ts, if within one interval
    idx = np.searchsorted(row_ts, t["ts"], side="left")
    inside = idx < n
    inside[inside] &= row_ts[idx[inside]] - t["ts"][inside] < interval_ns
    t, idx = t[inside], idx[inside]
    out["trade_count"] = np.bincount(idx, minlength=n).astype(np.int64)
    out["buy_qty_base"] = np.bincount(
        idx, weights=np.where(t["side"] > 0, t["qty"], 0.0), minlength=n
    )
    out["sell_qty_base"] = np.bincount(
        idx, weights=np.where(t["side"] < 0, t["qty"], 0.0), minlength=n
    )
    qty = np.bincount(idx, weights=t["qty"], minlength=n)
    notional = np.bincount(idx, weights=t["qty"] * t["price"], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["vwap"] = np.where(qty > 0, notional / qty, np.nan)
    last = np.full(n, np.nan)
    last[idx] = t["price"]  # later trades overwrite earlier ones in the same row
    out["last_price"] = last
    return out


def snapshot_table(res: BookResult) -> pa.Table:
    """``ts, bid_px_01..N, bid_sz_01..N, ask_px_01..N, ask_sz_01..N``, then ``book_valid``
    and the trade summary columns (see :func:`trade_summary`)."""
    rows = res.rows
    schema = book_snapshot_schema(res.depth)
    cols: list[pa.Array] = [pa.array(rows.ts, type=pa.int64()).cast(TS_TYPE)]
    for arr in (rows.bid_px, rows.bid_qty, rows.ask_px, rows.ask_qty):
        cols.extend(pa.array(arr[:, k], type=pa.float64()) for k in range(res.depth))
    table = pa.Table.from_arrays(cols, schema=schema)
    table = table.append_column("book_valid", pa.array(rows.valid, type=pa.bool_()))
    for name, col in trade_summary(res.trades, rows.ts, res.interval_ns).items():
        table = table.append_column(name, pa.array(col))
    return table


def gap_table(res: BookResult) -> pa.Table:
    """One row per gap: ``ts`` (seen), ``kind`` (sequence / marker), ``expected_id``,
    ``got_id``, ``resync_ts`` (null if never), ``duration_ns`` (resync - seen).

    A gap lasts until the next resync; a later gap or marker before that resync
    (the recorder's own record of the sequence gap the book just found, a close
    while resyncing) is part of the same gap, not a row of its own. The message
    statuses still count each one.
    """
    m = res.messages
    status = m["status"]
    gap_at = np.flatnonzero((status == nb.ST_GAP) | (status == nb.ST_MARKER))
    resyncs = np.flatnonzero(status == nb.ST_RESYNC)
    ts, kind, expected, got, resync_ts = [], [], [], [], []
    open_gap = -1  # the resync index the last row waits for
    for i in gap_at:
        j = int(np.searchsorted(resyncs, i))
        if j == open_gap:
            continue  # no resync since the last row: the same gap
        open_gap = j
        ts.append(int(m["ts"][i]))
        kind.append("sequence" if status[i] == nb.ST_GAP else "marker")
        expected.append(int(m["expect"][i]) if m["expect"][i] >= 0 else None)
        got.append(int(m["first_id"][i]) if status[i] == nb.ST_GAP else None)
        resync_ts.append(int(m["ts"][resyncs[j]]) if j < len(resyncs) else None)
    duration = [None if r is None else r - t for t, r in zip(ts, resync_ts, strict=True)]
    return pa.table(
        {
            "ts": pa.array(ts, pa.int64()).cast(TS_TYPE),
            "kind": pa.array(kind, pa.string()),
            "expected_id": pa.array(expected, pa.int64()),
            "got_id": pa.array(got, pa.int64()),
            "resync_ts": pa.array(resync_ts, pa.int64()).cast(TS_TYPE),
            "duration_ns": pa.array(duration, pa.int64()),
        }
    )


def ticker_check(res: BookResult) -> tuple[int, int, list[int]]:
    """Compare venue top-of-book messages with the rebuilt book at the same update id.

    For each ticker ``(u, bid, bid_qty, ask, ask_qty)`` whose ``u`` equals the last
    id of an applied message, the book after that message must show the same
    best bid/ask and sizes. Returns ``(matches, mismatches, mismatching ids)``.
    """
    m = res.messages
    ok = (
        (m["status"] == nb.ST_APPLIED)
        | (m["status"] == nb.ST_SNAPSHOT)
        | (m["status"] == nb.ST_RESYNC)
    )
    applied = m[ok & m["valid"]]
    where = {int(u): k for k, u in enumerate(applied["last_id"])}
    match = 0
    bad: list[int] = []
    for _, u, b, bq, a, aq in res.tickers:
        k = where.get(u)
        if k is None:
            continue
        r = applied[k]
        if (float(r["bid_px"]), float(r["bid_qty"]), float(r["ask_px"]), float(r["ask_qty"])) == (
            b,
            bq,
            a,
            aq,
        ):
            match += 1
        else:
            bad.append(u)
    return match, len(bad), bad


def verify_report(res: BookResult, *, stale_ns: int = 5_000_000_000) -> dict[str, Any]:
    """A JSON-ready integrity report of one rebuild.

    ``stale_periods`` are spans longer than ``stale_ns`` between consecutive book
    messages while the book was valid.
    """
    m = res.messages
    counts = np.bincount(m["status"], minlength=len(STATUS_NAMES))
    statuses = {STATUS_NAMES[k]: int(counts[k]) for k in range(len(STATUS_NAMES))}
    dt = np.diff(m["ts"])
    stale = np.flatnonzero((dt > stale_ns) & m["valid"][:-1]) if len(m) > 1 else np.empty(0, int)
    crossed = np.flatnonzero(m["crossed"])
    matches, mismatches, bad = ticker_check(res)
    gaps = gap_table(res).to_pylist()
    return {
        "venue": res.venue,
        "symbol": res.symbol,
        "messages": len(m),
        "statuses": statuses,
        "synced": bool(len(m) and m["valid"].any()),
        "valid_at_end": bool(len(m) and m["valid"][-1]),
        "gaps": [{k: (str(v) if v is not None else None) for k, v in g.items()} for g in gaps],
        "resyncs": statuses["resync"],
        "crossed_messages": len(crossed),
        "first_crossed_ts": int(m["ts"][crossed[0]]) if len(crossed) else None,
        "stale_periods": [
            {
                "from_ts": int(m["ts"][i]),
                "to_ts": int(m["ts"][i + 1]),
                "seconds": float(dt[i]) / 1e9,
            }
            for i in stale
        ],
        "ticker_matches": matches,
        "ticker_mismatches": mismatches,
        "ticker_mismatch_ids": bad[:20],
        "trades": len(res.trades),
        "parser": res.parser_stats,
        "problems": res.problems,
        "truncated_lines": [f"{p}:{line}" for p, line in res.read.truncated],
    }
