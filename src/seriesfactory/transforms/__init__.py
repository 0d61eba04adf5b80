"""Transforms over normalised events: aggregates, bars, books, features."""
