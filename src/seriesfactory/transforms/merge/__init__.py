"""Several tick sources into one, and triangular re-basing (kernels in ``nb.py``)."""

from seriesfactory.transforms.merge.api import (
    MergeParams,
    TickCrosser,
    TickMerger,
    interleave,
)

__all__ = ["MergeParams", "TickCrosser", "TickMerger", "interleave"]
