"""The Binance venue."""
