"""Recorder configuration: precedence, validation, unknown keys, URL environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from seriesfactory.errors import ConfigError
from seriesfactory.raw.config import RecordConfig, load_record_config


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "record.toml"
    path.write_text(text)
    return path


def test_defaults_point_at_the_real_hosts() -> None:
    cfg = load_record_config(flags={"venue": "binance", "symbols": ("btcusdt",)}, env={})
    assert (cfg.rotate_hours, cfg.rotate_gb, cfg.reconnect_delay_s, cfg.reconnect_attempts) == (
        1.0, 1.0, 5.0, 0,
    )  # fmt: skip
    assert cfg.resolved_urls({}) == ("wss://stream.binance.com:9443", "https://api.binance.com")
    assert cfg.resolved_streams() == ("depth@100ms", "trade", "bookTicker")
    assert cfg.stream_root == Path("cache/raw/stream")


def test_precedence_flags_over_env_over_file_over_defaults(tmp_path: Path) -> None:
    path = _toml(tmp_path, 'venue = "bybit"\nsymbols = ["BTCUSDT"]\nrotate_hours = 2\n'
                           'rotate_gb = 0.5\nreconnect_delay_s = 3\n')  # fmt: skip
    env = {"SERIESFACTORY_FILE_ROTATION_HOURS": "4", "SERIESFACTORY_MAX_RECONNECT_ATTEMPTS": "7"}
    cfg = load_record_config(file=path, env=env, flags={"reconnect_attempts": 9, "rotate_gb": None})
    assert cfg.venue == "bybit" and cfg.symbols == ("BTCUSDT",)
    assert cfg.rotate_hours == 4.0  # env beats file
    assert cfg.rotate_gb == 0.5  # file beats default; an absent flag (None) changes nothing
    assert cfg.reconnect_delay_s == 3.0
    assert cfg.reconnect_attempts == 9  # flag beats env


def test_record_table_and_single_symbol_string(tmp_path: Path) -> None:
    path = _toml(tmp_path, '[record]\nvenue = "coinbase"\nsymbols = "BTC-USD"\n')
    cfg = load_record_config(file=path, env={})
    assert cfg.symbols == ("BTC-USD",)
    assert cfg.resolved_streams() == ("level2", "market_trades")


def test_unknown_key_is_an_error_naming_it(tmp_path: Path) -> None:
    path = _toml(tmp_path, 'venue = "binance"\nsymbols = ["x"]\nrotation_hourz = 1\n')
    with pytest.raises(ConfigError, match=r"record\.toml: unknown key 'rotation_hourz'"):
        load_record_config(file=path, env={})


def test_bad_values_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"rotate_gb: Input should be greater than 0"):
        load_record_config(flags={"venue": "binance", "symbols": ("x",), "rotate_gb": 0}, env={})
    with pytest.raises(ConfigError, match=r"unknown venue 'kraken'; choose one of binance, "):
        load_record_config(flags={"venue": "kraken", "symbols": ("x",)}, env={})
    with pytest.raises(ConfigError, match=r"symbols: Field required"):
        load_record_config(flags={"venue": "binance"}, env={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_record_config(file=_toml(tmp_path, "venue = "), env={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_record_config(file=tmp_path / "missing.toml", env={})


@pytest.mark.parametrize(
    ("venue", "env", "expected"),
    [
        ("binance", {"SERIESFACTORY_BINANCE_WS_URL": "ws://a",
                     "SERIESFACTORY_BINANCE_SPOT_API_URL": "http://b"}, ("ws://a", "http://b")),
        ("binance-usdm", {"SERIESFACTORY_BINANCE_USDM_WS_URL": "ws://c",
                          "SERIESFACTORY_BINANCE_USDM_API_URL": "http://d"}, ("ws://c", "http://d")),
        ("coinbase", {"SERIESFACTORY_COINBASE_WS_URL": "ws://e"}, ("ws://e", "")),
        ("bybit", {"SERIESFACTORY_BYBIT_WS_URL": "ws://f"}, ("ws://f", "")),
        ("extended", {"SERIESFACTORY_EXTENDED_WS_URL": "ws://g"}, ("ws://g", "")),
    ],
)  # fmt: skip
def test_url_environment_variables(
    venue: str, env: dict[str, str], expected: tuple[str, str]
) -> None:
    cfg = RecordConfig(venue=venue, symbols=("x",))
    assert cfg.resolved_urls(env) == expected
    flagged = RecordConfig(venue=venue, symbols=("x",), ws_url="ws://flag")
    assert flagged.resolved_urls(env)[0] == "ws://flag"


def test_config_is_frozen() -> None:
    cfg = RecordConfig(venue="binance", symbols=("x",))
    with pytest.raises(ValueError, match="frozen"):
        cfg.rotate_gb = 2.0  # type: ignore[misc]
