"""Venue okx: parsers (book.py) and connections (ws.py)."""
