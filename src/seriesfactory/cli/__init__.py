"""The ``seriesfactory`` command line: a thin shell over the library.

One module per command group registers its commands on :data:`app`. Every
:class:`~seriesfactory.errors.SeriesFactoryError` and every usage error becomes
one line on standard error and a non-zero exit status (2 for bad input). An
``OSError`` that reaches the top (a full disk, a read-only folder, a name too long)
is the last safety net: one line naming the path and what to do, exit status 1.
Ctrl-C (SIGINT) ends a command with one line and exit status 130, whatever it was doing
(typer would end it silently; a numba call it lands in may wrap it in a SystemError);
commands that treat SIGINT as their stop signal (``record``, ``book live``) end normally.
"""

from __future__ import annotations

import copy
import gc
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from seriesfactory.cli import _app, _universe
from seriesfactory.cli._app import app
from seriesfactory.core import progress
from seriesfactory.errors import CacheWarning, SeriesFactoryError

# Command modules register themselves on import.
from seriesfactory.cli import series as _series  # noqa: F401  # isort: skip
from seriesfactory.cli import bars as _bars  # noqa: F401  # isort: skip
from seriesfactory.cli import book as _book  # noqa: F401  # isort: skip
from seriesfactory.cli import record as _record  # noqa: F401  # isort: skip
from seriesfactory.cli import download as _download  # noqa: F401  # isort: skip
from seriesfactory.cli import trades as _trades  # noqa: F401  # isort: skip
from seriesfactory.cli import cache as _cache  # noqa: F401  # isort: skip
from seriesfactory.cli import features as _features  # noqa: F401  # isort: skip
from seriesfactory.cli import backtest as _backtest  # noqa: F401  # isort: skip
from seriesfactory.cli import ml as _ml  # noqa: F401  # isort: skip
from seriesfactory.cli import report as _report  # noqa: F401  # isort: skip
from seriesfactory.cli import store as _store  # noqa: F401  # isort: skip

__all__ = ["app", "main"]


def _show_warning(message: Any, category: type[Warning], *args: Any, **kw: Any) -> None:
    """Library warnings meant for the user (:class:`CacheWarning`): one ``warning:`` line."""
    if issubclass(category, CacheWarning):
        print(f"warning: {message}", file=sys.stderr)
    else:
        _default_show_warning(message, category, *args, **kw)


_default_show_warning = warnings.showwarning


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return (and, as a script, exit with) its status."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", CacheWarning)
        warnings.showwarning = _show_warning
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    args = sys.argv[1:] if argv is None else argv
    _universe.prepare_pool_from_argv(args)  # a universe job's workers are forked from here
    previous = progress.install(progress.reporter(quiet=False))  # --quiet replaces it
    try:
        return _run(args)
    finally:
        progress.install(previous)


class _Interrupts:
    seen = False


@contextmanager
def _watch_interrupts() -> Iterator[_Interrupts]:
    """Note whether SIGINT arrived while a command ran (the main thread only)."""
    seen = _Interrupts()
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return

    def on_sigint(signum: int, frame: Any) -> None:
        seen.seen = True
        signal.default_int_handler(signum, frame)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, previous)


def _run(args: list[str]) -> int:
    with _watch_interrupts() as interrupts:
        try:
            status = _invoke(args)
        except Exception:
            if not interrupts.seen:
                raise
            status = 130
    if interrupts.seen and status == 130:
        _app.fail("interrupted; what was written is whole: run again to finish")
    return status


def _only(name: str) -> typer.Typer | None:
    """:data:`app` holding only its command or group ``name`` (None when it has no such one).

    typer builds a command's options (signature, help, types) when it builds the group that
    holds it: building all of them was 0.04 s of every run (issue 16). The command line, its
    help and its errors are those of the whole app: a run names one command, and a name that
    is none of them (a typo, an option) gets the whole app and its suggestions.
    """
    commands = [
        c for c in app.registered_commands
        if (c.name or typer.main.get_command_name(c.callback.__name__)) == name  # type: ignore[union-attr]
    ]  # fmt: skip
    groups = [g for g in app.registered_groups if g.name == name]
    if not commands and not groups:
        return None
    only = copy.copy(app)
    only.registered_commands, only.registered_groups = commands, groups
    return only


def _invoke(args: list[str]) -> int:
    command = typer.main.get_command((args and _only(args[0])) or app)
    try:  # typer returns the status of ``typer.Exit`` (Ctrl-C: 130) in this mode
        result = command.main(args=args, prog_name="seriesfactory", standalone_mode=False)
    except typer.Abort:
        _app.fail("aborted")
        return 130
    except typer.TyperException as exc:  # usage errors: unknown option, missing value, ...
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
            print(ctx.get_help())
            return 2
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        _app.fail(f"{exc.format_message()}{hint}")
        return int(exc.exit_code)
    except SeriesFactoryError as exc:
        _app.fail(str(exc))
        return exc.exit_code
    except OSError as exc:  # the safety net: a storage failure no command turned into one line
        _app.fail(_app.os_error_line(exc))
        return 1
    except Exception as exc:  # the safety net: undecodable data no reader named
        arrow = sys.modules.get("pyarrow")  # loaded by whatever read the data; not at start
        if arrow is None or not isinstance(exc, arrow.ArrowException):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        _app.fail(
            f"cannot decode a data file ({first}); it is damaged: delete it (a cache file is "
            "rebuilt on the next run) or restore it"
        )
        return 1
    except KeyboardInterrupt:  # not through a command (typer turns those into 130)
        return 130
    return int(result) if isinstance(result, int) else 0


def _entry() -> None:  # pragma: no cover - console script shim
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (``| head``): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 0
    # the process ends now: what it made stays out of the interpreter's final collections, which
    # would walk every object of every imported module (0.15-0.4 s after a universe job); the
    # command's files are all closed by now, and atexit handlers still run
    gc.freeze()
    sys.exit(status)
