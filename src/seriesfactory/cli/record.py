"""``seriesfactory record``: capture live WebSocket streams to the raw tier."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from seriesfactory.cli._app import Quiet, app

if TYPE_CHECKING:
    from seriesfactory.raw.config import RecordConfig
    from seriesfactory.raw.recorder import RecordStats

from seriesfactory.core.time import NS_PER_S, parse_duration_ns
from seriesfactory.errors import NetworkError

__all__ = ["record"]


def _split(values: list[str] | None) -> tuple[str, ...] | None:
    if not values:
        return None
    return tuple(part.strip() for v in values for part in v.split(",") if part.strip())


async def _run(config: RecordConfig) -> tuple[RecordStats, dict[str, str]]:
    import asyncio
    import signal

    from seriesfactory.raw.recorder import Recorder

    recorder = Recorder(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, recorder.stop)
    try:
        return await recorder.run(), recorder.last_reasons
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


@app.command()
def record(
    venue: Annotated[
        str | None,
        typer.Option(
            "--venue", metavar="NAME", help="binance, binance-usdm, coinbase, bybit or extended."
        ),
    ] = None,
    symbol: Annotated[
        list[str] | None,
        typer.Option("--symbol", metavar="SYMBOL", help="Symbol(s); repeat or comma-separate."),
    ] = None,
    streams: Annotated[
        list[str] | None,
        typer.Option(
            "--streams", metavar="LIST", help="Streams (default: the venue's book + trades)."
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", metavar="FILE", help="TOML config file.")
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option("--cache-dir", metavar="DIR", help="Cache root (default ./cache)."),
    ] = None,
    rotate_hours: Annotated[
        float | None,
        typer.Option("--rotate-hours", metavar="HOURS", help="Rotate files every N hours."),
    ] = None,
    rotate_gb: Annotated[
        float | None, typer.Option("--rotate-gb", metavar="GB", help="Rotate files at N GB.")
    ] = None,
    reconnect_delay: Annotated[
        str | None,
        typer.Option(
            "--reconnect-delay",
            metavar="DURATION",
            help="First reconnect delay, e.g. 1s; doubled per attempt.",
        ),
    ] = None,
    reconnect_attempts: Annotated[
        int | None,
        typer.Option(
            "--reconnect-attempts",
            metavar="N",
            help="Consecutive reconnect attempts (0 = forever).",
        ),
    ] = None,
    stale_timeout: Annotated[
        str | None,
        typer.Option(
            "--stale-timeout",
            metavar="DURATION",
            help="Reconnect after this long without a message, e.g. 30s.",
        ),
    ] = None,
    duration: Annotated[
        str | None,
        typer.Option(
            "--duration",
            metavar="DURATION",
            help="Stop after this long, e.g. 90s, 2h (default: until SIGINT/SIGTERM).",
        ),
    ] = None,
    ws_url: Annotated[
        str | None, typer.Option("--ws-url", metavar="URL", help="WebSocket base URL override.")
    ] = None,
    api_url: Annotated[
        str | None, typer.Option("--api-url", metavar="URL", help="REST base URL override.")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Record live market data, exactly as received, to {cache_dir}/raw/stream/."""
    import asyncio
    import logging

    from seriesfactory.raw.config import load_record_config

    flags = {
        "venue": venue,
        "symbols": _split(symbol),
        "streams": _split(streams),
        "cache_dir": cache_dir,
        "rotate_hours": rotate_hours,
        "rotate_gb": rotate_gb,
        "reconnect_delay_s": _seconds(reconnect_delay, "--reconnect-delay"),
        "reconnect_attempts": reconnect_attempts,
        "stale_timeout_s": _seconds(stale_timeout, "--stale-timeout"),
        "duration_s": _seconds(duration, "--duration"),
        "ws_url": ws_url,
        "api_url": api_url,
    }
    cfg = load_record_config(file=config, flags=flags)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per REST call is noise
    cfg.resolved_urls()  # a malformed URL is a config error now, not a reconnect loop
    stats, reasons = asyncio.run(_run(cfg))
    typer.echo(
        f"recorded {stats.messages} messages, {stats.rest} REST snapshots, "
        f"{stats.gaps} gaps, {stats.malformed} malformed, to {cfg.stream_root}"
    )
    if stats.messages == 0:
        why = "; ".join(f"{conn}: {reason}" for conn, reason in sorted(reasons.items()))
        raise NetworkError(
            f"recorded nothing from {cfg.venue} ({why or 'no connection was made'}); "
            "check --ws-url / the network and the --symbol, then record again"
        )


def _seconds(text: str | None, option: str) -> float | None:
    """A duration option (``docs/cli.md``: a number and a unit; bare = seconds) in seconds."""
    return None if text is None else parse_duration_ns(text, option=option) / NS_PER_S
