"""Binance: public archives (data.binance.vision) and REST."""
