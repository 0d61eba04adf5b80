"""Derived tick sets: several sources merged into one, and cross pairs by re-basing.

Both are written to the ticks tier like any other tick set, keyed by the
SHA-256 of their inputs' content hashes and their parameters:

- ``ticks/merged/{key16}/``: :class:`~seriesfactory.transforms.merge.TickMerger`
  over the sources' tick sets;
- ``ticks/cross/{venue}/{BASE}{QUOTE}/{key16}/``:
  :class:`~seriesfactory.transforms.merge.TickCrosser` over the legs
  ``BASE-X`` and ``QUOTE-X`` of one venue (X its home quote).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seriesfactory.core.atomic import key_sha256
from seriesfactory.lake.ticks import TickSet, write_tick_set
from seriesfactory.schema import TickArrays
from seriesfactory.transforms.merge import MergeParams, TickCrosser, TickMerger, interleave

__all__ = ["HOME_QUOTES", "STABLE_QUOTES", "cross_tick_set", "merged_tick_set", "needs_rebase"]

#: The quote of each venue's liquid pairs (the legs of a re-based pair).
HOME_QUOTES: dict[str, str] = {
    "binance": "USDT",
    "binance-usdm": "USDT",
    "binance-coinm": "USD",
    "bybit": "USDT",
    "coinbase": "USD",
}
#: Quotes that are not re-based: the pair is fetched as it is.
STABLE_QUOTES = frozenset({"USDT", "USD", "USDC", "FDUSD", "BUSD"})


def needs_rebase(quote: str) -> bool:
    """A pair whose quote is not a USD-like coin is built from two USD* legs."""
    return quote.upper() not in STABLE_QUOTES


def _set_inputs(sets: Sequence[TickSet]) -> list[list[str]]:
    return [s.content_hashes() for s in sets]


def _run(
    sets: Sequence[TickSet], kernel: TickMerger | TickCrosser
) -> Iterator[tuple[TickArrays, np.ndarray[Any, Any]]]:
    for chunk in interleave(sets):
        ticks, age = kernel.update(chunk)
        if len(ticks):
            yield ticks, age


def merged_tick_set(
    cache_dir: Path, sets: Sequence[TickSet], infos: list[dict[str, Any]], params: MergeParams
) -> tuple[TickSet, bool]:
    """The merged tick set of ``sets`` (built if missing); returns it and whether it was built."""
    info = {"merge": params.key(), "inputs": _set_inputs(sets), "sources": infos}
    key = key_sha256(info)
    root = cache_dir / "ticks" / "merged" / key[:16]
    existing = TickSet.open(root)
    if existing is not None:
        return existing, False
    return write_tick_set(root, key=key, chunks=_run(sets, TickMerger(params)), info=info), True


def cross_tick_set(
    cache_dir: Path, venue: str, base: str, quote: str, legs: tuple[TickSet, TickSet]
) -> tuple[TickSet, bool]:
    """``BASE/QUOTE`` ticks of ``venue`` from its legs ``(BASE-X, QUOTE-X)``."""
    info = {"cross": f"{base}/{quote}", "venue": venue, "inputs": _set_inputs(legs)}
    key = key_sha256(info)
    root = cache_dir / "ticks" / "cross" / venue / f"{base}{quote}".upper() / key[:16]
    existing = TickSet.open(root)
    if existing is not None:
        return existing, False
    return write_tick_set(root, key=key, chunks=_run(legs, TickCrosser()), info=info), True
