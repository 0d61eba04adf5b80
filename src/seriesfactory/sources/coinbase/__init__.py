"""Venue coinbase: parsers (book.py) and connections (ws.py)."""
