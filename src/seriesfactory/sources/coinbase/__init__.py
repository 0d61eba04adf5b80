"""Coinbase: Advanced Trade public REST market trades."""
