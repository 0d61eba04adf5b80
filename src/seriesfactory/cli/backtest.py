"""``seriesfactory backtest calibrate|run|grid|spread``: thin over ``seriesfactory.backtest``."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from seriesfactory.cli._app import (
    Overwrite,
    Quiet,
    app,
    check_output,
    refuse_clobber,
    refuse_existing,
)
from seriesfactory.core import progress
from seriesfactory.core.names import check_symbol, check_venue
from seriesfactory.core.time import parse_duration_ns
from seriesfactory.errors import InputError

backtest_app = typer.Typer(
    help="Avellaneda-Stoikov market making: calibration, backtests, grid search, spreads."
)
app.add_typer(backtest_app, name="backtest")

Book = Annotated[
    Path | None,
    typer.Option("--book", metavar="FILE", help="Book snapshots Parquet ('book snapshots')."),
]
Trades = Annotated[
    Path | None, typer.Option("--trades", metavar="FILE", help="Trades CSV or Parquet.")
]
Inputs = Annotated[
    list[Path] | None,
    typer.Option("--input", metavar="FILE", help="Recorded file(s); repeat the option."),
]
Venue = Annotated[
    str | None, typer.Option("--venue", metavar="NAME", help="Venue of --input recordings.")
]
Symbol = Annotated[
    str | None, typer.Option("--symbol", metavar="SYMBOL", help="Symbol of --input recordings.")
]
OnBadFrames = Annotated[
    str,
    typer.Option(
        "--on-bad-frames", metavar="error|skip", help="Damaged capture frames: error or skip."
    ),
]
InputFormat = Annotated[
    str,
    typer.Option("--input-format", metavar="NAME", help="auto, native, hftbacktest, cryptofeed."),
]
Interval = Annotated[
    str,
    typer.Option(
        "--interval",
        metavar="DURATION",
        help="Book grid of --input recordings; 'message': a row after every book message.",
    ),
]
Depth = Annotated[
    int, typer.Option("--depth", metavar="N", help="Levels per side for --input recordings.")
]
ConfigFile = Annotated[
    Path | None,
    typer.Option("--config", metavar="FILE", help="TOML or the Extended tool's config.json."),
]
Sets = Annotated[
    list[str] | None,
    typer.Option("--set", metavar="KEY=VALUE", help="Any config key: --set key=value; repeat."),
]
Gamma = Annotated[
    float | None, typer.Option("--risk-aversion-gamma", metavar="GAMMA", help="Risk aversion γ.")
]
Horizon = Annotated[
    float | None,
    typer.Option("--inventory-horizon-seconds", metavar="SECONDS", help="Horizon T in seconds."),
]
GammaMode = Annotated[
    str | None,
    typer.Option(
        "--gamma-mode",
        metavar="constant|inventory_scaled|max_shift",
        help="constant, inventory_scaled or max_shift.",
    ),
]
FillModel = Annotated[
    str | None,
    typer.Option(
        "--fill-model", metavar="through|at", help="through (default) or at (queue model)."
    ),
]
Latency = Annotated[
    str | None, typer.Option("--latency", metavar="DURATION", help="Order latency, e.g. 50ms.")
]
OrderSize = Annotated[
    float | None, typer.Option("--order-size", metavar="QTY", help="Base units per quote.")
]
MaxInv = Annotated[float | None, typer.Option("--max-inventory", metavar="QTY", help="Base units.")]


def parse_duration(text: str, option: str) -> float:
    """``'100ms'`` -> 0.1 (seconds); a bare number is seconds; zero and negatives refused."""
    return parse_duration_ns(text, option=option) / 1e9


def _sets(items: list[str] | None) -> tuple[dict[str, Any], dict[str, str]]:
    values: dict[str, Any] = {}
    where: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set {item!r}: write key=value, e.g. --set maker_fee_bps=1.0")
        values[key.strip()] = value.strip()
        where[key.strip()] = f"--set {key.strip()}"
    return values, where


def _config(
    path: Path | None,
    sets: list[str] | None,
    *,
    gamma: float | None = None,
    horizon: float | None = None,
    gamma_mode: str | None = None,
    fill_model: str | None = None,
    latency: str | None = None,
    order_size: float | None = None,
    max_inventory: float | None = None,
) -> Any:
    from seriesfactory.backtest.config import _read, make_config

    values: dict[str, Any] = {}
    where: dict[str, str] = {}
    if path is not None:
        for key, value in _read(path).items():
            values[key] = value
            where[key] = f"--config {path}"
    extra, extra_where = _sets(sets)
    values.update(extra)
    where.update(extra_where)
    flags = {
        "risk_aversion_gamma": ("--risk-aversion-gamma", gamma),
        "inventory_horizon_seconds": ("--inventory-horizon-seconds", horizon),
        "gamma_mode": ("--gamma-mode", gamma_mode),
        "fill_model": ("--fill-model", fill_model),
        "latency_seconds": ("--latency", parse_duration(latency, "--latency") if latency else None),
        "order_size": ("--order-size", order_size),
        "max_inventory": ("--max-inventory", max_inventory),
    }
    for key, (flag, value) in flags.items():
        if value is not None:
            values[key] = value
            where[key] = flag
    return make_config(values, where)


def _market(
    book: Path | None,
    trades: Path | None,
    inputs: list[Path] | None,
    venue: str | None,
    symbol: str | None,
    input_format: str,
    interval: str,
    depth: int,
    tick: float,
    *,
    on_bad_frames: str = "error",
) -> Any:
    from seriesfactory.backtest.data import load_market, load_recordings

    if inputs and (book or trades):
        raise InputError("give either --book with --trades, or --input recordings, not both")
    if inputs:
        if not venue or not symbol:
            raise InputError("--input recordings need --venue and --symbol")
        check_venue(venue)
        check_symbol(symbol, venue=venue)
        from seriesfactory.raw.readers import on_bad_frames_choice

        on_bad_frames_choice(on_bad_frames)
        if depth < 1:
            raise InputError(f"--depth must be at least 1, got {depth}")
        return load_recordings(
            inputs,
            venue=venue,
            symbol=symbol,
            input_format=input_format,
            interval_ns=0
            if interval.strip().lower() == "message"
            else parse_duration_ns(interval, option="--interval"),
            depth=depth,
            tick=tick,
            on_bad_frames=on_bad_frames,
        )
    if book is None:
        raise InputError("give --book FILE with --trades FILE, or --input recordings")
    if trades is None:
        raise InputError("--book needs --trades FILE (the backtest fills quotes from trades)")
    return load_market(book, trades, tick=tick)


def _print_table(title: str, rows: list[dict[str, Any]], quiet: bool) -> None:
    if quiet or not rows:
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for key in rows[0]:
        table.add_column(key, justify="right")
    for r in rows:
        table.add_row(*(_fmt(v) for v in r.values()))
    Console(width=200).print(table)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.6g}"
    return str(v)


def _write_table(path: Path, rows: list[dict[str, Any]]) -> None:
    import pyarrow as pa

    from seriesfactory.core.atomic import atomic_write_bytes, atomic_write_parquet

    table = pa.Table.from_pylist(rows)
    if path.suffix.lower() == ".csv":
        import pyarrow.csv as pacsv

        sink = pa.BufferOutputStream()
        pacsv.write_csv(table, sink)
        atomic_write_bytes(path, sink.getvalue().to_pybytes())
    else:
        atomic_write_parquet(path, table)


@backtest_app.command("calibrate")
def calibrate(
    output: Annotated[
        Path,
        typer.Option(
            "--output", metavar="FILE", help="calib.json; with --every a .parquet or .csv table."
        ),
    ],
    book: Book = None,
    trades: Trades = None,
    inputs: Inputs = None,
    venue: Venue = None,
    symbol: Symbol = None,
    input_format: InputFormat = "auto",
    on_bad_frames: OnBadFrames = "error",
    interval: Interval = "100ms",
    depth: Depth = 10,
    config: ConfigFile = None,
    sets: Sets = None,
    window: Annotated[
        str | None,
        typer.Option(
            "--window", metavar="DURATION", help="Refit window (with --every), e.g. 3600 or 1h."
        ),
    ] = None,
    every: Annotated[
        str | None, typer.Option("--every", metavar="DURATION", help="Refit every, e.g. 600.")
    ] = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Fit σ, κ and A per side: one fit over the input, or rolling refits as a table."""
    from seriesfactory.backtest.calibration import calibrate as fit
    from seriesfactory.backtest.calibration import rolling
    from seriesfactory.core.atomic import atomic_write_json

    cfg = _config(config, sets)
    given = [p for p in (book, trades) if p] + list(inputs or [])
    check_output(output, overwrite=overwrite, inputs=given)
    mk = _market(
        book, trades, inputs, venue, symbol, input_format, interval, depth, cfg.tick_size,
        on_bad_frames=on_bad_frames,
    )  # fmt: skip
    if (window is None) != (every is None):
        raise InputError("--window and --every go together (e.g. --window 3600 --every 600)")
    if window is not None and every is not None:
        w = parse_duration(window, "--window")
        e = parse_duration(every, "--every")
        if output.suffix.lower() not in (".parquet", ".csv"):
            raise InputError(
                f"--output {output}: rolling refits are a table; name a .parquet or .csv"
            )
        cals = rolling(mk, cfg, w, e)
        if not cals:
            raise InputError(
                f"the input is shorter than the warm-up ({cfg.warmup_period_seconds:g} s): no refit"
            )
        rows = []
        for c in cals:
            d = c.to_dict()
            d["fallback"] = "; ".join(d["fallback"])
            rows.append(d)
        _write_table(output, rows)
        _print_table(
            "rolling calibration",
            [
                {
                    k: r[k]
                    for k in (
                        "window_end",
                        "sigma",
                        "kappa_bid",
                        "kappa_ask",
                        "a_bid",
                        "a_ask",
                        "n_bid",
                        "n_ask",
                    )
                }
                for r in rows
            ],
            quiet,
        )
        print(f"{output}: {len(rows)} refits")
        return
    if output.suffix.lower() != ".json":
        raise InputError(f"--output {output}: one calibration is JSON; name a .json file")
    c = fit(mk, int(mk.ts[0]), int(mk.ts[-1]) + 1, cfg)
    atomic_write_json(output, c.to_dict())
    d = c.to_dict()
    _print_table(
        "calibration",
        [
            {
                k: d[k]
                for k in ("sigma", "kappa_bid", "kappa_ask", "a_bid", "a_ask", "n_bid", "n_ask")
            }
        ],
        quiet,
    )
    for note in c.fallback:
        print(f"fallback: {note}")
    print(f"{output}")


