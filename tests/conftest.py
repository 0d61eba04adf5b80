"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

#: Recorded real exchange data shared by the project (read-only; see its PROVENANCE.md).
SHARED_REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"


@pytest.fixture
def shared_real() -> Path:
    """The shared real-data folder; skips (saying why) where ``../shared`` is absent."""
    if not SHARED_REAL.is_dir():
        pytest.skip(f"{SHARED_REAL} is absent: the recorded real data lives only in ../shared")
    return SHARED_REAL
