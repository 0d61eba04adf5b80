"""Coinbase: REST market trades (history.py), book parsers (book.py), streams (ws.py)."""

#: Registered with :mod:`seriesfactory.sources._history_base` (``history.py``).
HISTORY_SOURCES = ("coinbase",)
