"""Typing aliases of the numpy arrays that kernels and columns pass around (defined once)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["F64", "I8", "I64"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I8 = npt.NDArray[np.int8]
