"""Bybit: public trading archives (history.py), book parsers (book.py), connections (ws.py)."""

#: Registered with :mod:`seriesfactory.sources._history_base` (``history.py``).
HISTORY_SOURCES = ("bybit",)
