"""Venue bybit: parsers (book.py) and connections (ws.py)."""
