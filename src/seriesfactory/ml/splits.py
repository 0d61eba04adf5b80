"""Leak-free cross-validation: purged k-fold with embargo, walk-forward, combinatorial purged CV.

Rows are events sorted by their start ``t0``; each has a label end ``t1 >= t0``. For every
fold each row gets one role: ``test``; ``purged`` (a would-be training row whose closed
interval ``[t0, t1]`` meets a test span); ``embargo`` (the ``e`` rows after a test span's
last label end); ``train``; or ``unused`` (walk-forward only: rows after the test block).
Rules and edge cases are in ``docs/ml.md``.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from seriesfactory.errors import InputError

__all__ = [
    "CV_SCHEMES",
    "EMBARGO",
    "PURGED",
    "ROLES",
    "TEST",
    "TRAIN",
    "UNUSED",
    "CVSpec",
    "Split",
    "make_splits",
    "splits_table",
]

CV_SCHEMES = ("purged-kfold", "walk-forward", "cpcv")
Scheme = Literal["purged-kfold", "walk-forward", "cpcv"]

#: Role codes (int8) and their names, in this order.
TRAIN, TEST, PURGED, EMBARGO, UNUSED = 0, 1, 2, 3, 4
ROLES = ("train", "test", "purged", "embargo", "unused")


@dataclass(frozen=True)
class CVSpec:
    """A cross-validation scheme.

    ``folds``: k for purged k-fold and walk-forward, the number of groups N for CPCV.
    ``embargo``: ``"1%"`` (of the dataset's rows, rounded down) or a whole number of rows.
    ``test_groups``: CPCV's k (test groups per split).
    """

    scheme: Scheme = "purged-kfold"
    folds: int = 5
    embargo: str = "1%"
    test_groups: int = 2

    def __post_init__(self) -> None:
        if self.scheme not in CV_SCHEMES:
            raise InputError(f"--cv {self.scheme!r} is unknown; use {', '.join(CV_SCHEMES)}")
        if self.folds < 2:
            raise InputError(f"--folds must be at least 2, got {self.folds}")
        if self.scheme == "cpcv" and not 1 <= self.test_groups < self.folds:
            raise InputError(
                f"--test-groups must be between 1 and --folds - 1 ({self.folds - 1}), "
                f"got {self.test_groups}"
            )
        self.embargo_rows(100)  # validates the text

    def embargo_rows(self, n_rows: int) -> int:
        """The embargo in rows for a dataset of ``n_rows`` rows."""
        text = self.embargo.strip()
        pct = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)\s*%", text)
        if pct:
            value = float(pct.group(1))
            if value >= 100:
                raise InputError(f"--embargo {self.embargo!r}: a share must be below 100%")
            return math.floor(n_rows * value / 100.0)
        if re.fullmatch(r"\d+", text):
            return int(text)
        raise InputError(
            f"--embargo {self.embargo!r}: write a share of the rows (1%) or a number of rows (30)"
        )

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain JSON values."""
        return asdict(self)


@dataclass(frozen=True)
class Split:
    """One fold: the role code of every row, and the test groups it holds (CPCV)."""

    fold: int
    roles: np.ndarray  # int8, one per row
    groups: tuple[int, ...]

    @property
    def train(self) -> np.ndarray:
        """Row indices of the training rows."""
        return np.flatnonzero(self.roles == TRAIN)

    @property
    def test(self) -> np.ndarray:
        """Row indices of the test rows."""
        return np.flatnonzero(self.roles == TEST)


def _blocks(n: int, k: int) -> list[tuple[int, int]]:
    """``k`` contiguous blocks ``[a, b)`` covering ``0 .. n-1``, sizes differing by at most 1."""
    edges = [n * i // k for i in range(k + 1)]
    return list(itertools.pairwise(edges))


def _roles(
    test_blocks: list[tuple[int, int]], t0: np.ndarray, t1: np.ndarray, embargo: int, after: bool
) -> np.ndarray:
    """Role codes with ``test_blocks`` as the test set; ``after`` False: rows past it unused."""
    n = t0.shape[0]
    roles = np.zeros(n, np.int8)
    # Merge adjacent test blocks: one contiguous test span each.
    spans: list[list[int]] = []
    for a, b in sorted(test_blocks):
        if spans and spans[-1][1] == a:
            spans[-1][1] = b
        else:
            spans.append([a, b])
    for a, b in spans:
        roles[a:b] = TEST
    for a, b in spans:
        start, stop = t0[a], t1[a:b].max()
        # Closed intervals meet: t0_j <= stop and t1_j >= start.
        last = int(np.searchsorted(t0, stop, side="right"))  # rows < last have t0 <= stop
        cand = np.arange(0, last)
        hit = cand[(t1[:last] >= start) & (roles[:last] == TRAIN)]
        roles[hit] = PURGED
        if embargo > 0:
            emb = np.arange(last, min(n, last + embargo))
            emb = emb[roles[emb] == TRAIN]
            roles[emb] = EMBARGO
    if not after:
        b_last = spans[-1][1]
        tail = np.arange(b_last, n)
        roles[tail[roles[tail] != TEST]] = UNUSED
    return roles


def make_splits(t0: np.ndarray, t1: np.ndarray, spec: CVSpec) -> list[Split]:
    """Every fold of ``spec`` over events sorted by ``t0`` (int64 ns) with ends ``t1``."""
    t0 = np.asarray(t0, dtype=np.int64)
    t1 = np.asarray(t1, dtype=np.int64)
    n = t0.shape[0]
    if np.any(np.diff(t0) < 0):
        raise InputError("event start times must be sorted (non-decreasing)")
    if np.any(t1 < t0):
        raise InputError("every t1 must be at or after its t0")
    groups = spec.folds + 1 if spec.scheme == "walk-forward" else spec.folds
    if n < groups:
        raise InputError(f"{n} row(s) cannot make {groups} blocks for --cv {spec.scheme}")
    embargo = spec.embargo_rows(n)
    blocks = _blocks(n, groups)
    out: list[Split] = []
    if spec.scheme == "purged-kfold":
        for f, blk in enumerate(blocks):
            out.append(Split(f, _roles([blk], t0, t1, embargo, after=True), (f,)))
    elif spec.scheme == "walk-forward":
        for f in range(spec.folds):
            roles = _roles([blocks[f + 1]], t0, t1, embargo, after=False)
            out.append(Split(f, roles, (f + 1,)))
    else:
        combos = itertools.combinations(range(spec.folds), spec.test_groups)
        for f, combo in enumerate(combos):
            roles = _roles([blocks[g] for g in combo], t0, t1, embargo, after=True)
            out.append(Split(f, roles, tuple(combo)))
    return out


def splits_table(splits: list[Split], scheme: str) -> pa.Table:
    """The audit table: ``scheme``, ``fold``, ``row``, ``role`` for every row of every fold."""
    n = splits[0].roles.shape[0] if splits else 0
    k = len(splits)
    folds = np.repeat(np.arange(k, dtype=np.int32), n)
    rows = np.tile(np.arange(n, dtype=np.int64), k)
    codes = np.concatenate([s.roles for s in splits]) if splits else np.zeros(0, np.int8)
    role = pa.DictionaryArray.from_arrays(pa.array(codes, pa.int8()), pa.array(list(ROLES)))
    scheme_col = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(n * k, np.int8), pa.int8()), pa.array([scheme])
    )
    return pa.table({"scheme": scheme_col, "fold": folds, "row": rows, "role": role})
