"""Settings: validated once at the edge, frozen, keyword-only.

Precedence (later wins): defaults < TOML file < environment. The TOML file is
the path given to :func:`load_settings`, else ``$SERIESFACTORY_CONFIG``, else
none. Its keys are the field names below, at the top level or in a
``[seriesfactory]`` table; an unknown key is an error (a typo never silently
falls back to a default). Every field can also be set by the environment
variable ``SERIESFACTORY_<FIELD IN UPPER CASE>``, e.g.
``SERIESFACTORY_BINANCE_DATA_URL=http://127.0.0.1:8000``.

Example ``seriesfactory.toml``::

    binance_data_url = "https://data.binance.vision"
    raw_retention_days = 30
    raw_max_bytes = 53687091200
    download_concurrency = 4
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from seriesfactory.errors import ConfigError

if TYPE_CHECKING:
    from seriesfactory.core.storage import StorageOptions

__all__ = ["ENV_PREFIX", "Settings", "load_settings"]

ENV_PREFIX = "SERIESFACTORY_"
_GIB = 1 << 30


class Settings(BaseModel):
    """Every tunable of the exchange sources and the raw tier.

    URLs are base URLs without a trailing slash; durations are in seconds unless
    the name says otherwise; sizes in bytes.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    binance_data_url: str = "https://data.binance.vision"
    binance_spot_api_url: str = "https://api.binance.com"
    binance_usdm_api_url: str = "https://fapi.binance.com"
    binance_coinm_api_url: str = "https://dapi.binance.com"
    bybit_data_url: str = "https://public.bybit.com"
    coinbase_api_url: str = "https://api.coinbase.com"

    #: Raw files not used for this many days are removed by ``cache gc``.
    raw_retention_days: float = Field(default=30.0, ge=0)
    #: ``cache gc`` evicts least-recently-used raw files above this total size.
    raw_max_bytes: int = Field(default=50 * _GIB, ge=0)
    #: Tick sets and aggregates not used for this many days are removed by ``cache gc``
    #: (rebuilt on demand from the raw tier or the model spec).
    derived_retention_days: float = Field(default=30.0, ge=0)
    #: At most this many downloads run at once.
    download_concurrency: int = Field(default=4, ge=1, le=64)
    #: Retries of a transient failure (HTTP 429/5xx, reset, truncated body).
    download_retries: int = Field(default=5, ge=0, le=50)
    #: Backoff before retry ``k`` (0-based): ``min(max, base * 2**k)`` x U(0.5, 1.5).
    backoff_base_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=30.0, ge=0)
    #: Connect/read timeout of one HTTP request.
    http_timeout_s: float = Field(default=60.0, gt=0)
    #: A zip member larger than this (uncompressed) is refused.
    max_member_bytes: int = Field(default=16 * _GIB, gt=0)
    #: Binance REST calls per second for paged ``aggTrades`` (weight well under the limits).
    binance_rest_requests_per_s: float = Field(default=5.0, gt=0)
    #: Coinbase public REST calls per second (its public limit is 10).
    coinbase_requests_per_s: float = Field(default=10.0, gt=0)
    #: The PostgreSQL store (``docs/store.md``): ``postgresql://user:password@host:port/db``.
    database_url: str | None = None
    #: Pairs of ``pipeline run|schedule``: ``"ETH-USD"`` (on ``store_venue``) or ``"binance:X"``.
    store_pairs: tuple[str, ...] = ()
    #: Venue of the pairs in ``store_pairs`` written without one.
    store_venue: str = "coinbase"
    #: Bars the daemon builds inline, e.g. ``["tick 500", "dollar 500000", "tib ewma 15"]``.
    store_bars: tuple[str, ...] = ()
    #: Start of a pair's first backfill when the daemon finds nothing stored (YYYY-MM-DD).
    store_since: str | None = None
    #: The object store of ``s3://`` cache and output URLs (docs/scale.md). Unset: the usual
    #: ``AWS_ENDPOINT_URL``, ``AWS_REGION``, ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``
    #: (and botocore's other sources) apply. Prefer the environment for the secret.
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    #: This machine's folder for the raw tier (downloads) and the local copies of the derived
    #: tiers when ``--cache-dir`` is an object-store URL: raw files stay per machine.
    local_cache_dir: Path = Path("cache")
    #: Retries of one object-store call after a 5xx reply or a timeout (the project's backoff).
    storage_retries: int = Field(default=5, ge=0, le=50)
    #: Connect and read timeouts of one object-store request.
    storage_connect_timeout_s: float = Field(default=5.0, gt=0)
    storage_read_timeout_s: float = Field(default=30.0, gt=0)

    def storage_options(self) -> StorageOptions:
        """How to reach the object store of ``s3://`` locations (core/storage.py)."""
        from seriesfactory.core.storage import StorageOptions

        return StorageOptions(
            endpoint_url=self.s3_endpoint_url,
            region=self.s3_region,
            access_key_id=self.s3_access_key_id,
            secret_access_key=self.s3_secret_access_key,
            retries=self.storage_retries,
            connect_timeout_s=self.storage_connect_timeout_s,
            read_timeout_s=self.storage_read_timeout_s,
        )

    @field_validator(
        "binance_data_url",
        "binance_spot_api_url",
        "binance_usdm_api_url",
        "binance_coinm_api_url",
        "bybit_data_url",
        "coinbase_api_url",
    )
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {exc.start}); save the TOML file as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from exc
    table = doc.pop("seriesfactory", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [seriesfactory] must be a table")
    return {**doc, **table}


def load_settings(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build :class:`Settings` from the TOML file, the environment and ``overrides``.

    Raises
    ------
    ConfigError
        For an unreadable file, an unknown key or an invalid value; the message
        names the file or variable and the field.
    """
    environ = os.environ if env is None else env
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    if path is None and environ.get(f"{ENV_PREFIX}CONFIG"):
        path = Path(environ[f"{ENV_PREFIX}CONFIG"])
    if path is not None:
        for key, value in _read_toml(path).items():
            values[key] = value
            origin[key] = str(path)
    for name in Settings.model_fields:
        var = f"{ENV_PREFIX}{name.upper()}"
        if var in environ:
            values[name] = environ[var]
            origin[name] = f"${var}"
    values.update(overrides)
    try:
        return Settings(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "?"
        where = origin.get(field, "settings")
        if err["type"] == "extra_forbidden":
            known = ", ".join(Settings.model_fields)
            raise ConfigError(f"{where}: unknown setting {field!r}; known: {known}") from None
        raise ConfigError(f"{where}: {field}: {err['msg']}") from None
