"""Generative models: one module per model, registered by name."""

from seriesfactory.sources.synthetic.base import (
    EPOCHS_PER_YEAR,
    STREAMS,
    TICK_INTERVAL_NS,
    Model,
    Param,
    spawn_generator,
)
from seriesfactory.sources.synthetic.dejdm import DEJDM
from seriesfactory.sources.synthetic.fbm import FBM
from seriesfactory.sources.synthetic.gbm import GBM
from seriesfactory.sources.synthetic.heston import Heston
from seriesfactory.sources.synthetic.mm import MMModel
from seriesfactory.sources.synthetic.njdm import NJDM

#: Every model by spec name.
MODELS: dict[str, type[Model]] = {cls.name: cls for cls in (GBM, FBM, Heston, NJDM, DEJDM)}
#: Models of a whole market (an L2 book with trades), by spec name.
MARKET_MODELS: dict[str, type[MMModel]] = {MMModel.name: MMModel}

__all__ = [
    "DEJDM",
    "EPOCHS_PER_YEAR",
    "FBM",
    "GBM",
    "MARKET_MODELS",
    "MODELS",
    "NJDM",
    "STREAMS",
    "TICK_INTERVAL_NS",
    "Heston",
    "MMModel",
    "Model",
    "Param",
    "spawn_generator",
]
