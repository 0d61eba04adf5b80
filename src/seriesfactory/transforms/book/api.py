"""The book engine's only caller of its kernels: :class:`BookBuilder` and :func:`rebuild`.

Feed book events (``BOOK_EVENT_DTYPE`` arrays, from a venue parser) in chunks of
any size with :meth:`BookBuilder.update`; call :meth:`BookBuilder.finish` once.
Output is the same for any chunking. Semantics of every field: ``docs/book.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from seriesfactory.core import progress
from seriesfactory.errors import DataError, InputError
from seriesfactory.raw.readers import ReadReport, read_records
from seriesfactory.schema import RawRecord
from seriesfactory.sources._book_base import BookParser, get_parser
from seriesfactory.transforms.book import nb, nb_side

__all__ = [
    "MESSAGE_DTYPE",
    "BookBuilder",
    "BookResult",
    "BookRows",
    "infer_price_decimals",
    "rebuild",
]

MESSAGE_DTYPE = np.dtype(
    [
        ("ts", np.int64),  # exchange time of the message, ns (clamped non-decreasing)
        ("first_id", np.int64),
        ("last_id", np.int64),
        ("status", np.int8),  # nb.ST_* code
        ("expect", np.int64),  # id the rule expected (gaps only), else -1
        ("valid", np.bool_),  # book valid after the message
        ("crossed", np.bool_),  # best bid >= best ask after the message
        ("bid_px", np.float64),
        ("bid_qty", np.float64),
        ("ask_px", np.float64),
        ("ask_qty", np.float64),
    ]
)
#: Largest grid a single chunk may produce (guards against a tiny interval over a long span).
MAX_ROWS_PER_CHUNK = 50_000_000


def infer_price_decimals(prices: npt.NDArray[np.float64], max_decimals: int = 12) -> int:
    """Fewest decimals ``d`` such that every price is a whole number of ``10**-d``.

    With ``x = p * 10**d``, a price ``p`` is on the grid when
    ``|x - round(x)| <= 1e-9 * max(1, |x|)``.
    """
    p = np.unique(prices[np.isfinite(prices)])
    for d in range(max_decimals + 1):
        scaled = p * 10.0**d
        if np.all(np.abs(scaled - np.rint(scaled)) <= 1e-9 * np.maximum(1.0, np.abs(scaled))):
            return d
    raise DataError(f"prices are not on a decimal grid of at most {max_decimals} decimals")


@dataclass(slots=True)
class BookRows:
    """Grid rows: ``ts`` (ns), ``valid``, and ``[rows, depth]`` prices and sizes (NaN absent)."""

    ts: npt.NDArray[np.int64]
    valid: npt.NDArray[np.bool_]
    bid_px: npt.NDArray[np.float64]
    bid_qty: npt.NDArray[np.float64]
    ask_px: npt.NDArray[np.float64]
    ask_qty: npt.NDArray[np.float64]

    @staticmethod
    def concat(parts: list[BookRows], depth: int) -> BookRows:
        """All parts in order (an empty result when there are none)."""
        if not parts:
            e2 = np.empty((0, depth))
            return BookRows(np.empty(0, np.int64), np.empty(0, bool), e2, e2, e2, e2)
        return BookRows(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in BookRows.__slots__)
        )


class BookBuilder:
    """Streaming book rebuild for one symbol.

    Parameters
    ----------
    rule : int
        Sequencing rule (``RULE_*`` in ``seriesfactory.sources._book_base``).
    price_decimals : int
        Prices become integer ticks ``round(price * 10**price_decimals)``.
    interval_ns : int
        Grid step in ns (0 = no grid rows).
    depth : int
        Levels per side in the grid rows.
    max_levels : int
        Capacity per side outside the dense window; more is a ``DataError``.
    window_ticks : int
        Width of the dense window per side, in ticks, rounded up to a multiple of 64
        (memory: about 8 bytes per tick per side).
    """

    def __init__(
        self,
        *,
        rule: int,
        price_decimals: int,
        interval_ns: int,
        depth: int,
        max_levels: int = 1 << 16,
        window_ticks: int = 1 << 20,
        message_depth: int = 0,
    ) -> None:
        if interval_ns < 0 or depth < 1 or max_levels < 1 or window_ticks < 4:
            raise InputError("interval must be >= 0, depth and max_levels >= 1, window_ticks >= 4")
        self.rule = rule
        self.scale = 10.0**price_decimals
        self.interval_ns = interval_ns
        self.depth = depth
        self.state = nb.new_state()
        self.max_levels = max_levels
        # per side: dense window of sizes + block counts, then sorted cold keys and sizes
        self.window_ticks = -(-window_ticks // 64) * 64  # whole 64-cell blocks
        cells = self.window_ticks + self.window_ticks // 64
        self.sides = tuple(
            (np.zeros(cells, np.float64), np.zeros(max_levels, np.int64), np.zeros(max_levels))
            for _ in range(2)
        )
        self.events_seen = 0
        #: Levels kept per side after every message (0 = none); see :attr:`message_levels`.
        self.message_depth = max(0, message_depth)
        #: After each :meth:`update`: ``(bid_tick, bid_qty, ask_tick, ask_qty)``, one row per
        #: message record it returned, ``[m, message_depth]`` (ticks -1 / sizes NaN absent).
        self.message_levels: tuple[npt.NDArray[Any], ...] = ()

    def _row_buffers(self, n_rows: int) -> tuple[
        npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any],
        npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any],
    ]:  # fmt: skip
        d = self.depth
        return (
            np.empty(n_rows, np.int64),
            np.empty(n_rows, np.bool_),
            np.empty((n_rows, d), np.int64),
            np.empty((n_rows, d), np.float64),
            np.empty((n_rows, d), np.int64),
            np.empty((n_rows, d), np.float64),
        )

    def _rows(self, bufs: tuple[npt.NDArray[Any], ...], n: int) -> BookRows:
        ts, valid, bt, bq, at, aq = (b[:n] for b in bufs)
        bid_px = np.where(bt >= 0, bt / self.scale, np.nan)
        ask_px = np.where(at >= 0, at / self.scale, np.nan)
        return BookRows(ts.copy(), valid.copy(), bid_px, bq.copy(), ask_px, aq.copy())

    def update(self, events: npt.NDArray[np.void]) -> tuple[npt.NDArray[np.void], BookRows]:
        """Apply a chunk of events; return its message records and the grid rows it closed."""
        n = len(events)
        st = self.state
        n_msgs = int(np.count_nonzero(events["flags"] & nb.F_END))
        rows_bound = 0
        if n and self.interval_ns > 0:
            lo = int(st[nb.S_NEXT_ROW]) if st[nb.S_NEXT_ROW] != -1 else int(events["ts"].min())
            hi = max(int(events["ts"].max()), int(st[nb.S_LAST_TS]))
            rows_bound = max(0, (hi - lo) // self.interval_ns + 2)
            if rows_bound > MAX_ROWS_PER_CHUNK:
                raise InputError(
                    f"--interval {self.interval_ns} ns over this time span makes "
                    f"{rows_bound} rows; use a larger interval or a shorter input"
                )
        msgs = np.zeros(n_msgs, MESSAGE_DTYPE)
        m_cols = (
            np.empty(n_msgs, np.int64),
            np.empty(n_msgs, np.int64),
            np.empty(n_msgs, np.int64),
        )
        m_status = np.empty(n_msgs, np.int64)
        m_expect = np.empty(n_msgs, np.int64)
        m_valid = np.empty(n_msgs, np.bool_)
        m_crossed = np.empty(n_msgs, np.bool_)
        m_top = np.empty((n_msgs, 4), np.float64)
        bufs = self._row_buffers(rows_bound)
        md = self.message_depth
        m_lv = (
            np.empty((n_msgs, md), np.int64),
            np.empty((n_msgs, md), np.float64),
            np.empty((n_msgs, md), np.int64),
            np.empty((n_msgs, md), np.float64),
        )
        m, r, done = nb.run_book(
            events["ts"],
            events["side"],
            events["price"],
            events["qty"],
            events["first_id"],
            events["last_id"],
            events["prev_id"],
            events["flags"],
            self.rule,
            self.scale,
            self.interval_ns,
            st,
            *self.sides[0],
            *self.sides[1],
            *m_cols,
            m_status,
            m_expect,
            m_valid,
            m_crossed,
            m_top,
            *bufs,
            m_lv[0],
            m_lv[1],
            m_lv[2],
            m_lv[3],
        )
        if st[nb.S_ERR] == nb.ERR_OFF_GRID:
            bad = events["price"][int(done)]
            raise DataError(
                f"price {bad!r} is not a multiple of the tick 1/{self.scale:g}; "
                "pass a larger --price-decimals",
                line=self.events_seen + int(done) + 1,
            )
        if st[nb.S_ERR] == nb.ERR_CAPACITY:
            raise DataError(
                f"the book has more than {self.max_levels} levels outside its window on one side; "
                "raise max_levels",
                line=self.events_seen + int(done) + 1,
            )
        self.events_seen += n
        for name, col in zip(("ts", "first_id", "last_id"), m_cols, strict=True):
            msgs[name] = col[:m]
        msgs["status"] = m_status[:m]
        msgs["expect"] = m_expect[:m]
        msgs["valid"] = m_valid[:m]
        msgs["crossed"] = m_crossed[:m]
        msgs["bid_px"] = m_top[:m, 0] / self.scale
        msgs["bid_qty"] = m_top[:m, 1]
        msgs["ask_px"] = m_top[:m, 2] / self.scale
        msgs["ask_qty"] = m_top[:m, 3]
        self.message_levels = tuple(a[:m] for a in m_lv)
        return msgs, self._rows(bufs, int(r))

    def dump_state(self) -> dict[str, Any]:
        """A JSON-able snapshot of the builder (book stored sparsely), for :meth:`load_state`."""
        sides = []
        for o, (wq, ck, cq) in zip((nb.S_BID, nb.S_ASK), self.sides, strict=True):
            nz = np.flatnonzero(wq)
            count = int(self.state[o + nb_side.C_COUNT])
            sides.append(
                {
                    "w_idx": nz.tolist(),
                    "w_val": [float(x).hex() for x in wq[nz]],
                    "ck": ck[:count].tolist(),
                    "cq": [float(x).hex() for x in cq[:count]],
                }
            )
        return {
            "rule": self.rule,
            "scale": float(self.scale).hex(),
            "interval_ns": self.interval_ns,
            "depth": self.depth,
            "max_levels": self.max_levels,
            "window_ticks": self.window_ticks,
            "message_depth": self.message_depth,
            "events_seen": self.events_seen,
            "st": self.state.tolist(),
            "sides": sides,
        }

    @classmethod
    def load_state(cls, state: dict[str, Any]) -> BookBuilder:
        """The builder saved by :meth:`dump_state`."""
        b = cls(
            rule=int(state["rule"]),
            price_decimals=0,
            interval_ns=int(state["interval_ns"]),
            depth=int(state["depth"]),
            max_levels=int(state["max_levels"]),
            window_ticks=int(state["window_ticks"]),
            message_depth=int(state["message_depth"]),
        )
        b.scale = float.fromhex(state["scale"])
        b.events_seen = int(state["events_seen"])
        b.state = np.array(state["st"], np.int64)
        for side, (wq, ck, cq) in zip(state["sides"], b.sides, strict=True):
            wq[np.array(side["w_idx"], np.int64)] = [float.fromhex(x) for x in side["w_val"]]
            n = len(side["ck"])
            ck[:n] = side["ck"]
            cq[:n] = [float.fromhex(x) for x in side["cq"]]
        return b

    def levels(self, side: int) -> list[tuple[float, float]]:
        """Every level of one side (+1 bids, -1 asks), best first, as ``(price, qty)``."""
        st = self.state
        o = nb.S_BID if side > 0 else nb.S_ASK
        wq, ck, cq = self.sides[0 if side > 0 else 1]
        base = int(st[o + nb_side.W_BASE])
        idx = np.flatnonzero(wq[: self.window_ticks])
        keys = np.concatenate([base + idx, ck[: st[o + nb_side.C_COUNT]]])
        qtys = np.concatenate([wq[idx], cq[: st[o + nb_side.C_COUNT]]])
        order = np.argsort(-keys, kind="stable")
        sign = 1 if side > 0 else -1
        return [
            (sign * int(k) / self.scale, float(q))
            for k, q in zip(keys[order], qtys[order], strict=True)
        ]

    def finish(self) -> BookRows:
        """Write the grid rows up to the last message time (call once, at the end)."""
        st = self.state
        if self.interval_ns <= 0 or st[nb.S_NEXT_ROW] == -1:
            return self._rows(self._row_buffers(0), 0)
        last = int(st[nb.S_LAST_TS])
        bound = max(0, (last - int(st[nb.S_NEXT_ROW])) // self.interval_ns + 1)
        bufs = self._row_buffers(bound)
        r = nb.flush_rows(st, last, self.interval_ns, 0, *self.sides[0], *self.sides[1], *bufs)
        return self._rows(bufs, int(r))


@dataclass(slots=True)
class BookResult:
    """Everything one rebuild produced (see ``docs/book.md``)."""

    venue: str
    symbol: str
    interval_ns: int
    depth: int
    price_decimals: int
    messages: npt.NDArray[np.void]
    rows: BookRows
    trades: npt.NDArray[np.void]
    tickers: list[tuple[int, int, float, float, float, float]]
    parser_stats: dict[str, int]
    problems: list[str] = field(default_factory=list)
    read: ReadReport = field(default_factory=ReadReport)
    #: With ``rebuild(message_depth=N)``: the top ``N`` levels after every message, one row
    #: per record of ``messages`` (``ts`` = the message's time, ``valid`` its validity).
    message_rows: BookRows | None = None


def parse_records(
    parser: BookParser, records: Iterable[RawRecord]
) -> tuple[np.ndarray, np.ndarray]:
    """Run every record through ``parser``; return all its events and trades."""
    for rec in records:
        parser.feed(rec)
    return parser.out.take()


def rebuild(
    inputs: Iterable[str],
    *,
    venue: str,
    symbol: str,
    input_format: str = "auto",
    interval_ns: int = 100_000_000,
    depth: int = 10,
    price_decimals: int | None = None,
    chunk_events: int = 1 << 18,
    window_ticks: int = 1 << 20,
    on_bad_frames: str = "error",
    message_depth: int = 0,
) -> BookResult:
    """Rebuild the book of ``symbol`` on ``venue`` from recorded files (batch, streamed).

    Records are parsed and applied in chunks of about ``chunk_events`` level
    events, so memory holds one chunk, not the recording. ``price_decimals``
    defaults to the fewest decimals that put every price of the first chunk on
    the grid; a later price off that grid is an error asking for the option.
    A ``symbol`` no WebSocket message of the input carries, or a ``venue`` other
    than the one a native capture names, is an :class:`InputError`: a REST snapshot
    without a symbol in its URL is never taken as a book of its own.
    ``on_bad_frames``: damaged capture data, ``error`` or ``skip`` (see
    :mod:`seriesfactory.raw.readers`). ``message_depth > 0`` also keeps that many levels
    after every message (:attr:`BookResult.message_rows`).
    """
    report = ReadReport()
    levels: list[BookRows] = []
    parser = get_parser(venue, symbol)
    builder: BookBuilder | None = None
    msgs: list[npt.NDArray[np.void]] = []
    rows: list[BookRows] = []
    trades: list[npt.NDArray[np.void]] = []

    def flush() -> None:
        nonlocal builder, price_decimals
        events, tr = parser.out.take()
        trades.append(tr)
        if len(events) == 0:
            return
        if builder is None:
            if price_decimals is None:
                price_decimals = infer_price_decimals(events["price"][events["side"] != 0])
            builder = BookBuilder(
                rule=parser.rule,
                price_decimals=price_decimals,
                interval_ns=interval_ns,
                depth=depth,
                window_ticks=window_ticks,
                message_depth=message_depth,
            )
        m, r = builder.update(events)
        msgs.append(m)
        rows.append(r)
        if message_depth > 0:
            bt, bq, at, aq = builder.message_levels
            levels.append(
                BookRows(
                    m["ts"].astype(np.int64),
                    m["valid"].astype(np.bool_),
                    np.where(bt >= 0, bt / builder.scale, np.nan),
                    bq,
                    np.where(at >= 0, at / builder.scale, np.nan),
                    aq,
                )
            )

    with progress.current().task(f"rebuilding the {symbol} book", unit="events") as task:
        for rec in read_records(inputs, input_format, report, on_bad_frames=on_bad_frames):
            parser.feed(rec)
            if len(parser.out.events) >= chunk_events:
                task.advance(len(parser.out.events))
                flush()
        if parser.matched == 0:
            raise InputError(
                f"--symbol {symbol!r}: no message for it on {venue!r} in the input "
                f"({report.records} records read); check --symbol and --venue"
            )
        task.advance(len(parser.out.events))
        flush()
    if builder is None or price_decimals is None:
        raise DataError(f"no book messages for {symbol!r} on {venue!r} in the input")
    rows.append(builder.finish())
    return BookResult(
        venue=venue,
        symbol=symbol,
        interval_ns=interval_ns,
        depth=depth,
        price_decimals=price_decimals,
        messages=np.concatenate(msgs),
        rows=BookRows.concat(rows, depth),
        trades=np.concatenate(trades),
        tickers=parser.tickers,
        parser_stats=parser.stats,
        problems=parser.problems,
        read=report,
        message_rows=BookRows.concat(levels, message_depth) if message_depth > 0 else None,
    )
