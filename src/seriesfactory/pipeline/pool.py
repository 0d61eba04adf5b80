"""The local process pool of universe jobs on ``--scheduler processes`` (docs/scale.md).

:class:`CommandLanes` is the executor Dask's process-pool scheduler runs on: the command's own
main thread is one lane, and worker processes are the others. The workers are forked from the
command (:func:`forked_pool`) once it has imported what the tasks need
(:func:`import_task_modules`) and while it runs one thread; where it cannot fork itself, a
*fork server* (:mod:`multiprocessing.forkserver`, :func:`local_pool`) that has imported
:mod:`seriesfactory.pipeline._preload` and nothing of the client forks them. Either way a worker
starts with the libraries and the kernels' compiler target ready, where a spawned one would
import them itself. Light at import: the CLI calls :func:`requested_scheduler` and
:func:`single_threaded_libraries` before parsing its options.
"""

from __future__ import annotations

import collections
import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from seriesfactory.core import progress

__all__ = [
    "FETCH_MODULES",
    "OPTIONAL_MODULES",
    "PRELOAD",
    "PRELOAD_FETCH",
    "SCHEDULER_ENV",
    "TASK_MODULES",
    "CommandLanes",
    "forked_pool",
    "import_task_modules",
    "local_pool",
    "requested_scheduler",
    "single_threaded_libraries",
]

#: The environment variable naming a universe job's scheduler when ``--scheduler`` does not.
SCHEDULER_ENV = "SERIESFACTORY_SCHEDULER"


def requested_scheduler(text: str | None, *, several: bool) -> str:
    """The scheduler a universe job asks for, not yet checked: ``--scheduler`` (``text``), else
    :data:`SCHEDULER_ENV`, else ``processes`` for several symbols and ``sync`` for one. Light, so
    the command line can tell before it imports anything that its workers will be forked."""
    value = text if text is not None else os.environ.get(SCHEDULER_ENV) or None
    return ("processes" if several else "sync") if value is None else value.strip()


#: The module the fork server imports before it forks a worker (what every task needs).
PRELOAD = "seriesfactory.pipeline._preload"
#: What a ``download`` job's tasks need (fetch tasks only: no numba, pandas or series modules).
PRELOAD_FETCH = "seriesfactory.pipeline._preload_fetch"


#: What a fetch task imports (a ``download`` job's tasks: no pandas or series modules), with
#: what httpx loads on its first request.
FETCH_MODULES = (
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
#: What the tasks of ``series`` import (and ``trades``, ``bars build`` and ``features trades`` in
#: part) beyond :data:`FETCH_MODULES`, with what pyarrow loads on its first timestamp conversion.
TASK_MODULES = (
    "pyarrow.parquet",
    "seriesfactory.lake.outputs",
    "seriesfactory.lake.shared",
    "seriesfactory.pipeline.combine",
    "seriesfactory.pipeline.exchange",
    "seriesfactory.pipeline.series",
    "seriesfactory.sources.binance.history",
    "seriesfactory.sources.bybit",
    "seriesfactory.sources.coinbase",
    # kernels' modules the pipeline loads on first use (core/lazy.py): loaded once, before forking
    "seriesfactory.sources.binance.csv_nb",
    "seriesfactory.transforms.ticks.nb",
    "seriesfactory.transforms.aggregates.nb",
)
#: Optional: imported when installed.
OPTIONAL_MODULES = ("pandas", "pyarrow.pandas_compat")


def single_threaded_libraries() -> None:
    """Keep numpy's OpenBLAS from starting its thread pool and pyarrow's jemalloc its purging
    thread, when called before they are imported: a process that forks workers must run one
    thread. Its workers inherit that (BLAS on one thread, as Dask's own workers run it; jemalloc
    purging inline); no task here does linear algebra."""
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    conf = os.environ.get("JE_ARROW_MALLOC_CONF", "")
    if "background_thread" not in conf:
        no_thread = "background_thread:false"
        os.environ["JE_ARROW_MALLOC_CONF"] = f"{conf},{no_thread}" if conf else no_thread


def import_task_modules(*, fetch_only: bool) -> None:
    """Import what the tasks import (only a fetch task's with ``fetch_only``) and set up numba's
    compiler target, as a first task would: done before workers are forked, so they start with
    it all (docs/scale.md)."""
    import contextlib
    import importlib

    for name in FETCH_MODULES if fetch_only else FETCH_MODULES + TASK_MODULES:
        importlib.import_module(name)
    if fetch_only:
        return
    for name in OPTIONAL_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    _numba_target()


def _numba_target() -> None:
    """Set up numba's compiler target, as the first call of a kernel would (about 0.2 s)."""
    import contextlib

    from seriesfactory._jit import JIT_DISABLED

    if JIT_DISABLED:
        return
    with contextlib.suppress(Exception):  # numba's internals moved: the first call does it
        from numba.core.registry import cpu_target

        cpu_target.target_context.refresh()
        cpu_target.typing_context.refresh()


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


def _forked_worker_start() -> None:
    """A worker forked from the command: no progress of its own, Ctrl-C as Python's default (a
    ``KeyboardInterrupt`` in the task), as a fork server's worker has them."""
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)
    progress.install(progress.NULL)


