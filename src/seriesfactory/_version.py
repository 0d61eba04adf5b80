"""The package's version: the one definition, read by the build (``pyproject.toml``, without
importing anything) and by ``seriesfactory.__version__`` (no ``importlib.metadata`` lookup at
start-up: that costs ~25 ms of every command that records the version)."""

__version__ = "0.1.0"
