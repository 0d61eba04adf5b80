"""One place that decides how numba kernels are compiled.

Every kernel in ``transforms/*/nb.py`` (and other ``nb.py`` modules) is decorated
with :func:`kernel`. Setting ``SERIESFACTORY_DISABLE_JIT=1`` in the environment
before import runs every kernel as plain Python, for debugging and coverage;
numba's own ``NUMBA_DISABLE_JIT=1`` does the same for all of numba.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any, TypeVar

import numba

F = TypeVar("F", bound=Callable[..., Any])

JIT_DISABLED = os.environ.get("SERIESFACTORY_DISABLE_JIT", "") not in ("", "0")


def kernel(func: F) -> F:
    """Compile ``func`` with ``numba.njit(cache=True, nogil=True)`` unless JIT is off.

    ``nogil`` lets a kernel run on one core while another thread decodes the next
    chunk of input on the other.
    """
    if JIT_DISABLED:
        return func
    compiled: F = numba.njit(cache=True, nogil=True)(func)  # type: ignore[assignment]
    return compiled


def _exp_or_inf(x: float) -> float:
    """``e^x`` as numba computes it: ``inf`` past float64's range (plain ``math.exp`` raises)."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


#: ``e^x`` for kernels: numba's ``math.exp`` when compiled (``inf`` on overflow, no exception);
#: with the JIT off, a plain-Python twin that also gives ``inf`` instead of raising
#: ``OverflowError``, so a kernel behaves the same either way.
exp: Callable[[float], float] = _exp_or_inf if JIT_DISABLED else math.exp
