"""Recorder configuration: frozen pydantic models from a TOML file, the environment and flags.

Precedence: flags > environment > file > defaults. Defaults point at the exchanges'
real hosts. A TOML file holds the same keys as :class:`RecordConfig` at top level
(or under a ``[record]`` table)::

    venue = "binance"
    symbols = ["btcusdt", "ethusdt"]
    streams = ["depth@100ms", "trade"]
    rotate_hours = 1          # FILE_ROTATION_HOURS in MIDAS
    rotate_gb = 1             # FILE_ROTATION_GB
    reconnect_delay_s = 5     # RECONNECT_DELAY_SECS
    reconnect_attempts = 0    # MAX_RECONNECT_ATTEMPTS, 0 = forever

An unknown key is an error naming it. Environment variables: the venue's
``SERIESFACTORY_<VENUE>_WS_URL`` / ``..._API_URL`` (see each ``sources/<venue>/ws.py``)
and ``SERIESFACTORY_CACHE_DIR``, ``SERIESFACTORY_FILE_ROTATION_HOURS``,
``SERIESFACTORY_FILE_ROTATION_GB``, ``SERIESFACTORY_RECONNECT_DELAY_SECS``,
``SERIESFACTORY_MAX_RECONNECT_ATTEMPTS``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from seriesfactory.core.names import check_symbol
from seriesfactory.errors import ConfigError, InputError
from seriesfactory.sources._ws_base import ws_venue

__all__ = ["RecordConfig", "load_record_config"]

#: MIDAS-style environment variables and the fields they set.
_ENV_FIELDS = {
    "SERIESFACTORY_CACHE_DIR": "cache_dir",
    "SERIESFACTORY_FILE_ROTATION_HOURS": "rotate_hours",
    "SERIESFACTORY_FILE_ROTATION_GB": "rotate_gb",
    "SERIESFACTORY_RECONNECT_DELAY_SECS": "reconnect_delay_s",
    "SERIESFACTORY_MAX_RECONNECT_ATTEMPTS": "reconnect_attempts",
}


class RecordConfig(BaseModel):
    """Everything one ``seriesfactory record`` run needs (keyword-only, frozen)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    venue: str
    symbols: tuple[str, ...] = Field(min_length=1)
    #: Streams to record; empty means the venue's defaults.
    streams: tuple[str, ...] = ()
    #: The cache root; captures go to ``{cache_dir}/raw/stream/``.
    cache_dir: Path = Path("cache")
    rotate_hours: float = Field(default=1.0, gt=0)
    rotate_gb: float = Field(default=1.0, gt=0)
    #: First reconnect delay (s); doubles per failed attempt up to ``reconnect_max_delay_s``.
    reconnect_delay_s: float = Field(default=5.0, ge=0)
    reconnect_max_delay_s: float = Field(default=60.0, ge=0)
    #: Consecutive failed reconnects before giving up; 0 = forever.
    reconnect_attempts: int = Field(default=0, ge=0)
    #: WebSocket protocol ping interval and the time a pong may take (s).
    ping_interval_s: float = Field(default=20.0, gt=0)
    ping_timeout_s: float = Field(default=20.0, gt=0)
    #: Reconnect when a connection delivers nothing for this long (s).
    stale_timeout_s: float = Field(default=60.0, gt=0)
    open_timeout_s: float = Field(default=10.0, gt=0)
    rest_timeout_s: float = Field(default=10.0, gt=0)
    #: Application-level ping interval (s) for venues that need one (``None``: the venue's).
    app_ping_s: float | None = Field(default=None, gt=0)
    #: Seconds between heartbeat log lines.
    heartbeat_s: float = Field(default=60.0, gt=0)
    #: End a zstd frame at least this often (s): the most a crash can lose.
    flush_s: float = Field(default=1.0, gt=0, le=1.0)
    #: Stop after this many seconds (``None``: run until signalled).
    duration_s: float | None = Field(default=None, gt=0)
    #: WebSocket / REST base URLs (``None``: environment, then the venue's real host).
    ws_url: str | None = None
    api_url: str | None = None

    @field_validator("venue")
    @classmethod
    def _known_venue(cls, value: str) -> str:
        ws_venue(value)  # raises ConfigError naming the known venues
        return value

    @field_validator("symbols")
    @classmethod
    def _path_safe_symbols(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        venue = info.data.get("venue")
        for symbol in value:
            try:
                check_symbol(symbol, venue=venue)  # a symbol becomes a folder name
            except InputError as exc:
                raise ConfigError(str(exc)) from None
        return value

    @property
    def stream_root(self) -> Path:
        """The raw stream tier: ``{cache_dir}/raw/stream``."""
        return self.cache_dir / "raw" / "stream"

    def resolved_streams(self) -> tuple[str, ...]:
        """The streams to record: as given, else the venue's defaults."""
        return self.streams or ws_venue(self.venue).default_streams

    def resolved_urls(self, env: Mapping[str, str] | None = None) -> tuple[str, str]:
        """``(ws_url, api_url)``: this config's, else the environment's, else the venue's.

        Raises
        ------
        ConfigError
            A URL that is not ``ws(s)://host...`` (WebSocket) or ``http(s)://host...``
            (REST), naming the option or environment variable it came from.
        """
        environ = os.environ if env is None else env
        venue = ws_venue(self.venue)
        ws_from = (
            "--ws-url" if self.ws_url else next((k for k in venue.ws_env if environ.get(k)), "")
        )
        api_from = (
            "--api-url" if self.api_url else next((k for k in venue.api_env if environ.get(k)), "")
        )
        ws = self.ws_url or (environ[ws_from] if ws_from else venue.ws_url)
        api = self.api_url or (environ[api_from] if api_from else venue.api_url)
        _check_url(ws, ("ws", "wss"), ws_from or f"{self.venue}'s WebSocket URL")
        if api:  # a venue without REST snapshots has none
            _check_url(api, ("http", "https"), api_from or f"{self.venue}'s REST URL")
        return ws, api


def _check_url(url: str, schemes: tuple[str, ...], origin: str) -> None:
    """Refuse a base URL that cannot be connected to (a config error, not a network one)."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigError(f"{origin} {url!r} is not a URL ({exc})") from None
    if parts.scheme not in schemes or not parts.hostname or any(c.isspace() for c in url):
        want = " or ".join(f"{s}://host[:port]/..." for s in schemes)
        raise ConfigError(f"{origin} {url!r} is not a valid base URL; write {want}")
    del port


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start}); save the TOML file as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    if "record" in data and isinstance(data["record"], dict):
        extra = sorted(set(data) - {"record"})
        if extra:
            raise ConfigError(f"{path}: unknown key {extra[0]!r} beside [record]")
        data = data["record"]
    unknown = sorted(set(data) - set(RecordConfig.model_fields))
    if unknown:
        known = ", ".join(RecordConfig.model_fields)
        raise ConfigError(f"{path}: unknown key {unknown[0]!r}; known keys: {known}")
    return data


def load_record_config(
    *,
    file: Path | None = None,
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> RecordConfig:
    """Merge defaults < ``file`` < environment < ``flags`` into one validated config.

    ``flags`` values that are ``None`` (options not given) are ignored.

    Raises
    ------
    ConfigError
        An unknown key, a bad value or a missing venue/symbol, naming the field.
    """
    environ = os.environ if env is None else env
    merged: dict[str, Any] = {}
    if file is not None:
        merged.update(_read_file(Path(file)))
    for var, field in _ENV_FIELDS.items():
        if environ.get(var):
            merged[field] = environ[var]
    merged.update({k: v for k, v in (flags or {}).items() if v is not None and v != ()})
    if isinstance(merged.get("symbols"), str):
        merged["symbols"] = [merged["symbols"]]
    where = f" in {file}" if file is not None else ""
    try:
        return RecordConfig(**merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "config"
        cause = err.get("ctx", {}).get("error")
        message = str(cause) if isinstance(cause, ConfigError) else err["msg"]
        if message.startswith("--"):  # already names its option (a checked name)
            raise ConfigError(f"{message}{where}") from None
        raise ConfigError(f"record config{where}: {field}: {message}") from None
