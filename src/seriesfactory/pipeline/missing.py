"""Days a server has no file for: their dates and the one warning line naming them.

Kept apart from the fetching modules so that reporting (``seriesfactory series`` prints
the warning after every run) imports nothing heavy.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

__all__ = ["day_dates", "missing_days_warning"]


def day_dates(day_indices: list[int]) -> list[str]:
    """Day indices as ``YYYY-MM-DD`` (UTC)."""
    epoch = dt.date(1970, 1, 1)
    return [(epoch + dt.timedelta(days=d)).isoformat() for d in day_indices]


def missing_days_warning(sources: list[dict[str, Any]]) -> str | None:
    """One line naming the days without a file, ``None`` when there are none.

    ``sources`` are tick-set infos (``venue``, ``symbol``, ``missing_days`` as
    ``YYYY-MM-DD``); the ``legs`` of a rebased cross are searched too.
    """
    found: list[str] = []
    todo = list(sources)
    while todo:
        info = todo.pop(0)
        todo.extend(info.get("legs", []))
        if info.get("missing_days"):
            found.append(f"{info['venue']} {info['symbol']}: {', '.join(info['missing_days'])}")
    if not found:
        return None
    return "warning: no file on the server, taken as days without data: " + "; ".join(found)
