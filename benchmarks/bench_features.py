"""Book + trade features over one day: the streaming kernels vs the same features in polars.

Input: the real Binance spot BTCUSDT recording of 2024-08-08 (hftbacktest, MIT),
its REST snapshot and diffs replayed ``--repeat`` times with ids and times shifted
(each round resyncs from the snapshot), so 250 rounds make about one day of 100 ms
book rows (864,000 x 10 levels); and ``--trades`` of its trades, replayed the same
way. Parsing JSON is not timed.

* ours: :class:`BookFeatureBuilder` (book rebuild + every book feature, fed one
  round at a time, i.e. streaming) and :class:`TradeFeatureBuilder` (``--interval``
  buckets, every trade feature).
* peer: the same book rebuild (it cannot be written in polars) keeping the top 10
  levels after every message, then the features written plainly with polars
  expressions: OFI by ``shift``/``when`` over the per-message levels and a
  group-by onto the grid, the rest with expressions, ``rolling_*`` and
  ``group_by_dynamic``; VPIN with whole trades assigned to volume buckets by
  cumulative volume (the common vectorised shortcut).

Peak RSS is read after our run (ours) and at the end (ours + peer, same process).

Run::

    .venv/bin/python benchmarks/bench_features.py [--repeat 250] [--trades 1000000]
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from seriesfactory.raw.readers import read_records
from seriesfactory.sources._book_base import get_parser
from seriesfactory.transforms.book import nb as book_nb
from seriesfactory.transforms.book.api import BookBuilder, infer_price_decimals, parse_records
from seriesfactory.transforms.features.api import (
    BookFeatureBuilder,
    TradeFeatureBuilder,
    TradeFeatureParams,
)

SHARED = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "binance" / "hftbacktest"
)
GRID = 100_000_000
DEPTH = 10


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Replay:
    """The recording's snapshot + diffs (and trades), round ``k`` shifted in ids and time."""

    def __init__(self, trades_per_round: int) -> None:
        parser = get_parser("binance", "BTCUSDT")
        events, trades = parse_records(
            parser, read_records([SHARED / "spot" / "btcusdt_20240808.gz"])
        )
        self.rule = parser.rule
        self.decimals = infer_price_decimals(events["price"][events["side"] != 0])
        snap_at = np.flatnonzero(events["flags"] & book_nb.F_SNAPSHOT)
        snap_end = int(snap_at[-1]) + 1
        self.snapshot = events[int(snap_at[0]) : snap_end]
        diffs = events[snap_end:]
        self.diffs = diffs[diffs["last_id"] > self.snapshot["last_id"][0]]
        self.id_step = int(self.diffs["last_id"][-1]) + 1 - int(self.diffs["first_id"][0])
        self.ts_step = int(self.diffs["ts"][-1] - self.diffs["ts"][0]) + GRID
        t0 = int(self.diffs["ts"][0])
        tr = trades[(trades["ts"] >= t0) & (trades["ts"] < t0 + self.ts_step)]
        reps = -(-trades_per_round // max(len(tr), 1))
        self.trades = np.concatenate([tr] * reps)[:trades_per_round]
        self.trades = self.trades[np.argsort(self.trades["ts"], kind="stable")]

    def events(self, k: int) -> np.ndarray:
        part = np.concatenate([self.snapshot, self.diffs])
        for col in ("first_id", "last_id"):
            part[col] += k * self.id_step
        part["prev_id"] = np.where(part["prev_id"] >= 0, part["prev_id"] + k * self.id_step, -1)
        part["ts"] += k * self.ts_step
        return part

    def trade_round(self, k: int) -> np.ndarray:
        t = self.trades.copy()
        t["ts"] += k * self.ts_step
        return t


# --- ours ---------------------------------------------------------------------------------------
def ours(
    rp: Replay, repeat: int, params: TradeFeatureParams
) -> tuple[float, float, pa.Table, pa.Table]:
    """(wall s, CPU s, book table, trade table)."""
    t0 = time.perf_counter()
    c0 = time.process_time()
    b = BookFeatureBuilder(rule=rp.rule, price_decimals=rp.decimals, interval_ns=GRID, depth=DEPTH)
    parts = [b.update(rp.events(k), rp.trade_round(k)) for k in range(repeat)]
    parts.append(b.finish())
    book = pa.concat_tables(parts)
    tb = TradeFeatureBuilder(params)
    tparts = []
    for k in range(repeat):
        t = rp.trade_round(k)
        tparts.append(tb.update(t["ts"], t["price"], t["qty"], t["side"]))
    tparts.append(tb.finish())
    return time.perf_counter() - t0, time.process_time() - c0, book, pa.concat_tables(tparts)


# --- peer ---------------------------------------------------------------------------------------
def peer_inputs(rp: Replay, repeat: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Per-message top 10 and grid rows from the book engine; all trades."""
    b = BookBuilder(
        rule=rp.rule,
        price_decimals=rp.decimals,
        interval_ns=GRID,
        depth=DEPTH,
        message_depth=DEPTH,
    )
    m_parts, r_parts = [], []
    for k in range(repeat):
        msgs, rows = b.update(rp.events(k))
        bt, bq, at, aq = b.message_levels
        d = {"ts": msgs["ts"], "valid": msgs["valid"]}
        for i in range(DEPTH):
            d[f"b{i}"], d[f"bq{i}"] = bt[:, i], bq[:, i]
            d[f"a{i}"], d[f"aq{i}"] = at[:, i], aq[:, i]
        m_parts.append(pl.DataFrame(d))
        r_parts.append(rows)
    r_parts.append(b.finish())
    rd: dict[str, np.ndarray] = {
        "ts": np.concatenate([r.ts for r in r_parts]),
        "valid": np.concatenate([r.valid for r in r_parts]),
    }
    for name, key in (
        ("bid_px", "bid_px"),
        ("bid_sz", "bid_qty"),
        ("ask_px", "ask_px"),
        ("ask_sz", "ask_qty"),
    ):
        arr = np.concatenate([getattr(r, key) for r in r_parts])
        for i in range(DEPTH):
            rd[f"{name}_{i + 1:02d}"] = arr[:, i]
    trades = np.concatenate([rp.trade_round(k) for k in range(repeat)])
    tdf = pl.DataFrame({c: trades[c] for c in ("ts", "price", "qty", "side")})
    return pl.concat(m_parts), pl.DataFrame(rd), tdf


def peer_book(msgs: pl.DataFrame, rows: pl.DataFrame, trades: pl.DataFrame) -> pl.DataFrame:
    big = np.iinfo(np.int64).max
    lv = []
    for i in range(DEPTH):
        b = pl.when(pl.col(f"b{i}") >= 0).then(pl.col(f"b{i}")).otherwise(-1)
        a = pl.when(pl.col(f"a{i}") >= 0).then(pl.col(f"a{i}")).otherwise(big)
        lv += [
            b.alias(f"b{i}"),
            a.alias(f"a{i}"),
            pl.col(f"bq{i}").fill_nan(0.0).alias(f"bq{i}"),
            pl.col(f"aq{i}").fill_nan(0.0).alias(f"aq{i}"),
        ]
    m = msgs.with_columns(lv)
    both = pl.col("valid") & pl.col("valid").shift(1).fill_null(False)
    e = []
    for i in range(DEPTH):
        b, a, bq, aq = pl.col(f"b{i}"), pl.col(f"a{i}"), pl.col(f"bq{i}"), pl.col(f"aq{i}")
        x = (
            pl.when(b >= b.shift(1)).then(bq).otherwise(0.0)
            - pl.when(b <= b.shift(1)).then(bq.shift(1)).otherwise(0.0)
            - pl.when(a <= a.shift(1)).then(aq).otherwise(0.0)
            + pl.when(a >= a.shift(1)).then(aq.shift(1)).otherwise(0.0)
        )
        e.append(pl.when(both).then(x).otherwise(0.0).alias(f"e{i}"))
    m = m.with_columns(e).with_columns(
        row=((pl.col("ts") + GRID - 1) // GRID) * GRID,
        seg=(~pl.col("valid")).cum_sum(),
    )
    m = m.with_columns(cum=pl.col("e0").cum_sum().over("seg"))
    per_row = m.group_by("row").agg(
        [pl.col(f"e{i}").sum() for i in range(DEPTH)]
        + [pl.col("cum").last(), (~pl.col("valid")).any().alias("gap")]
    )
    r = rows.join(per_row, left_on="ts", right_on="row", how="left").sort("ts")
    r = r.with_columns(pl.col("cum").forward_fill(), pl.col("e0").fill_null(0.0))
    b1, a1 = pl.col("bid_px_01"), pl.col("ask_px_01")
    q1, p1 = pl.col("bid_sz_01"), pl.col("ask_sz_01")
    mid = (b1 + a1) / 2
    feats = [
        mid.alias("midprice"),
        (a1 - b1).alias("spread"),
        (1e4 * (a1 - b1) / mid).alias("spread_bps"),
        ((b1 * p1 + a1 * q1) / (q1 + p1)).alias("microprice"),
    ]
    for lvl in (1, 5, 10):
        sb = pl.sum_horizontal([pl.col(f"bid_sz_{k:02d}").fill_nan(0) for k in range(1, lvl + 1)])
        sa = pl.sum_horizontal([pl.col(f"ask_sz_{k:02d}").fill_nan(0) for k in range(1, lvl + 1)])
        ub = pl.sum_horizontal(
            [
                (pl.col(f"bid_px_{k:02d}") * pl.col(f"bid_sz_{k:02d}")).fill_nan(0)
                for k in range(1, lvl + 1)
            ]
        )
        ua = pl.sum_horizontal(
            [
                (pl.col(f"ask_px_{k:02d}") * pl.col(f"ask_sz_{k:02d}")).fill_nan(0)
                for k in range(1, lvl + 1)
            ]
        )
        feats += [
            ((sb - sa) / (sb + sa)).alias(f"imbalance_{lvl}"),
            (sb + sa).alias(f"liquidity_{lvl}"),
            (ub + ua).alias(f"liquidity_usd_{lvl}"),
        ]
    feats += [
        pl.col("e0").alias("ofi"),
        pl.col("e0").rolling_sum(10).alias("ofi_10"),
        pl.col("cum").alias("ofi_cumulative"),
    ]
    r = r.with_columns(feats)
    tr = (
        trades.with_columns(
            pl.col("ts").cast(pl.Datetime("ns")).alias("t"),
            buy=pl.when(pl.col("side") > 0).then(pl.col("qty")).otherwise(0.0),
            sell=pl.when(pl.col("side") < 0).then(pl.col("qty")).otherwise(0.0),
            pq=pl.col("price") * pl.col("qty"),
        )
        .group_by_dynamic("t", every="100ms", closed="right", label="right")
        .agg(
            pl.col("buy").sum().alias("taker_buy_volume"),
            pl.col("sell").sum().alias("taker_sell_volume"),
            pl.len().alias("trade_count"),
            (pl.col("pq").sum() / pl.col("qty").sum()).alias("vwap"),
            pl.col("price").last().alias("last_trade_px"),
            pl.col("qty").last().alias("last_trade_qty"),
            pl.col("ts").last().alias("last_trade_ts"),
        )
        .with_columns(pl.col("t").cast(pl.Int64).alias("ts"))
    )
    r = r.join(tr.drop("t"), on="ts", how="left").with_columns(
        pl.col("last_trade_px").forward_fill(),
        pl.col("last_trade_qty").forward_fill(),
        ((pl.col("ts") - pl.col("last_trade_ts").forward_fill()) / 1e9).alias("last_trade_age"),
        (pl.col("taker_buy_volume") - pl.col("taker_sell_volume")).alias("signed_volume"),
        (
            (pl.col("taker_buy_volume") - pl.col("taker_sell_volume"))
            / (pl.col("taker_buy_volume") + pl.col("taker_sell_volume"))
        ).alias("volume_imbalance"),
    )
    return r


def peer_trades(trades: pl.DataFrame, p: TradeFeatureParams) -> pl.DataFrame:
    every = f"{p.interval_ns}ns"
    t = trades.with_columns(
        pl.col("ts").cast(pl.Datetime("ns")).alias("t"),
        buy=pl.when(pl.col("side") > 0).then(pl.col("qty")).otherwise(0.0),
        sell=pl.when(pl.col("side") < 0).then(pl.col("qty")).otherwise(0.0),
        nbuy=(pl.col("side") > 0).cast(pl.Int64),
        nsell=(pl.col("side") < 0).cast(pl.Int64),
        pq=pl.col("price") * pl.col("qty"),
    )
    b = (
        t.group_by_dynamic("t", every=every, closed="right", label="right")
        .agg(
            pl.col("price").first().alias("open"),
            pl.col("price").max().alias("high"),
            pl.col("price").min().alias("low"),
            pl.col("price").last().alias("close"),
            pl.col("qty").sum().alias("volume"),
            pl.col("buy").sum().alias("buy_volume"),
            pl.col("sell").sum().alias("sell_volume"),
            pl.col("nbuy").sum().alias("buy_count"),
            pl.col("nsell").sum().alias("sell_count"),
            pl.len().alias("trade_count"),
            pl.col("pq").sum().alias("dollar_volume"),
            pl.col("ts").last().alias("last_trade_ts"),
        )
        .upsample("t", every=every)
        .with_columns(
            pl.col("close").forward_fill(),
            pl.col("last_trade_ts").forward_fill(),
            pl.col(["volume", "buy_volume", "sell_volume", "dollar_volume"]).fill_null(0.0),
            pl.col(["trade_count", "buy_count", "sell_count"]).fill_null(0),
        )
    )
    buy, sell = pl.col("buy_volume"), pl.col("sell_volume")
    b = b.with_columns(
        ((buy - sell) / (buy + sell)).alias("volume_imbalance"),
        (buy - sell).alias("signed_volume"),
        (pl.col("close") / pl.col("close").shift(1)).log().alias("log_return"),
        pl.col("close").log().alias("log_price"),
        (pl.col("dollar_volume") / pl.col("volume")).alias("vwap"),
        (pl.col("close") - pl.col("close").shift(1)).alias("dp"),
    )
    ex = []
    for x in ("log_return", "volume", "volume_imbalance"):
        c = pl.col(x)
        for w in p.windows:
            ex += [
                c.rolling_mean(w).alias(f"{x}_mean_{w}"),
                c.rolling_std(w).alias(f"{x}_std_{w}"),
                c.rolling_min(w).alias(f"{x}_min_{w}"),
                c.rolling_max(w).alias(f"{x}_max_{w}"),
            ]
        ex += [c.shift(k).alias(f"{x}_lag_{k}") for k in p.lags]
    w = p.stat_window
    r, dp = pl.col("log_return"), pl.col("dp")
    ex += [
        (
            pl.rolling_cov(pl.col("signed_volume"), dp, window_size=w)
            / pl.col("signed_volume").rolling_var(w)
        ).alias("kyle_lambda"),
        (r.abs() / pl.col("dollar_volume")).rolling_mean(w).alias("amihud"),
        pl.rolling_cov(dp, dp.shift(1), window_size=w).alias("roll_cov"),
        (r * r).rolling_sum(w).sqrt().alias("realized_vol"),
        pl.rolling_corr(r, r.shift(1), window_size=w).alias("ret_autocorr"),
        (
            pl.col("trade_count").rolling_mean(p.intensity_short)
            / pl.col("trade_count").rolling_mean(p.intensity_long)
        )
        .log()
        .alias("intensity_momentum"),
        ((pl.col("t").cast(pl.Int64) - pl.col("last_trade_ts")) / 1e9).alias(
            "time_since_last_trade"
        ),
    ]
    ex += [
        (pl.col("close") / pl.col("close").shift(h)).log().alias(f"momentum_{h}")
        for h in p.momentum
    ]
    # BVC share from the std of past price changes (logistic approximation of Phi)
    sig = dp.rolling_std(p.bvc_sigma_window).shift(1)
    ex.append((1.0 / (1.0 + (-1.702 * dp / sig).exp())).alias("bvc_share"))
    b = b.with_columns(ex).with_columns(
        pl.when(pl.col("roll_cov") < 0).then(2 * (-pl.col("roll_cov")).sqrt()).alias("roll_spread")
    )
    # VPIN: whole trades into buckets of V by cumulative volume (V from the first fit rows)
    v = b["volume"].head(p.vpin_fit_rows).sum() / p.vpin_buckets
    vp = (
        t.with_columns(bucket=(pl.col("qty").cum_sum() / v).floor().cast(pl.Int64))
        .group_by("bucket")
        .agg(
            (pl.col("buy").sum() - pl.col("sell").sum()).abs().alias("imb"),
            pl.col("ts").last().alias("done"),
        )
        .sort("bucket")
        .with_columns(
            (pl.col("imb").rolling_sum(p.vpin_buckets) / (p.vpin_buckets * v)).alias("vpin")
        )
        .select(pl.col("done").cast(pl.Datetime("ns")).alias("t"), "vpin")
    )
    b = b.sort("t").join_asof(vp.sort("t"), on="t", strategy="backward")
    bv = b.with_columns(
        bb=pl.col("volume") * pl.col("bvc_share"), cv=pl.col("volume").cum_sum()
    ).with_columns(bucket=(pl.col("cv") / v).floor().cast(pl.Int64))
    bvc = (
        bv.group_by("bucket")
        .agg(((2 * pl.col("bb") - pl.col("volume")).sum()).abs().alias("imb"), pl.col("t").last())
        .sort("bucket")
        .with_columns(
            (pl.col("imb").rolling_sum(p.vpin_buckets) / (p.vpin_buckets * v)).alias("vpin_bvc")
        )
        .select("t", "vpin_bvc")
    )
    return b.join_asof(bvc.sort("t"), on="t", strategy="backward")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=250)
    ap.add_argument("--trades", type=int, default=1_000_000)
    ap.add_argument("--interval", default="1s", help="trade feature buckets")
    args = ap.parse_args()
    from seriesfactory.transforms.bars.spec import parse_interval_ns

    params = TradeFeatureParams(interval_ns=parse_interval_ns(args.interval))
    rp = Replay(-(-args.trades // args.repeat))
    # compile / load the kernel cache on a small run (not timed)
    ours(rp, 1, params)
    rss0 = rss_mb()
    t_ours, c_ours, book, trades = ours(rp, args.repeat, params)
    rss_ours = rss_mb()
    valid = int(pa.compute.sum(book.column("book_valid")).as_py())
    n_trades = args.repeat * len(rp.trades)

    t0, c0 = time.perf_counter(), time.process_time()
    msgs, rows, tdf = peer_inputs(rp, args.repeat)
    t_inputs, c_inputs = time.perf_counter() - t0, time.process_time() - c0
    t1, c1 = time.perf_counter(), time.process_time()
    pb = peer_book(msgs, rows, tdf)
    pt = peer_trades(tdf, params)
    t_feat, c_feat = time.perf_counter() - t1, time.process_time() - c1
    t_peer, c_peer = t_inputs + t_feat, c_inputs + c_feat
    # the two agree where they compute the same thing
    ob = book.column("ofi").to_numpy()
    pofi = pb["ofi"].to_numpy()
    v = book.column("book_valid").to_numpy(zero_copy_only=False) & ~np.isnan(ob)
    agree = (
        bool(np.allclose(ob[v], pofi[: len(ob)][v], atol=1e-6)) if len(pofi) >= len(ob) else False
    )
    del msgs, rows, tdf, pb, pt
    t2, c2, _, _ = ours(rp, args.repeat, params)  # again, after the peer: the load varies
    t_ours, c_ours = min(t_ours, t2), min(c_ours, c2)
    print(
        f"input: {book.num_rows:,} book rows x {DEPTH} levels ({valid:,} valid) from "
        f"{args.repeat} replays of the real capture; {n_trades:,} trades -> "
        f"{trades.num_rows:,} {args.interval} trade rows"
    )
    print(
        f"ours (streaming kernels, book rebuild + all features, best of 2): {t_ours:.2f} s wall, "
        f"{c_ours:.2f} s CPU; peak RSS {rss_ours:.0f} MB (before: {rss0:.0f} MB)"
    )
    print(
        f"peer (same book rebuild {t_inputs:.2f} s + polars features {t_feat:.2f} s): "
        f"{t_peer:.2f} s wall, {c_peer:.2f} s CPU (polars: {c_feat:.2f} s CPU); "
        f"peak RSS with it {rss_mb():.0f} MB"
    )
    print(
        f"ratio peer/ours: {t_peer / t_ours:.2f}x wall, {c_peer / c_ours:.2f}x CPU; "
        f"per-row OFI agrees: {agree}"
    )
    print(f"book columns {book.num_columns}, trade columns {trades.num_columns}")


if __name__ == "__main__":
    main()
