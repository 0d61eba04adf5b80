"""The raw tier: bytes as downloaded or recorded, verified and immutable."""
