"""One place that decides how numba kernels are compiled.

Every kernel in ``transforms/*/nb.py`` (and other ``nb.py`` modules) is decorated
with :func:`kernel`. Setting ``SERIESFACTORY_DISABLE_JIT=1`` in the environment
before import runs every kernel as plain Python, for debugging and coverage;
numba's own ``NUMBA_DISABLE_JIT=1`` does the same for all of numba.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import numba

F = TypeVar("F", bound=Callable[..., Any])

JIT_DISABLED = os.environ.get("SERIESFACTORY_DISABLE_JIT", "") not in ("", "0")


_BLAS = "scipy.linalg.cython_blas"


class _LinkBlas(importlib.abc.MetaPathFinder):
    """Sets ``scipy.linalg.cython_blas`` on ``scipy.linalg`` when that package is imported after
    :func:`_preload_blas` (the import system links a submodule to its package only when it
    loads both); removes itself on first use."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "scipy.linalg":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return spec
        run = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            if _BLAS in sys.modules:
                module.cython_blas = sys.modules[_BLAS]  # type: ignore[attr-defined]

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _preload_blas() -> None:
    """Load scipy's BLAS table without importing the ``scipy.linalg`` package.

    numba's first call of any kernel imports ``numba.np.arraymath``, which checks that BLAS is
    there by importing ``scipy.linalg.cython_blas``; that runs all of ``scipy.linalg`` and
    scipy's array-API layer (which touches every lazy submodule of numpy): about 0.3 s of
    every run that loads a cached kernel (issue 16), though no kernel here does linear
    algebra. The extension module alone needs only the ``scipy`` package (numba has imported
    it already), so it is loaded from its file under its own name: numba's check finds it in
    ``sys.modules``, ``np.dot`` in a kernel still gets its BLAS functions from it, and a later
    ``import scipy.linalg`` runs as usual and reuses it. When anything here fails (no scipy,
    another layout) nothing is loaded and numba imports ``scipy.linalg`` itself, as before.
    """
    if _BLAS in sys.modules or "scipy.linalg" in sys.modules:
        return
    try:
        scipy = importlib.util.find_spec("scipy")
        if scipy is None or not scipy.submodule_search_locations:
            return
        suffixes = importlib.machinery.EXTENSION_SUFFIXES
        linalg = Path(scipy.submodule_search_locations[0]) / "linalg"
        path = next(p for s in suffixes if (p := linalg / f"cython_blas{s}").is_file())
        loader = importlib.machinery.ExtensionFileLoader(_BLAS, str(path))
        spec = importlib.util.spec_from_file_location(_BLAS, path, loader=loader)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[_BLAS] = module
        loader.exec_module(module)
    except Exception:  # numba's own import remains, only slower
        sys.modules.pop(_BLAS, None)
        return
    sys.meta_path.insert(0, _LinkBlas())


def _preload_blas_before_registries() -> None:
    """Run :func:`_preload_blas` when numba first loads its lowering registries (a compilation,
    which imports its BLAS check), not at import: a kernel loaded from the cache needs no BLAS
    (:func:`_light_load`), and loading scipy's OpenBLAS starts threads that spin for a while
    (~0.1 s of CPU on the other core, issue 16)."""
    from numba.core.cpu import CPUContext

    load = CPUContext.load_additional_registries

    def load_additional_registries(self: CPUContext) -> None:
        _preload_blas()
        load(self)  # type: ignore[no-untyped-call]

    CPUContext.load_additional_registries = load_additional_registries  # type: ignore[method-assign]


if not JIT_DISABLED:
    _preload_blas_before_registries()


def _light_load(cache: Any) -> Callable[[Any, Any], Any]:
    """``cache.load_overload`` without refreshing the whole target context first.

    numba's loader calls ``target_context.refresh()`` before it reads a kernel from its cache:
    that imports and registers every lowering numba has (arrays, lists, dicts, random,
    linear algebra...), about 0.15 s of CPU in every process that calls a kernel, though
    a cached kernel is machine code that needs none of them, only numba's runtime (NRT)
    for the arrays it allocates. This loads it with the runtime alone; when anything fails
    the loader runs as numba wrote it. A compilation (no cache yet, a new signature)
    refreshes the context itself, as before.
    """
    from numba.core.runtime.nrt import rtsys

    full = cache.load_overload

    def load_overload(sig: Any, target_context: Any) -> Any:
        try:
            rtsys.initialize(target_context)
            with cache._guard_against_spurious_io_errors():
                return cache._load_overload(sig, target_context)
        except Exception:  # an unexpected numba: its own loader
            return full(sig, target_context)

    return load_overload


def kernel(func: F) -> F:
    """Compile ``func`` with ``numba.njit(cache=True, nogil=True)`` unless JIT is off.

    ``nogil`` lets a kernel run on one core while another thread decodes the next
    chunk of input on the other. A kernel found in numba's cache is loaded without
    the rest of numba's compiler (:func:`_light_load`).
    """
    if JIT_DISABLED:
        return func
    compiled: F = numba.njit(cache=True, nogil=True)(func)  # type: ignore[assignment]
    cache = getattr(compiled, "_cache", None)
    if all(hasattr(cache, a) for a in ("_load_overload", "_guard_against_spurious_io_errors")):
        cache.load_overload = _light_load(cache)  # type: ignore[union-attr]
    return compiled


def _exp_or_inf(x: float) -> float:
    """``e^x`` as numba computes it: ``inf`` past float64's range (plain ``math.exp`` raises)."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


#: ``e^x`` for kernels: numba's ``math.exp`` when compiled (``inf`` on overflow, no exception);
#: with the JIT off, a plain-Python twin that also gives ``inf`` instead of raising
#: ``OverflowError``, so a kernel behaves the same either way.
exp: Callable[[float], float] = _exp_or_inf if JIT_DISABLED else math.exp
