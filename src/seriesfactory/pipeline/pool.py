"""The local process pool of universe jobs on ``--scheduler processes`` (docs/scale.md).

Dask's process-pool scheduler runs on the executor :func:`local_pool` makes: worker processes
forked by a *fork server* (:mod:`multiprocessing.forkserver`), a fresh Python process that has
imported :mod:`seriesfactory.pipeline._preload` (what every task needs) and nothing of the client.
A worker so starts with the libraries and kernels' compiler target ready, where a spawned one
would import them itself; the fork server can be started (:func:`start_local_pool`) as soon as
the command line shows a universe job on this scheduler, so its imports overlap the client's own
start-up. Light at import: the CLI calls it before parsing its options.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["PRELOAD", "PRELOAD_FETCH", "local_pool", "start_local_pool"]

#: The module the fork server imports before it forks a worker (what every task needs).
PRELOAD = "seriesfactory.pipeline._preload"
#: What a ``download`` job's tasks need (fetch tasks only: no numba, pandas or series modules).
PRELOAD_FETCH = "seriesfactory.pipeline._preload_fetch"


def _forkserver(preload: str) -> Any:
    """The ``forkserver`` multiprocessing context, preloading ``preload`` if the fork server is
    not running yet (None where the platform has no fork server: Dask's own pool of spawned
    processes is used there)."""
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return None
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([preload])
    return context


def start_local_pool(preload: str = PRELOAD) -> None:
    """Start the fork server of :func:`local_pool` now, in the background (it imports
    ``preload``, what the tasks need, while the client parses its options and checks the
    symbols)."""
    if _forkserver(preload) is not None:
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _worker_start(environ: dict[str, str]) -> None:
    """A pool worker's first step: the client's environment, as a spawned worker would have."""
    os.environ.clear()
    os.environ.update(environ)


def local_pool(workers: int, preload: str = PRELOAD) -> Any:
    """The executor the ``processes`` scheduler runs on: ``workers`` processes forked from a fork
    server that has imported ``preload`` (unless one was started already: docs/scale.md); None
    where there is no fork server (Dask then spawns its own pool)."""
    from concurrent.futures import ProcessPoolExecutor

    context = _forkserver(preload)
    if context is None:
        return None
    return ProcessPoolExecutor(
        workers, mp_context=context, initializer=_worker_start, initargs=(dict(os.environ),)
    )
