"""Binance: public archives (data.binance.vision) and REST history (history.py), book parsers (book.py), connections (ws.py)."""
