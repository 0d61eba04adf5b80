"""Benchmark: one Binance aggTrades archive into the ticks tier, beside pandas.

Generates a spot aggTrades archive in the documented format (no header, 8
columns, millisecond times, eight decimals, ``True``/``False`` as in the real
spot files) with ``--rows`` rows, then times, in one process:

- ours: ``venue_ticks``, what ``series`` runs once the archive is in the raw
  tier (re-verified against its ``.CHECKSUM``: one SHA-256 pass): ISA-L
  inflate on one thread -> the numba CSV kernel and the trades-to-ticks kernel
  on a second -> the ticks tier (Parquet, fsync'd, renamed) on the caller's;
- peer: ``pandas.read_csv`` -> the same conversion in pandas (ms/µs per value,
  side, grouping of consecutive same-time same-side trades, bid/ask forward
  fill, a clip in place of the sequential crossing guard) -> ``to_parquet``.

Then runs each stage of ours alone (verify, inflate, parse, trades to ticks,
write) and prints its CPU seconds and the two-core bound: the time of ours if
every stage overlapped perfectly on both cores (half the summed CPU, or the
longest stage), as a ratio to pandas.

Prints rows/s for both and the ratio. Usage::

    .venv/bin/python benchmarks/bench_ingest.py --rows 5000000
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pyarrow as pa

from seriesfactory.config import load_settings
from seriesfactory.lake.ticks import write_tick_set
from seriesfactory.pipeline.exchange import venue_ticks
from seriesfactory.schema import TickArrays
from seriesfactory.sources.binance.history import iter_member_pieces
from seriesfactory.sources.binance.parse import parse_trades_csv
from seriesfactory.transforms.ticks import TickBuilder

DAY_MS = 86_400_000
RAW = "raw/binance/data/spot/daily/aggTrades/BTCUSDT"


def make_archive(path: Path, rows: int, day_ms: int, seed: int = 0) -> None:
    """A spot aggTrades day archive with its ``.CHECKSUM`` (``sha256  name``)."""
    rng = np.random.default_rng(seed)
    ts = day_ms + np.sort(rng.integers(0, DAY_MS, rows))
    price = 42_000 + np.cumsum(rng.normal(0, 0.5, rows))
    qty = rng.exponential(0.05, rows)
    maker = np.where(rng.random(rows) < 0.5, "True", "False")
    ids = np.arange(rows)
    frame = pd.DataFrame(
        {"a": ids, "p": price, "q": qty, "f": ids, "l": ids, "t": ts, "m": maker, "b": "True"}
    )
    text = frame.to_csv(header=False, index=False, float_format="%.8f")
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(path.name.replace(".zip", ".csv"), text)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_name(path.name + ".CHECKSUM").write_text(f"{digest}  {path.name}\n")


def ours(cache: Path, day: str) -> int:
    """``venue_ticks`` for one day whose archive is already in the raw tier."""
    from_ns = int(np.datetime64(day, "ns").astype(np.int64))
    # No request may leave the machine: the archive is cached, the URL is unreachable.
    settings = load_settings(env={}, binance_data_url="http://127.0.0.1:9")
    got = venue_ticks(
        "binance", base="BTC", quote="USDT", from_ns=from_ns, to_ns=from_ns + DAY_MS * 10**6,
        cache_dir=cache, settings=settings,
    )  # fmt: skip
    assert got.generated
    return got.ticks.rows


def stage_seconds(archive: Path, out: Path) -> dict[str, float]:
    """CPU seconds of each stage of ``ours`` run alone, one after the other."""
    clock = time.thread_time
    cpu: dict[str, float] = {}
    t0 = clock()
    hashlib.sha256(archive.read_bytes()).hexdigest()
    cpu["verify (sha256)"] = clock() - t0
    t0 = clock()
    pieces = [data for _m, data in iter_member_pieces(archive, max_bytes=1 << 34)]
    cpu["inflate (ISA-L)"] = clock() - t0
    t0 = clock()
    parsed = [
        parse_trades_csv(d, name="b", market="spot", kind="aggTrades", header=False).table
        for d in pieces
    ]
    cpu["parse (numba)"] = clock() - t0
    t0 = clock()
    builder = TickBuilder()
    ticks = []
    for t in parsed:
        price, qty = t.column("price").to_numpy(), t.column("qty").to_numpy()
        ts, side = t.column("ts").cast(pa.int64()).to_numpy(), t.column("side").to_numpy()
        ticks.append(builder.update(ts, price, price * qty, side))
    ticks.append(builder.finish())
    cpu["trades to ticks"] = clock() - t0
    cols = [np.concatenate([t[k] for t, _ in ticks]) for k in range(5)]
    age = np.concatenate([a for _, a in ticks])
    step = 1 << 20  # the row group size of ours
    chunks = [
        (TickArrays(*(c[i : i + step] for c in cols)), age[i : i + step])
        for i in range(0, len(age), step)
    ]
    t0 = clock()
    write_tick_set(out, key="stages", chunks=chunks, info={})
    cpu["write ticks tier"] = clock() - t0
    return cpu


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
        cache = root / "cache"
        make_archive(cache / RAW / "BTCUSDT-aggTrades-2023-12-31.zip", 20_000, 1_703_980_800_000)
        ours(cache, "2023-12-31")  # compile the kernels outside the timing
        archive = cache / RAW / "BTCUSDT-aggTrades-2024-01-01.zip"
        make_archive(archive, args.rows, 1_704_067_200_000)
        t0 = time.perf_counter()
        n_ours = ours(cache, "2024-01-01")
        t_ours = time.perf_counter() - t0
        (root / "peer").mkdir()
        t0 = time.perf_counter()
        n_peer = peer(archive, root / "peer")
        t_peer = time.perf_counter() - t0
        cpu = stage_seconds(archive, root / "stages")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rows: {args.rows:,}  ticks: ours {n_ours:,}, pandas {n_peer:,}")
    print(f"ours:   {t_ours:7.2f} s  {args.rows / t_ours / 1e6:6.2f} M rows/s")
    print(f"pandas: {t_peer:7.2f} s  {args.rows / t_peer / 1e6:6.2f} M rows/s")
    print(f"ratio (pandas / ours): {t_peer / t_ours:.1f}x   peak RSS {rss_mb:,.0f} MB")
    print("CPU seconds per stage, run alone: " + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items()))
    bound = max(sum(cpu.values()) / 2, *cpu.values())
    print(
        f"two-core bound (all stages perfectly overlapped on both cores): {bound:.2f} s "
        f"= {t_peer / bound:.1f}x pandas"
    )


if __name__ == "__main__":
    main()