def _threads() -> int:
    """The threads this process runs (the system's count: the libraries' threads too)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # no /proc: Python's own threads
        return threading.active_count()


def forked_pool(workers: int) -> Any:
    """``workers`` processes forked from this one now, with everything it has imported; None
    when this process runs more than one thread (another thread could hold a lock the children
    would then wait on forever: the fork server's pool is used then) or cannot fork (not Linux,
    or no process to be had).

    The command calls it after reading its options, building the graph and importing what the
    tasks need (:func:`import_task_modules`), before any thread of its own starts (the progress
    bar's, the scheduler's); :func:`single_threaded_libraries` kept numpy's and pyarrow's from
    starting. The workers then start with all the command has loaded, where a fork server
    imports it all again (docs/scale.md).
    """
    import gc
    import multiprocessing
    import sys
    from concurrent.futures import ProcessPoolExecutor

    # Linux only: elsewhere a process can run system threads Python does not count (macOS)
    if not sys.platform.startswith("linux") or _threads() != 1:
        return None
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # a child would write out what is buffered again
    pool = ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("fork"), initializer=_forked_worker_start
    )
    gc.freeze()  # the children's collections then leave the pages they share with us alone
    try:
        pool.submit(int)  # its first call forks all its workers, here, before its own threads
    except OSError:  # no process to be had (memory, limits): the fork server's pool is tried
        pool.shutdown(wait=False, cancel_futures=True)
        return None
    finally:
        gc.unfreeze()
    return pool


#: A submitted call: its future, the function and its arguments.
_Call = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class CommandLanes(Executor):
    """An executor of ``workers`` lanes: the command's own main thread and ``workers - 1``
    processes of a pool (:func:`forked_pool`, else :func:`local_pool`), each taking the next
    submitted call when it is free.

    Dask's process-pool scheduler hands it at most ``workers`` calls at a time (its
    ``_max_workers``). The command has imported what a task needs; as a lane it starts on the
    first task at once (docs/scale.md). Its tasks run in the main thread, where Ctrl-C lands,
    as on the ``sync`` scheduler.

    Use: :meth:`run` the scheduler's ``compute`` through it (in a helper thread, while the main
    thread serves its lane); :meth:`shutdown` after.
    """

    def __init__(self, workers: int, pool: Executor | None) -> None:
        if workers > 1 and pool is None:
            raise ValueError("CommandLanes: more than one lane needs a process pool")
        self._max_workers = workers
        self._pool = pool
        self._ready = threading.Condition()
        self._calls: collections.deque[_Call] = collections.deque()
        self._finished = False  # the scheduler has returned: the command's lane stops
        self._closed = False  # shut down: the process lanes stop
        self._forwarders = [
            threading.Thread(target=self._forward, name=f"seriesfactory-lane-{i}", daemon=True)
            for i in range(1, workers)
        ]
        for thread in self._forwarders:
            thread.start()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._ready:
            if self._closed:
                raise RuntimeError("cannot schedule new calls after shutdown")
            self._calls.append((future, fn, args, kwargs))
            self._ready.notify()  # one free lane takes it
        return future

    def _take(self, stop: Callable[[], bool]) -> _Call | None:
        """The next call, waiting for one; None once ``stop()`` holds and none is left."""
        with self._ready:
            while not self._calls:
                if stop():
                    return None
                self._ready.wait(timeout=1.0)  # a timeout: Ctrl-C is seen while waiting
            return self._calls.popleft()

    def _forward(self) -> None:
        """A process lane: each call it takes runs on the pool; its outcome comes back here."""
        assert self._pool is not None
        while (call := self._take(lambda: self._closed)) is not None:
            future, fn, args, kwargs = call
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = self._pool.submit(fn, *args, **kwargs).result()
            except BaseException as exc:  # a lost worker, a cancelled call: the scheduler's
                future.set_exception(exc)
            else:
                future.set_result(result)

    def run(self, compute: Callable[[], Any]) -> Any:
        """``compute()`` (which submits here) in a helper thread, while this thread (the main
        one) runs the calls it takes; ``compute``'s value, or its exception raised here."""
        outcome: list[Any] = []
        failure: list[BaseException] = []

        def scheduler() -> None:
            try:
                outcome.append(compute())
            except BaseException as exc:  # handed to the main thread
                failure.append(exc)
            finally:
                with self._ready:
                    self._finished = True
                    self._ready.notify_all()

        self._finished = False
        thread = threading.Thread(target=scheduler, name="seriesfactory-scheduler", daemon=True)
        thread.start()
        while (call := self._take(lambda: self._finished)) is not None:
            self._run_here(call)
        thread.join()
        if failure:
            raise failure[0]
        return outcome[0]

    @staticmethod
    def _run_here(call: _Call) -> None:
        """One call in this process, reporting no progress of its own (as a worker process,
        whose reporter is the null one)."""
        future, fn, args, kwargs = call
        if not future.set_running_or_notify_cancel():
            return
        previous = progress.install(progress.NULL)
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)
        finally:
            progress.install(previous)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._ready:
            self._closed = True
            if cancel_futures:
                while self._calls:
                    self._calls.popleft()[0].cancel()
            self._ready.notify_all()
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)
        if wait:
            for thread in self._forwarders:
                thread.join()
