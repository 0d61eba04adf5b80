"""Cost of integrity on every read: the warm aggregation stage with and without the checks.

Over the tick cache of ``bench_aggregate.py`` (built on first use), times in one process,
interleaved, ``--repeat`` times each:

- ``verified``  : the series aggregation stage as shipped (each tick file's seal — size and
  footer CRC-32 — checked when the set is opened, every page's CRC-32 checked as it is decoded)
- ``unchecked`` : the same stage with the checks switched off (``lake.integrity.VERIFY = False``),
  the peer

and prints the best and median wall and CPU seconds of each and the ratios (CPU time, summed
over threads, is the steadier figure on a loaded machine). Run::

    .venv/bin/python benchmarks/bench_integrity.py --ticks 30000000
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
#: The tick cache and constants of bench_aggregate.py (one cache for both benchmarks).
AGG = importlib.import_module("bench_aggregate")
DAY_NS, FROM_NS, STEP_MS, TICKS_PER_DAY = AGG.DAY_NS, AGG.FROM_NS, AGG.STEP_MS, AGG.TICKS_PER_DAY


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--ticks", type=int, default=30_000_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()

    from seriesfactory.lake import integrity
    from seriesfactory.lake.ticks import TickSet
    from seriesfactory.pipeline.series import aggregate_tick_set
    from seriesfactory.transforms.aggregates import AggregationParams

    root, rows = AGG.build_cache(args.ticks)
    days = -(-args.ticks // TICKS_PER_DAY)
    end_ns = FROM_NS + days * DAY_NS
    params = AggregationParams(mode="time", step=STEP_MS)

    def run(verify: bool) -> tuple[float, float]:
        integrity.VERIFY = verify
        started, cpu = time.perf_counter(), time.process_time()
        ticks = TickSet.open(root)
        assert ticks is not None
        arrays, _ = aggregate_tick_set(ticks, params, end_ns)
        assert arrays.rows > 0
        return time.perf_counter() - started, time.process_time() - cpu

    run(True)  # compile / warm the page cache
    times: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for _ in range(args.repeat):
        for verify in (True, False):
            times[verify].append(run(verify))
    integrity.VERIFY = True
    print(f"{rows:,} ticks, 1-minute buckets, every field; {args.repeat} runs each, interleaved")
    print("contender   best wall s  median wall s  best CPU s  median CPU s (all threads)")
    for verify, name in ((True, "verified"), (False, "unchecked")):
        wall = [t[0] for t in times[verify]]
        cpu = [t[1] for t in times[verify]]
        print(f"{name:10s} {min(wall):11.3f}  {statistics.median(wall):13.3f}  "
              f"{min(cpu):10.3f}  {statistics.median(cpu):12.3f}")  # fmt: skip
    for i, what in ((0, "wall"), (1, "CPU")):
        v = [t[i] for t in times[True]]
        u = [t[i] for t in times[False]]
        print(
            f"verified / unchecked, {what}: {min(v) / min(u):.3f} (best), "
            f"{statistics.median(v) / statistics.median(u):.3f} (median); aim <= 1.10"
        )


if __name__ == "__main__":
    main()
