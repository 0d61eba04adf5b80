"""Saved builder state: the one way a streaming builder is continued from a ``--state`` file.

A builder (bars, trade features) saves its state as JSON after a run; the next
run over the following days loads it and continues exactly where the last one
stopped. :func:`load_state` is that load: a fresh builder while the file does not
exist yet, the saved one when it does, and a refusal (naming both) when the saved
builder was made with other options than the ones given now.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from seriesfactory.errors import InputError

__all__ = ["load_state"]

B = TypeVar("B")


def load_state(
    path: Path,
    *,
    fresh: Callable[[], B],
    from_state: Callable[[Any], B],
    options: Callable[[B], Mapping[str, Any]],
) -> B:
    """The builder saved at ``path``, or ``fresh()`` when the file does not exist.

    ``from_state`` rebuilds a builder from the saved JSON; ``options(builder)``
    describes what a builder was made with, and the saved builder must describe
    the same as ``fresh()`` does (else :class:`~seriesfactory.errors.InputError`).
    A file that is not JSON, or JSON ``from_state`` cannot use, is refused too
    (``from_state``'s own :class:`InputError` passes through as it is).
    """
    want = fresh()
    if not path.exists():
        return want
    try:
        builder = from_state(json.loads(path.read_text()))
    except InputError:  # from_state's own account of what is wrong with the state
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"--state {path} cannot be read ({exc}); remove it") from None
    saved, wanted = dict(options(builder)), dict(options(want))
    if saved != wanted:
        raise InputError(
            f"--state {path} was saved for {saved}, not {wanted}; "
            "give the same options or another --state file"
        )
    return builder
