"""Option values of the plain kinds converted without loading pydantic.

typer (0.29) converts every option value through a pydantic ``TypeAdapter``, built when a
command first reads the option: importing pydantic and building the adapters of one command's
options is about 0.06 s of every run, longer than the rest of typer together (issue 16). Nearly
every value here is a plain string, a decimal integer or number, or a folder name; those are
converted directly, exactly as the adapter converts them:

- ``str``: the value itself;
- ``int`` (no bounds): ``[+-]digits`` by :func:`int`;
- ``float`` (no bounds): a decimal number (``1``, ``-.5``, ``2.5e-3``) by :func:`float`;
- ``Path`` (no ``path_type``): typer's own path checks (``exists``, ``dir_okay``...), given the
  ``Path`` the adapter would have built;
- a default already of the option's type: itself.

Anything else (a bounded number, ``1_000``, ``inf``, a choice, an unparsable value) goes to
typer's adapter, so its value and its error message are typer's own. When typer's internals are
not what this module expects, nothing is patched and typer converts everything (only slower).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

__all__ = ["install", "plain_value"]

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NOT_PLAIN = object()


def plain_value(annotation: Any, info: Any, value: Any, check_path: Any = None) -> Any:
    """``value`` converted to ``annotation`` when it is of a plain kind (see the module), else
    the marker ``_NOT_PLAIN``; ``check_path(path)`` runs typer's checks on a ``Path``."""
    if info.parser is not None:
        return _NOT_PLAIN
    if annotation is str:
        return value if isinstance(value, str) else _NOT_PLAIN
    if annotation in (int, float) and info.min is None and info.max is None:
        if type(value) is annotation:
            return value
        if isinstance(value, str):
            if annotation is int and _INT.fullmatch(value):
                return int(value)
            if annotation is float and _FLOAT.fullmatch(value):
                number = float(value)
                return number if math.isfinite(number) else _NOT_PLAIN
        return _NOT_PLAIN
    path_like = isinstance(value, Path) or (isinstance(value, str) and value)
    if annotation is Path and info.path_type is None and check_path is not None and path_like:
        return check_path(Path(value))
    return _NOT_PLAIN


def install() -> bool:
    """Patch typer's parameters to convert plain values directly; False when typer's internals
    differ from what this module knows (then nothing is patched)."""
    try:
        from typer._coercion import build_runtime_param
        from typer._param_types import coerce_cli_path
        from typer.core import _TyperParameter
    except ImportError:
        return False
    full = getattr(_TyperParameter, "get_runtime_param", None)
    if full is None or getattr(full, "_seriesfactory", False):
        return full is not None

    class _Plain:
        """A runtime parameter: plain values here, anything else through typer's adapter."""

        def __init__(self, param: Any) -> None:
            self._param = param
            self._full: Any = None

        def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
            many = param.multiple or param.nargs == -1
            if value is None:  # as typer: no value, or none of a multi-valued option
                return () if many else None
            desc = param.type_descriptor
            if not many and desc.file_annotation is None:
                info = desc.parameter_info

                def check_path(path: Path) -> Any:
                    return coerce_cli_path(path, info, path_type=Path, param=param, ctx=ctx)

                got = plain_value(desc.annotation, info, value, check_path)
                if got is not _NOT_PLAIN:
                    return got
            if self._full is None:
                self._full = build_runtime_param(self._param.type_descriptor)
            return self._full.coerce(value, param=param, ctx=ctx)

    def get_runtime_param(self: Any) -> Any:
        if self._runtime_param is None:
            self._runtime_param = _Plain(self)
        return self._runtime_param

    get_runtime_param._seriesfactory = True  # type: ignore[attr-defined]
    _TyperParameter.get_runtime_param = get_runtime_param  # type: ignore[method-assign]
    return True
