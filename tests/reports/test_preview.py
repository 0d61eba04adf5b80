"""The ``series`` preview in this process: on a narrow console only the fields that fit are
shown, chosen in priority order and printed in output order, and the left-out ones are named."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from seriesfactory.config import load_settings
from seriesfactory.core.time import parse_date
from seriesfactory.pipeline.series import SeriesRequest, build_series
from seriesfactory.reports.preview import PREVIEW_PRIORITY, render_preview
from seriesfactory.schema import AGGREGATE_FIELDS
from seriesfactory.transforms.aggregates import AggregationParams


def _render(result, width: int, *, fit: bool) -> list[str]:
    out = io.StringIO()
    console = Console(file=out, width=width, highlight=False, color_system=None)
    render_preview(console, result.summary, result.counts, tuple(AGGREGATE_FIELDS), fit=fit)
    return out.getvalue().splitlines()


def test_a_narrow_console_shows_the_priority_fields_that_fit_and_names_the_rest(
    tmp_path: Path,
) -> None:
    req = SeriesRequest(
        sources="gbm(0.05,0.5,50000)",
        from_ns=parse_date("2025-01-01", option="f"),
        to_ns=parse_date("2025-01-02", option="t"),
        cache_dir=tmp_path / "c",
        output_dir=tmp_path / "o",
        params=AggregationParams(mode="time", step=3_600_000),
        settings=load_settings(env={}),
    )
    result = build_series(req)
    assert result.summary.rows == 24
    wide = _render(result, 400, fit=True)
    assert not any(line.startswith("not shown") for line in wide)
    narrow = _render(result, 60, fit=True)
    table = [line for line in narrow if line.startswith(("timestamp", "2025"))]
    assert len(table) == 1 + 20 and all(len(line) <= 60 for line in narrow)  # header, 10 + 10
    shown = [w for w in table[0].split() if w.isidentifier()][1:]  # after "timestamp"
    assert shown == [f for f in AGGREGATE_FIELDS if f in shown]  # in output order
    assert {"close", "open"} <= set(shown)  # the first priorities fit at this width
    text = " ".join(narrow)  # the note wraps at the console's width
    note = text.split("not shown (terminal too narrow): ", 1)[1].split("; --preview-fields")[0]
    hidden = note.split(", ")
    assert sorted(hidden + shown) == sorted(AGGREGATE_FIELDS)
    # a field is left out only after every field of higher priority was tried
    assert all(f in PREVIEW_PRIORITY for f in shown)
    flat = " ".join(" ".join(narrow).split())  # the summary lines wrap too
    assert "rows: 24 average price: " in flat and flat.endswith("(prices not used): 0")
