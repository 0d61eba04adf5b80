"""Venue binance: parsers (book.py) and connections (ws.py)."""
