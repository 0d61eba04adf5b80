"""GBM source: grid, first tick, reproducibility, chunk-size invariance, microstructure."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seriesfactory.errors import SpecError
from seriesfactory.schema import TickArrays
from seriesfactory.sources import parse_sources, resolve_model
from seriesfactory.sources.synthetic import EPOCHS_PER_YEAR, GBM, TICK_INTERVAL_NS

START = 1_735_689_600_000_000_000  # 2025-01-01
HOUR = 3_600_000_000_000


def collect(model: GBM, *, seed: int, chunk: int, end: int = START + HOUR) -> TickArrays:
    parts = list(model.stream(start_ns=START, end_ns=end, seed=seed, chunk_ticks=chunk))
    return TickArrays(*(np.concatenate(cols) for cols in zip(*parts, strict=True)))


def test_grid_first_tick_and_quotes() -> None:
    t = collect(GBM(0.05, 0.5, 50_000), seed=0, chunk=1 << 20)
    assert len(t) == 7_200  # one hour at 500 ms
    assert t.ts[0] == START and np.all(np.diff(t.ts) == TICK_INTERVAL_NS)
    mid = (t.bid + t.ask) / 2
    assert mid[0] == pytest.approx(50_000, rel=1e-15)
    np.testing.assert_allclose((t.ask - t.bid) / mid, 1e-4, rtol=1e-9)  # 1 bp spread
    # one side per tick: a taker buy on an uptick, a taker sell on a downtick
    assert np.all((t.vbid == 0) ^ (t.vask == 0))
    up = np.diff(np.log(mid)) >= 0
    assert np.array_equal(t.vask[1:] > 0, up)


@settings(max_examples=25, deadline=None)
@given(chunk=st.integers(1, 5_000), seed=st.integers(0, 2**31))
def test_any_chunk_size_gives_identical_ticks(chunk: int, seed: int) -> None:
    model = GBM(0.1, 0.8, 100.0)
    end = START + 20 * 60 * 1_000_000_000
    ref = collect(model, seed=seed, chunk=1 << 20, end=end)
    got = collect(model, seed=seed, chunk=chunk, end=end)
    for a, b in zip(ref, got, strict=True):
        np.testing.assert_array_equal(a, b)


def test_seed_reproducibility() -> None:
    a = collect(GBM(0.05, 0.5, 100.0), seed=7, chunk=999)
    b = collect(GBM(0.05, 0.5, 100.0), seed=7, chunk=999)
    c = collect(GBM(0.05, 0.5, 100.0), seed=8, chunk=999)
    np.testing.assert_array_equal(a.bid, b.bid)
    assert not np.array_equal(a.bid, c.bid)


def test_log_returns_have_the_exact_moments() -> None:
    mu, sigma = 0.3, 2.0
    t = collect(GBM(mu, sigma, 100.0), seed=3, chunk=1 << 16, end=START + 48 * HOUR)
    r = np.diff(np.log((t.bid + t.ask) / 2))
    dt = 1 / EPOCHS_PER_YEAR
    mean, var = (mu - sigma**2 / 2) * dt, sigma**2 * dt
    n = r.size
    assert abs(r.mean() - mean) / math.sqrt(var / n) < 4
    assert abs(r.var() - var) / (var * math.sqrt(2 / (n - 1))) < 4


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("gbm(0.05,0.5)", "takes 3 arguments"),
        ("gbm(0.05,0.5,100,1)", "takes 3 arguments"),
        ("gbm(0.05,-0.5,100)", "sigma = -0.5 is out of range"),
        ("gbm(0.05,0.5,0)", "base = 0 is out of range"),
        ("gbm(0.05,abc,100)", "argument 2 .*'abc'.* is not a number"),
        ("gbm(0.05,inf,100)", "must be finite"),
        ("gbm()", "has no arguments"),
        ("gbm(1,2", "unclosed"),
        ("gbx(1,2,3)", "unknown source 'gbx"),
        ("gbm", "is a model: give its arguments"),
    ],
)
def test_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        resolve_model(parse_sources(spec)[0])


def test_spec_canonical_form_and_slug() -> None:
    spec = parse_sources(" gbm( 0.05 , 0.5, 50000.0 ) ")[0]
    assert spec.canonical() == "gbm(0.05,0.5,50000)"
    assert spec.slug() == "gbm-0.05-0.5-50000"
    assert parse_sources("gbm(-0.05,0.5,1e-3)")[0].slug() == "gbm-n0.05-0.5-0.001"
    assert [s.name for s in parse_sources("binance|gbm(0,1,2)")] == ["binance", "gbm"]
