"""Coinbase: Advanced Trade REST market trades (history.py), book parsers (book.py), connections (ws.py)."""
