"""Bybit: public trading archives (history.py), book parsers (book.py), connections (ws.py)."""
