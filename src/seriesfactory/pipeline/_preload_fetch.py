"""Imported first by the fork server of a universe job's local pool (see :mod:`._preload`):
what a fetch task needs (:data:`.pool.FETCH_MODULES`), which is all a ``download`` job's fork
server imports.

Before anything imports numpy or pyarrow it keeps them from starting threads (OpenBLAS's pool,
jemalloc's background purging thread): the fork server must have one thread to fork safely.
"""

from __future__ import annotations

import gc

from seriesfactory.pipeline.pool import import_task_modules, single_threaded_libraries

__all__: list[str] = []

single_threaded_libraries()
import_task_modules(fetch_only=True)
# What is imported lives as long as the process: out of the collector's sight (the permanent
# generation), a worker's collections during its tasks do not walk the modules' objects again
# (nor touch, so copy, the pages it shares with the fork server), and the fork server's exit
# skips the interpreter's final collections over all of them (about 0.3 s when it ends)
gc.freeze()
