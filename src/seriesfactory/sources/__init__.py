"""Data sources: venues (one folder each) and generative models (``synthetic/``)."""

from seriesfactory.sources.registry import known_venues, resolve_model, resolve_tick_model
from seriesfactory.sources.spec import SourceSpec, parse_sources

__all__ = ["SourceSpec", "known_venues", "parse_sources", "resolve_model", "resolve_tick_model"]
