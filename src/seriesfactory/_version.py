"""The package's version: the one definition, read by the build (``pyproject.toml``, without
importing anything) and by ``seriesfactory.__version__``: no ``importlib.metadata`` lookup at
start-up (importing it and looking the version up took 0.03 s of a fresh process here)."""

__version__ = "0.1.0"
