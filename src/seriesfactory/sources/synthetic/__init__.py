"""Generative models: one module per model, registered by name."""

from seriesfactory.sources.synthetic.base import (
    EPOCHS_PER_YEAR,
    STREAMS,
    TICK_INTERVAL_NS,
    Model,
    Param,
    TickArrays,
    spawn_generator,
)
from seriesfactory.sources.synthetic.gbm import GBM

#: Every model by spec name.
MODELS: dict[str, type[Model]] = {cls.name: cls for cls in (GBM,)}

__all__ = [
    "EPOCHS_PER_YEAR",
    "GBM",
    "MODELS",
    "STREAMS",
    "TICK_INTERVAL_NS",
    "Model",
    "Param",
    "TickArrays",
    "spawn_generator",
]
