"""Run a generator one step ahead on a thread: the stages of a pipeline overlap.

Used where each stage spends its time in code that releases the GIL (ISA-L
inflate, numba ``nogil`` kernels, pyarrow encoding), so a producer on one core
and its consumer on the other both run at full speed.
"""

from __future__ import annotations

import concurrent.futures as cf
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

__all__ = ["Background", "prefetch"]

T = TypeVar("T")
_DONE = object()


def prefetch(items: Iterable[T], *, depth: int = 2) -> Iterator[T]:
    """Yield ``items`` in order while a thread produces up to ``depth`` of them ahead.

    An exception raised by the producer is raised here, at the item where it
    happened. When the consumer stops early (``break``, an exception, ``close``),
    the producer is told to stop at its next item and is joined, so no thread
    outlives the loop.
    """
    box: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[object, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                box.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        source = iter(items)
        try:
            for item in source:
                if not put((item, None)):
                    return
            put((_DONE, None))
        except BaseException as exc:  # handed to the consumer, raised there
            put((_DONE, exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()  # a generator's cleanup runs on its own thread

    worker = threading.Thread(target=produce, name="seriesfactory-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, exc = box.get()
            if exc is not None:
                raise exc
            if item is _DONE:
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()


class Background:
    """Calls ``func`` on a thread of its own, one call at a time and in order, while the caller
    goes on (a writer encoding and compressing row groups while the kernel computes the next).

    At most one call is in flight: :meth:`submit` first waits for the previous one, so memory
    stays bounded and a failure is raised by the next :meth:`submit` or by :meth:`wait` in the
    caller's thread (where the caller names the file). :meth:`close` must run before whatever
    ``func`` writes to is closed, on success and on failure alike.
    """

    def __init__(self, func: Callable[..., object], *, name: str = "seriesfactory-write") -> None:
        self._func = func
        self._pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._running: cf.Future[object] | None = None

    def submit(self, *args: object) -> None:
        """Wait for the call in flight (raising its error), then start ``func(*args)``."""
        self.wait()
        self._running = self._pool.submit(self._func, *args)

    def wait(self) -> None:
        """Return when no call is in flight; raise the error of the last one, if it failed."""
        running, self._running = self._running, None
        if running is not None:
            running.result()

    def close(self, *, quiet: bool = False) -> None:
        """Wait for the call in flight and stop the thread; ``quiet``: its error is dropped (an
        earlier error is being raised already)."""
        try:
            self.wait()
        except BaseException:
            if not quiet:
                raise
        finally:
            self._pool.shutdown(wait=True)
