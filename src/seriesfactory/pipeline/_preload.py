"""Imported once, by the process that forks the ``processes`` scheduler's workers.

A universe job on ``--scheduler processes`` runs Dask's local process-pool scheduler on a pool
whose workers are forked by a *fork server* (:mod:`multiprocessing.forkserver`), a fresh Python
process that imports this module and nothing else of the client. A worker forked from it starts
with numpy, pyarrow, numba, httpx and the pipeline modules of every task already imported,
instead of importing them itself (about 0.9 s of CPU per worker on the benchmark machine:
docs/scale.md).

Forking is safe only from a process with one thread: numpy's OpenBLAS would start a pool of
threads at import and pyarrow's jemalloc a background purging thread. Both are told not to,
before the imports, so the fork server stays single-threaded. The workers inherit that (BLAS on
one thread, as Dask's own workers run it; jemalloc purging inline); no task here does linear
algebra. polars starts threads at import and is not imported here (the modules that use it are
imported by the worker that needs them).
"""

from __future__ import annotations

import contextlib
import importlib
import os

__all__ = ["MODULES"]

#: What the tasks of ``download`` and ``series`` import (and ``trades``, ``bars build`` and
#: ``features trades`` in part), with what httpx loads on its first request and what pyarrow
#: loads on its first timestamp conversion.
MODULES = (
    "dask.local",  # the worker runs dask.local.execute_task
    "dask.multiprocessing",
    "httpx",
    "httpcore",
    "h11",
    "certifi",
    "pyarrow.parquet",
    "seriesfactory.lake.outputs",
    "seriesfactory.lake.shared",
    "seriesfactory.pipeline.combine",
    "seriesfactory.pipeline.exchange",
    "seriesfactory.pipeline.raw_files",
    "seriesfactory.pipeline.series",
    "seriesfactory.pipeline.universe",
    "seriesfactory.raw.download",
    "seriesfactory.sources.binance.history",
    "seriesfactory.sources.bybit",
    "seriesfactory.sources.coinbase",
)
#: Optional: imported when installed.
OPTIONAL = ("pandas", "pyarrow.pandas_compat")


def _single_threaded_libraries() -> None:
    """No thread pool from OpenBLAS (numpy) or background thread from jemalloc (pyarrow)."""
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    conf = os.environ.get("JE_ARROW_MALLOC_CONF", "")
    if "background_thread" not in conf:
        os.environ["JE_ARROW_MALLOC_CONF"] = ",".join(
            filter(None, [conf, "background_thread:false"])
        )


def _numba_target() -> None:
    """Set up numba's compiler target, as the first call of a kernel would (about 0.2 s)."""
    from seriesfactory._jit import JIT_DISABLED

    if JIT_DISABLED:
        return
    with contextlib.suppress(Exception):  # numba's internals moved: the first call does it
        from numba.core.registry import cpu_target

        cpu_target.target_context.refresh()
        cpu_target.typing_context.refresh()


_single_threaded_libraries()
for _name in MODULES:
    importlib.import_module(_name)
for _name in OPTIONAL:
    with contextlib.suppress(ImportError):
        importlib.import_module(_name)
_numba_target()
