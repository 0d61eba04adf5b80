"""Symbol lists of universe jobs: checked before any work; failures reported per symbol.

The exchange info and 24h ticker are served by the local mirror (127.0.0.1).
"""

from __future__ import annotations

import itertools
import socket
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seriesfactory.cli import main
from seriesfactory.config import load_settings
from seriesfactory.errors import InputError
from seriesfactory.pipeline.exchange import split_symbol
from seriesfactory.pipeline.universe import fetch_units, resolve_symbols, scheduler_choice

DAY = 86_400 * 10**9


def _trades(universe, tmp_path: Path, *symbols: str, extra: tuple[str, ...] = ()) -> int:
    dirs = ["--cache-dir", str(tmp_path / "cache"), "--output-dir", str(tmp_path / "out")]
    return main(["trades", *universe.span(), *symbols, *dirs, *extra])


@pytest.mark.parametrize(
    ("symbols", "expected"),
    [
        ("BTCUSDT,../etc", "--symbols '../etc' holds"),
        ("BTCUSDT,ETH/USDT", "holds a path separator"),
        ("BTCUSDT,btcusdt", "btcusdt is listed twice (also as BTCUSDT)"),
        ("BTCUSDT,,ETHUSDT", "holds an empty entry"),
        ("BTCUSDT,NOPEUSDT", "NOPEUSDT not listed by binance's exchange info"),
        ("bybit:top:3", "names venue 'bybit' but the job's venue is 'binance'"),
    ],
)
def test_a_bad_list_is_one_line_before_any_work(
    universe, tmp_path: Path, capsys: pytest.CaptureFixture[str], symbols: str, expected: str
) -> None:
    requests = len(universe.mirror.requests)
    assert _trades(universe, tmp_path, "--symbols", symbols) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and expected in err, err
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()
    # nothing but the exchange info was asked for
    assert {p for p, _ in universe.mirror.requests[requests:]} <= {"/api/v3/exchangeInfo"}


def test_a_pair_option_beside_a_universe_is_refused(universe, tmp_path: Path, capsys) -> None:
    assert _trades(universe, tmp_path, "--symbols", "BTCUSDT", extra=("--base", "ETH")) == 2
    assert "--base names one pair; with --symbols/--symbols-file leave it out" in (
        capsys.readouterr().err
    )
    assert _trades(universe, tmp_path, "--symbols", "BTCUSDT", "--symbol", "ETHUSDT") == 2
    assert "not both" in capsys.readouterr().err
    assert _trades(universe, tmp_path, extra=("--scheduler", "sync")) == 2
    assert "--scheduler runs universe jobs" in capsys.readouterr().err


def test_symbols_file_comments_and_its_line_in_errors(universe, tmp_path: Path, capsys) -> None:
    listing = tmp_path / "universe.txt"
    listing.write_text("# majors\nBTCUSDT\n\nETHUSDT  # second\nBTCUSDT\n")
    assert _trades(universe, tmp_path, "--symbols-file", str(listing)) == 2
    err = capsys.readouterr().err
    assert f"--symbols-file {listing}:5: BTCUSDT is listed twice" in err
    listing.write_text("# majors\nBTCUSDT\n\nETHUSDT  # second\n")
    settings = load_settings()
    got = resolve_symbols(None, listing, venue="binance", settings=settings, split=split_symbol)
    assert [(p.symbol, p.base, p.quote) for p in got] == [
        ("BTCUSDT", "BTC", "USDT"),
        ("ETHUSDT", "ETH", "USDT"),
    ]
    assert _trades(universe, tmp_path, "--symbols-file", str(tmp_path / "none.txt")) == 2
    assert "no such file" in capsys.readouterr().err


def test_top_n_ranks_by_quote_volume_in_the_home_quote(universe) -> None:
    settings = load_settings()
    got = resolve_symbols(
        "binance:top:3", None, venue="binance", settings=settings, split=split_symbol
    )
    # ETHBTC has the largest volume but is quoted in BTC: not ranked
    assert [p.symbol for p in got] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


