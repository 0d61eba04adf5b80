"""The Coinbase venue."""
