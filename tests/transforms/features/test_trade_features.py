"""Trade features: hand cases, kernels = twins, chunking and saved state, no look-ahead, CLI."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seriesfactory import features
from seriesfactory.cli import main
from seriesfactory.transforms.features import nb
from seriesfactory.transforms.features.api import (
    TradeFeatureBuilder,
    TradeFeatureParams,
    trade_feature_columns,
)
from seriesfactory.transforms.features.reference import (
    ref_bvc,
    ref_rolling,
    ref_trade_buckets,
    ref_vpin,
    ref_window_features,
)

S = 1_000_000_000


def same(a: pa.Table, b: pa.Table) -> None:
    assert a.column_names == b.column_names and a.num_rows == b.num_rows
    for name in a.column_names:
        x = a.column(name).to_numpy(zero_copy_only=False)
        y = b.column(name).to_numpy(zero_copy_only=False)
        if x.dtype.kind == "f":
            np.testing.assert_array_equal(x, y, err_msg=name)
        else:
            assert (x == y).all(), name


def test_vpin_hand_case() -> None:
    # buckets (70, 30), (50, 50), (20, 80), V = 100, n = 3: (40 + 0 + 60) / 300 = 1/3
    vol = np.array([100.0, 100.0, 100.0])
    share = np.array([0.7, 0.5, 0.2])
    out = np.empty(3)
    si, sf, ring = nb.vpin_state(3, 100.0)
    nb.vpin_pour(vol, share, 1, si, sf, ring, out)
    assert math.isnan(out[0]) and math.isnan(out[1])
    assert out[2] == pytest.approx(1 / 3, abs=1e-15)
    # the same volume in uneven rows that straddle bucket edges: the same buckets
    vol2 = np.array([60.0, 10.0, 60.0, 70.0, 100.0])
    share2 = np.array([0.7, 0.7, 0.6, 0.5, 0.2])
    out2 = np.empty(5)
    si, sf, ring = nb.vpin_state(3, 100.0)
    nb.vpin_pour(vol2, share2, 1, si, sf, ring, out2)
    want = ref_vpin(vol2.tolist(), share2.tolist(), 3, 100.0, 1)
    np.testing.assert_array_equal(out2, want)


def test_kyle_lambda_hand_case() -> None:
    # dp = (0.10, 0.05, -0.08, 0.12), x = (200, 100, -150, 250), with intercept -> 48/95000
    close = np.array([100.0, 100.10, 100.15, 100.07, 100.19])
    signed = np.array([0.0, 200.0, 100.0, -150.0, 250.0])
    lr = np.r_[np.nan, np.log(close[1:] / close[:-1])]
    out = np.empty((1, 6))
    nb.window_features(close, lr, signed, np.ones(5), np.ones(5), 4, 4, 1, 4, out)
    assert out[0, 0] == pytest.approx(5.0526e-4, rel=1e-4)
    assert out[0, 0] == pytest.approx(48 / 95000, rel=1e-9)


def test_roll_amihud_realized_vol_momentum_by_hand() -> None:
    ts = np.array([1, 2, 3, 4, 5], np.int64) * S
    px = np.array([100.0, 101.0, 100.0, 101.0, 100.0])  # bid-ask bounce
    qty = np.ones(5)
    t = features.trade_features(
        {"ts": ts, "price": px, "qty": qty, "side": np.array([1, -1, 1, -1, 1])},
        interval="1s",
        windows=(2,),
        lags=(1,),
        momentum=(2,),
        stat_window=3,
        intensity_short=1,
        intensity_long=2,
        vpin_buckets=1,
        vpin_fit_rows=1,
        bvc_sigma_window=2,
    )
    r = t.to_pylist()
    assert [x["close"] for x in r] == list(px)
    # dp = (1, -1, 1, -1): cov(dp_t, dp_t-1) over 3 pairs = -4/3 -> 2 sqrt(4/3)
    assert r[4]["roll_spread"] == pytest.approx(2 * math.sqrt(4 / 3))
    lr = np.log(px[1:] / px[:-1])
    assert r[4]["realized_vol"] == pytest.approx(math.sqrt(np.sum(lr[1:] ** 2)))
    assert r[4]["amihud"] == pytest.approx(np.mean(np.abs(lr[1:]) / px[2:]))
    assert r[4]["momentum_2"] == pytest.approx(math.log(100 / 100))
    assert r[3]["momentum_2"] == pytest.approx(math.log(101 / 101))
    assert r[2]["log_return_lag_1"] == pytest.approx(lr[0])
    assert r[0]["volume_imbalance"] == 1.0 and r[1]["trade_imbalance"] == -1.0
    assert r[4]["ret_autocorr"] == pytest.approx(-1.0)
    assert r[4]["time_since_last_trade"] == 0.0
    # VPIN with V fitted on row 0 alone (V = 1, n = 1): every later bucket is one trade
    assert math.isnan(r[0]["vpin"]) and r[1]["vpin"] == 1.0


# --- kernels = twins ---------------------------------------------------------------------------
def _trades(seed: int, n: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    ts = np.cumsum(rng.integers(0, 3 * S // 2, n)).astype(np.int64) + 10 * S
    ts += rng.integers(-S // 3, S // 3, n)  # some out of order: clamped
    px = 100 + np.round(np.cumsum(rng.normal(0, 0.3, n)), 2)
    qty = rng.integers(1, 20, n) / 4
    side = rng.choice(np.array([-1, 0, 1], np.int8), n, p=[0.45, 0.1, 0.45])
    return ts, px, qty, side


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 80),
    extra=st.integers(-1, 5),
    n_buckets=st.integers(1, 4),
    fit_rows=st.integers(1, 6),
)
def test_bucket_kernel_equals_twin(
    seed: int, n: int, extra: int, n_buckets: int, fit_rows: int
) -> None:
    ts, px, qty, side = _trades(seed, n)
    si, sf = nb.bucket_state()
    last_bucket = -(-int(np.maximum.accumulate(ts)[-1]) // S) * S
    end = -1 if extra < 0 else last_bucket + extra * S
    out_i = np.empty((400, 5), np.int64)
    out_f = np.empty((400, len(nb.BUCKET_FLOATS)))
    v_si, v_sf, ring = nb.vpin_state(n_buckets, None)
    k = nb.trade_buckets(
        ts, px, qty, side, S, end, si, sf, out_i, out_f, v_si, v_sf, ring, fit_rows
    )
    trades = list(zip(ts.tolist(), px, qty, side.tolist(), strict=True))
    want = ref_trade_buckets(trades, S, end, n_buckets, None, fit_rows)
    assert k == len(want)
    for j, w in enumerate(want):
        assert out_i[j].tolist() == [
            w["ts"],
            w["trade_count"],
            w["buy_count"],
            w["sell_count"],
            w["last_trade_ts"],
        ]
        got = dict(zip(nb.BUCKET_FLOATS, out_f[j], strict=True))
        for name in nb.BUCKET_FLOATS:
            if name in ("volume", "buy_volume", "sell_volume", "dollar_volume", "vpin"):
                assert got[name] == pytest.approx(w[name], rel=1e-12, nan_ok=True), name
            else:
                np.testing.assert_array_equal(got[name], w[name], err_msg=name)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 60), w=st.integers(1, 8))
def test_window_kernels_equal_twins(seed: int, n: int, w: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    x[rng.random(n) < 0.2] = np.nan
    outs = [np.empty(n) for _ in range(4)]
    nb.rolling_stats(x, 0, w, *outs)
    want = np.array(ref_rolling(x.tolist(), w)).reshape(n, 4)
    for k in range(4):
        np.testing.assert_allclose(outs[k], want[:, k], rtol=1e-12, atol=1e-14)
    close = 100 + np.cumsum(rng.normal(size=n))
    lr = np.r_[np.nan, np.log(close[1:] / close[:-1])]
    sv = rng.normal(size=n) * 10
    dv = np.abs(rng.normal(size=n)) * (rng.random(n) > 0.2)
    tc = rng.integers(0, 5, n).astype(float)
    ww = max(w, 3)
    out = np.empty((n, 6))
    nb.window_features(close, lr, sv, dv, tc, 0, ww, 2, max(ww, 2), out)
    ref = np.array(ref_window_features(close, lr, sv, dv, tc, ww, 2, max(ww, 2)))
    np.testing.assert_allclose(out, ref, rtol=1e-9, atol=1e-12)
    sw = max(w, 2)
    close[rng.random(n) < 0.1] = close[0]  # some zero changes
    f_bvc = np.empty(n)
    nb.bvc_fraction(close, 0, sw, f_bvc)
    np.testing.assert_allclose(f_bvc, np.array(ref_bvc(close.tolist(), sw)), rtol=1e-12)
    vol = np.abs(rng.normal(size=n)) * 10
    share = rng.random(n)
    share[rng.random(n) < 0.1] = np.nan
    got = np.empty(n)
    si, sf, ring = nb.vpin_state(w, None)
    nb.vpin_pour(vol, share, 3, si, sf, ring, got)
    np.testing.assert_allclose(got, np.array(ref_vpin(vol, share, w, None, 3)), rtol=1e-12)


# --- builder: chunking, saved state, no look-ahead --------------------------------------------
PARAMS = TradeFeatureParams(
    interval_ns=S,
    vpin_buckets=5,
    vpin_fit_rows=10,
    bvc_sigma_window=8,
    windows=(3, 7),
    stat_window=6,
)


def _build(
    ts: np.ndarray,
    px: np.ndarray,
    qty: np.ndarray,
    side: np.ndarray,
    cuts: list[int],
    save_at: int | None = None,
    end: int | None = None,
) -> pa.Table:
    b = TradeFeatureBuilder(PARAMS)
    parts = []
    bounds = [0, *cuts, len(ts)]
    for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        parts.append(b.update(ts[lo:hi], px[lo:hi], qty[lo:hi], side[lo:hi]))
        if save_at == i:
            b = TradeFeatureBuilder.from_state(json.loads(json.dumps(b.state())))
    parts.append(b.finish(end))
    return pa.concat_tables(parts)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), data=st.data())
def test_any_chunking_and_a_saved_state_give_the_same_rows(seed: int, data: st.DataObject) -> None:
    ts, px, qty, side = _trades(seed, 200)
    whole = _build(ts, px, qty, side, [])
    assert whole.column_names == trade_feature_columns(PARAMS)
    cuts = sorted(data.draw(st.lists(st.integers(1, 199), max_size=6)))
    same(_build(ts, px, qty, side, cuts, save_at=data.draw(st.integers(0, len(cuts)))), whole)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), frac=st.floats(0.05, 0.95))
def test_no_look_ahead_cut_and_scramble(seed: int, frac: float) -> None:
    ts, px, qty, side = _trades(seed, 200)
    ts = np.maximum.accumulate(ts)
    full = _build(ts, px, qty, side, [])
    stamps = full.column("ts").cast(pa.int64()).to_numpy()
    cut = int(ts[0] + (ts[-1] - ts[0]) * frac)
    k = int(np.count_nonzero(stamps <= cut))
    m = ts <= cut
    part = _build(ts[m], px[m], qty[m], side[m], [], end=cut)  # all data <= T is known
    n_part = int(np.count_nonzero(part.column("ts").cast(pa.int64()).to_numpy() <= cut))
    assert n_part == k
    same(part.slice(0, k), full.slice(0, k))
    rng = np.random.default_rng(seed)
    px2, qty2, side2 = px.copy(), qty.copy(), side.copy()
    late = ~m
    px2[late] = 50 + rng.random(int(late.sum())) * 100
    qty2[late] = rng.random(int(late.sum())) * 1000
    side2[late] = -side2[late]
    same(_build(ts, px2, qty2, side2, []).slice(0, k), full.slice(0, k))


# --- CLI ----------------------------------------------------------------------------------------
def test_cli_trades_file_and_bars(tmp_path: Path, shared_real: Path) -> None:
    src = shared_real / "prado" / "tick_data.csv"
    out = tmp_path / "f.parquet"
    assert (
        main(
            [
                "features",
                "trades",
                "--input",
                str(src),
                "--interval",
                "1s",
                "--output",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    t = pq.read_table(out)
    assert t.column_names == trade_feature_columns(TradeFeatureParams())
    assert str(t.schema.field("ts").type) == "timestamp[ns, tz=UTC]"
    assert int(pa.compute.sum(t.column("trade_count")).as_py()) > 0
    assert main(["features", "trades", "--input", str(src), "--output", str(out)]) == 2
    bars = tmp_path / "bars.parquet"
    assert (
        main(
            [
                "bars",
                "build",
                "--type",
                "tick",
                "--threshold",
                "5",
                "--input",
                str(src),
                "--output",
                str(bars),
            ]
        )
        == 0
    )
    out2 = tmp_path / "fb.csv"
    assert main(["features", "trades", "--bars", str(bars), "--output", str(out2)]) == 0
    assert (tmp_path / "fb.csv.meta.json").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--interval", "0s"], "is not a duration"),
        (["--interval", "soon"], "is not a duration"),
        (["--windows", "a,b"], "--windows"),
    ],
)
def test_cli_bad_options_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    src = tmp_path / "t.csv"
    src.write_text("ts,price,qty\n2024-01-01T00:00:00Z,1,1\n")
    code = main(
        ["features", "trades", "--input", str(src), "--output", str(tmp_path / "o.parquet"), *args]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and needle in err and "\n" not in err


def test_cli_no_trades_and_bad_depth_and_venue(
    tmp_path: Path, shared_real: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "e.csv"
    empty.write_text("ts,price,qty\n")
    assert (
        main(["features", "trades", "--input", str(empty), "--output", str(tmp_path / "o.parquet")])
        == 2
    )
    assert "no trades" in capsys.readouterr().err
    rec = shared_real / "bybit" / "cryptofeed-v3" / "BYBIT.jsonl.zst"
    base = ["features", "book", "--input", str(rec), "--output", str(tmp_path / "b.parquet")]
    assert main([*base, "--venue", "bybit", "--symbol", "linear:BTCUSDT", "--depth", "500"]) == 2
    assert "carries at most 200 levels" in capsys.readouterr().err
    assert main([*base, "--venue", "nowhere", "--symbol", "X"]) == 2
    assert capsys.readouterr().err.startswith("error: --venue 'nowhere'")


@pytest.mark.parametrize(
    ("venue", "symbol", "rel"),
    [
        ("binance", "BTCUSDT", "binance/hftbacktest/spot/btcusdt_20240808.gz"),
        ("binance-usdm", "BTCUSDT", "binance/hftbacktest/usdm/btcusdt_20240808.gz"),
        ("coinbase", "BTC-USD", "coinbase/cryptofeed-v3/COINBASE.jsonl.zst"),
        ("bybit", "linear:BTCUSDT", "bybit/cryptofeed-v3/BYBIT.jsonl.zst"),
    ],
)
def test_cli_book_real_captures(
    tmp_path: Path, shared_real: Path, venue: str, symbol: str, rel: str
) -> None:
    out = tmp_path / "b.parquet"
    args = ["--venue", venue, "--symbol", symbol, "--input", str(shared_real / rel)]
    assert main(["features", "book", *args, "--depth", "5", "--output", str(out), "--quiet"]) == 0
    t = pq.read_table(out)
    v = t.column("book_valid").to_numpy(zero_copy_only=False)
    assert v.sum() > 100
    spread = t.column("spread").to_numpy()[v]
    assert (spread > 0).all()
    assert np.isfinite(t.column("ofi_cumulative").to_numpy()[v]).all()
    # trades of the recording land in the rows, with both aggressor sides
    assert int(pa.compute.sum(t.column("trade_count")).as_py()) > 40
    assert pa.compute.sum(t.column("taker_buy_volume")).as_py() > 0
    assert pa.compute.sum(t.column("taker_sell_volume")).as_py() > 0


def test_public_one_call_functions(shared_real: Path) -> None:
    rec = shared_real / "coinbase" / "cryptofeed-v3" / "COINBASE.jsonl.zst"
    book = features.book_features(str(rec), venue="coinbase", symbol="BTC-USD", depth=5)
    assert book.column_names == features.book_feature_columns(5)
    assert book.num_rows > 100
    ts = np.arange(1, 200, dtype=np.int64) * S
    px = 100 + np.sin(np.arange(199))
    trades = features.trade_features(
        pa.table(
            {
                "ts": pa.array(ts).cast(pa.timestamp("ns", tz="UTC")),
                "price": px,
                "qty": np.ones(199),
                "side": np.where(np.arange(199) % 3, 1, -1),
            }
        ),
        interval="10s",
        vpin_fit_rows=3,
        vpin_buckets=2,
    )
    assert trades.num_rows == 20 and trades.column("close").to_pylist()[0] == px[9]
    assert np.isfinite(trades.column("vpin").to_numpy()[-1])
    bars = pa.table(
        {
            "time_end": trades.column("ts"),
            "open": trades.column("open"),
            "high": trades.column("high"),
            "low": trades.column("low"),
            "close": trades.column("close"),
            "volume": trades.column("volume"),
            "dollar_volume": trades.column("dollar_volume"),
            "buy_volume": trades.column("buy_volume"),
            "tick_count": trades.column("trade_count"),
        }
    )
    again = features.bar_features(bars, vpin_fit_rows=3, vpin_buckets=2)
    for name in ("log_return", "kyle_lambda", "momentum_5", "volume_mean_5"):
        np.testing.assert_array_equal(
            again.column(name).to_numpy(), trades.column(name).to_numpy(), err_msg=name
        )
    assert again.column("buy_count").null_count == again.num_rows


def test_cli_state_continues_across_runs(tmp_path: Path, shared_real: Path) -> None:
    lines = (shared_real / "prado" / "tick_data.csv").read_text().splitlines()
    head, body = lines[0], lines[1:]
    halves = [tmp_path / "a.csv", tmp_path / "b.csv"]
    cut = len(body) // 2
    halves[0].write_text("\n".join([head, *body[:cut]]) + "\n")
    halves[1].write_text("\n".join([head, *body[cut:]]) + "\n")
    whole = tmp_path / "whole.parquet"
    opts = ["--interval", "1s", "--vpin-fit-rows", "3", "--vpin-buckets", "2"]
    assert (
        main(
            [
                "features",
                "trades",
                "--input",
                str(shared_real / "prado" / "tick_data.csv"),
                *opts,
                "--output",
                str(whole),
            ]
        )
        == 0
    )
    state = tmp_path / "state.json"
    parts = []
    for k, src in enumerate(halves):
        dest = tmp_path / f"p{k}.parquet"
        assert (
            main(
                [
                    "features",
                    "trades",
                    "--input",
                    str(src),
                    *opts,
                    "--state",
                    str(state),
                    "--output",
                    str(dest),
                ]
            )
            == 0
        )
        parts.append(pq.read_table(dest))
    got = pa.concat_tables(parts)
    ref = pq.read_table(whole)
    assert got.num_rows == ref.num_rows - 1  # the open bucket stays in the state
    same(got, ref.slice(0, got.num_rows))
    other = ["--interval", "2s"]
    assert (
        main(
            [
                "features",
                "trades",
                "--input",
                str(halves[1]),
                *other,
                "--state",
                str(state),
                "--output",
                str(tmp_path / "x.parquet"),
            ]
        )
        == 2
    )
