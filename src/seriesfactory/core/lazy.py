"""A module imported on first use: kernels' modules, whose import loads numba.

Importing numba costs about 0.12 s. A command that first reads its input and only then runs a
kernel can start the read (on other threads) before numba loads when its kernels' module is
imported on first use: ``nb = lazy_module("seriesfactory.transforms.aggregates.nb")`` gives an
object whose first attribute access imports the module (thread-safe: the import system's lock),
then reads like it. For type checkers, import the module under ``TYPE_CHECKING`` instead.

Not :class:`importlib.util.LazyLoader`: on Python 3.11 a lazily loaded module's attributes can
be missing while another thread triggers its load (CPython gh-114763, fixed in later versions),
and here the read-ahead thread runs while the main thread loads the kernels.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

__all__ = ["lazy_module"]


class _LazyModule(ModuleType):
    """Stands for the module ``__name__`` until first use; then holds its attributes."""

    def __getattr__(self, attr: str) -> Any:  # only for names not (yet) in ``__dict__``
        module = importlib.import_module(self.__name__)
        self.__dict__.update(module.__dict__)  # later reads are plain attribute reads
        return getattr(module, attr)


def lazy_module(name: str) -> ModuleType:
    """The module ``name``: itself when already imported, else a stand-in importing it on the
    first attribute access."""
    loaded = sys.modules.get(name)
    return loaded if loaded is not None else _LazyModule(name)
