"""The recorded-data formats the raw tier's readers take (kept light: the CLI's help names them).

``auto`` detects the format from the file (:func:`seriesfactory.raw.readers.detect_format`).
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["FORMATS", "Format"]

Format = Literal["auto", "native", "hftbacktest", "cryptofeed"]
#: Every value of :data:`Format`, in order.
FORMATS: tuple[str, ...] = get_args(Format)
