"""Time helpers: everything inside the system is int64 nanoseconds since the epoch, UTC."""

from __future__ import annotations

import datetime as dt
import re
import time

from seriesfactory.errors import InputError

__all__ = [
    "MAX_MS",
    "MAX_US",
    "NS_PER_DAY",
    "NS_PER_MS",
    "NS_PER_S",
    "day_start_ns",
    "format_ms",
    "format_range_part",
    "parse_date",
    "parse_duration_ns",
]

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_S
#: The largest count of milliseconds / microseconds whose nanoseconds fit an int64.
MAX_MS = (2**63 - 1) // NS_PER_MS
MAX_US = (2**63 - 1) // 1_000

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
#: The dates a range may use: int64 nanoseconds end at 2262-04-11 23:47:16 UTC, and nothing
#: before the epoch is supported (no market data, and day arithmetic assumes it).
FIRST_DAY = dt.date(1970, 1, 1)
LAST_DAY = dt.date(2262, 4, 11)

#: Nanoseconds per unit of a duration (``docs/cli.md``: one syntax for every duration option).
DURATION_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "ms": NS_PER_MS,
    "s": NS_PER_S,
    "m": 60 * NS_PER_S,
    "h": 3_600 * NS_PER_S,
    "d": NS_PER_DAY,
}
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ns|us|ms|s|m|h|d)?\s*")


def parse_duration_ns(text: str, *, option: str) -> int:
    """``'100ms'``, ``'1.5s'``, ``'15m'``, ``'1d'`` (a bare number: seconds) -> ns > 0."""
    found = _DURATION.fullmatch(text)
    value = 0
    if found is not None:
        value = round(float(found.group(1)) * DURATION_UNITS_NS[found.group(2) or "s"])
    if value <= 0 or value >= 2**62:
        raise InputError(
            f"{option} {text!r} is not a duration: give a positive number and a unit ns, us, ms, "
            "s, m, h or d (a bare number is seconds), e.g. 100ms, 1s, 5m"
        )
    return value


def parse_date(text: str, *, option: str, allow_now: bool = False) -> int:
    """Parse ``YYYY-MM-DD`` (00:00 UTC that day) or, if allowed, ``now`` into ns since the epoch."""
    value = text.strip()
    if allow_now and value.lower() == "now":
        return time.time_ns()
    try:
        day = dt.date.fromisoformat(value)
        if len(value) != 10:
            raise ValueError(value)
    except ValueError:
        hint = "YYYY-MM-DD or 'now'" if allow_now else "YYYY-MM-DD"
        raise InputError(f"{option} {text!r} is not a date: give {hint}, e.g. 2025-01-31") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InputError(
            f"{option} {value} is outside the dates the engine can represent "
            f"({FIRST_DAY} to {LAST_DAY}, int64 nanoseconds); give a date in that span"
        )
    return day_start_ns(day)


def day_start_ns(day: dt.date) -> int:
    """00:00 UTC of ``day`` in ns since the epoch."""
    delta = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * NS_PER_S


def to_datetime(ts_ns: int) -> dt.datetime:
    """A timezone-aware UTC datetime for ``ts_ns`` (microsecond precision)."""
    return _EPOCH + dt.timedelta(microseconds=ts_ns // 1_000)


def format_ms(ts_ns: int) -> str:
    """``YYYYMMDD HH:MM:SS.fff`` in UTC."""
    d = to_datetime(ts_ns)
    return d.strftime("%Y%m%d %H:%M:%S.") + f"{(ts_ns // NS_PER_MS) % 1000:03d}"


def format_range_part(ts_ns: int) -> str:
    """``YYYYMMDD`` for a midnight, ``YYYYMMDDTHHMMSS`` otherwise (used in file names)."""
    d = to_datetime(ts_ns)
    if ts_ns % NS_PER_DAY == 0:
        return d.strftime("%Y%m%d")
    return d.strftime("%Y%m%dT%H%M%S")