def test_one_failing_symbol_is_reported_and_the_others_are_written(
    universe, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # XRPUSDT is listed but the mirror has no archive of it: that symbol fails, alone
    symbols = "BTCUSDT,XRPUSDT,ETHUSDT"
    status = _trades(universe, tmp_path, "--symbols", symbols, extra=("--scheduler", "sync"))
    captured = capsys.readouterr()
    assert status == 1
    assert "error: XRPUSDT: binance: no trade file of XRPUSDT" in captured.err
    assert "2 of 3 symbol(s) done; 1 failed" in captured.out
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == [
        "btc-usdt_binance_20240201-20240204_aggtrades.parquet",
        "eth-usdt_binance_20240201-20240204_aggtrades.parquet",
    ]
    assert pq.read_table(tmp_path / "out" / written[0]).num_rows == 3 * 400


def test_an_unreachable_scheduler_fails_fast_in_one_line(
    universe, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    status = _trades(
        universe, tmp_path, "--symbols", "BTCUSDT", extra=("--scheduler", f"tcp://127.0.0.1:{port}")
    )
    err = capsys.readouterr().err
    assert status == 1 and time.monotonic() - started < 30
    assert err.count("\n") == 1 and f"--scheduler tcp://127.0.0.1:{port}: no Dask scheduler" in err


def test_scheduler_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SERIESFACTORY_SCHEDULER", raising=False)
    assert scheduler_choice(None, 1) == "sync"
    assert scheduler_choice(None, 5) == "processes"
    assert scheduler_choice("tcp://10.0.0.1:8786", 1) == "tcp://10.0.0.1:8786"
    monkeypatch.setenv("SERIESFACTORY_SCHEDULER", "Processes")
    assert scheduler_choice(None, 1) == "processes"
    monkeypatch.setenv("SERIESFACTORY_SCHEDULER", "threads")
    with pytest.raises(InputError, match="SERIESFACTORY_SCHEDULER 'threads' is unknown"):
        scheduler_choice(None, 1)
    with pytest.raises(InputError, match="--scheduler 'http://x:1' is unknown"):
        scheduler_choice("http://x:1", 1)


def test_fetch_units_follow_the_archive_plan() -> None:
    # 2024-01-30 .. 2024-03-02 (exclusive), today far later: two days, February whole, a day
    jan30 = 19_752 * DAY
    units = fetch_units(jan30, jan30 + 32 * DAY, today_index=30_000)
    assert units[:2] == [(jan30, jan30 + DAY), (jan30 + DAY, jan30 + 2 * DAY)]
    assert units[2] == (jan30 + 2 * DAY, jan30 + 31 * DAY)  # 2024-02 (29 days): one unit
    assert units[3:] == [(jan30 + 31 * DAY, jan30 + 32 * DAY)]
    # a month that is not over yet is split into days
    assert len(fetch_units(jan30 + 2 * DAY, jan30 + 31 * DAY, today_index=19_770)) == 29
    # a range inside one day is one unit of that range
    assert fetch_units(jan30 + 5, jan30 + 9, today_index=30_000) == [(jan30 + 5, jan30 + 9)]


@given(
    first=st.integers(19_000, 19_900),
    length=st.integers(1, 120),
    lo_ns=st.integers(0, DAY - 1),
    hi_ns=st.integers(1, DAY),
    today=st.integers(19_000, 20_100),
)
def test_fetch_units_tile_the_range_with_archive_units(
    first: int, length: int, lo_ns: int, hi_ns: int, today: int
) -> None:
    """Units are contiguous, cover [from, to) exactly, and each is one day or one past month."""
    import datetime as dt

    from_ns = first * DAY + lo_ns
    to_ns = max((first + length - 1) * DAY + hi_ns, from_ns + 1)
    units = fetch_units(from_ns, to_ns, today_index=today)
    assert units[0][0] == from_ns and units[-1][1] == to_ns
    assert all(a[1] == b[0] for a, b in itertools.pairwise(units))
    for lo, hi in units:
        assert lo < hi
        if (hi - 1) // DAY == lo // DAY:
            continue  # within one day
        start = dt.date(1970, 1, 1) + dt.timedelta(days=lo // DAY)
        last = dt.date(1970, 1, 1) + dt.timedelta(days=(hi - 1) // DAY)
        after = last + dt.timedelta(days=1)
        assert (
            start.day == 1
            and after.day == 1
            and (start.year, start.month)
            == (
                last.year,
                last.month,
            )
        )  # the days it touches are one whole calendar month
        assert (hi - 1) // DAY < today  # a month not over yet is never one unit


@pytest.mark.parametrize(
    ("route", "body", "expected"),
    [
        ("/api/v3/exchangeInfo", None, "/api/v3/exchangeInfo: HTTP 404"),
        ("/api/v3/exchangeInfo", b"<html>maintenance</html>", "exchangeInfo: not JSON"),
        ("/api/v3/exchangeInfo", b'{"timezone": "UTC"}', "unexpected exchangeInfo body (no "),
        ("/api/v3/ticker/24hr", b'{"code": -1003}', "unexpected 24h ticker body (not a list)"),
    ],
)
def test_a_top_n_list_the_venue_cannot_give_is_one_line(
    universe, tmp_path: Path, capsys, route: str, body: bytes | None, expected: str
) -> None:
    if body is None:
        del universe.mirror.routes[route]  # the mirror answers 404
    else:
        universe.mirror.routes[route] = body
    assert _trades(universe, tmp_path, "--symbols", "binance:top:2") == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {universe.url}") and expected in err, err
    assert err.count("\n") == 1 and not (tmp_path / "out").exists()


def test_top_n_skips_malformed_unlisted_and_halted_rows(universe) -> None:
    import json

    ticker = [
        {"symbol": "BTCUSDT", "quoteVolume": "5"},
        {"symbol": "ETHUSDT", "quoteVolume": "not a number"},  # malformed: skipped
        {"quoteVolume": "1e20"},  # no symbol: skipped
        "junk",  # not an object: skipped
        {"symbol": "NEWUSDT", "quoteVolume": "1e15"},  # not in the exchange info: skipped
        {"symbol": "SOLUSDT", "volume": "9"},  # no quote volume: its volume ranks it
        {"symbol": "XRPUSDT", "quoteVolume": "7"},
        {"symbol": "DOGEUSDT", "quoteVolume": "7"},  # a tie: by name
    ]
    info = json.loads(universe.mirror.routes["/api/v3/exchangeInfo"])
    info["symbols"][0]["status"] = "BREAK"  # BTCUSDT halted: never ranked
    universe.mirror.routes["/api/v3/exchangeInfo"] = json.dumps(info).encode()
    universe.mirror.routes["/api/v3/ticker/24hr"] = json.dumps(ticker).encode()
    got = resolve_symbols("binance:top:4", None, venue="binance", settings=load_settings(),
                          split=split_symbol)  # fmt: skip
    assert [p.symbol for p in got] == ["SOLUSDT", "DOGEUSDT", "XRPUSDT"]


def test_an_unreachable_exchange_info_is_a_notice_and_the_list_is_used(
    universe, tmp_path: Path, capsys
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from seriesfactory.core import progress

    settings = load_settings(binance_spot_api_url=f"http://127.0.0.1:{port}")
    previous = progress.install(progress.reporter(quiet=False))  # as the commands do
    try:
        got = resolve_symbols("BTCUSDT,ETHUSDT", None, venue="binance", settings=settings,
                              split=split_symbol)  # fmt: skip
    finally:
        progress.install(previous)
    assert [p.symbol for p in got] == ["BTCUSDT", "ETHUSDT"]
    err = capsys.readouterr().err
    assert "cannot check the symbols against binance's exchange info" in err, err
    assert "each symbol is checked when its files are fetched" in err


@pytest.mark.parametrize(
    ("symbols", "file_text", "expected"),
    [
        ("binance:top:0", None, "--symbols 'binance:top:0': N must be between 1 and 2000"),
        ("binance:top:2001", None, "N must be between 1 and 2000"),
        ("BTCUSDT", "ETHUSDT\n", "give --symbols or --symbols-file, not both"),
        (None, "# nothing here\n\n", "lists no symbol (one a line; '#' comments)"),
        (None, b"\xff\xfe\x00BTC", "cannot be read"),
        (None, "dir", "cannot be read"),
    ],
)
def test_more_bad_lists_are_one_line(
    universe, tmp_path: Path, capsys, symbols: str | None, file_text: object, expected: str
) -> None:
    extra: list[str] = ["--symbols", symbols] if symbols is not None else []
    listing = tmp_path / "universe.txt"
    if file_text == "dir":
        listing.mkdir()
    elif isinstance(file_text, bytes):
        listing.write_bytes(file_text)
    elif isinstance(file_text, str):
        listing.write_text(file_text)
    if file_text is not None:
        extra += ["--symbols-file", str(listing)]
    assert _trades(universe, tmp_path, *extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and expected in err, err


def test_a_top_n_list_on_a_venue_without_exchange_info_is_refused() -> None:
    with pytest.raises(InputError, match="top-N lists need a venue with exchange info"):
        resolve_symbols("coinbase:top:3", None, venue="coinbase", settings=load_settings(),
                        split=split_symbol)  # fmt: skip
