"""Imported once, by the fork server of the ``processes`` scheduler's workers.

A universe job on ``--scheduler processes`` forks its workers from the command itself, once it
has imported what the tasks need (:func:`.pool.forked_pool`). Where it cannot (it runs more
than one thread by then), they are forked by a *fork server* (:mod:`multiprocessing.forkserver`),
a fresh Python process that imports this module (a ``download`` job: :mod:`._preload_fetch`
only) and nothing else of the client: a worker forked from it starts with numpy, pyarrow, numba
(its compiler target set up), httpx and the pipeline modules of every task already imported
(:func:`.pool.import_task_modules`), instead of importing them itself (about 1.1 s of CPU per
worker on the benchmark machine: docs/scale.md).

Forking is safe only from a process with one thread: :mod:`._preload_fetch`, imported first,
keeps numpy's OpenBLAS and pyarrow's jemalloc from starting threads. polars starts threads at
import and is not imported here (the modules that use it are imported by the worker that needs
them).
"""

from __future__ import annotations

import gc

import seriesfactory.pipeline._preload_fetch  # noqa: F401  # first: no library threads
from seriesfactory.pipeline.pool import import_task_modules

__all__: list[str] = []

import_task_modules(fetch_only=False)
gc.freeze()  # see _preload_fetch: after the imports above too
