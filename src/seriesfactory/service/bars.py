"""Bars built inline from the stored trades, continued exactly from the saved builder state.

A configured bar is written ``TYPE [VALUE] [ewma N] [expected N] [sign tick-rule]``:
``tick 500``, ``volume 100``, ``dollar 500000``, ``time 5m``, ``tib ewma 15``,
``vrb ewma 60 expected 200``. Its ``bar_type`` name in the store is
:func:`bar_type_name` (``tick_500``, ``time_5m``, ``tib_ewma15``, ...).

:func:`build_pair` feeds the builder every stored trade from its saved cursor up
to the end of the covered span holding it (trades before that instant are
final: see :mod:`seriesfactory.service.ingest`), one day at a time; each day's
closed bars and the builder's state are committed in one transaction. A stop or
a crash at any point leaves bars and state consistent, and the next run
continues mid-bar, the imbalance and run bars' EWMAs included, so the bars equal
those of one uninterrupted run.
"""

from __future__ import annotations

import math
import re
import threading

import pyarrow as pa

from seriesfactory.core.time import NS_PER_DAY
from seriesfactory.errors import InputError
from seriesfactory.store.io import Store
from seriesfactory.transforms.bars import BarBuilder, BarSpec
from seriesfactory.transforms.bars.spec import SAMPLED

__all__ = ["bar_type_name", "build_pair", "parse_bar_spec"]

_NAME = re.compile(r"^[a-z0-9_.]+$")


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{what}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise InputError(f"{what}: {text!r} is not a finite number")
    return value


def parse_bar_spec(text: str) -> BarSpec:
    """``'tib ewma 15'`` -> :class:`BarSpec` (one clear error naming the text otherwise)."""
    words = text.split()
    if not words:
        raise InputError("store_bars: an empty bar spec; write e.g. 'tick 500' or 'tib ewma 15'")
    kind, rest = words[0].lower(), words[1:]
    where = f"store_bars {text[:80]!r}"
    try:
        if kind == "time":
            if len(rest) != 1:
                raise InputError(f"{where}: time bars take one interval, e.g. 'time 5m'")
            return BarSpec(type="time", interval=rest[0])
        if kind in ("tick", "volume", "dollar"):
            if len(rest) != 1:
                raise InputError(f"{where}: write '{kind} THRESHOLD', e.g. '{kind} 500'")
            return BarSpec(type=kind, threshold=_number(rest[0], where))  # type: ignore[arg-type]
        if kind in SAMPLED:
            opts: dict[str, str] = {}
            if len(rest) % 2:
                raise InputError(f"{where}: options come in pairs, e.g. 'ewma 15 expected 100'")
            for key, value in zip(rest[::2], rest[1::2], strict=True):
                if key not in ("ewma", "expected", "sign"):
                    raise InputError(f"{where}: unknown option {key!r}; use ewma, expected, sign")
                opts[key] = value
            return BarSpec(
                type=kind,  # type: ignore[arg-type]
                ewma_window=int(_number(opts.get("ewma", "15"), where)),
                expected_ticks=int(_number(opts.get("expected", "100"), where)),
                sign=opts.get("sign", "auto"),  # type: ignore[arg-type]
            )
    except InputError as exc:
        if str(exc).startswith("store_bars"):
            raise
        raise InputError(f"{where}: {exc}") from None
    raise InputError(
        f"{where}: unknown bar type {kind[:20]!r}; use time, tick, volume, dollar, tib, vib, dib, "
        "trb, vrb or drb"
    )


def _fmt(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def bar_type_name(spec: BarSpec) -> str:
    """The ``bar_type`` column: ``time_5m``, ``tick_500``, ``dollar_500000``, ``tib_ewma15``.

    Imbalance/run bars add ``_e{E0}`` when E0[T] is not 100, ``_min{..}``/``_max{..}``
    for explicit bounds and ``_tickrule`` for the tick-rule sign.
    """
    if spec.type == "time":
        name = f"time_{spec.interval}"
    elif spec.family == "standard":
        name = f"{spec.type}_{_fmt(spec.threshold or 0.0)}"
    else:
        name = f"{spec.type}_ewma{spec.ewma_window}"
        if spec.expected_ticks != 100:
            name += f"_e{spec.expected_ticks}"
        if spec.min_ticks is not None:
            name += f"_min{_fmt(spec.min_ticks)}"
        if spec.max_ticks is not None:
            name += f"_max{_fmt(spec.max_ticks)}"
    if spec.sign != "auto":
        name += "_tickrule"
    if not _NAME.match(name):  # pragma: no cover - every spec above yields a safe name
        raise InputError(f"bar type name {name!r} is not [a-z0-9_.]")
    return name


def build_pair(
    store: Store, source: str, pair: str, spec: BarSpec, *, stop: threading.Event | None = None
) -> int:
    """Continue ``spec``'s bars of the pair up to its covered trades; return the bars added."""
    bar_type = bar_type_name(spec)
    saved = store.load_state(bar_type, source, pair)
    coverage = store.coverage(source, pair)
    if saved is not None:
        builder = BarBuilder.from_state(saved[0])
        if builder.spec != spec:
            raise InputError(
                f"{bar_type} of {source} {pair}: the stored state was built with "
                f"{builder.spec.to_dict()}, not {spec.to_dict()}"
            )
        cursor: int | None = saved[1]
    else:
        builder = BarBuilder(spec)
        cursor = coverage.spans[0][0] if coverage.spans else None
    if cursor is None:
        return 0
    end = coverage.end_from(cursor)
    if end is None or end <= cursor:
        return 0
    added = 0
    lo = cursor
    while lo < end:
        if stop is not None and stop.is_set():
            break
        hi = min(end, (lo // NS_PER_DAY + 1) * NS_PER_DAY)
        trades = store.read_trades(source, pair, lo, hi)
        got = builder.update(
            trades.column("ts").cast(pa.int64()).to_numpy(),
            trades.column("price").to_numpy(),
            trades.column("qty").to_numpy(),
            trades.column("side").to_numpy(),
        )
        table = got.to_arrow(spec)
        with store.transaction():
            added += store.write_bars(
                bar_type, source, pair, table, state=builder.state(), cursor_ns=hi,
                spec=spec.to_dict(),
            )  # fmt: skip
        lo = hi
    return added
