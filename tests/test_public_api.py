"""The curated public surface: every name in ``__all__`` resolves, nothing else is promised."""

from __future__ import annotations

import subprocess
import sys

import pytest

import seriesfactory


def test_the_public_surface_is_exactly_these_names() -> None:
    # Adding or removing a public name is an API change: update this list on purpose.
    assert sorted(seriesfactory.__all__) == [
        "AggregationParams",
        "Aggregator",
        "CacheError",
        "ConfigError",
        "DataError",
        "InputError",
        "IntegrityError",
        "NetworkError",
        "SeriesFactoryError",
        "SeriesRequest",
        "SourceError",
        "SpecError",
        "TicksRequest",
        "__version__",
        "build_series",
        "build_ticks",
    ]


def test_every_public_name_resolves() -> None:
    for name in seriesfactory.__all__:
        assert getattr(seriesfactory, name) is not None, name
    assert set(seriesfactory.__all__) <= set(dir(seriesfactory))


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = seriesfactory.nope


def test_lazy_names_are_the_library_objects() -> None:
    from seriesfactory.pipeline.series import build_series

    assert seriesfactory.build_series is build_series
    assert issubclass(seriesfactory.SpecError, seriesfactory.SeriesFactoryError)


def test_import_is_cheap() -> None:
    code = (
        "import seriesfactory, sys; "
        "print(*(m in sys.modules for m in ('numba', 'httpx', 'pyarrow', 'importlib.metadata')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False", "False"]


def test_version_is_the_installed_distribution_s() -> None:
    from importlib.metadata import version

    assert seriesfactory.__version__ == version("seriesfactory")
