"""``split_symbol``: venue symbols back to (base, quote), checked by round trip."""

from __future__ import annotations

import re

import pytest

from seriesfactory.errors import InputError, SourceError
from seriesfactory.pipeline.exchange import split_symbol


@pytest.mark.parametrize(
    ("venue", "symbol", "pair"),
    [
        ("binance", "BTCUSDT", ("BTC", "USDT")),
        ("binance", "ethbtc", ("ETH", "BTC")),
        ("binance", "BTCFDUSD", ("BTC", "FDUSD")),
        ("binance", "BTC/TRY", ("BTC", "TRY")),
        ("binance", "BTC-USDT", ("BTC", "USDT")),
        ("binance-usdm", "ETHUSDT", ("ETH", "USDT")),
        ("binance-coinm", "BTCUSD_PERP", ("BTC", "USD")),
        ("bybit", "BTCUSD", ("BTC", "USD")),
        ("coinbase", "BTC-USD", ("BTC", "USD")),
    ],
)
def test_known_symbols_split(venue: str, symbol: str, pair: tuple[str, str]) -> None:
    assert split_symbol(venue, symbol) == pair


@pytest.mark.parametrize(
    ("venue", "symbol", "message"),
    [
        ("binance", "XYZ", "cannot tell base from quote"),
        ("binance", "USDT", "cannot tell base from quote"),
        ("binance-coinm", "BTCUSDT", "quotes in USD"),
        ("binance-coinm", "BTCUSD", "is not a binance-coinm symbol (expected e.g. BTCUSD_PERP)"),
        ("bybit", "BTCUSD_PERP", "cannot tell base from quote"),
    ],
)
def test_bad_symbols_say_what_to_write(venue: str, symbol: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        split_symbol(venue, symbol)


def test_unknown_venue_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="historical data is available for"):
        split_symbol("kraken", "BTCUSDT")
