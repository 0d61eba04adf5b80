"""Trades to ticks (numba kernel in ``nb.py``, plain-Python twin in ``reference.py``)."""

from seriesfactory.transforms.ticks.api import TickBuilder, trades_to_ticks

__all__ = ["TickBuilder", "trades_to_ticks"]
