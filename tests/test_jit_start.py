"""``seriesfactory._jit`` keeps a warm start light (issue 16): a kernel found in numba's cache is
loaded without numba's compiler registries and without BLAS; a compilation loads scipy's BLAS
table without the ``scipy.linalg`` package (0.3 s), BLAS still works in a kernel, and a later
``import scipy.linalg`` is whole. Each case in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("scipy")

_FIRST_DISPATCH = """
import sys
import numpy as np
from seriesfactory.transforms.aggregates import AggregationParams, Aggregator
agg = Aggregator(AggregationParams(mode="time", step=60000.0))
agg.update(np.array([1, 2], np.int64), np.ones(2), np.full(2, 1.1), np.zeros(2), np.zeros(2))
last = agg.finish(120_000_000_000)
assert last.rows == 2 and last.column("close")[0] == 1.05 and list(last.tick_count) == [2, 0]
print("scipy.linalg" in sys.modules, "scipy.linalg.cython_blas" in sys.modules,
      "numba.np.arraymath" in sys.modules)
"""

_COMPILE = """
import sys
import numba
import seriesfactory._jit

assert numba.njit(lambda x: x + 1)(1) == 2
print("scipy.linalg" in sys.modules, "scipy.linalg.cython_blas" in sys.modules)
"""

_BLAS_STILL_WORKS = """
import sys
import numba
import numpy as np
import seriesfactory._jit

@numba.njit
def matvec(a, b):
    return np.dot(a, b)

a = np.arange(9.0).reshape(3, 3)
assert (matvec(a, np.ones(3)) == a.sum(axis=1)).all()
assert "scipy.linalg" not in sys.modules
import scipy.linalg
from scipy.linalg import cython_lapack
assert scipy.linalg.cython_blas is sys.modules["scipy.linalg.cython_blas"]
assert (scipy.linalg.solve(2 * np.eye(2), np.ones(2)) == 0.5).all()
assert cython_lapack.__pyx_capi__
print("ok")
"""


def _run(code: str, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_a_cached_kernel_loads_without_the_compiler_and_blas() -> None:
    _run(_FIRST_DISPATCH, SERIESFACTORY_DISABLE_JIT="0")  # compiles the kernels when not cached
    assert _run(_FIRST_DISPATCH, SERIESFACTORY_DISABLE_JIT="0") == "False False False"


def test_a_compilation_loads_blas_without_scipy_linalg() -> None:
    assert _run(_COMPILE, SERIESFACTORY_DISABLE_JIT="0") == "False True"


def test_blas_in_a_kernel_and_a_later_scipy_linalg_still_work() -> None:
    assert _run(_BLAS_STILL_WORKS, SERIESFACTORY_DISABLE_JIT="0") == "ok"


def test_with_the_jit_off_nothing_is_preloaded() -> None:
    assert _run(_FIRST_DISPATCH, SERIESFACTORY_DISABLE_JIT="1") == "False False False"
