"""Imported once, by the process that forks the ``processes`` scheduler's workers.

A universe job on ``--scheduler processes`` runs Dask's local process-pool scheduler on a pool
whose workers are forked by a *fork server* (:mod:`multiprocessing.forkserver`), a fresh Python
process that imports this module (a ``download`` job: :mod:`._preload_fetch` only) and nothing
else of the client. A worker forked from it starts with numpy, pyarrow, numba (its compiler
target set up), httpx and the pipeline modules of every task already imported, instead of
importing them itself (about 1.1 s of CPU per worker on the benchmark machine: docs/scale.md).

Forking is safe only from a process with one thread: :mod:`._preload_fetch`, imported first,
keeps numpy's OpenBLAS and pyarrow's jemalloc from starting threads. The workers inherit that
(BLAS on one thread, as Dask's own workers run it; jemalloc purging inline); no task here does
linear algebra. polars starts threads at import and is not imported here (the modules that use
it are imported by the worker that needs them).
"""

from __future__ import annotations

import contextlib
import gc
import importlib

__all__ = ["MODULES"]

#: What the tasks of ``series`` import (and ``trades``, ``bars build`` and ``features trades`` in
#: part) beyond a fetch task's :data:`._preload_fetch.MODULES` (imported first), with what
#: pyarrow loads on its first timestamp conversion.
MODULES = (
    "seriesfactory.pipeline._preload_fetch",
    "pyarrow.parquet",
    "seriesfactory.lake.outputs",
    "seriesfactory.lake.shared",
    "seriesfactory.pipeline.combine",
    "seriesfactory.pipeline.exchange",
    "seriesfactory.pipeline.series",
    "seriesfactory.sources.binance.history",
    "seriesfactory.sources.bybit",
    "seriesfactory.sources.coinbase",
)
#: Optional: imported when installed.
OPTIONAL = ("pandas", "pyarrow.pandas_compat")


def _numba_target() -> None:
    """Set up numba's compiler target, as the first call of a kernel would (about 0.2 s)."""
    from seriesfactory._jit import JIT_DISABLED

    if JIT_DISABLED:
        return
    with contextlib.suppress(Exception):  # numba's internals moved: the first call does it
        from numba.core.registry import cpu_target

        cpu_target.target_context.refresh()
        cpu_target.typing_context.refresh()


for _name in MODULES:
    importlib.import_module(_name)
for _name in OPTIONAL:
    with contextlib.suppress(ImportError):
        importlib.import_module(_name)
_numba_target()
gc.freeze()  # see _preload_fetch: after the imports above too
