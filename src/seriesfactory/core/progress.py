"""Progress and notices for long waits, on standard error.

Library code reports through :func:`current` (the process's reporter: ``NULL``, which does
nothing, until a caller installs another with :func:`install`); the command line installs the one
:func:`reporter` chooses:

- on a terminal, rich progress bars (description, done/total with the unit, rate, ETA);
- elsewhere (CI, a pipe, a log file), one plain line per task every ``every_s`` seconds and one
  when it ends, so a long job is never silent;
- with ``--quiet``, nothing.

Notices (``reporter.notice("retrying 1/5 in 2.0 s: connection refused")``) are printed at once in
every mode but quiet.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import IO, TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = [
    "NULL",
    "PlainReporter",
    "Reporter",
    "RichReporter",
    "Task",
    "current",
    "install",
    "reporter",
]


class Task(Protocol):
    """One unit of work whose progress is reported: advance it, then close it."""

    def advance(self, amount: float = 1) -> None: ...

    def set_total(self, total: float | None) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Task: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class Reporter(Protocol):
    """Where progress goes: tasks with a description, a total (if known) and a unit."""

    def task(self, description: str, *, total: float | None = None, unit: str = "") -> Task: ...

    def notice(self, message: str) -> None: ...


class _NullTask:
    def advance(self, amount: float = 1) -> None:
        pass

    def set_total(self, total: float | None) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _NullTask:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class _NullReporter:
    def task(self, description: str, *, total: float | None = None, unit: str = "") -> Task:
        return _NullTask()

    def notice(self, message: str) -> None:
        pass


#: The reporter that reports nothing: the library's default.
NULL: Reporter = _NullReporter()


def _amount(value: float, unit: str) -> str:
    if unit == "B":
        for scale, name in ((1 << 30, "GB"), (1 << 20, "MB"), (1 << 10, "kB")):
            if value >= scale:
                return f"{value / scale:.1f} {name}"
        return f"{value:.0f} B"
    text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    return f"{text} {unit}".rstrip()


class _PlainTask:
    def __init__(
        self, owner: PlainReporter, description: str, total: float | None, unit: str
    ) -> None:
        self._owner = owner
        self.description = description
        self.total = total
        self.unit = unit
        self.done = 0.0
        self.started = owner.clock()
        self._last = self.started
        self._closed = False

    def line(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        text = f"{self.description}: {_amount(self.done, self.unit)}"
        if self.total:
            text += f" of {_amount(self.total, self.unit)} ({100 * self.done / self.total:.0f}%)"
        text += f", {_amount(rate, self.unit)}/s"
        if self.total and rate > 0 and self.done < self.total:
            text += f", about {(self.total - self.done) / rate:.0f} s left"
        return text

    def advance(self, amount: float = 1) -> None:
        self.done += amount
        now = self._owner.clock()
        if now - self._last >= self._owner.every_s:
            self._last = now
            self._owner.write(self.line(now))

    def set_total(self, total: float | None) -> None:
        self.total = total

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        now = self._owner.clock()
        if now - self.started >= self._owner.every_s:  # short tasks end silently
            self._owner.write(self.line(now) + f", done in {now - self.started:.1f} s")

    def __enter__(self) -> _PlainTask:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PlainReporter:
    """One line per task every ``every_s`` seconds (and at its end, if it took that long)."""

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        every_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.every_s = every_s
        self.clock = clock
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        with self._lock:
            print(text, file=self.stream, flush=True)

    def task(self, description: str, *, total: float | None = None, unit: str = "") -> Task:
        return _PlainTask(self, description, total, unit)

    def notice(self, message: str) -> None:
        self.write(message)


class _RichTask:
    def __init__(self, owner: RichReporter, task_id: TaskID, unit: str) -> None:
        self._owner = owner
        self._id = task_id
        self._unit = unit
        self._closed = False

    def advance(self, amount: float = 1) -> None:
        bars = self._owner.bars
        bars.advance(self._id, amount)
        task = bars._tasks[self._id]
        rate = task.speed or 0.0
        text = f"{_amount(task.completed, self._unit)}  {_amount(rate, self._unit)}/s"
        bars.update(self._id, amount=text)

    def set_total(self, total: float | None) -> None:
        self._owner.bars.update(self._id, total=total)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._owner.finished(self._id)

    def __enter__(self) -> _RichTask:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RichReporter:
    """Rich progress bars on standard error; started with the first task, stopped with the last."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        self.console = Console(file=stream if stream is not None else sys.stderr)
        self.bars: Progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[amount]}"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self._open = 0
        self._lock = threading.Lock()

    def task(self, description: str, *, total: float | None = None, unit: str = "") -> Task:
        with self._lock:
            if self._open == 0:
                self.bars.start()
            self._open += 1
            task_id = self.bars.add_task(description, total=total, amount="")
        return _RichTask(self, task_id, unit)

    def finished(self, task_id: TaskID) -> None:
        """A finished task leaves the display; the bars stop with the last one."""
        with self._lock:
            self.bars.remove_task(task_id)
            self._open -= 1
            if self._open == 0:
                self.bars.stop()

    def notice(self, message: str) -> None:
        self.console.print(message, markup=False, highlight=False)


def reporter(*, quiet: bool, stream: IO[str] | None = None) -> Reporter:
    """The reporter a command uses: nothing when ``quiet``; bars on a terminal; else plain lines."""
    if quiet:
        return NULL
    out = stream if stream is not None else sys.stderr
    if out.isatty():
        return RichReporter(out)
    return PlainReporter(out)


_installed: list[Reporter] = [NULL]


def current() -> Reporter:
    """The reporter library code reports to (``NULL`` unless one was installed)."""
    return _installed[0]


def install(chosen: Reporter) -> Reporter:
    """Make ``chosen`` the process's reporter (threads included); return the previous one."""
    previous, _installed[0] = _installed[0], chosen
    return previous
