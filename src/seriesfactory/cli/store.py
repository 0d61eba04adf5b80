"""The store commands: ``db up|down|init|migrate|status|export-trades``, ``ingest``,
``daemon``, ``pipeline run|schedule`` and ``status`` (``docs/store.md``)."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from seriesfactory.cli._app import (
    CacheDir,
    Config,
    OnBadRows,
    PairAlias,
    Quiet,
    aliased,
    app,
    out_format_choice,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from seriesfactory.config import Settings
    from seriesfactory.service.daemon import (
        Job,
    )
    from seriesfactory.store.io import Store
    from seriesfactory.transforms.bars import BarSpec

from seriesfactory.errors import InputError, SeriesFactoryError

__all__ = ["db_app", "pipeline_app"]

db_app = typer.Typer(help="The PostgreSQL store: a local server, migrations.", no_args_is_help=True)
pipeline_app = typer.Typer(help="Ingest and build bars for the configured pairs.",
                           no_args_is_help=True)  # fmt: skip
app.add_typer(db_app, name="db")
app.add_typer(pipeline_app, name="pipeline")

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url", metavar="URL", help="postgresql://... (or SERIESFACTORY_DATABASE_URL)."
    ),
]
SinceAlias = Annotated[
    str | None, typer.Option("--since", metavar="WHEN", hidden=True, help="Old name of --from.")
]
UntilAlias = Annotated[
    str | None, typer.Option("--until", metavar="WHEN", hidden=True, help="Old name of --to.")
]
DataDir = Annotated[
    Path, typer.Option("--data-dir", metavar="DIR", help="Folder of the local cluster.")
]
Interval = Annotated[
    str, typer.Option("--interval", metavar="DURATION", help="Polling period, e.g. 15m.")
]


@contextlib.contextmanager
def _store(url: str | None, config: Path | None, *, init: bool = True) -> Iterator[Store]:
    from seriesfactory.store.db import connect, resolve_url
    from seriesfactory.store.io import Store
    from seriesfactory.store.schema import migrate

    conn = connect(resolve_url(url, config))
    try:
        if init:
            migrate(conn)
        store = Store(conn)
        try:
            yield store
        finally:
            store.close()
    finally:
        conn.close()


def _ts(ns: int | None) -> str:
    from seriesfactory.store.io import from_ns

    if ns is None:
        return "-"
    return from_ns(ns).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- db ----------------------------------------------------------------------------------------
@db_app.command("up")
def db_up(
    data_dir: DataDir = Path("pgdata"),
    port: Annotated[
        int | None, typer.Option("--port", metavar="N", help="TCP port (default: a free one).")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Start a local PostgreSQL cluster in --data-dir (initdb on first use); print its URL."""
    from seriesfactory.store import cluster

    got = cluster.up(data_dir, port=port)
    print(got.url)


@db_app.command("down")
def db_down(data_dir: DataDir = Path("pgdata"), quiet: Quiet = False) -> None:
    """Stop the local cluster of --data-dir."""
    from seriesfactory.store import cluster

    stopped = cluster.down(data_dir)
    print(f"stopped {data_dir}" if stopped else f"no server was running in {data_dir}")


def _migrate(url: str | None, config: Path | None) -> None:
    from seriesfactory.store.db import connect, mask_url, resolve_url
    from seriesfactory.store.schema import migrate, schema_info

    resolved = resolve_url(url, config)
    conn = connect(resolved)
    try:
        applied = migrate(conn)
        info = schema_info(conn)
    finally:
        conn.close()
    what = f"applied {', '.join(map(str, applied))}" if applied else "already up to date"
    print(f"schema version {info.version} ({what}) at {mask_url(resolved)}")


@db_app.command("init")
def db_init(database_url: DatabaseUrl = None, config: Config = None, quiet: Quiet = False) -> None:
    """Create the tables (the migrations from empty); a no-op when they exist."""
    _migrate(database_url, config)


@db_app.command("migrate")
def db_migrate(
    database_url: DatabaseUrl = None, config: Config = None, quiet: Quiet = False
) -> None:
    """Apply the migrations not applied yet."""
    _migrate(database_url, config)


