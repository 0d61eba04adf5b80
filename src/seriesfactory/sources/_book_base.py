"""One base for every venue's book parser, and the registry of venues by name.

A venue's ``book.py`` subclasses :class:`BookParser` and turns the raw messages of
one symbol into book events (``BOOK_EVENT_DTYPE`` columns) and trades
(``TRADE_DTYPE`` columns). It owns the venue's conventions: which side is which,
which id is the sequence, which message is a snapshot, and the aggressor side of
a trade. The book engine (``transforms/book``) then applies the venue's
sequencing rule, named by :attr:`BookParser.rule`.

A message becomes a run of level events sharing ``ts`` and ids; the last one
carries :data:`BOOK_FLAG_MSG_END`. A message without levels becomes one marker
event with ``side == 0``. Sequencing rules (checked once per message):

=================  ====================================================================
``RULE_NONE``      no ids: only snapshots and gap markers change validity
``RULE_BINANCE``   spot: drop ``u <= L``; first ``U <= L+1 <= u``; then ``U == u' + 1``
``RULE_BINANCE_F`` futures: drop ``u < L``; first ``U <= L <= u``; then ``pu == u'``
``RULE_NEXT``      ``first_id == last_id' + 1`` (Bybit ``u``, Extended ``seq``)
``RULE_PREV``      ``prev_id == last_id'`` (OKX ``prevSeqId == seqId'``)
=================  ====================================================================

(``L`` = snapshot ``lastUpdateId``; a primed id is the previous applied message's.)
A venue's rule and where its ids are is said once, in its ``sequence.py``
(:mod:`seriesfactory.sources._sequence`); the recorder reads the same description.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from seriesfactory.errors import InputError, SeriesFactoryError, SourceError
from seriesfactory.schema import (
    BOOK_EVENT_DTYPE,
    BOOK_FLAG_DELTA,
    BOOK_FLAG_GAP,
    BOOK_FLAG_MSG_END,
    BOOK_FLAG_RELATIVE,
    BOOK_FLAG_SNAPSHOT,
    TRADE_DTYPE,
    RawRecord,
)

__all__ = [
    "PARSERS",
    "BookParser",
    "EventBuffer",
    "get_parser",
]

Level = tuple[float, float]


class EventBuffer:
    """Book events and trades accumulated as Python lists until :meth:`take`."""

    def __init__(self) -> None:
        self.events: list[tuple[int, int, int, float, float, int, int, int, int]] = []
        self.trades: list[tuple[int, int, float, float, int, int]] = []

    def message(
        self,
        ts_ns: int,
        recv_ns: int,
        bids: list[Level],
        asks: list[Level],
        *,
        first_id: int = -1,
        last_id: int = -1,
        prev_id: int = -1,
        snapshot: bool = False,
        relative: bool = False,
    ) -> None:
        """Append one message: bids (side +1) then asks (side -1); the last event ends it."""
        flags = BOOK_FLAG_SNAPSHOT if snapshot else BOOK_FLAG_DELTA
        if relative:
            flags |= BOOK_FLAG_RELATIVE
        head = (ts_ns, recv_ns)
        ids = (first_id, last_id, prev_id, flags)
        ev = self.events
        ev.extend([(*head, 1, p, q, *ids) for p, q in bids])
        ev.extend([(*head, -1, p, q, *ids) for p, q in asks])
        if not bids and not asks:
            ev.append((*head, 0, np.nan, np.nan, *ids))
        last = ev[-1]
        ev[-1] = (*last[:8], last[8] | BOOK_FLAG_MSG_END)

    def gap(self, ts_ns: int, recv_ns: int) -> None:
        """Append a gap marker: the book is invalid until the next snapshot."""
        self.events.append(
            (ts_ns, recv_ns, 0, np.nan, np.nan, -1, -1, -1, BOOK_FLAG_GAP | BOOK_FLAG_MSG_END)
        )

    def trade(
        self, ts_ns: int, recv_ns: int, price: float, qty: float, side: int, trade_id: int
    ) -> None:
        """Append one trade; ``side`` is the aggressor (+1 buy, -1 sell, 0 unknown)."""
        self.trades.append((ts_ns, recv_ns, price, qty, side, trade_id))

    def take(self) -> tuple[npt.NDArray[np.void], npt.NDArray[np.void]]:
        """Return and clear the buffered events and trades as structured arrays."""
        events = np.array(self.events, dtype=BOOK_EVENT_DTYPE)
        trades = np.array(self.trades, dtype=TRADE_DTYPE)
        self.events = []
        self.trades = []
        return events, trades


def levels(rows: list[list[str]]) -> list[Level]:
    """``[["61737.63", "0.5"], ...]`` -> ``[(61737.63, 0.5), ...]`` (extra columns ignored)."""
    return [(float(r[0]), float(r[1])) for r in rows]


def ms_to_ns(ms: int | str) -> int:
    """Milliseconds since the epoch (int or decimal string) -> ns."""
    return int(ms) * 1_000_000


PARSERS: dict[str, type[BookParser]] = {}


class BookParser(ABC):
    """Turns one venue's raw records for one symbol into book events and trades.

    Subclasses declare ``venues`` (the names they register under) and ``rule``,
    and implement :meth:`on_message`; they may override :meth:`on_rest`. A
    subclass missing any of these is refused when it is defined.

    Attributes
    ----------
    out : EventBuffer
        Where events and trades go.
    stats : dict[str, int]
        Counters a report shows (malformed messages, other symbols, ...).
    tickers : list[tuple[int, int, float, float, float, float]]
        Top-of-book messages the venue sends (``(ts_ns, update_id, bid_px,
        bid_qty, ask_px, ask_qty)``), used to check the rebuilt book.
    """

    venues: ClassVar[tuple[str, ...]]
    rule: int

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        missing = [a for a in ("venues", "rule") if not hasattr(cls, a)]
        if getattr(cls.on_message, "__isabstractmethod__", False):
            missing.append("on_message")
        if missing:
            raise TypeError(f"book parser {cls.__name__} must define {', '.join(missing)}")
        for venue in cls.venues:
            PARSERS[venue] = cls

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.out = EventBuffer()
        self.stats: dict[str, int] = {"malformed": 0, "messages": 0}
        self.tickers: list[tuple[int, int, float, float, float, float]] = []
        #: Connections that carried book messages of this symbol.
        self.book_conns: set[str] = set()
        #: A ``close`` of a book connection not yet followed by any record:
        #: ``(ts_ns, recv_ns, conn)`` of its gap marker (see :meth:`on_gap`).
        self.pending_close: tuple[int, int, str] | None = None
        #: Where messages could not be parsed (first 20, ``path:line: error``).
        self.problems: list[str] = []
        self.last_ts_ns = 0
        #: The venue asked for (set by :func:`get_parser`); a native record naming
        #: another venue is an error, never parsed as this one's.
        self.venue: str | None = None
        #: WebSocket messages that carried this symbol (book, trades or tickers):
        #: none at the end means the input holds nothing of this symbol.
        self.matched = 0

    def check_venue(self, rec: RawRecord) -> None:
        """Refuse a record a native capture labels with another venue."""
        if rec.venue is not None and self.venue is not None and rec.venue != self.venue:
            where = f"{rec.path}:{rec.line}: " if rec.path else ""
            raise InputError(
                f"--venue {self.venue!r}: {where}the capture was recorded from {rec.venue!r}; "
                f"pass --venue {rec.venue}"
            )

    def feed(self, rec: RawRecord) -> None:
        """Parse one record (any kind) into :attr:`out`."""
        if rec.venue is not None:
            self.check_venue(rec)
        if self.pending_close is not None:  # the recording went on after a close
            self.out.gap(*self.pending_close[:2])
            closed_conn = self.pending_close[2]
            self.pending_close = None
            if rec.kind == "gap" and rec.conn == closed_conn:
                return  # the recorder's reconnect gap: the same lost span, one marker
        if rec.kind in ("gap", "close"):
            self.on_gap(rec)
            return
        if rec.kind == "open":
            self.on_open(rec)
            return
        try:
            msg = json.loads(rec.data)
        except ValueError:
            self.stats["malformed"] += 1
            if len(self.problems) < 20:
                self.problems.append(f"{rec.path}:{rec.line}: not JSON: {rec.data[:60]!r}")
            return
        self.stats["messages"] += 1
        before = len(self.out.events)
        seen = (len(self.out.trades), len(self.tickers))
        try:
            if rec.kind == "rest":
                self.on_rest(msg, rec)
            elif isinstance(msg, dict):
                self.on_message(msg, rec)
            if rec.kind == "msg" and len(self.out.events) > before:
                self.book_conns.add(rec.conn)
            if rec.kind == "msg" and (
                len(self.out.events) > before or (len(self.out.trades), len(self.tickers)) != seen
            ):
                self.matched += 1
        except SeriesFactoryError:
            raise  # a deliberate error (e.g. an ambiguous symbol) stops the run
        except (KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
            # a message of an unexpected shape: counted and located, never fatal; a
            # book message lost this way shows up as a sequence gap downstream
            self.stats["unparsed"] = self.stats.get("unparsed", 0) + 1
            if len(self.problems) < 20:
                self.problems.append(f"{rec.path}:{rec.line}: {type(exc).__name__}: {exc}")

    @abstractmethod
    def on_message(self, msg: dict[str, Any], rec: RawRecord) -> None:
        """Parse one WebSocket message (already decoded from JSON)."""

    def on_rest(self, msg: Any, rec: RawRecord) -> None:  # noqa: B027 - optional hook
        """Parse one REST body (venues whose snapshots come from REST override this)."""

    def on_open(self, rec: RawRecord) -> None:  # noqa: B027 - optional hook
        """A connection opened."""

    def on_gap(self, rec: RawRecord) -> None:
        """A connection closed or a gap was recorded: the book is invalid until resync.

        Only connections that carried this symbol's book count; a ``gap`` record
        without a connection counts for every book. A ``close`` becomes a gap marker
        only when another record follows it: the close that ends a recording (the
        recorder's shutdown) loses nothing, so the book stays valid at the end; a
        ``gap`` record of the same connection right after it (the recorder's
        reconnect record) marks the same span and adds no second marker.
        """
        if rec.conn in self.book_conns or not rec.conn:
            ts_ns = self.event_ts(None, rec.recv_ns)
            if rec.kind == "close":
                self.pending_close = (ts_ns, rec.recv_ns, rec.conn)
            else:
                self.out.gap(ts_ns, rec.recv_ns)

    def event_ts(self, ts_ns: int | None, recv_ns: int) -> int:
        """Exchange time of an event: ``ts_ns`` when the venue sent one, else the latest seen.

        Messages without exchange time (REST bodies, gap markers) take the latest
        exchange time seen so far, or their receive time before any was seen.
        """
        if ts_ns is not None:
            self.last_ts_ns = max(self.last_ts_ns, ts_ns)
            return ts_ns
        return self.last_ts_ns or recv_ns


def get_parser(venue: str, symbol: str) -> BookParser:
    """A fresh parser for ``venue`` and ``symbol``; a clear error for unknown venues."""
    _load_venues()
    cls = PARSERS.get(venue)
    if cls is None:
        raise SourceError(f"--venue {venue!r}: no book parser; known: {', '.join(sorted(PARSERS))}")
    parser = cls(symbol)
    parser.venue = venue
    return parser


def _load_venues() -> None:
    from seriesfactory.sources.binance import book as _b  # noqa: F401
    from seriesfactory.sources.bybit import book as _y  # noqa: F401
    from seriesfactory.sources.coinbase import book as _c  # noqa: F401
    from seriesfactory.sources.extended import book as _e  # noqa: F401
    from seriesfactory.sources.okx import book as _o  # noqa: F401
