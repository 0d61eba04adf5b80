"""Every model: chunk invariance, reproducibility, streams, CLI end to end, bad specs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seriesfactory.cli import main
from seriesfactory.schema import TickArrays
from seriesfactory.sources import parse_sources, resolve_model
from seriesfactory.sources.synthetic import MODELS, Model

START = 1_735_689_600_000_000_000  # 2025-01-01
LAM = 631_152.0  # one jump per 100 ticks
SPECS = {
    "gbm": "gbm(0.05,0.5,50000)",
    "fbm": "fbm(0.05,0.5,0.7,50000)",
    "hm": "hm(0.05,0.5,8,0.4,1.5,-0.7,50000)",
    "njdm": f"njdm(0.05,0.5,{LAM:g},0,0.001,50000)",
    "dejdm": f"dejdm(0.05,0.5,{LAM:g},0.001,-0.002,0.6,50000)",
}


def model(name: str) -> Model:
    return resolve_model(parse_sources(SPECS[name])[0])


def collect(m: Model, *, seed: int, chunk: int, n_ticks: int) -> TickArrays:
    end = START + n_ticks * 500_000_000
    parts = list(m.stream(start_ns=START, end_ns=end, seed=seed, chunk_ticks=chunk))
    return TickArrays(*(np.concatenate(cols) for cols in zip(*parts, strict=True)))


def test_registry_names_every_model() -> None:
    assert sorted(MODELS) == ["dejdm", "fbm", "gbm", "hm", "njdm"]


@settings(max_examples=15, deadline=None)
@given(
    name=st.sampled_from(sorted(SPECS)),
    chunk=st.integers(1, 3_000),
    seed=st.integers(0, 2**31),
)
def test_any_chunk_size_gives_identical_ticks(name: str, chunk: int, seed: int) -> None:
    m = model(name)
    ref = collect(m, seed=seed, chunk=1 << 20, n_ticks=4_000)
    got = collect(m, seed=seed, chunk=chunk, n_ticks=4_000)
    for a, b in zip(ref, got, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_reproducible_and_seed_sensitive(name: str) -> None:
    m = model(name)
    a = collect(m, seed=3, chunk=1000, n_ticks=3_000)
    b = collect(m, seed=3, chunk=700, n_ticks=3_000)
    c = collect(m, seed=4, chunk=1000, n_ticks=3_000)
    np.testing.assert_array_equal(a.bid, b.bid)
    assert not np.array_equal(a.bid, c.bid)
    assert (a.bid[0] + a.ask[0]) / 2 == pytest.approx(50_000, rel=1e-15)
    assert np.all(a.bid > 0)


@pytest.mark.parametrize("name", ["hm", "njdm", "dejdm"])
def test_components_draw_from_their_own_streams(name: str) -> None:
    # Turning the jumps / the variance off leaves the diffusion draws untouched:
    # the diffusion of njdm with lambda = 0 is GBM's, bit for bit.
    if name == "hm":
        # xi = 0, kappa = 0, theta = sigma: constant variance, the path is GBM's.
        m = resolve_model(parse_sources("hm(0.05,0.5,0,0.5,0,0.3,1)")[0])
    else:
        spec = SPECS[name].replace(f"{LAM:g}", "0")
        m = resolve_model(parse_sources(spec)[0])
    gbm = resolve_model(parse_sources("gbm(0.05,0.5,1)")[0])
    np.testing.assert_allclose(m.log_path(5_000, seed=6), gbm.log_path(5_000, seed=6), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_cli_ticks_and_series_end_to_end(name: str, tmp_path: Path) -> None:
    dirs = ["--cache-dir", str(tmp_path / "cache"), "--output-dir", str(tmp_path / "out")]
    common = ["--sources", SPECS[name], "--from", "2025-01-01", "--to", "2025-01-02", *dirs]
    assert main(["series", *common, "--agg-step", "60000", "--quiet"]) == 0
    assert main(["ticks", *common]) == 0
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(files) == 2, files
    series = next(p for p in (tmp_path / "out").iterdir() if "time-60000" in p.name)
    table = pq.read_table(series)
    assert table.num_rows == 1440
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    source = json.loads(meta["seriesfactory.sources"])[0]
    assert source["model"] == name
    assert source["horizon_dependent"] is (name == "fbm")


BAD = [
    ("fbm(0,0.5,0,1)", "hurst = 0 is out of range; allowed: (0, 1)"),
    ("fbm(0,0.5,1,1)", "hurst = 1 is out of range; allowed: (0, 1)"),
    ("fbm(0,-0.5,0.5,1)", "sigma = -0.5 is out of range; allowed: >= 0"),
    ("fbm(0,0.5,0.5,0)", "base = 0 is out of range; allowed: > 0"),
    ("hm(0,0.5,1,0.5,0.1,1.5,1)", "rho = 1.5 is out of range; allowed: [-1, 1]"),
    ("hm(0,0.5,1,0.5,-0.1,0,1)", "xi = -0.1 is out of range; allowed: >= 0"),
    ("hm(0,0.5,-1,0.5,0.1,0,1)", "kappa = -1 is out of range; allowed: >= 0"),
    ("hm(0,-0.5,1,0.5,0.1,0,1)", "sigma = -0.5 is out of range"),
    ("hm(0,0.5,1,-0.5,0.1,0,1)", "theta = -0.5 is out of range"),
    ("hm(0,0.5,1,0.5,0.1,0,-3)", "base = -3 is out of range"),
    ("njdm(0,0.5,-1,0,0.1,1)", "lambda = -1 is out of range; allowed: >= 0"),
    ("njdm(0,0.5,1,0,-0.1,1)", "sigma_jump = -0.1 is out of range; allowed: >= 0"),
    ("njdm(0,0.5,1,800,0.1,1)", "njdm: the jump parameters give E"),
    ("dejdm(0,0.5,1,0.1,-0.1,1.5,1)", "p_neg_jump = 1.5 is out of range; allowed: [0, 1]"),
    ("dejdm(0,0.5,1,1,-0.1,0.5,1)", "mu_pos_jump = 1 is out of range; allowed: (0, 1)"),
    ("dejdm(0,0.5,1,0.1,0.1,0.5,1)", "mu_neg_jump = 0.1 is out of range; allowed: < 0"),
    ("dejdm(0,0.5,-2,0.1,-0.1,0.5,1)", "lambda = -2 is out of range"),
    ("dejdm(0,0.5,1,0.1,-0.1,0.5)", "dejdm takes 7 arguments"),
    ("hm(0,0.5,1,0.5,0.1,0)", "hm takes 7 arguments"),
]


@pytest.mark.parametrize(("spec", "message"), BAD)
def test_bad_specs_exit_2_with_one_line(
    spec: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dirs = ["--cache-dir", str(tmp_path / "c"), "--output-dir", str(tmp_path / "o")]
    code = main(["ticks", "--sources", spec, "--from", "2025-01-01", "--to", "2025-01-02", *dirs])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert message in err, err
