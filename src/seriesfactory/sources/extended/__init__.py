"""Venue extended: parsers (book.py) and connections (ws.py)."""
