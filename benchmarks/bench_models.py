"""A year of ticks from each model, beside the numpy floor and `stochastic`, in one run.

Each contender runs in its own subprocess (``--repeat`` times; the fastest run is reported, with
the largest peak RSS); the parent reads each child's peak RSS from ``os.wait4``. Contenders:

- ``ours:<model>``: ``Model.stream`` over a full year (63,115,200 ticks) in its default chunks,
  the complete tick output (bid, ask, vbid, vask) of every chunk touched;
- ``numpy-floor``: a bare numpy GBM: draw normals, cumulative sum, exp (1M-tick chunks, carry);
- ``stochastic:<process>``: the PyPI package ``stochastic`` (0.7, in its own venv under
  ``benchmarks/.work/stochastic-venv``, created on first use with ``--ignore-requires-python``,
  ``numpy<2`` and ``scipy<1.14``): GBM over the same year; FBM (Davies–Harte) and CIR (the Heston
  variance; a Python loop) at ``--peer-ticks`` since a year does not fit / takes minutes.

It also measures the float32 error of the FBM embedding: the largest error of the autocovariance
implied by the float32 eigenvalues, against float64 ones, at ``--fbm-error-ticks``. Run::

    .venv/bin/python benchmarks/bench_models.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
VENV = HERE / ".work" / "stochastic-venv"
YEAR = 63_115_200
START_NS = 1_735_689_600_000_000_000
SPECS = {
    "gbm": "gbm(0.05,0.5,50000)",
    "fbm": "fbm(0.05,0.5,0.7,50000)",
    "hm": "hm(0.05,0.5,3,0.4,0.6,-0.7,50000)",
    "njdm": "njdm(0.05,0.5,100,0,0.02,50000)",
    "dejdm": "dejdm(0.05,0.5,100,0.02,-0.03,0.6,50000)",
}
#: (import, timed statement) per stochastic process.
STOCHASTIC = {
    "gbm": (
        "from stochastic.processes.continuous import GeometricBrownianMotion as P",
        "x = P(0.05, 0.5, t=1.0).sample(N)",
    ),
    "fbm": (
        "from stochastic.processes.continuous import FractionalBrownianMotion as P",
        "x = P(0.7, t=1.0).sample(N)",
    ),
    "cir": (
        "from stochastic.processes.diffusion.cox_ingersoll_ross import "
        "CoxIngersollRossProcess as P",
        "x = P(speed=3.0, mean=0.16, vol=0.6, t=1.0).sample(N, initial=0.25)",
    ),
}


# -- children -------------------------------------------------------------------------------------
def child_ours(name: str, ticks: int) -> dict[str, Any]:
    from seriesfactory.sources import parse_sources, resolve_model

    model = resolve_model(parse_sources(SPECS[name])[0])
    for _ in model.stream(start_ns=START_NS, end_ns=START_NS + 2_000 * 500_000_000, seed=1):
        pass  # load the compiled kernels from numba's cache before timing
    started = time.perf_counter()
    total, checksum = 0, 0.0
    for chunk in model.stream(start_ns=START_NS, end_ns=START_NS + ticks * 500_000_000, seed=1):
        total += len(chunk)
        checksum += float(chunk.bid[-1] + chunk.vbid[-1] + chunk.vask[-1])
    return {"seconds": time.perf_counter() - started, "ticks": total, "checksum": checksum}


def child_floor(ticks: int) -> dict[str, Any]:
    import numpy as np

    rng = np.random.default_rng(1)
    vol, drift, carry = 0.5 / YEAR**0.5, (0.05 - 0.125) / YEAR, 0.0
    started = time.perf_counter()
    done, checksum = 0, 0.0
    while done < ticks:
        n = min(1 << 20, ticks - done)
        x = np.cumsum(rng.standard_normal(n) * vol + drift) + carry
        carry = float(x[-1])
        price = 50_000.0 * np.exp(x)
        checksum += float(price[-1])
        done += n
    return {"seconds": time.perf_counter() - started, "ticks": done, "checksum": checksum}


def child_fbm_error(ticks: int) -> dict[str, Any]:
    import numpy as np
    import scipy.fft

    from seriesfactory.sources.synthetic.davies_harte import eigenvalues

    out: dict[str, Any] = {"ticks": ticks}
    for hurst in (0.3, 0.7):
        lam64 = eigenvalues(ticks, hurst, "float64")
        diff = eigenvalues(ticks, hurst, "float32").astype(np.float64) - lam64
        m = 2 * (lam64.shape[0] - 1)
        del lam64
        # gamma = DCT-I(lambda) / M: the covariance each eigenvalue set implies.
        gamma_err = scipy.fft.dct(diff, type=1) / m
        out[f"H={hurst}"] = float(np.max(np.abs(gamma_err)))
    return out


def run_child(argv: list[str], repeat: int = 1) -> dict[str, Any]:
    """Run one contender ``repeat`` times: the fastest run, with the largest peak RSS (MB)."""
    runs = [_run_once(argv) for _ in range(repeat)]
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[0]
    best = min(ok, key=lambda r: float(r["seconds"]))
    best["rss_mb"] = max(float(r["rss_mb"]) for r in ok)
    return best


def _run_once(argv: list[str]) -> dict[str, Any]:
    """Run one contender once; its JSON result plus its own peak RSS in MB."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}"}
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["rss_mb"] = usage.ru_maxrss / 1024
    return result


