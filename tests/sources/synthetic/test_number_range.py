"""Numbers that are not numbers never reach an output: a model whose parameters float64 cannot
carry over the requested range is refused with one line; otherwise every field is finite
(issue 17, item 6)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seriesfactory.cli import main
from seriesfactory.errors import SpecError
from seriesfactory.pipeline.series import SeriesRequest, build_series
from seriesfactory.schema import AGGREGATE_FIELDS
from seriesfactory.transforms.aggregates import AggregationParams

FROM = 1_735_689_600_000_000_000  # 2025-01-01
HOUR = 3_600_000_000_000


def _mag(lo: int, hi: int) -> st.SearchStrategy[float]:
    """0, or +-10^k for k uniform in [lo, hi]."""
    power = st.floats(lo, hi).map(lambda k: float(f"{10.0**k:.3g}"))
    return st.one_of(st.just(0.0), power, power.map(lambda v: -v))


def _pos(lo: int, hi: int) -> st.SearchStrategy[float]:
    return st.floats(lo, hi).map(lambda k: float(f"{10.0**k:.3g}"))


BASE = _pos(-130, 130)
SPECS = st.one_of(
    st.builds(lambda m, s, b: f"gbm({m!r},{s!r},{b!r})", _mag(-3, 7), _pos(-3, 4), BASE),
    st.builds(
        lambda m, s, h, b: f"fbm({m!r},{s!r},{h!r},{b!r})",
        _mag(-3, 7), _pos(-3, 4), st.sampled_from([0.1, 0.5, 0.9]), BASE,
    ),
    st.builds(
        lambda m, s, lam, mj, sj, b: f"njdm({m!r},{s!r},{lam!r},{mj!r},{sj!r},{b!r})",
        _mag(-3, 6), _pos(-3, 3), _pos(-1, 7), _mag(-3, 3), _pos(-3, 2), BASE,
    ),
    st.builds(
        lambda m, s, lam, pj, nj, p, b: f"dejdm({m!r},{s!r},{lam!r},{pj!r},{nj!r},{p!r},{b!r})",
        _mag(-3, 6), _pos(-3, 3), _pos(-1, 7), st.sampled_from([0.01, 0.5, 0.99]),
        _pos(-3, 3).map(lambda v: -v), st.sampled_from([0.0, 0.5, 1.0]), BASE,
    ),
    st.builds(
        lambda m, s, k, t, x, r, b: f"hm({m!r},{s!r},{k!r},{t!r},{x!r},{r!r},{b!r})",
        _mag(-3, 6), _pos(-3, 3), _pos(-2, 4), _pos(-3, 3), _pos(-3, 3),
        st.sampled_from([-0.9, 0.0, 0.9]), BASE,
    ),
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(spec=SPECS, mode=st.sampled_from(["time", "tick"]))
def test_refused_or_finite(spec: str, mode: str) -> None:
    params = (
        AggregationParams(mode="time", step=60_000)
        if mode == "time"
        else AggregationParams(mode="tick", step=0.001)
    )
    with tempfile.TemporaryDirectory() as d:
        try:
            result = build_series(
                SeriesRequest(
                    sources=spec,
                    from_ns=FROM,
                    to_ns=FROM + HOUR,
                    cache_dir=Path(d) / "c",
                    output_dir=Path(d) / "o",
                    params=params,
                )
            )
        except SpecError as exc:
            assert "\n" not in str(exc)
            return
        table = result.table
    for name in AGGREGATE_FIELDS:
        values = table.column(name).to_numpy()
        assert np.isfinite(values).all(), (spec, name)
    low, high = table.column("low").to_numpy(), table.column("high").to_numpy()
    for name in ("open", "close"):
        v = table.column(name).to_numpy()
        assert ((low <= v) & (v <= high)).all(), (spec, name)
    assert (low > 0).all()


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("gbm(0.05,0.8,1.1e299)", "base 1.1e+299 is outside the prices float64 carries"),
        ("gbm(0.05,0.8,1e-300)", "base 1e-300 is outside the prices float64 carries"),
        ("gbm(1000000,0.8,50000)", "the price leaves what float64 carries safely"),
    ],
)
def test_the_reported_cases_are_one_line(spec: str, says: str, tmp_path: Path, capsys) -> None:
    args = ["series", "--sources", spec, "--from", "2025-01-01", "--to", "2025-01-02",
            "--agg-step", "60000", "--cache-dir", str(tmp_path / "c"),
            "--output-dir", str(tmp_path / "o")]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0]
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())
