"""Retry backoff: one rule for every retry loop (HTTP downloads, WebSocket reconnects).

Before retry ``k`` (0-based: ``k = 0`` is the wait after the first failure)::

    delay_s = min(cap_s, base_s * 2**k) * U(0.5, 1.0)

so the wait doubles up to the cap and never exceeds it; the jitter (a uniform
factor in ``[0.5, 1.0)``) keeps many clients that failed together from
retrying together. With ``base_s = 0.5`` and ``cap_s = 30``: at most 0.5, 1, 2,
4, ... and from ``k = 6`` on 30 s; at least half of each.
"""

from __future__ import annotations

import random

__all__ = ["backoff_delay_s"]

#: Exponents above this change nothing (2**60 times any useful base is past any cap) and
#: would overflow a float after about a thousand retries of a forever-retrying loop.
_MAX_EXPONENT = 60


def backoff_delay_s(attempt: int, *, base_s: float, cap_s: float, rng: random.Random) -> float:
    """The wait (s) before retry ``attempt`` (0-based): ``min(cap_s, base_s * 2**attempt) * u``.

    ``u`` is uniform in ``[0.5, 1.0)`` from ``rng``, so the result is in
    ``[d/2, d)`` with ``d = min(cap_s, base_s * 2**attempt)``: never above ``cap_s``.
    """
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    return min(cap_s, base_s * 2.0 ** min(attempt, _MAX_EXPONENT)) * (0.5 + 0.5 * rng.random())
