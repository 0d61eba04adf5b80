"""The backtest's settings: the Extended DEX tool's ``config.json`` names and defaults.

A :class:`BacktestConfig` is frozen and validated once. :func:`load_config` reads a
TOML file (keys at the top level or in a ``[backtest]`` table) or the Extended
tool's ``config.json`` (its collector keys ``markets``, ``data_directory``, ... are
accepted and ignored, since they describe data collection); an unknown key is an
error naming the file and the key. Flags override the file.

Units: durations in seconds, fees and spread limits in basis points of the mid,
``order_size`` and ``max_inventory`` in base units, ``starting_cash`` in quote
currency. The model's units (γ, σ, κ, δ) are in ``docs/backtest.md``.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from seriesfactory.errors import ConfigError

__all__ = ["COLLECTOR_KEYS", "BacktestConfig", "load_config"]

#: Keys of the Extended tool's config.json that configure its collector, not the backtest.
COLLECTOR_KEYS: frozenset[str] = frozenset(
    {
        "markets",
        "data_directory",
        "collect_orderbook",
        "collect_trades",
        "collect_full_orderbook",
        "max_depth_levels",
        "num_threads",
    }
)


class BacktestConfig(BaseModel):
    """Every parameter of calibration, quoting and the simulated exchange."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # -- the Extended tool's names and defaults
    inventory_horizon_seconds: float = Field(default=1800.0, gt=0)
    risk_aversion_gamma: float = Field(default=0.1, gt=0)
    gamma_mode: Literal["constant", "inventory_scaled", "max_shift"] = "constant"
    fill_cooldown_seconds: float = Field(default=60.0, ge=0)
    maker_fee_bps: float = Field(default=1.5, ge=-100, le=1000)
    taker_fee_bps: float = Field(default=4.5, ge=-100, le=1000)
    gap_threshold_seconds: float = Field(default=1800.0, gt=0)
    warmup_period_seconds: float = Field(default=900.0, ge=0)
    quote_validity_seconds: float = Field(default=60.0, gt=0)
    calibration_window_seconds: float = Field(default=3600.0, gt=0)
    recalibration_interval_seconds: float = Field(default=600.0, gt=0)
    min_spread_bps: float = Field(default=3.0, ge=0)
    max_spread_bps: float = Field(default=200.0, gt=0)
    # -- ours
    #: Base units per quote; a fill is at most this (partial fills by the trade's size).
    order_size: float = Field(default=0.01, gt=0)
    #: |inventory| never exceeds this (base units): the side that would breach it is not quoted.
    max_inventory: float = Field(default=0.1, gt=0)
    starting_cash: float = Field(default=100_000.0)
    #: Quote and cancel messages reach the exchange this many seconds after the decision.
    latency_seconds: float = Field(default=0.0, ge=0)
    #: ``through``: a trade strictly beyond our price fills us (conservative, the default);
    #: ``at``: a trade at our price fills what is left after the queue ahead of us.
    fill_model: Literal["through", "at"] = "through"
    #: Requote at most this often (seconds; 0 = on every book row).
    requote_interval_seconds: float = Field(default=0.0, ge=0)
    #: Also requote right after every trade (with the last usable book row).
    requote_on_trades: bool = False
    #: ``fixed``: T = inventory_horizon_seconds; ``rolling``: T - t within each horizon.
    horizon_mode: Literal["fixed", "rolling"] = "fixed"
    #: ``max_shift`` mode caps |r - mid| at this many bps.
    max_shift_bps: float = Field(default=10.0, gt=0)
    #: ``inventory_scaled`` mode: γ_eff = γ (1 + scale |q| / max_inventory).
    gamma_inventory_scale: float = Field(default=1.0, ge=0)
    #: Close the final inventory at the last mid paying the taker fee.
    flatten_at_end: bool = False
    #: A side with fewer trades in the window than this reuses the other side's fit.
    min_trades_per_side: int = Field(default=30, ge=2)
    #: Used when neither side fits: κ in 1/quote currency... expressed per bps of mid, A per s.
    default_kappa_per_bps: float = Field(default=0.5, gt=0)
    default_a_per_s: float = Field(default=1.0, gt=0)
    #: Used when σ cannot be estimated (fewer than 2 mids): per √s, fraction of the mid.
    default_sigma_rel: float = Field(default=1e-4, gt=0)
    #: Price tick of the venue (0 = inferred from the book's prices).
    tick_size: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _spreads(self) -> BacktestConfig:
        if self.min_spread_bps > self.max_spread_bps:
            raise ValueError("min_spread_bps must not exceed max_spread_bps")
        return self


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"--config {path}: cannot read the file ({exc})") from None
    if path.suffix.lower() == ".json":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--config {path}: invalid JSON ({exc})") from None
        if not isinstance(doc, dict):
            raise ConfigError(f"--config {path}: the JSON must be an object of settings")
        return {k: v for k, v in doc.items() if k not in COLLECTOR_KEYS}
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config {path}: invalid TOML ({exc})") from None
    table = doc.pop("backtest", {})
    if not isinstance(table, dict):
        raise ConfigError(f"--config {path}: [backtest] must be a table")
    return {**doc, **table}


def load_config(path: Path | None = None, **overrides: Any) -> BacktestConfig:
    """Defaults < the file < ``overrides`` (``None`` values are ignored).

    Raises
    ------
    ConfigError
        For an unreadable file, an unknown key or an invalid value, naming both.
    """
    values: dict[str, Any] = {}
    where: dict[str, str] = {}
    if path is not None:
        for key, value in _read(path).items():
            values[key] = value
            where[key] = f"--config {path}"
    for key, value in overrides.items():
        if value is not None:
            values[key] = value
            where[key] = f"--{key.replace('_', '-')}"
    return make_config(values, where)


def make_config(values: dict[str, Any], where: dict[str, str] | None = None) -> BacktestConfig:
    """:class:`BacktestConfig` from a mapping; errors name the field and its origin."""
    where = where or {}
    try:
        return BacktestConfig(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else ""
        origin = where.get(field, "config")
        if err["type"] == "extra_forbidden":
            raise ConfigError(
                f"{origin}: unknown key {field!r}; known keys: "
                f"{', '.join(BacktestConfig.model_fields)}"
            ) from None
        if not field:
            raise ConfigError(f"config: {err['msg']}") from None
        raise ConfigError(
            f"{origin}: {field} = {err.get('input')!r} is invalid: {err['msg']}"
        ) from None
