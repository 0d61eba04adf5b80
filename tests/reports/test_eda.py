"""The EDA dashboard: one self-contained HTML file, checked in a real headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from seriesfactory.cli import main
from seriesfactory.reports.eda import MAX_BUCKETS, bucket_step_ns

_S = 1_000_000_000


def _book_like(n: int = 4_000) -> pa.Table:
    """A book-feature-like table: midprice, spread, imbalance, ofi, ofi_cumulative, book_valid."""
    rng = np.random.default_rng(3)
    mid = 50_000 + np.cumsum(rng.normal(0, 2.0, n))
    ofi = rng.normal(0, 5, n)
    valid = np.ones(n, bool)
    valid[:20] = False
    return pa.table(
        {
            "ts": pa.array(np.arange(n, dtype=np.int64) * 100_000_000 + 1_767_225_600 * _S).cast(
                pa.timestamp("ns", tz="UTC")
            ),
            "midprice": mid,
            "spread": np.abs(rng.normal(0.5, 0.1, n)),
            "imbalance": rng.uniform(-1, 1, n),
            "ofi": ofi,
            "ofi_cumulative": np.cumsum(ofi),
            "book_valid": valid,
        }
    )


def _report_checks(browser: Any, html_path: Path, expected_min_figures: int) -> None:
    page = browser.open_page(html_path)
    non_file = [u for u in page.requests if not u.startswith(("file:", "data:", "about:"))]
    assert non_file == [], f"network requests: {non_file[:5]}"
    errors = [(lvl, t) for lvl, t in page.console if lvl in ("error", "assert")]
    assert errors == [], errors[:5]
    assert page.exceptions == [], page.exceptions[:3]
    state = page.state
    assert state.get("plotly"), "plotly.js did not load"
    assert len(state["divs"]) >= expected_min_figures, state
    assert state["drawn"] == state["divs"], state  # plotly reported every div drawn
    assert state["rendered"] == state["divs"], state  # and each has its SVG
    w, h, ch, px = browser.png_pixels(page.screenshot)
    arr = np.frombuffer(px, np.uint8).reshape(h, w, ch)[:, :, :3]
    non_white = np.any(arr < 245, axis=2).mean()
    colours = np.unique(arr.reshape(-1, 3)[::7], axis=0).shape[0]
    assert non_white > 0.02, f"screenshot is (nearly) blank: {non_white:.4f} non-white"
    assert colours > 20, f"screenshot has only {colours} colours"


def test_bucket_rule() -> None:
    # A week of 1 s rows: 604,800 s / 2,000 = 302.4 s -> the ladder's 600 s (1,008 buckets).
    assert bucket_step_ns(7 * 86_400 * _S, _S) == 600 * _S
    assert bucket_step_ns(1_000 * _S, _S) == _S  # short: no downsampling
    assert bucket_step_ns(10 * _S, 100_000_000) == _S  # never finer than 1 s
    for span in (3_600, 86_400, 30 * 86_400):
        step = bucket_step_ns(span * _S, _S)
        assert span * _S / step < MAX_BUCKETS


def test_report_of_real_trades_in_chromium(
    real_trade_features: Path, tmp_path: Path, browser: Any
) -> None:
    ds = tmp_path / "ds.parquet"
    assert (
        main(
            [
                "ml",
                "dataset",
                "--features",
                str(real_trade_features),
                "--label",
                "triple-barrier",
                "--horizon",
                "30",
                "--output",
                str(ds),
                "--quiet",
            ]
        )
        == 0
    )
    imp = tmp_path / "imp.csv"
    assert (
        main(
            [
                "ml",
                "importance",
                "--dataset",
                str(ds),
                "--output",
                str(imp),
                "--repeats",
                "1",
                "--max-test-rows",
                "500",
                "--model",
                "logistic",
                "--quiet",
            ]
        )
        == 0
    )
    out = tmp_path / "report.html"
    assert (
        main(
            [
                "report",
                "eda",
                "--features",
                str(real_trade_features),
                "--dataset",
                str(ds),
                "--importance",
                str(imp),
                "--output",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    text = out.read_text()
    # plotly.js once, no CDN or remote script.
    assert text.count("Plotly.newPlot") >= 9
    assert len(re.findall(r"<script[^>]*\bsrc=", text)) == 0
    assert text.count("plotly.js v") <= 2  # the bundle's own banner, embedded once
    assert "cdn.plot.ly" not in text.split("</head>")[1]
    for div in (
        "sf-nan-share",
        "sf-price",
        "sf-scatter",
        "sf-distributions",
        "sf-correlation",
        "sf-labels",
        "sf-holding",
        "sf-cv-timeline",
        "sf-importance",
    ):
        assert f'id="{div}"' in text, div
    _report_checks(browser, out, expected_min_figures=10)


def test_report_of_book_features_in_chromium(tmp_path: Path, browser: Any) -> None:
    src = tmp_path / "book.parquet"
    pq.write_table(_book_like(), src)
    out = tmp_path / "book.html"
    assert main(["report", "eda", "--features", str(src), "--output", str(out), "--quiet"]) == 0
    text = out.read_text()
    assert "cumulative OFI" in text and "invalid-book share" in text and "sf-scatter" in text
    _report_checks(browser, out, expected_min_figures=5)


def test_report_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "noprice.parquet"
    pq.write_table(
        pa.table({"ts": pa.array([1, 2], pa.timestamp("ns", tz="UTC")), "x": [1.0, 2.0]}), src
    )
    out = tmp_path / "r.html"
    assert main(["report", "eda", "--features", str(src), "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "price column" in err[0]
    assert main(["report", "eda", "--features", str(src), "--output", str(tmp_path / "r.txt")]) == 2
    assert not out.exists()


def test_report_of_real_book_features_in_chromium(
    shared_real: Path, tmp_path: Path, browser: Any
) -> None:
    """A real Binance spot capture -> ``features book`` -> ``ml dataset`` -> ``report eda``."""
    capture = shared_real / "binance" / "hftbacktest" / "spot" / "btcusdt_20240808.gz"
    book = tmp_path / "book.parquet"
    assert main(["features", "book", "--input", str(capture), "--input-format", "hftbacktest",
                 "--venue", "binance", "--symbol", "BTCUSDT", "--interval", "100ms",
                 "--output", str(book), "--quiet"]) == 0  # fmt: skip
    ds = tmp_path / "ds.parquet"
    assert main(["ml", "dataset", "--features", str(book), "--horizon", "20", "--vol-window",
                 "50", "--cv", "walk-forward", "--folds", "3", "--output", str(ds),
                 "--quiet"]) == 0  # fmt: skip
    meta = pq.read_schema(ds).metadata[b"seriesfactory.ml"].decode()
    assert '"price_column": "midprice"' in meta
    out = tmp_path / "book.html"
    assert main(["report", "eda", "--features", str(book), "--dataset", str(ds),
                 "--output", str(out), "--quiet"]) == 0  # fmt: skip
    text = out.read_text()
    for panel in ("cumulative OFI", "spread", "imbalance", "invalid-book share", "Δprice vs ofi"):
        assert panel in text, panel
    _report_checks(browser, out, expected_min_figures=9)
