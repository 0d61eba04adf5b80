"""``seriesfactory download``: fetch verified raw archives only (nothing is parsed)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import pyarrow.compute as pc
import typer
from rich.console import Console

from seriesfactory._time import NS_PER_DAY, format_range_part, parse_date
from seriesfactory.cli._app import app
from seriesfactory.config import Settings, load_settings
from seriesfactory.errors import InputError
from seriesfactory.lake.atomic import atomic_write_parquet
from seriesfactory.raw.download import Downloader
from seriesfactory.sources.binance.history import (
    MARKETS,
    ArchiveKind,
    fetch_archives,
    plan_archives,
    read_single_member,
    symbol_for,
)
from seriesfactory.sources.binance.klines import parse_klines_csv
from seriesfactory.sources.bybit import history as bybit_history
from seriesfactory.sources.coinbase import history as coinbase_history

_KINDS: tuple[ArchiveKind, ...] = ("aggTrades", "trades", "klines")


def _kind(text: str) -> ArchiveKind:
    for k in _KINDS:
        if k.lower() == text.lower():
            return k
    raise InputError(f"--kind {text!r} is unknown; use {', '.join(_KINDS)}")


@app.command()
def download(
    from_: Annotated[str, typer.Option("--from", help="Start day, YYYY-MM-DD.")],
    to: Annotated[str, typer.Option("--to", help="End day, exclusive, YYYY-MM-DD.")],
    source: Annotated[
        str,
        typer.Option("--source", help="binance, binance-usdm, binance-coinm, bybit, coinbase."),
    ] = "binance",
    base: Annotated[str, typer.Option("--base")] = "BTC",
    quote: Annotated[str, typer.Option("--quote")] = "USDT",
    kind: Annotated[str, typer.Option("--kind", help="aggTrades, trades or klines.")] = "aggTrades",
    interval: Annotated[str, typer.Option("--interval", help="Kline interval, e.g. 1m.")] = "1m",
    cache_dir: Annotated[Path, typer.Option("--cache-dir")] = Path("cache"),
    config: Annotated[Path | None, typer.Option("--config", help="TOML settings file.")] = None,
    candles_dir: Annotated[
        Path | None,
        typer.Option("--candles-dir", help="With --kind klines: also write the candles here."),
    ] = None,
) -> None:
    """Download raw files into the raw tier (verified; resumes; reuses what is there).

    Binance: archives with their checksums (``--kind``); Bybit: the daily trading
    files; Coinbase: the day's REST trade pages.
    """
    settings = load_settings(config)
    from_ns = parse_date(from_, option="--from")
    to_ns = parse_date(to, option="--to")
    if from_ns >= to_ns:
        raise InputError("--from must be before --to (--to is exclusive)")
    if source in ("bybit", "coinbase"):
        _download_other(source, base, quote, from_ns, to_ns, cache_dir, settings)
        return
    if source not in MARKETS:
        names = ", ".join([*MARKETS, "bybit", "coinbase"])
        raise InputError(f"--source {source!r} is unknown; use {names}")
    market = MARKETS[source]
    archive_kind = _kind(kind)
    symbol = symbol_for(market, base, quote)
    today = time.time_ns() // NS_PER_DAY
    plan, recent = plan_archives(
        market, archive_kind, symbol, from_ns, to_ns, today_index=today, interval=interval
    )
    with Downloader(settings) as dl:
        got = fetch_archives(
            plan,
            cache_dir=cache_dir,
            settings=settings,
            downloader=dl,
            market=market,
            kind=archive_kind,
            symbol=symbol,
            interval=interval,
        )
        retries = dl.retries_done
    console = Console(highlight=False)
    for _archive, path in got:
        console.print(f"{path}  {path.stat().st_size:,} bytes")
    if candles_dir is not None:
        if archive_kind != "klines":
            raise InputError("--candles-dir needs --kind klines")
        parts = []
        for _archive, path in got:
            member, data = read_single_member(path, max_bytes=settings.max_member_bytes)
            parts.append(parse_klines_csv(data, name=f"{path}!{member}"))
        if parts:
            table = pa.concat_tables(parts)
            ts = table.column("open_time").cast(pa.int64())
            table = table.filter(pc.and_(pc.greater_equal(ts, from_ns), pc.less(ts, to_ns)))
            span = f"{format_range_part(from_ns)}-{format_range_part(to_ns)}"
            out = candles_dir / f"{symbol}_{source}_klines-{interval}_{span}.parquet".lower()
            atomic_write_parquet(out, table)
            console.print(f"{table.num_rows:,} candles; wrote {out}")
    missing = len({d for a in plan for d in a.days}) - len({d for a, _ in got for d in a.days})
    console.print(
        f"{len(got)} archive(s) verified; {missing} day(s) not on the server; "
        f"{len(recent)} day(s) not archived yet; {retries} retried request(s)"
    )


def _download_other(
    source: str,
    base: str,
    quote: str,
    from_ns: int,
    to_ns: int,
    cache_dir: Path,
    settings: Settings,
) -> None:
    with Downloader(settings) as dl:
        if source == "bybit":
            paths, missing = bybit_history.fetch_days(
                bybit_history.bybit_symbol(base, quote), from_ns, to_ns,
                cache_dir=cache_dir, settings=settings, downloader=dl,
            )  # fmt: skip
        else:
            missing = []
            paths = coinbase_history.fetch_days(
                coinbase_history.product_id(base, quote), from_ns, to_ns,
                cache_dir=cache_dir, settings=settings, downloader=dl,
            )  # fmt: skip
    console = Console(highlight=False)
    for path in paths:
        console.print(f"{path}  {path.stat().st_size:,} bytes")
    console.print(f"{len(paths)} file(s); {len(missing)} day(s) not on the server")
