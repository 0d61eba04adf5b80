"""Recorded real exchange data replayed through the real parsers and the book engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seriesfactory.raw.readers import read_records
from seriesfactory.sources._book_base import get_parser
from seriesfactory.sources.okx.book import okx_checksum
from seriesfactory.transforms.book import nb
from seriesfactory.transforms.book.api import infer_price_decimals, parse_records, rebuild
from seriesfactory.transforms.book.reference import reference_book
from seriesfactory.transforms.book.report import ticker_check, verify_report


@pytest.mark.parametrize(
    ("venue", "folder", "matches"), [("binance", "spot", 564), ("binance-usdm", "usdm", 629)]
)
def test_hftbacktest_book_equals_book_ticker_every_time(
    shared_real: Path, venue: str, folder: str, matches: int
) -> None:
    path = shared_real / "binance" / "hftbacktest" / folder / "btcusdt_20240808.gz"
    res = rebuild([str(path)], venue=venue, symbol="BTCUSDT", interval_ns=100_000_000, depth=5)
    assert ticker_check(res)[:2] == (matches, 0)
    report = verify_report(res)
    assert report["statuses"]["gap"] == 0 and report["crossed_messages"] == 0
    assert report["statuses"]["snapshot"] == 1 and report["valid_at_end"]
    # a 64-tick window keeps most levels cold and moves often: the same answer
    small = rebuild(
        [str(path)],
        venue=venue,
        symbol="BTCUSDT",
        interval_ns=100_000_000,
        depth=5,
        window_ticks=64,
    )
    assert ticker_check(small)[:2] == (matches, 0)
    np.testing.assert_array_equal(small.rows.bid_qty, res.rows.bid_qty)
    np.testing.assert_array_equal(small.rows.ask_px, res.rows.ask_px)
    v = res.rows.valid
    assert v[-1] and np.all(res.rows.bid_px[v, 0] < res.rows.ask_px[v, 0])


_BINANCE = "binance/cryptofeed/"
_CASES = [
    (
        "binance",
        [_BINANCE + "BINANCE.ws.1.0", _BINANCE + "BINANCE.http.0.0"],
        ["NKNUSDT", "LRCBTC", "BLZETH", "RUNEEUR"],
    ),
    (
        "binance-usdm",
        [_BINANCE + "BINANCE_FUTURES.ws.1.0", _BINANCE + "BINANCE_FUTURES.http.0.0"],
        ["SUSHIUSDT", "AKROUSDT", "KEEPUSDT", "CTKUSDT"],
    ),
    ("coinbase", ["coinbase/cryptofeed-v3/COINBASE.jsonl.zst"], ["BTC-USD", "ETH-USD"]),
    ("coinbase", ["coinbase/cryptofeed/COINBASE.ws.28.0"], ["SKL-USD", "DASH-BTC", "NU-GBP"]),
    (
        "bybit",
        ["bybit/cryptofeed-v3/BYBIT.jsonl.zst"],
        ["linear:BTCUSDT", "spot:BTCUSDT", "SOLUSDT", "DOGEUSDT"],
    ),
    ("okx", ["okx/cryptofeed/OKX.ws.1.0"], ["BTC-USDT", "BTC-USD-220527", "UNI-USD-SWAP"]),
]


@pytest.mark.parametrize(("venue", "files", "symbols"), _CASES)
def test_cryptofeed_recordings_sync_never_cross_keep_sequence(
    shared_real: Path, venue: str, files: list[str], symbols: list[str]
) -> None:
    for symbol in symbols:
        res = rebuild([str(shared_real / f) for f in files], venue=venue, symbol=symbol)
        status = res.messages["status"]
        assert np.count_nonzero(status == nb.ST_SNAPSHOT) == 1, symbol
        assert not np.isin(status, [nb.ST_GAP, nb.ST_MARKER, nb.ST_DUPLICATE]).any(), symbol
        first = int(np.argmax(status == nb.ST_SNAPSHOT))
        assert res.messages["valid"][first:].all(), symbol  # synced from the snapshot on
        assert not res.messages["crossed"].any(), symbol
        assert ticker_check(res)[1] == 0, symbol


def test_binance_first_diff_with_u_equal_last_update_id_is_dropped(shared_real: Path) -> None:
    files = [shared_real / _BINANCE / n for n in ("BINANCE.ws.1.0", "BINANCE.http.0.0")]
    res = rebuild([str(f) for f in files], venue="binance", symbol="NKNUSDT")
    m = res.messages
    after = m[int(np.argmax(m["status"] == nb.ST_SNAPSHOT)) :]
    assert after["status"][1] == nb.ST_STALE and after["last_id"][1] == 499869752
    assert after["status"][2] == nb.ST_APPLIED and after["first_id"][2] == 499869753


def test_okx_checksums_match_the_rebuilt_book(shared_real: Path) -> None:
    """The reference twin's book after every message reproduces OKX's CRC32 checksum."""
    path = shared_real / "okx" / "cryptofeed" / "OKX.ws.1.0"
    for symbol in ("BTC-USDT", "UNI-USD-SWAP"):
        parser = get_parser("okx", symbol)
        events, _ = parse_records(parser, read_records([path], "cryptofeed"))
        d = infer_price_decimals(events["price"][events["side"] != 0])
        cols = {
            k: events[k] for k in ("ts", "side", "qty", "first_id", "last_id", "prev_id", "flags")
        }
        cols["tick"] = np.rint(np.nan_to_num(events["price"]) * 10**d).astype(np.int64)
        msgs, _ = reference_book(cols, parser.rule, 0, 1)
        books = _replay_levels(cols, d)
        checks = parser.checksums  # type: ignore[attr-defined]
        assert len(books) == len(checks) == len(msgs)
        for (bids, asks), want in zip(books, checks, strict=True):
            assert okx_checksum(bids, asks) == want


def _replay_levels(
    cols: dict[str, np.ndarray], d: int
) -> list[tuple[list[tuple[float, float]], list[tuple[float, float]]]]:
    """Top-25 levels (price, size) after each message, rebuilt with plain dicts."""
    bids: dict[int, float] = {}
    asks: dict[int, float] = {}
    out = []
    at_start = True
    for side, tick, qty, fl in zip(
        cols["side"], cols["tick"], cols["qty"], cols["flags"], strict=True
    ):
        if at_start and fl & nb.F_SNAPSHOT:
            bids.clear()
            asks.clear()
        at_start = bool(fl & nb.F_END)
        book = bids if side > 0 else asks
        if side != 0:
            if qty > 0:
                book[int(tick)] = float(qty)
            else:
                book.pop(int(tick), None)
        if fl & nb.F_END:
            top_b = [(t / 10**d, q) for t, q in sorted(bids.items(), reverse=True)[:25]]
            top_a = [(t / 10**d, q) for t, q in sorted(asks.items())[:25]]
            out.append((top_b, top_a))
    return out


def test_rebuild_in_small_chunks_equals_one_chunk(shared_real: Path) -> None:
    path = str(shared_real / "binance" / "hftbacktest" / "usdm" / "btcusdt_20240808.gz")
    kw = {"venue": "binance-usdm", "symbol": "BTCUSDT", "price_decimals": 1, "depth": 3}
    one = rebuild([path], **kw)  # type: ignore[arg-type]
    many = rebuild([path], chunk_events=5_000, **kw)  # type: ignore[arg-type]
    for name in one.messages.dtype.names or ():
        np.testing.assert_array_equal(one.messages[name], many.messages[name])
    np.testing.assert_array_equal(one.rows.ask_qty, many.rows.ask_qty)
    np.testing.assert_array_equal(one.trades, many.trades)
