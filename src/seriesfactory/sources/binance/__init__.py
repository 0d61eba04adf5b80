"""Binance: archives and REST history (history.py), book parsers (book.py), streams (ws.py)."""

#: Binance's sources with history, each a market of the archives (``history.py``).
MARKETS = {"binance": "spot", "binance-usdm": "usdm", "binance-coinm": "coinm"}
#: Registered with :mod:`seriesfactory.sources._history_base`.
HISTORY_SOURCES = tuple(MARKETS)
