"""Resolving parsed source specs to models and venue sources."""

from __future__ import annotations

from seriesfactory.errors import SourceError, SpecError
from seriesfactory.sources.spec import SourceSpec
from seriesfactory.sources.synthetic import MODELS, Model

__all__ = ["HISTORY_VENUES", "KNOWN_VENUES", "resolve_model", "resolve_venue"]

#: Venue sources users may name in ``--sources``.
KNOWN_VENUES: tuple[str, ...] = ("binance", "binance-usdm", "binance-coinm", "bybit", "coinbase")
#: Venues whose history (archives) this version can fetch.
HISTORY_VENUES: tuple[str, ...] = (
    "binance",
    "binance-usdm",
    "binance-coinm",
    "bybit",
    "coinbase",
)


def resolve_venue(spec: SourceSpec) -> str:
    """The venue name of ``spec``; a clear error for a venue without history support."""
    if spec.name not in KNOWN_VENUES:
        return resolve_model(spec).name  # raises the unknown-source error
    if spec.args is not None:
        raise SpecError(f"{spec.name} is a venue, not a model: write it without arguments")
    if spec.name not in HISTORY_VENUES:
        raise SourceError(
            f"source {spec.name!r}: its history is not available in this version yet; "
            f"use one of {', '.join(HISTORY_VENUES)}"
        )
    return spec.name


def resolve_model(spec: SourceSpec) -> Model:
    """The model instance for ``spec``; a clear error for venues and unknown names."""
    cls = MODELS.get(spec.name)
    if cls is not None:
        return cls.from_spec(spec)
    models = ", ".join(m.signature() for m in MODELS.values())
    if spec.name in KNOWN_VENUES:
        if spec.args is not None:
            raise SpecError(f"{spec.name} is a venue, not a model: write it without arguments")
        raise SpecError(f"source {spec.name!r} is a venue, not a model")
    raise SpecError(
        f"unknown source {spec.text!r}; models: {models}; venues: {', '.join(KNOWN_VENUES)}"
    )
