import subprocess
import sys

import pytest

from seriesfactory.errors import SourceError
from seriesfactory.sources._history_base import HistoryVenue, history_names, history_venue


def test_every_history_venue_is_declared_in_its_folder() -> None:
    assert history_names() == ("binance", "binance-usdm", "binance-coinm", "bybit", "coinbase")
    for name in history_names():
        venue = history_venue(name)
        assert isinstance(venue, HistoryVenue) and venue.name == name
        assert history_venue(name) is venue  # one instance per name


@pytest.mark.parametrize(
    ("name", "home", "symbol", "verified"),
    [
        ("binance", "USDT", "BTCUSDT", True),
        ("binance-usdm", "USDT", "BTCUSDT", True),
        ("binance-coinm", "USD", "BTCUSD_PERP", True),
        ("bybit", "USDT", "BTCUSDT", False),
        ("coinbase", "USD", "BTC-USD", False),
    ],
)
def test_declarations(name: str, home: str, symbol: str, verified: bool) -> None:
    venue = history_venue(name)
    assert venue.home_quote == home
    assert venue.symbol("btc", home.lower()) == symbol
    assert venue.verified is verified


def test_an_unknown_venue_names_the_known_ones() -> None:
    with pytest.raises(SourceError, match=r"available for binance, binance-usdm, .*coinbase"):
        history_venue("kraken")


def test_names_are_read_without_importing_any_venue_code() -> None:
    code = (
        "import sys\n"
        "from seriesfactory.sources._history_base import history_names\n"
        "assert len(history_names()) == 5\n"
        "heavy = [m for m in ('numba', 'pyarrow', 'httpx') if m in sys.modules]\n"
        "loaded = [m for m in sys.modules if m.endswith('.history')]\n"
        "print(heavy, loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] []"
