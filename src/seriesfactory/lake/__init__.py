"""The local lake: the trades, ticks and aggregates tiers under the cache folder.

Kept light: the CLI reads :data:`TIERS` for its help without loading the tiers' code.
"""

__all__ = ["AGGREGATES", "TICKS", "TIERS", "TRADES"]

#: Each derived tier's folder under the cache (the raw tier is ``raw/``, see ``seriesfactory.raw``).
TRADES = "trades"
TICKS = "ticks"
AGGREGATES = "aggregates"
#: The derived tiers, in the order ``cache ls`` prints them.
TIERS: tuple[str, ...] = (TRADES, TICKS, AGGREGATES)
