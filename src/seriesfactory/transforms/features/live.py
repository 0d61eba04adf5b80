"""Live book features: follow a capture being recorded and return feature rows as they close.

:class:`LiveBookFeatures` joins a :class:`~seriesfactory.raw.follow.NativeFollower`,
the venue parser and a :class:`~seriesfactory.transforms.features.api.BookFeatureBuilder`.
Each :meth:`LiveBookFeatures.poll` applies the records completed since the last poll
and returns the rows they closed; :meth:`LiveBookFeatures.close` the rest. The rows
equal those of :func:`~seriesfactory.transforms.features.api.book_features` over the
same capture (the builder gives the same rows for any chunking).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from seriesfactory.raw.follow import NativeFollower
from seriesfactory.sources._book_base import EventBuffer, get_parser
from seriesfactory.transforms.features.api import BookFeatureBuilder, book_feature_columns

__all__ = ["LiveBookFeatures"]


class LiveBookFeatures:
    """Streaming book features of one symbol from a growing native capture folder."""

    def __init__(
        self,
        follower: NativeFollower,
        *,
        venue: str,
        symbol: str,
        price_decimals: int,
        interval_ns: int = 100_000_000,
        depth: int = 10,
        ofi_window: int = 10,
        with_trades: bool = True,
    ) -> None:
        self.follower = follower
        self.parser = get_parser(venue, symbol)
        self.builder = BookFeatureBuilder(
            rule=self.parser.rule,
            price_decimals=price_decimals,
            interval_ns=interval_ns,
            depth=depth,
            ofi_window=ofi_window,
            with_trades=with_trades,
        )
        self.records = 0
        self._trades: list[npt.NDArray[np.void]] = []
        self._started = False
        self._names = book_feature_columns(depth, ofi_window)
        self._warm_up()

    def _warm_up(self) -> None:
        """Load the compiled kernels now, not when the first record arrives."""
        buf = EventBuffer()
        buf.message(0, 0, [(1.0, 1.0)], [(2.0, 1.0)], snapshot=True)
        buf.message(200_000_000, 0, [(1.0, 2.0)], [])
        buf.trade(100_000_000, 0, 1.0, 1.0, 1, 1)
        b = BookFeatureBuilder(
            rule=0, price_decimals=0, interval_ns=100_000_000, depth=1, window_ticks=64
        )
        b.update(*buf.take())
        b.finish()

    def poll(self) -> pa.Table:
        """Apply every record completed since the last poll; return the rows that closed."""
        for rec in self.follower.poll():
            self.parser.feed(rec)
            self.records += 1
        events, trades = self.parser.out.take()
        if not self._started:  # as in batch: trades before the first book event wait for it
            self._trades.append(trades)
            if len(events) == 0:
                return self.builder.update(events[:0])
            trades = np.concatenate(self._trades)
            self._trades = []
            self._started = True
        return self.builder.update(events, trades)

    def close(self) -> pa.Table:
        """At the end of the stream: the rows up to the last message (as in batch)."""
        return self.builder.finish()
