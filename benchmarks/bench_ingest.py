"""Benchmark: one Binance aggTrades archive into the ticks tier, beside pandas.

Generates a spot aggTrades archive in the documented format (no header, 8
columns, millisecond times) with ``--rows`` rows, then times, in one process:

- ours: what ``series`` does after the download: sha256 of the archive, zip
  member inflated (ISA-L) in 64 MB pieces -> ``parse_trades_csv`` (pyarrow) ->
  trades tier (Parquet) -> ``TickBuilder`` (numba) -> ticks tier (Parquet);
- peer: ``pandas.read_csv`` -> the same conversion in pandas (ms/µs per value,
  side, grouping of consecutive same-time same-side trades, bid/ask forward
  fill, a clip in place of the sequential crossing guard) -> ``to_parquet``.

Prints rows/s for both and the ratio. Usage::

    .venv/bin/python benchmarks/bench_ingest.py --rows 5000000
"""

from __future__ import annotations

import argparse
import io
import resource
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pyarrow as pa

from seriesfactory.lake.atomic import file_sha256
from seriesfactory.lake.ticks import write_tick_set
from seriesfactory.lake.trades import TradeStore
from seriesfactory.pipeline.exchange import trade_tick_chunks
from seriesfactory.sources.binance.history import iter_member_lines
from seriesfactory.sources.binance.parse import parse_trades_csv


def make_archive(path: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    start_ms = 1_704_067_200_000
    ts = start_ms + np.sort(rng.integers(0, 86_400_000, rows))
    price = np.round(42_000 + np.cumsum(rng.normal(0, 0.5, rows)), 2)
    qty = np.round(rng.exponential(0.05, rows), 5)
    maker = np.where(rng.random(rows) < 0.5, "true", "false")
    ids = np.arange(rows)
    frame = pd.DataFrame(
        {"a": ids, "p": price, "q": qty, "f": ids, "l": ids, "t": ts, "m": maker, "b": "true"}
    )
    buf = io.StringIO()
    frame.to_csv(buf, header=False, index=False)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(path.name.replace(".zip", ".csv"), buf.getvalue())


def ours(archive: Path, out: Path) -> int:
    """The ``series`` path after the download: hash, parse, trades tier, ticks tier."""
    sha = file_sha256(archive)

    def tables() -> Iterator[pa.Table]:
        after = -(2**63)
        for member, data, first in iter_member_lines(archive, max_bytes=1 << 34):
            table = parse_trades_csv(
                data, name=member, market="spot", kind="aggTrades", first_line=first,
                header=None if first == 1 else False, after_ts_ns=after,
            ).table  # fmt: skip
            after = int(table.column("ts").cast("int64")[-1].as_py())
            yield table

    store = TradeStore(out, "binance", "BTCUSDT")
    store.ingest_stream(tables(), raw_sha256=sha, raw_name=archive.name, bad_lines=[])
    day_ns = 1_704_067_200 * 10**9  # 2024-01-01, the archive's day
    chunks = trade_tick_chunks(store, day_ns, day_ns + 86_400 * 10**9)
    return write_tick_set(out / "ticks", key="bench", chunks=chunks, info={}).rows


def peer(archive: Path, out: Path) -> int:
    names = ["id", "price", "qty", "first", "last", "time", "maker", "best"]
    # Explicit dtypes and only the columns used: no type inference, as ours.
    dtypes = {"id": "int64", "price": "float64", "qty": "float64", "time": "int64", "maker": bool}
    with zipfile.ZipFile(archive) as zf, zf.open(zf.namelist()[0]) as fh:
        df = pd.read_csv(fh, header=None, names=names, usecols=list(dtypes), dtype=dtypes)
    t = df["time"].to_numpy()
    df["ts"] = np.where(t >= 10**14, t * 1_000, t * 1_000_000)
    df["side"] = np.where(df["maker"].to_numpy(), -1, 1)
    df["notional"] = df["price"] * df["qty"]
    new = (df["ts"] != df["ts"].shift()) | (df["side"] != df["side"].shift())
    g = df.groupby(new.cumsum()).agg(
        ts=("ts", "first"), side=("side", "first"), price=("price", "last"),
        notional=("notional", "sum"),
    )  # fmt: skip
    sell = g["side"] < 0
    bid = g["price"].where(sell).ffill()
    ask = g["price"].where(~sell).ffill()
    bid = bid.fillna(ask)
    ask = ask.fillna(bid)
    ticks = pd.DataFrame(
        {
            "ts": pd.to_datetime(g["ts"], utc=True),
            "bid": bid,
            "ask": np.maximum(ask, bid),
            "vbid": g["notional"].where(sell, 0.0),
            "vask": g["notional"].where(~sell, 0.0),
        }
    )
    ticks.to_parquet(out / "ticks.parquet", compression="zstd")
    return len(ticks)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        archive = root / "BTCUSDT-aggTrades-2024-01-01.zip"
        make_archive(archive, args.rows)
        ours(archive, root / "warm")  # compile the kernel outside the timing
        t0 = time.perf_counter()
        n_ours = ours(archive, root / "ours")
        t_ours = time.perf_counter() - t0
        (root / "peer").mkdir()
        t0 = time.perf_counter()
        n_peer = peer(archive, root / "peer")
        t_peer = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rows: {args.rows:,}  ticks: ours {n_ours:,}, pandas {n_peer:,}")
    print(f"ours:   {t_ours:7.2f} s  {args.rows / t_ours / 1e6:6.2f} M rows/s")
    print(f"pandas: {t_peer:7.2f} s  {args.rows / t_peer / 1e6:6.2f} M rows/s")
    print(f"ratio (pandas / ours): {t_peer / t_ours:.1f}x   peak RSS {rss_mb:,.0f} MB")


if __name__ == "__main__":
    main()
