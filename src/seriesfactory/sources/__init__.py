"""Data sources: venues (one folder each) and generative models (``synthetic/``)."""

from seriesfactory.sources.registry import KNOWN_VENUES, resolve_model
from seriesfactory.sources.spec import SourceSpec, parse_sources

__all__ = ["KNOWN_VENUES", "SourceSpec", "parse_sources", "resolve_model"]
