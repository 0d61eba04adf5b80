"""Settings: defaults, TOML file, environment, unknown keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from seriesfactory.config import load_settings
from seriesfactory.errors import ConfigError


def test_defaults_are_the_real_hosts() -> None:
    s = load_settings(env={})
    assert s.binance_data_url == "https://data.binance.vision"
    assert s.binance_coinm_api_url == "https://dapi.binance.com"
    assert s.raw_retention_days == 30


def test_file_then_environment_wins(tmp_path: Path) -> None:
    f = tmp_path / "sf.toml"
    f.write_text('bybit_data_url = "http://127.0.0.1:9/"\n[seriesfactory]\ndownload_retries = 2\n')
    s = load_settings(f, env={"SERIESFACTORY_BYBIT_DATA_URL": "http://127.0.0.1:8"})
    assert s.bybit_data_url == "http://127.0.0.1:8" and s.download_retries == 2
    s = load_settings(env={"SERIESFACTORY_CONFIG": str(f)})
    assert s.bybit_data_url == "http://127.0.0.1:9"
    with pytest.raises(ValidationError, match="frozen"):
        s.bybit_data_url = "x"  # type: ignore[misc]


def test_unknown_key_and_bad_values_are_errors(tmp_path: Path) -> None:
    f = tmp_path / "sf.toml"
    f.write_text("binance_data_ulr = 'http://x'\n")
    with pytest.raises(ConfigError, match=r"sf.toml: unknown setting 'binance_data_ulr'"):
        load_settings(f, env={})
    with pytest.raises(ConfigError, match=r"\$SERIESFACTORY_DOWNLOAD_RETRIES: download_retries"):
        load_settings(env={"SERIESFACTORY_DOWNLOAD_RETRIES": "many"})
    f.write_text("not toml = = 1")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(f, env={})
