"""The Bybit venue."""
