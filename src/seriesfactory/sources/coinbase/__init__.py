"""Coinbase: REST market trades (history.py), book parsers (book.py), streams (ws.py)."""
