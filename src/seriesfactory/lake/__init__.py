"""The local lake: atomic files, cache tiers and keys."""