@db_app.command("status")
def db_status(
    database_url: DatabaseUrl = None, config: Config = None, quiet: Quiet = False
) -> None:
    """Schema version, storage path (TimescaleDB or monthly partitions), table sizes."""
    from seriesfactory.store.db import connect, mask_url, resolve_url
    from seriesfactory.store.schema import schema_info

    resolved = resolve_url(database_url, config)
    conn = connect(resolved)
    try:
        info = schema_info(conn)
        print(f"database: {mask_url(resolved)}")
        print(f"schema version: {info.version} (latest {info.latest})")
        path = "TimescaleDB hypertables" if info.timescale else "native monthly partitions"
        print(f"storage: {path}")
        if info.version:
            for table in ("raw_trades", "bars", "builder_state", "ingest_log", "heartbeat"):
                row = conn.execute(
                    "SELECT pg_total_relation_size(c.oid) + coalesce(sum(pg_total_relation_size("
                    "i.inhrelid)), 0) FROM pg_class c LEFT JOIN pg_inherits i ON i.inhparent = "
                    "c.oid WHERE c.oid = to_regclass(%s) GROUP BY c.oid",
                    (table,),
                ).fetchone()
                size = int(row[0]) if row else 0
                parts = info.partitions.get(table, 0)
                extra = f", {parts} partitions" if parts else ""
                print(f"  {table}: {size / 1e6:.1f} MB{extra}")
        if info.version < info.latest:
            print("run 'seriesfactory db migrate' to bring the schema up to date")
    finally:
        conn.close()


def _range(from_: str | None, to: str | None) -> tuple[int | None, int | None]:
    from seriesfactory.service.ingest import parse_when

    lo = parse_when(from_, "--from") if from_ else None
    hi = parse_when(to, "--to") if to else None
    if lo is not None and hi is not None and lo >= hi:
        raise InputError("--from must be before --to (--to is exclusive)")
    return lo, hi


