"""Live book: follow a capture being recorded and emit grid rows as they close.

:class:`LiveBook` joins a :class:`~seriesfactory.raw.follow.NativeFollower`, the
venue parser and a :class:`~seriesfactory.transforms.book.api.BookBuilder`. Each
:meth:`LiveBook.poll` applies the records completed since the last poll and returns
the grid rows they closed (a row ``t`` closes when a message with exchange time
``> t`` arrives), so a row is out one poll after the message that closes it.
:meth:`LiveBook.part` packs the rows and trades gathered so far into the same table
as ``book snapshots``; trades newer than the last row wait for the next part.
:func:`follow_book` is the whole live job (``seriesfactory book live``): poll, write
a Parquet part every so often, stop on request, at a deadline or on Ctrl-C.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from seriesfactory.errors import InputError
from seriesfactory.lake.outputs import publish_table
from seriesfactory.raw.follow import NativeFollower
from seriesfactory.raw.readers import ReadReport
from seriesfactory.schema import TRADE_DTYPE
from seriesfactory.sources._book_base import EventBuffer, get_parser
from seriesfactory.transforms.book.api import MESSAGE_DTYPE, BookBuilder, BookResult, BookRows
from seriesfactory.transforms.book.report import snapshot_table

__all__ = ["BookFollowed", "LiveBook", "follow_book"]


class LiveBook:
    """Streaming rebuild of one symbol from a growing native capture folder.

    ``price_decimals`` is required: a live stream cannot be scanned ahead to infer it.
    """

    def __init__(
        self,
        follower: NativeFollower,
        *,
        venue: str,
        symbol: str,
        price_decimals: int,
        interval_ns: int = 100_000_000,
        depth: int = 10,
    ) -> None:
        self.follower = follower
        self.venue = venue
        self.symbol = symbol
        self.parser = get_parser(venue, symbol)
        self.price_decimals = price_decimals
        self.interval_ns = interval_ns
        self.depth = depth
        self.builder: BookBuilder | None = None
        #: Records applied so far.
        self.records = 0
        self.messages: list[npt.NDArray[np.void]] = []
        self._rows: list[BookRows] = []
        self._trades: npt.NDArray[np.void] = np.empty(0, TRADE_DTYPE)
        self._warm_up()

    def _warm_up(self) -> None:
        """Load the compiled kernels now, not when the first record arrives."""
        buf = EventBuffer()
        buf.message(0, 0, [(1.0, 1.0)], [], snapshot=True)
        b = BookBuilder(
            rule=0, price_decimals=0, interval_ns=self.interval_ns or 1, depth=1, window_ticks=64
        )
        b.update(buf.take()[0])
        b.finish()

    def poll(self) -> BookRows:
        """Apply every record completed since the last poll; return the rows that closed."""
        for rec in self.follower.poll():
            self.parser.feed(rec)
            self.records += 1
        events, trades = self.parser.out.take()
        self._trades = np.concatenate([self._trades, trades])
        if len(events) == 0:
            return BookRows.concat([], self.depth)
        if self.builder is None:
            self.builder = BookBuilder(
                rule=self.parser.rule,
                price_decimals=self.price_decimals,
                interval_ns=self.interval_ns,
                depth=self.depth,
            )
        msgs, rows = self.builder.update(events)
        self.messages.append(msgs)
        self._rows.append(rows)
        return rows

    def close(self) -> BookRows:
        """At the end of the stream: the rows up to the last message time (as in batch)."""
        rows = (
            self.builder.finish() if self.builder is not None else BookRows.concat([], self.depth)
        )
        self._rows.append(rows)
        return rows

    def part(self) -> pa.Table:
        """The rows gathered since the last part, with their trade summary, as one table."""
        rows = BookRows.concat(self._rows, self.depth)
        self._rows = []
        if len(rows.ts):
            done = self._trades["ts"] <= rows.ts[-1]
            trades, self._trades = self._trades[done], self._trades[~done]
        else:
            trades = self._trades[:0]
        res = BookResult(
            venue=self.venue,
            symbol=self.symbol,
            interval_ns=self.interval_ns,
            depth=self.depth,
            price_decimals=self.price_decimals,
            messages=np.concatenate(self.messages) if self.messages else np.empty(0, MESSAGE_DTYPE),
            rows=rows,
            trades=trades,
            tickers=[],
            parser_stats=self.parser.stats,
            read=ReadReport(),
        )
        self.messages = []
        return snapshot_table(res)


@dataclass(slots=True)
class BookFollowed:
    """What :func:`follow_book` did."""

    #: Parts written, in order.
    parts: list[Path]
    #: Records read from the capture (of any symbol).
    records: int
    #: Damaged frames skipped (``on_bad_frames="skip"``), ``(path, offset, reason)``.
    bad_frames: list[tuple[str, int, str]] = field(default_factory=list)


def follow_book(
    input_dir: Path,
    output_dir: Path,
    *,
    venue: str,
    symbol: str,
    price_decimals: int,
    interval_ns: int = 100_000_000,
    depth: int = 10,
    poll_s: float = 0.1,
    part_s: float = 60.0,
    duration_s: float | None = None,
    fmt: Literal["parquet", "csv"] = "parquet",
    on_bad_frames: str = "error",
    stop: Callable[[], bool] = lambda: False,
    on_part: Callable[[Path, int], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> BookFollowed:
    """Follow the native capture in ``input_dir``; write snapshot parts to ``output_dir``.

    Every ``poll_s`` the records completed since the last poll are applied; every
    ``part_s`` the rows closed so far are published (Parquet, or CSV plus its
    ``.meta.json``: :func:`~seriesfactory.lake.outputs.publish_table`) as
    ``{output_dir}/{symbol}-{first row ns}.{fmt}`` (the table of ``book snapshots``;
    ``on_part(path, rows)`` is called after each). The loop ends when ``stop()``
    is true, after ``duration_s`` (by ``clock``), or on Ctrl-C; then the book is
    closed and the last part written. ``on_bad_frames`` is the follower's
    (:class:`~seriesfactory.raw.follow.NativeFollower`); the frames it skipped are
    returned and, at the end, passed to ``on_warning`` one line each.

    Raises
    ------
    InputError
        No message of ``symbol`` on ``venue`` was read (the parts written so far stay).
    """
    follower = NativeFollower(input_dir, on_bad_frames=on_bad_frames)
    book = LiveBook(
        follower,
        venue=venue,
        symbol=symbol,
        price_decimals=price_decimals,
        interval_ns=interval_ns,
        depth=depth,
    )
    meta = {
        "seriesfactory.book": json.dumps(
            {"venue": venue, "symbol": symbol, "interval_ns": interval_ns, "depth": depth,
             "price_decimals": price_decimals, "input_dir": str(input_dir)}
        )
    }  # fmt: skip
    written: list[Path] = []

    def write_part() -> None:
        table = book.part()
        if table.num_rows:
            first = table.column("ts").cast("int64")[0].as_py()
            path = output_dir / f"{symbol}-{first}.{fmt}"
            publish_table(path, table, fmt, meta)
            written.append(path)
            if on_part is not None:
                on_part(path, table.num_rows)

    stop_at = clock() + duration_s if duration_s is not None else None
    next_part = clock() + part_s
    try:
        while not stop() and (stop_at is None or clock() < stop_at):
            book.poll()
            if clock() >= next_part:
                write_part()
                next_part += part_s
            sleep(poll_s)
    except KeyboardInterrupt:
        pass
    book.close()
    write_part()
    follower.close()
    if on_warning is not None:
        for line in ReadReport(bad_frames=follower.bad_frames).warnings():
            on_warning(line)
    if book.parser.matched == 0:
        seen = f"{book.records} records read" if book.records else "nothing was recorded there"
        raise InputError(
            f"--input-dir {input_dir}: no message for symbol {symbol!r} on {venue!r} "
            f"({seen}); check --symbol, --venue and that the recorder writes this folder"
        )
    return BookFollowed(written, book.records, list(follower.bad_frames))
