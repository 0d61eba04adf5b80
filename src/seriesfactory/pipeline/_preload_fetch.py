"""Imported first by the fork server of a universe job's local pool (see :mod:`._preload`):
what a fetch task needs, which is all a ``download`` job's fork server imports.

Before anything imports numpy or pyarrow it keeps them from starting threads (OpenBLAS's pool,
jemalloc's background purging thread): the fork server must have one thread to fork safely.
"""

from __future__ import annotations

import gc
import importlib
import os

__all__ = ["MODULES"]

#: What a fetch task imports, with what httpx loads on its first request.
MODULES = (
    "dask.local",  # the worker runs dask.local.execute_task
    "dask.multiprocessing",
    "httpx",
    "httpcore",
    "h11",
    "certifi",
    "seriesfactory.cli",  # a console script's workers run it again (as __mp_main__)
    "seriesfactory.pipeline.raw_files",
    "seriesfactory.pipeline.universe",
    "seriesfactory.raw.download",
)


def _single_threaded_libraries() -> None:
    """No thread pool from OpenBLAS (numpy) or background thread from jemalloc (pyarrow)."""
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    conf = os.environ.get("JE_ARROW_MALLOC_CONF", "")
    if "background_thread" not in conf:
        no_thread = "background_thread:false"
        os.environ["JE_ARROW_MALLOC_CONF"] = f"{conf},{no_thread}" if conf else no_thread


_single_threaded_libraries()
for _name in MODULES:
    importlib.import_module(_name)
# What is imported lives as long as the process: out of the collector's sight (the permanent
# generation), a worker's collections during its tasks do not walk the modules' objects again
# (nor touch, so copy, the pages it shares with the fork server), and the fork server's exit
# skips the interpreter's final collections over all of them (about 0.3 s when it ends)
gc.freeze()
