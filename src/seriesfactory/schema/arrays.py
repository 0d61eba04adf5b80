"""Typing aliases of the numpy arrays that kernels and columns pass around (defined once),
and the one Arrow -> numpy conversion of a time column."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

__all__ = ["F64", "I8", "I64", "U8", "int64_values"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I8 = npt.NDArray[np.int8]
U8 = npt.NDArray[np.uint8]


def int64_values(column: pa.Array | pa.ChunkedArray) -> I64:
    """The int64 values of a timestamp (or int64) column without nulls, as one numpy array.

    A zero-copy view of each chunk (one chunk: no copy at all). Unlike
    ``column.cast(pa.int64())`` it does not import ``pyarrow.compute``, a tenth
    of a second of every process's start-up. A column with nulls takes the cast.
    """
    if column.null_count:
        return np.asarray(column.cast(pa.int64()).to_numpy(), dtype=np.int64)
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    parts = [c.view(pa.int64()).to_numpy() for c in chunks]
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.empty(0, np.int64)
