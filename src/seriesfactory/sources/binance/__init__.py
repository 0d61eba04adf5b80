"""Binance: archives and REST history (history.py), book parsers (book.py), streams (ws.py)."""
