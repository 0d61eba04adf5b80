"""Series Factory: crypto market-data research, from sources to series."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("seriesfactory")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
