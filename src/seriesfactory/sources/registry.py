"""Resolving parsed source specs to models (and, once they exist, venue sources)."""

from __future__ import annotations

from seriesfactory.errors import SourceError, SpecError
from seriesfactory.sources.spec import SourceSpec
from seriesfactory.sources.synthetic import MODELS, Model

__all__ = ["KNOWN_VENUES", "resolve_model"]

#: Venue sources users may name in ``--sources``.
KNOWN_VENUES: tuple[str, ...] = ("binance", "binance-usdm", "binance-coinm", "bybit", "coinbase")


def resolve_model(spec: SourceSpec) -> Model:
    """The model instance for ``spec``; a clear error for venues and unknown names."""
    cls = MODELS.get(spec.name)
    if cls is not None:
        return cls.from_spec(spec)
    models = ", ".join(m.signature() for m in MODELS.values())
    if spec.name in KNOWN_VENUES:
        if spec.args is not None:
            raise SpecError(f"{spec.name} is a venue, not a model: write it without arguments")
        raise SourceError(
            f"source {spec.name!r}: exchange data is not available in this version yet; "
            f"use a model instead, e.g. {models}"
        )
    raise SpecError(
        f"unknown source {spec.text!r}; models: {models}; venues: {', '.join(KNOWN_VENUES)}"
    )