@backtest_app.command("run")
def run(
    book: Book = None,
    trades: Trades = None,
    inputs: Inputs = None,
    venue: Venue = None,
    symbol: Symbol = None,
    input_format: InputFormat = "auto",
    on_bad_frames: OnBadFrames = "error",
    interval: Interval = "100ms",
    depth: Depth = 10,
    config: ConfigFile = None,
    sets: Sets = None,
    gamma: Gamma = None,
    horizon: Horizon = None,
    gamma_mode: GammaMode = None,
    fill_model: FillModel = None,
    latency: Latency = None,
    order_size: OrderSize = None,
    max_inventory: MaxInv = None,
    output_dir: Annotated[
        Path, typer.Option("--output-dir", metavar="DIR", help="Output directory.")
    ] = Path("output"),
    report: Annotated[bool, typer.Option("--report", help="Also write report.html.")] = False,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Replay the market through the AS quoter; fills, timeline, summary (and a report)."""
    import pyarrow.csv as pacsv

    from seriesfactory.backtest.engine import run_backtest
    from seriesfactory.backtest.report import run_report
    from seriesfactory.core.atomic import (
        atomic_write_bytes,
        atomic_write_json,
        atomic_write_parquet,
    )

    cfg = _config(
        config,
        sets,
        gamma=gamma,
        horizon=horizon,
        gamma_mode=gamma_mode,
        fill_model=fill_model,
        latency=latency,
        order_size=order_size,
        max_inventory=max_inventory,
    )
    names = [
        "fills.parquet",
        "timeline.parquet",
        "backtest_results.csv",
        "as_results.csv",
        "summary.json",
    ] + (["report.html"] if report else [])
    refuse_existing([output_dir / n for n in names], overwrite)
    mk = _market(
        book, trades, inputs, venue, symbol, input_format, interval, depth, cfg.tick_size,
        on_bad_frames=on_bad_frames,
    )  # fmt: skip
    with progress.current().task("backtest", total=1, unit="runs") as task:
        res = run_backtest(mk, cfg)
        task.advance(1)
    output_dir.mkdir(parents=True, exist_ok=True)
    fills, tl = res.fills_table(), res.timeline_table()
    written = [
        atomic_write_parquet(output_dir / "fills.parquet", fills),
        atomic_write_parquet(output_dir / "timeline.parquet", tl),
    ]
    for name, table in (("backtest_results.csv", fills), ("as_results.csv", tl)):
        import pyarrow as pa

        sink = pa.BufferOutputStream()
        pacsv.write_csv(table, sink)
        written.append(atomic_write_bytes(output_dir / name, sink.getvalue().to_pybytes()))
    written.append(atomic_write_json(output_dir / "summary.json", _jsonable(res.summary)))
    if report:
        written.append(run_report(output_dir / "report.html", res.timeline, res.fills, res.summary))
    s = res.summary
    _print_table(
        "backtest",
        [
            {
                k: s[k]
                for k in (
                    "pnl",
                    "fills_bid",
                    "fills_ask",
                    "fees",
                    "final_inventory",
                    "max_drawdown",
                    "sharpe",
                    "time_quoting",
                )
            }
        ],
        quiet,
    )
    if not s["time_quoting"]:
        span_s = (int(mk.ts[-1]) - int(mk.ts[0])) / 1e9 if len(mk.ts) else 0.0
        print(
            f"warning: nothing was quoted: the book spans {span_s:,.0f} s and quoting starts after "
            f"warmup_period_seconds = {cfg.warmup_period_seconds:g} s of valid book (and again "
            "after each gap); give more data or --set warmup_period_seconds=N",
            file=sys.stderr,
        )
    for p in written:
        print(p)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_jsonable(v) for v in obj]
    return obj


def _values(text: str, option: str) -> list[float]:
    out = []
    for tok in text.split(","):
        try:
            out.append(float(tok))
        except ValueError:
            raise InputError(f"{option} {text!r}: {tok.strip()!r} is not a number") from None
    return out


@backtest_app.command("grid")
def grid(
    book: Book = None,
    trades: Trades = None,
    inputs: Inputs = None,
    venue: Venue = None,
    symbol: Symbol = None,
    input_format: InputFormat = "auto",
    on_bad_frames: OnBadFrames = "error",
    interval: Interval = "100ms",
    depth: Depth = 10,
    config: ConfigFile = None,
    sets: Sets = None,
    horizons: Annotated[
        str | None,
        typer.Option(
            "--horizons", metavar="LIST", help="inventory_horizon_seconds values, e.g. 60,300."
        ),
    ] = None,
    gammas: Annotated[
        str | None,
        typer.Option("--gammas", metavar="LIST", help="risk_aversion_gamma values, e.g. 0.01,0.1."),
    ] = None,
    grids: Annotated[
        list[str] | None,
        typer.Option("--grid", metavar="KEY=V1,V2", help="Any key: --grid key=v1,v2; repeat."),
    ] = None,
    jobs: Annotated[
        int, typer.Option("--jobs", metavar="N", help="Processes (0 = every core).")
    ] = 0,
    metric: Annotated[
        str, typer.Option("--metric", metavar="NAME", help="Heatmap metric.")
    ] = "pnl",
    output_dir: Annotated[
        Path, typer.Option("--output-dir", metavar="DIR", help="Output directory.")
    ] = Path("output"),
    report: Annotated[bool, typer.Option("--report", help="Also write grid_report.html.")] = False,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Every combination of the gridded parameters; a table, the best per metric, a heatmap."""
    from seriesfactory.backtest.grid import METRICS, best_per_metric, combinations, run_grid
    from seriesfactory.backtest.report import grid_report
    from seriesfactory.core.atomic import atomic_write_json

    cfg = _config(config, sets)
    spec: dict[str, list[Any]] = {}
    origin: dict[str, str] = {}
    if horizons:
        spec["inventory_horizon_seconds"] = _values(horizons, "--horizons")
        origin["inventory_horizon_seconds"] = "--horizons"
    if gammas:
        spec["risk_aversion_gamma"] = _values(gammas, "--gammas")
        origin["risk_aversion_gamma"] = "--gammas"
    for item in grids or []:
        key, sep, vals = item.partition("=")
        if not sep:
            raise InputError(f"--grid {item!r}: write key=v1,v2, e.g. --grid min_spread_bps=2,5")
        spec[key.strip()] = [v.strip() for v in vals.split(",")]
        origin[key.strip()] = f"--grid {key.strip()}"
    if not spec:
        raise InputError("give at least one of --horizons, --gammas or --grid key=v1,v2")
    if metric not in METRICS:
        raise InputError(f"--metric {metric!r} is unknown; use one of {', '.join(METRICS)}")
    if jobs < 0:
        raise InputError(f"--jobs must be 0 (every core) or more, got {jobs}")
    configs = combinations(cfg, spec, origin)
    names = ["grid_results.parquet", "grid_results.csv", "grid_best.json"]
    names += ["grid_report.html"] if report else []
    refuse_existing([output_dir / n for n in names], overwrite)
    mk = _market(
        book, trades, inputs, venue, symbol, input_format, interval, depth, cfg.tick_size,
        on_bad_frames=on_bad_frames,
    )  # fmt: skip
    with progress.current().task("backtest grid", total=len(configs), unit="runs") as task:
        results = run_grid(mk, configs, jobs=jobs, progress=lambda _done: task.advance(1))
    keys = list(spec)
    rows = [
        {**{k: getattr(c, k) for k in keys}, **r} for c, r in zip(configs, results, strict=True)
    ]
    best = best_per_metric(rows, keys)
    output_dir.mkdir(parents=True, exist_ok=True)
    _write_table(output_dir / "grid_results.parquet", rows)
    _write_table(output_dir / "grid_results.csv", rows)
    atomic_write_json(output_dir / "grid_best.json", _jsonable(best))
    _print_table("grid", rows, quiet)
    _print_table(
        "best per metric",
        [
            {"metric": m, "at": ", ".join(f"{k}={_fmt(b[k])}" for k in keys), "value": b[m]}
            for m, b in best.items()
        ],
        quiet,
    )
    if report:
        print(grid_report(output_dir / "grid_report.html", rows, keys, best, metric))
    print(output_dir / "grid_results.parquet")


@backtest_app.command("spread")
def spread(
    book: Book = None,
    trades: Trades = None,
    inputs: Inputs = None,
    venue: Venue = None,
    symbol: Symbol = None,
    input_format: InputFormat = "auto",
    on_bad_frames: OnBadFrames = "error",
    interval: Interval = "100ms",
    depth: Depth = 10,
    config: ConfigFile = None,
    sets: Sets = None,
    gamma: Gamma = None,
    horizon: Horizon = None,
    gamma_mode: GammaMode = None,
    inventory: Annotated[
        float, typer.Option("--inventory", metavar="QTY", help="Current inventory, base units.")
    ] = 0.0,
    output: Annotated[
        Path | None, typer.Option("--output", metavar="FILE", help="Also write JSON here.")
    ] = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """The optimal bid and ask now, from the latest calibration window of the input."""
    if output is not None:
        refuse_clobber(output, overwrite)
    from seriesfactory.backtest.calibration import calibrate as fit
    from seriesfactory.backtest.quoting import GAMMA_MODES, as_quote
    from seriesfactory.core.atomic import atomic_write_json

    cfg = _config(config, sets, gamma=gamma, horizon=horizon, gamma_mode=gamma_mode)
    mk = _market(
        book, trades, inputs, venue, symbol, input_format, interval, depth, cfg.tick_size,
        on_bad_frames=on_bad_frames,
    )  # fmt: skip
    end = int(mk.ts[-1]) + 1
    c = fit(mk, end - int(cfg.calibration_window_seconds * 1e9), end, cfg)
    use = mk.usable.nonzero()[0]
    mid = float(mk.mid[use[-1]])
    bid, ask, res, g = as_quote(
        mid,
        c.sigma,
        c.kappa_bid,
        c.kappa_ask,
        inventory,
        cfg.order_size,
        cfg.max_inventory,
        cfg.inventory_horizon_seconds,
        cfg.risk_aversion_gamma,
        GAMMA_MODES[cfg.gamma_mode],
        cfg.gamma_inventory_scale,
        cfg.max_shift_bps,
        cfg.min_spread_bps,
        cfg.max_spread_bps,
        mk.tick,
    )
    out = {
        "ts": int(mk.ts[use[-1]]),
        "mid": mid,
        "bid": bid,
        "ask": ask,
        "reservation": res,
        "spread_bps": (ask - bid) / mid * 1e4,
        "gamma": g,
        "inventory": inventory,
        "calibration": c.to_dict(),
    }
    if output is not None:
        atomic_write_json(output, out)
    print(json.dumps(_jsonable(out), indent=2))