@db_app.command("export-trades")
def db_export_trades(
    venue: Annotated[str, typer.Option("--venue", metavar="NAME", help="coinbase, binance, ...")],
    symbol: Annotated[str, typer.Option("--symbol", metavar="SYMBOL", help="e.g. ETH-USD.")],
    output: Annotated[Path, typer.Option("--output", metavar="FILE", help="Parquet file.")],
    from_: Annotated[
        str | None, typer.Option("--from", metavar="WHEN", help="Start (inclusive).")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", metavar="WHEN", help="End (exclusive).")] = None,
    database_url: DatabaseUrl = None,
    config: Config = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --output.")] = False,
    pair_alias: PairAlias = None,
    quiet: Quiet = False,
) -> None:
    """Write the stored trades of one pair to Parquet (read by binary COPY)."""
    from seriesfactory.core.atomic import atomic_write_parquet
    from seriesfactory.service.ingest import pair_name

    symbol = aliased(symbol, pair_alias, name="--symbol", old_name="--pair")
    if output.suffix.lower() != ".parquet":
        raise InputError(f"--output {output}: export-trades writes Parquet; name it *.parquet")
    if output.exists() and not overwrite:
        raise InputError(f"--output {output} exists; pass --overwrite to replace it")
    lo, hi = _range(from_, to)
    pair = pair_name(venue, symbol)
    with _store(database_url, config) as store:
        table = store.read_trades(venue, pair, lo, hi)
    atomic_write_parquet(output, table, metadata={"seriesfactory.trades": f"{venue} {pair}"})
    print(f"{table.num_rows} trades -> {output}")


# -- ingest ------------------------------------------------------------------------------------
@app.command("ingest")
def ingest_cmd(
    venue: Annotated[
        str, typer.Argument(metavar="VENUE", help="coinbase, binance, binance-usdm, binance-coinm.")
    ],
    symbol: Annotated[
        str, typer.Argument(metavar="SYMBOL", help="e.g. ETH-USD (coinbase), BTCUSDT (binance).")
    ],
    from_: Annotated[
        str | None,
        typer.Option("--from", metavar="WHEN", help="Start: YYYY-MM-DD or ISO instant."),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option("--to", metavar="WHEN", help="End, exclusive (default now)."),
    ] = None,
    database_url: DatabaseUrl = None,
    config: Config = None,
    cache_dir: CacheDir = Path("cache"),
    on_bad_rows: OnBadRows = "error",
    quiet: Quiet = False,
    since: SinceAlias = None,
    until: UntilAlias = None,
) -> None:
    """Store a pair's trades in raw_trades, resuming where the stored ones end."""
    from seriesfactory.config import load_settings
    from seriesfactory.service.daemon import install_stop_handlers
    from seriesfactory.service.ingest import Progress, ingest, pair_name

    from_ = aliased(from_, since, name="--from", old_name="--since")
    to = aliased(to, until, name="--to", old_name="--until")
    pair = pair_name(venue.lower(), symbol)
    lo, hi = _range(from_, to)
    settings = load_settings(config)
    stop = threading.Event()
    install_stop_handlers(stop)
    with _store(database_url, config) as store:
        if lo is None:
            spans = store.coverage(venue.lower(), pair).spans
            if not spans:
                raise InputError(f"{venue} {pair}: nothing stored yet; give --from YYYY-MM-DD")
            lo = spans[0][0]
        progress = Progress(f"{venue} {pair}", lo, hi or time.time_ns(), quiet=quiet)
        try:
            result = ingest(
                store, venue.lower(), symbol, lo, hi, settings=settings, cache_dir=cache_dir,
                stop=stop, progress=progress, on_bad_rows=on_bad_rows,
            )  # fmt: skip
        finally:
            progress.close()
    for note in result.notes:
        typer.echo(f"warning: {venue} {pair}: {note}", err=True)
    print(
        f"{venue} {pair}: {result.inserted} new trades of {result.trades} fetched in "
        f"{result.batches} batches; stored up to {_ts(result.covered_to_ns)}"
    )
    if stop.is_set():
        typer.echo("stopped after the last committed batch; rerun to continue", err=True)
        raise typer.Exit(130)


# -- daemon and pipeline -----------------------------------------------------------------------
def _specs(settings: Settings) -> list[BarSpec]:
    from seriesfactory.service.bars import parse_bar_spec

    return [parse_bar_spec(text) for text in settings.store_bars]


def _config_jobs(settings: Settings) -> list[Job]:
    from seriesfactory.service.daemon import parse_job

    if not settings.store_pairs:
        raise InputError(
            'no pairs configured: set store_pairs = ["ETH-USD", "binance:BTCUSDT"] in the '
            "--config file"
        )
    return [parse_job(text, settings.store_venue) for text in settings.store_pairs]


@app.command("daemon")
def daemon_cmd(
    symbols: Annotated[
        list[str], typer.Argument(metavar="PAIR", help="Pairs: ETH-USD or venue:SYMBOL.")
    ],
    venue: Annotated[
        str, typer.Option("--venue", metavar="NAME", help="Venue of pairs given without one.")
    ] = "",
    interval: Interval = "15m",
    from_: Annotated[
        str | None,
        typer.Option("--from", metavar="WHEN", help="First backfill's start (new pairs)."),
    ] = None,
    duration: Annotated[
        str | None, typer.Option("--duration", metavar="DURATION", help="Stop after this long.")
    ] = None,
    database_url: DatabaseUrl = None,
    config: Config = None,
    cache_dir: CacheDir = Path("cache"),
    since: SinceAlias = None,
    quiet: Quiet = False,
) -> None:
    """Backfill each pair, then poll every --interval, building the configured bars inline."""
    from seriesfactory.config import load_settings
    from seriesfactory.service.daemon import parse_job

    from_ = aliased(from_, since, name="--from", old_name="--since")
    settings = load_settings(config)
    jobs = [parse_job(text, venue.lower() or settings.store_venue) for text in symbols]
    _daemon(jobs, settings, interval, from_, duration, database_url, config, cache_dir)


def _daemon(
    jobs: list[Job], settings: Settings, interval: str, from_: str | None,
    duration: str | None, url: str | None, config: Path | None, cache_dir: Path,
) -> None:  # fmt: skip
    from seriesfactory.service.daemon import install_stop_handlers, run_daemon
    from seriesfactory.service.ingest import parse_duration_s, parse_when
    from seriesfactory.store.db import connect, mask_url, resolve_url

    interval_s = parse_duration_s(interval, "--interval")
    duration_s = parse_duration_s(duration, "--duration") if duration else None
    since = parse_when(from_, "--from") if from_ else None
    specs = _specs(settings)
    resolved = resolve_url(url, config)
    connect(resolved).close()  # a wrong URL is a clear error now, not a retry loop
    stop = threading.Event()
    install_stop_handlers(stop)
    names = ", ".join(f"{j.venue}:{j.symbol}" for j in jobs)
    typer.echo(f"daemon: {names} every {interval} into {mask_url(resolved)}", err=True)
    run_daemon(resolved, jobs, specs, interval_s=interval_s, settings=settings,
               cache_dir=cache_dir, since_ns=since, duration_s=duration_s, stop=stop)  # fmt: skip
    typer.echo("daemon: stopped", err=True)


@pipeline_app.command("run")
def pipeline_run(
    database_url: DatabaseUrl = None,
    config: Config = None,
    cache_dir: CacheDir = Path("cache"),
    from_: Annotated[
        str | None, typer.Option("--from", metavar="WHEN", help="Start for new pairs.")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """One cycle for every configured pair: ingest up to now, build the configured bars."""
    from seriesfactory.config import load_settings
    from seriesfactory.service.daemon import run_cycle
    from seriesfactory.service.ingest import parse_when

    settings = load_settings(config)
    jobs = _config_jobs(settings)
    specs = _specs(settings)
    since = parse_when(from_, "--from") if from_ else None
    with _store(database_url, config) as store:
        outcome = run_cycle(store, jobs, specs, settings=settings, cache_dir=cache_dir,
                            since_ns=since)  # fmt: skip
    failed = [j for j, err in outcome.items() if err]
    if failed:
        raise SeriesFactoryError(f"{len(failed)} of {len(jobs)} pairs failed (see above)")


@pipeline_app.command("schedule")
def pipeline_schedule(
    interval: Interval = "15m",
    database_url: DatabaseUrl = None,
    config: Config = None,
    cache_dir: CacheDir = Path("cache"),
    duration: Annotated[
        str | None, typer.Option("--duration", metavar="DURATION", help="Stop after this long.")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Run a cycle every --interval (the daemon over the configured pairs)."""
    from seriesfactory.config import load_settings

    settings = load_settings(config)
    _daemon(_config_jobs(settings), settings, interval, None, duration, database_url, config,
            cache_dir)  # fmt: skip


# -- status ------------------------------------------------------------------------------------
@app.command("status")
def status_cmd(
    database_url: DatabaseUrl = None,
    config: Config = None,
    gap: Annotated[
        str,
        typer.Option("--gap", metavar="DURATION", help="Report spans without trades this long."),
    ] = "1h",
    venue: Annotated[
        str | None, typer.Option("--venue", metavar="NAME", help="Only this venue.")
    ] = None,
    symbol: Annotated[
        str | None, typer.Option("--symbol", metavar="SYMBOL", help="Only this pair.")
    ] = None,
    pair_alias: PairAlias = None,
    quiet: Quiet = False,
) -> None:
    """Per pair: trades, first/last trade, bars per type, last update, heartbeat age, gaps."""
    from seriesfactory.service.ingest import parse_duration_s
    from seriesfactory.store.db import mask_url, resolve_url

    symbol = aliased(symbol, pair_alias, name="--symbol", old_name="--pair")
    gap_s = parse_duration_s(gap, "--gap")
    resolved = resolve_url(database_url, config)
    with _store(resolved, None) as store:
        conn = store.conn
        print(f"database: {mask_url(resolved)}")
        pairs = conn.execute(
            "SELECT source, pair, count(*), min(timestamp), max(timestamp) FROM raw_trades"
            " WHERE (%s::text IS NULL OR source = %s) AND (%s::text IS NULL OR pair = %s)"
            " GROUP BY source, pair ORDER BY source, pair",
            (venue, venue, symbol, symbol),
        ).fetchall()
        if not pairs:
            print("no trades stored" + (" for that selection" if venue or symbol else ""))
        now = dt.datetime.now(dt.UTC)
        for source, pair, count, first, last in pairs:
            print(f"{source} {pair}: {count} trades, {_iso(first)} .. {_iso(last)}")
            for bar_type, n in conn.execute(
                "SELECT bar_type, count(*) FROM bars WHERE source = %s AND pair = %s"
                " GROUP BY bar_type ORDER BY bar_type",
                (source, pair),
            ).fetchall():
                print(f"  bars {bar_type}: {n}")
            row = conn.execute(
                "SELECT max(logged_at) FROM ingest_log WHERE source = %s AND pair = %s",
                (source, pair),
            ).fetchone()
            print(f"  last update: {_iso(row[0]) if row else '-'}")
            beat = conn.execute(
                "SELECT last_poll, trades_added, lag_s, last_error FROM heartbeat"
                " WHERE source = %s AND pair = %s",
                (source, pair),
            ).fetchone()
            if beat is not None:
                age = f"{(now - beat[0]).total_seconds():.0f} s ago" if beat[0] else "never"
                lag = f", lag {beat[2]:.0f} s" if beat[2] is not None else ""
                print(f"  heartbeat: last poll {age}, +{beat[1]} trades{lag}")
                if beat[3]:
                    print(f"  last error: {mask_url(beat[3])}")
            gaps = conn.execute(
                "SELECT prev, timestamp FROM (SELECT timestamp, lag(timestamp) OVER"
                " (ORDER BY timestamp, trade_id) AS prev FROM raw_trades"
                " WHERE source = %s AND pair = %s) g"
                " WHERE timestamp - prev > make_interval(secs => %s) ORDER BY prev LIMIT 21",
                (source, pair, gap_s),
            ).fetchall()
            for lo, hi in gaps[:20]:
                print(f"  gap: {_iso(lo)} .. {_iso(hi)} ({(hi - lo).total_seconds():.0f} s)")
            if len(gaps) > 20:
                print(f"  (more gaps longer than {gap})")


def _iso(value: dt.datetime | None) -> str:
    from seriesfactory.store.io import to_ns

    return _ts(to_ns(value)) if value is not None else "-"


# -- bars in the store (used by cli/bars.py) ----------------------------------------------------
def store_build(
    spec: BarSpec, venue: str | None, symbol: str | None, url: str | None, config: Path | None
) -> None:
    """``bars build --store postgres``: continue the bars of a stored pair."""
    from seriesfactory.service.bars import bar_type_name, build_pair
    from seriesfactory.service.ingest import pair_name

    if venue is None or symbol is None:
        raise InputError("--store postgres needs --venue and --symbol (the stored pair)")
    pair = pair_name(venue.lower(), symbol)
    with _store(url, config) as store:
        added = build_pair(store, venue.lower(), pair, spec)
        total = store.conn.execute(
            "SELECT count(*) FROM bars WHERE bar_type = %s AND source = %s AND pair = %s",
            (bar_type_name(spec), venue.lower(), pair),
        ).fetchone()
    n = int(total[0]) if total else 0
    print(f"{added} new {bar_type_name(spec)} bars of {venue} {pair} ({n} stored)")


def store_export(
    bar_type: str, venue: str | None, symbol: str | None, output: Path, fmt: str,
    url: str | None, config: Path | None,
) -> pa.Table:  # fmt: skip
    """``bars export --store postgres``: the stored bars of one type and pair."""
    if symbol is None:
        raise InputError("--store postgres needs --symbol (the stored pair), e.g. ETH-USD")
    with _store(url, config) as store:
        names = [
            r[0]
            for r in store.conn.execute(
                "SELECT DISTINCT bar_type FROM bars WHERE pair = %s"
                " AND (%s::text IS NULL OR source = %s)",
                (symbol, venue, venue),
            ).fetchall()
        ]
        chosen = bar_type if bar_type in names else None
        if chosen is None:
            family = [n for n in names if n.split("_", 1)[0] == bar_type]
            if len(family) == 1:
                chosen = family[0]
            else:
                known = ", ".join(sorted(names)) or "none"
                raise InputError(
                    f"--type {bar_type[:40]!r}: no single stored bar type of {symbol[:40]!r} "
                    f"matches; stored: {known}"
                )
        table = store.read_bars(chosen, venue, symbol)
    out_format_choice(fmt)
    return table
