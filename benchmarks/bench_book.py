"""Book rebuild speed: level updates per second on one core, kernel vs its plain-Python twin.

The stream is the real Binance spot (or USD-M) BTCUSDT recording of 2024-08-08
(hftbacktest, MIT): its REST snapshot and the diffs after it, replayed ``--repeat``
times with ids and times shifted (each round a resync from the snapshot, then ``U == u' + 1``),
sampled on a 100 ms grid, top 10. Parsing JSON is not timed: the figure is the
book engine's (``BookBuilder.update``: ticks, sequence rule, level updates, grid rows).

Run::

    .venv/bin/python benchmarks/bench_book.py [--repeat 60] [--market spot|usdm]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from seriesfactory.raw.readers import read_records
from seriesfactory.sources._book_base import get_parser
from seriesfactory.transforms.book import nb
from seriesfactory.transforms.book.api import BookBuilder, infer_price_decimals, parse_records
from seriesfactory.transforms.book.reference import reference_book

SHARED = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "binance" / "hftbacktest"
)


def build_stream(market: str, repeat: int) -> tuple[np.ndarray, int, int]:
    """(events, rule, price decimals) for the snapshot + ``repeat`` rounds of diffs."""
    venue = "binance" if market == "spot" else "binance-usdm"
    parser = get_parser(venue, "BTCUSDT")
    events, _ = parse_records(parser, read_records([SHARED / market / "btcusdt_20240808.gz"]))
    decimals = infer_price_decimals(events["price"][events["side"] != 0])
    snap_at = np.flatnonzero(events["flags"] & nb.F_SNAPSHOT)
    snap_end = int(snap_at[-1]) + 1
    snapshot = events[int(snap_at[0]) : snap_end]
    diffs = events[snap_end:]
    diffs = diffs[diffs["last_id"] > snapshot["last_id"][0]]  # the diffs applied after it
    id_step = int(diffs["last_id"][-1]) + 1 - int(diffs["first_id"][0])
    ts_step = int(diffs["ts"][-1] - diffs["ts"][0]) + 100_000_000
    parts = []
    for k in range(repeat):
        part = np.concatenate([snapshot, diffs])  # each round resyncs from the true snapshot
        for col in ("first_id", "last_id"):
            part[col] += k * id_step
        part["prev_id"] = np.where(part["prev_id"] >= 0, part["prev_id"] + k * id_step, -1)
        part["ts"] += k * ts_step
        parts.append(part)
    return np.concatenate(parts), parser.rule, decimals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=60)
    ap.add_argument("--market", choices=("spot", "usdm"), default="spot")
    ap.add_argument("--peer-repeat", type=int, default=2)
    args = ap.parse_args()
    events, rule, decimals = build_stream(args.market, args.repeat)
    levels = int(np.count_nonzero(events["side"] != 0))

    def run(ev: np.ndarray) -> tuple[float, np.ndarray]:
        b = BookBuilder(rule=rule, price_decimals=decimals, interval_ns=100_000_000, depth=10)
        t0 = time.perf_counter()
        msgs, _ = b.update(ev)
        b.finish()
        return time.perf_counter() - t0, msgs

    run(events[:1000])  # compile / load the cache
    best = min(run(events)[0] for _ in range(3))
    _, msgs = run(events)
    bad = np.isin(msgs["status"], [nb.ST_GAP, nb.ST_UNSYNCED, nb.ST_STALE]) | msgs["crossed"]
    assert not bad.any(), "the replayed stream must stay in sequence and uncrossed"
    rate = levels / best

    peer_events, _, _ = build_stream(args.market, args.peer_repeat)
    cols = {
        k: peer_events[k] for k in ("ts", "side", "qty", "first_id", "last_id", "prev_id", "flags")
    }
    cols["tick"] = np.rint(np.nan_to_num(peer_events["price"]) * 10**decimals).astype(np.int64)
    t0 = time.perf_counter()
    reference_book(cols, rule, 100_000_000, 10)
    peer_rate = int(np.count_nonzero(peer_events["side"] != 0)) / (time.perf_counter() - t0)

    print(
        f"book rebuild ({args.market} BTCUSDT, {args.repeat} replays): {levels:,} level updates, "
        f"{len(msgs):,} messages in {best:.3f} s = {rate / 1e6:.2f} M level updates/s"
    )
    print(
        f"peer: plain-Python twin (dict book): {peer_rate / 1e6:.3f} M level updates/s; "
        f"ratio {rate / peer_rate:.0f}x"
    )


if __name__ == "__main__":
    main()
