"""Run a generator one step ahead on a thread: the stages of a pipeline overlap.

Used where each stage spends its time in code that releases the GIL (ISA-L
inflate, numba ``nogil`` kernels, pyarrow encoding), so a producer on one core
and its consumer on the other both run at full speed.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["prefetch"]

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