def stochastic_python() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--ignore-requires-python",
             "stochastic", "numpy<2", "scipy<1.14"],
            check=True,
        )  # fmt: skip
    return python


def stochastic_argv(kind: str, ticks: int) -> list[str]:
    setup, statement = STOCHASTIC[kind]
    code = (
        "import json, time\n"
        f"{setup}\n"
        f"N = {ticks}\n"
        "t0 = time.perf_counter()\n"
        f"{statement}\n"
        "print(json.dumps({'seconds': time.perf_counter() - t0, 'ticks': N}))\n"
    )
    return [str(stochastic_python()), "-c", code]


# -- parent ---------------------------------------------------------------------------------------
def line(label: str, r: dict[str, Any], floor: float | None) -> str:
    if "error" in r:
        return f"{label:<26} {r['error']}"
    rate = r["ticks"] / r["seconds"] / 1e6
    ratio = f"{rate / floor:5.2f}x floor" if floor else ""
    return (
        f"{label:<26} {r['ticks']:>11,} ticks {r['seconds']:7.2f} s {rate:7.2f} Mticks/s "
        f"{r['rss_mb']:7.0f} MB  {ratio}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=YEAR)
    parser.add_argument("--peer-ticks", type=int, default=1 << 22)
    parser.add_argument("--fbm-error-ticks", type=int, default=1 << 24)
    parser.add_argument("--models", default=",".join(SPECS))
    parser.add_argument("--no-stochastic", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="runs per contender; the fastest")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, _, name = args.child.partition(":")
        if kind == "ours":
            result = child_ours(name, args.ticks)
        elif kind == "floor":
            result = child_floor(args.ticks)
        else:
            result = child_fbm_error(args.ticks)
        print(json.dumps(result))
        return

    me = [sys.executable, str(Path(__file__).resolve())]
    rep = args.repeat
    floor_argv = [*me, "--child", "floor", "--ticks", str(args.ticks)]
    # Fill numba's on-disk cache so compile time is never timed.
    _run_once([*me, "--child", "ours:hm", "--ticks", "1000"])
    floors: list[float] = []
    rates: dict[str, float] = {}
    for name in args.models.split(","):
        # The floor is re-measured beside each model (alternating runs), so a change of
        # load on the shared machine moves both sides of the ratio alike.
        ours_argv = [*me, "--child", f"ours:{name}", "--ticks", str(args.ticks)]
        pair = [(run_child(floor_argv), run_child(ours_argv)) for _ in range(rep)]
        floor = min((p[0] for p in pair), key=lambda r: float(r["seconds"]))
        r = min((p[1] for p in pair), key=lambda r: float(r["seconds"]))
        r["rss_mb"] = max(float(p[1]["rss_mb"]) for p in pair)
        floor_rate = floor["ticks"] / floor["seconds"] / 1e6
        floors.append(floor_rate)
        print(line(f"numpy floor (beside {name})", floor, floor_rate))
        print(line(f"ours {name}", r, floor_rate))
        rates[f"ours {name}"] = r["ticks"] / r["seconds"]
    floor_rate = max(floors)
    if not args.no_stochastic:
        sto = run_child(stochastic_argv("gbm", args.ticks), rep)
        print(line("stochastic gbm", sto, floor_rate))
        rates["stochastic gbm"] = sto["ticks"] / sto["seconds"]
        for kind in ("fbm", "cir"):
            r = run_child(stochastic_argv(kind, args.peer_ticks), rep)
            print(line(f"stochastic {kind}", r, floor_rate))
            rates[f"stochastic {kind}"] = r["ticks"] / r["seconds"]
        ours_fbm = run_child([*me, "--child", "ours:fbm", "--ticks", str(args.peer_ticks)], rep)
        print(line("ours fbm (peer size)", ours_fbm, floor_rate))
        rates["ours fbm (peer size)"] = ours_fbm["ticks"] / ours_fbm["seconds"]
        ours_hm = run_child([*me, "--child", "ours:hm", "--ticks", str(args.peer_ticks)], rep)
        print(line("ours hm (peer size)", ours_hm, floor_rate))
        rates["ours hm (peer size)"] = ours_hm["ticks"] / ours_hm["seconds"]
        for ours, peer in (
            ("ours gbm", "stochastic gbm"),
            ("ours fbm (peer size)", "stochastic fbm"),
            ("ours hm (peer size)", "stochastic cir"),
        ):
            if ours in rates and peer in rates:
                print(f"{ours} / {peer}: {rates[ours] / rates[peer]:.2f}x")
    err = _run_once([*me, "--child", "fbm-error", "--ticks", str(args.fbm_error_ticks)])
    print(f"fbm float32 autocovariance error (max |dgamma|, gamma(0) = 1): {err}")


if __name__ == "__main__":
    main()
