"""Resolving parsed source specs to models and venues with history."""

from __future__ import annotations

from typing import TYPE_CHECKING

from seriesfactory.errors import SpecError
from seriesfactory.sources._history_base import history_names
from seriesfactory.sources.spec import SourceSpec

if TYPE_CHECKING:
    from seriesfactory.sources.synthetic import MMModel, Model

__all__ = ["known_venues", "resolve_model", "resolve_tick_model", "resolve_venue"]


def known_venues() -> tuple[str, ...]:
    """Venue sources users may name in ``--sources``: every venue with history."""
    return history_names()


def resolve_venue(spec: SourceSpec) -> str:
    """The venue name of ``spec``; a clear error for a model or an unknown name."""
    if spec.name not in known_venues():
        return resolve_model(spec).name  # raises the unknown-source error
    if spec.args is not None:
        raise SpecError(f"{spec.name} is a venue, not a model: write it without arguments")
    return spec.name


def resolve_model(spec: SourceSpec) -> Model:
    """The model instance for ``spec``; a clear error for venues and unknown names."""
    from seriesfactory.sources.synthetic import MARKET_MODELS, MODELS

    cls = MODELS.get(spec.name)
    if cls is not None:
        return cls.from_spec(spec)
    if spec.name in MARKET_MODELS:
        raise SpecError(
            f"{spec.name} is a market model (a book with trades): it gives ticks and bars "
            "(series, ticks), not a price path"
        )
    models = ", ".join(
        [
            *(m.signature() for m in MODELS.values()),
            *(m.signature() for m in MARKET_MODELS.values()),
        ]
    )
    venues = known_venues()
    if spec.name in venues:
        if spec.args is not None:
            raise SpecError(f"{spec.name} is a venue, not a model: write it without arguments")
        raise SpecError(f"source {spec.name!r} is a venue, not a model")
    raise SpecError(f"unknown source {spec.text!r}; models: {models}; venues: {', '.join(venues)}")


def resolve_tick_model(spec: SourceSpec) -> Model | MMModel:
    """A model whose ticks a command can use: a price model, or a market model (``mm``,
    whose ticks are its trades: ``docs/models.md``)."""
    from seriesfactory.sources.synthetic import MARKET_MODELS

    market = MARKET_MODELS.get(spec.name)
    if market is not None:
        return market.from_spec(spec)
    return resolve_model(spec)
