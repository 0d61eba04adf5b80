"""The offline research dashboard: ``seriesfactory report eda``.

One self-contained HTML file: plotly.js (from the plotly package) embedded once in the
head, then one ``<div>`` per figure. Nothing is fetched when it opens, so it works from
``file://`` with no server and no network. Every figure's script records its div id in
``window.sfDrawn`` once plotly has drawn it (the browser test reads that).

Downsampling (documented in ``docs/ml.md``): time-series panels are bucketed to at most
:data:`MAX_BUCKETS` buckets per chart on a ladder of round steps; distributions are
histograms computed here (never raw points); scatters draw a seeded random sample of at
most :data:`SCATTER_POINTS` points while their fitted line and R² use every row.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from seriesfactory.errors import InputError
from seriesfactory.ml.dataset import Dataset, choose_price_column
from seriesfactory.ml.splits import ROLES

__all__ = [
    "BUCKET_LADDER_S",
    "HIST_BINS",
    "MAX_BUCKETS",
    "SCATTER_POINTS",
    "bucket_step_ns",
    "eda_report",
]

#: Most buckets (candles, points) one time-series chart shows.
MAX_BUCKETS = 2_000
#: Most points drawn in a scatter.
SCATTER_POINTS = 5_000
#: Bins of every histogram.
HIST_BINS = 50
#: Most features in the distribution grid and in the correlation heatmap.
MAX_HIST_FEATURES = 30
MAX_CORR_FEATURES = 60
#: Rows sampled for the correlation matrix and for the histogram ranges.
CORR_ROWS = 100_000
#: Round bucket steps, in seconds, tried from the smallest.
BUCKET_LADDER_S = (
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    14400,
    21600,
    43200,
    86400,
    172800,
    604800,
)
#: Flow panels (summed per bucket) and level panels (averaged), drawn when present.
FLOW_PANELS = ("ofi",)
LEVEL_PANELS = ("spread", "spread_bps", "imbalance", "vpin", "vpin_bvc", "kyle_lambda")

_NS = 1_000_000_000
_BUY, _SELL = "#26a69a", "#ef5350"
_ROLE_COLOURS = {
    "train": "#4c78a8",
    "test": "#f58518",
    "purged": "#e45756",
    "embargo": "#b279a2",
    "unused": "#cccccc",
}


def bucket_step_ns(span_ns: int, row_step_ns: int, max_buckets: int = MAX_BUCKETS) -> int:
    """The smallest ladder step >= the row step giving at most ``max_buckets`` buckets."""
    for s in BUCKET_LADDER_S:
        step = s * _NS
        if step >= row_step_ns and span_ns / step < max_buckets:
            return step
    return max(BUCKET_LADDER_S[-1] * _NS, math.ceil(span_ns / max_buckets))


@dataclass
class _Buckets:
    start: np.ndarray  # row index where each bucket starts
    stop: np.ndarray  # one past its last row
    ts: np.ndarray  # bucket start time, ns

    def first(self, v: np.ndarray) -> np.ndarray:
        n = v.shape[0]
        ok = np.isfinite(v)
        nxt = np.where(ok, np.arange(n), n)
        nxt = np.minimum.accumulate(nxt[::-1])[::-1]
        j = nxt[self.start]
        out = np.full(self.start.shape[0], np.nan)
        inside = j < self.stop
        out[inside] = v[j[inside]]
        return out

    def last(self, v: np.ndarray) -> np.ndarray:
        ok = np.isfinite(v)
        prv = np.where(ok, np.arange(v.shape[0]), -1)
        prv = np.maximum.accumulate(prv)
        j = prv[self.stop - 1]
        out = np.full(self.start.shape[0], np.nan)
        inside = j >= self.start
        out[inside] = v[j[inside]]
        return out

    def sum(self, v: np.ndarray) -> np.ndarray:
        return np.add.reduceat(np.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0), self.start)

    def count(self, v: np.ndarray) -> np.ndarray:
        return np.add.reduceat(np.isfinite(v).astype(np.float64), self.start)

    def mean(self, v: np.ndarray) -> np.ndarray:
        c = self.count(v)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(c > 0, self.sum(v) / np.maximum(c, 1), np.nan)

    def max(self, v: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.fmax.reduceat(v, self.start)

    def min(self, v: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.fmin.reduceat(v, self.start)


def _buckets(ts: np.ndarray, step: int) -> _Buckets:
    key = ts // step
    start = np.concatenate(([0], np.flatnonzero(np.diff(key)) + 1))
    stop = np.concatenate((start[1:], [ts.shape[0]]))
    return _Buckets(start, stop, key[start] * step)


#: Columns already converted during one :func:`eda_report` call, by (table id, name).
_COLUMNS: dict[tuple[int, str], np.ndarray] = {}


def _col(table: pa.Table, name: str) -> np.ndarray:
    key = (id(table), name)
    got = _COLUMNS.get(key)
    if got is None:
        got = np.asarray(
            table.column(name).cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64
        )
        got.setflags(write=False)
        _COLUMNS[key] = got
    return got


def _dates(ts_ns: np.ndarray) -> np.ndarray:
    return ts_ns.astype("datetime64[ns]")


def _fmt_ns(ts_ns: int) -> str:
    return dt.datetime.fromtimestamp(ts_ns / _NS, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _fmt_step(ns: int) -> str:
    s = ns / _NS
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size and s % size == 0:
            return f"{int(s // size)}{unit}"
    return f"{s:g}s"


def _ts(table: pa.Table) -> np.ndarray:
    if "ts" not in table.column_names:
        raise InputError("--features: no ts column; a feature table needs ts (timestamp, UTC)")
    col = table.column("ts")
    if pa.types.is_timestamp(col.type):
        col = col.cast(pa.timestamp("ns", tz=col.type.tz)).cast(pa.int64())
    return np.asarray(col.to_numpy(), dtype=np.int64)


class _Page:
    """Collects figures (as divs) and HTML sections."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.figures = 0

    def heading(self, text: str, note: str = "") -> None:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")
        if note:
            self.parts.append(f'<p class="note">{html.escape(note)}</p>')

    def raw(self, text: str) -> None:
        self.parts.append(text)

    def figure(self, fig: Any, name: str) -> None:
        import plotly.io as pio  # type: ignore[import-untyped]

        div_id = f"sf-{name}"
        self.figures += 1
        self.parts.append(
            pio.to_html(
                fig,
                full_html=False,
                include_plotlyjs=False,
                div_id=div_id,
                config={"displaylogo": False, "responsive": True},
                post_script="(window.sfDrawn = window.sfDrawn || []).push('{plot_id}');",
            )
        )


def _coverage(
    page: _Page, table: pa.Table, ts: np.ndarray, price: np.ndarray, feats: list[str]
) -> None:
    import plotly.graph_objects as go  # type: ignore[import-untyped]

    n = ts.shape[0]
    steps = np.diff(ts)
    step = int(np.median(steps)) if steps.size else 0
    gaps = int(np.count_nonzero(steps > 1.5 * step)) if step else 0
    gap_time = int(np.sum(steps[steps > 1.5 * step] - step)) if step else 0
    rows = [
        ("rows", f"{n:,}"),
        ("from", _fmt_ns(int(ts[0]))),
        ("to", _fmt_ns(int(ts[-1]))),
        ("row step (median)", _fmt_step(step) if step else "-"),
        ("gaps (steps > 1.5 x median)", f"{gaps:,} ({gap_time / _NS:,.0f} s missing)"),
        ("rows without a price", f"{int(np.count_nonzero(~np.isfinite(price))):,}"),
    ]
    if "book_valid" in table.column_names:
        valid = _col(table, "book_valid")
        rows.append(("invalid-book share", f"{1.0 - float(np.nanmean(valid)):.4%}"))
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    page.heading("Coverage")
    page.raw(f'<table class="kv">{cells}</table>')
    share = [float(np.mean(~np.isfinite(_col(table, c)))) for c in feats]
    fig = go.Figure(go.Bar(x=feats, y=share, marker_color="#4c78a8"))
    fig.update_layout(
        title="NaN share per feature",
        yaxis_tickformat=".1%",
        height=340,
        margin={"t": 40, "b": 120},
    )
    page.figure(fig, "nan-share")


def _candles(
    table: pa.Table, ts: np.ndarray, price: np.ndarray, b: _Buckets
) -> dict[str, np.ndarray]:
    cols = table.column_names
    if all(c in cols for c in ("open", "high", "low", "close")):
        return {
            "open": b.first(_col(table, "open")),
            "high": b.max(_col(table, "high")),
            "low": b.min(_col(table, "low")),
            "close": b.last(_col(table, "close")),
        }
    return {
        "open": b.first(price),
        "high": b.max(price),
        "low": b.min(price),
        "close": b.last(price),
    }


def _price_panels(page: _Page, table: pa.Table, ts: np.ndarray, price: np.ndarray) -> None:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots  # type: ignore[import-untyped]

    cols = table.column_names
    span = int(ts[-1] - ts[0]) if ts.size > 1 else 0
    row_step = int(np.median(np.diff(ts))) if ts.size > 1 else _NS
    step = bucket_step_ns(span, row_step)
    b = _buckets(ts, step)
    x = _dates(b.ts)
    ohlc = _candles(table, ts, price, b)
    panels: list[tuple[str, np.ndarray]] = []
    if "ofi" in cols:
        ofi = _col(table, "ofi")
        panels.append(("OFI (sum)", b.sum(ofi)))
        cum = (
            b.last(_col(table, "ofi_cumulative"))
            if "ofi_cumulative" in cols
            else np.cumsum(b.sum(ofi))
        )
        panels.append(("cumulative OFI", cum))
    for name in LEVEL_PANELS:
        if name in cols:
            panels.append((f"{name} (mean)", b.mean(_col(table, name))))
    has_volume = "volume" in cols or ("buy_volume" in cols and "sell_volume" in cols)
    n_rows = 1 + int(has_volume) + len(panels)
    heights = [3.0] + [1.0] * (n_rows - 1)
    titles = ["price", *(["volume"] if has_volume else []), *(t for t, _ in panels)]
    fig = make_subplots(
        rows=n_rows,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.02,
        row_heights=heights,
        subplot_titles=titles,
    )
    fig.add_trace(
        go.Candlestick(
            x=x,
            open=ohlc["open"],
            high=ohlc["high"],
            low=ohlc["low"],
            close=ohlc["close"],
            name="OHLC",
        ),
        row=1,
        col=1,
    )
    if "vwap" in cols:
        vwap = _col(table, "vwap")
        if "volume" in cols:
            vol = _col(table, "volume")
            ok = np.isfinite(vwap) & np.isfinite(vol)
            num = b.sum(np.where(ok, vwap * vol, np.nan))
            den = b.sum(np.where(ok, vol, np.nan))
            with np.errstate(invalid="ignore", divide="ignore"):
                bucket_vwap = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
        else:
            bucket_vwap = b.mean(vwap)
        fig.add_trace(go.Scatter(x=x, y=bucket_vwap, name="VWAP", line={"width": 1}), row=1, col=1)
    r = 2
    if has_volume:
        if "buy_volume" in cols and "sell_volume" in cols:
            fig.add_trace(
                go.Bar(
                    x=x, y=b.sum(_col(table, "buy_volume")), name="taker buy", marker_color=_BUY
                ),
                row=r,
                col=1,
            )
            fig.add_trace(
                go.Bar(
                    x=x, y=b.sum(_col(table, "sell_volume")), name="taker sell", marker_color=_SELL
                ),
                row=r,
                col=1,
            )
        else:
            fig.add_trace(go.Bar(x=x, y=b.sum(_col(table, "volume")), name="volume"), row=r, col=1)
        r += 1
    for title, values in panels:
        fig.add_trace(go.Scatter(x=x, y=values, name=title, line={"width": 1}), row=r, col=1)
        r += 1
    fig.update_layout(
        barmode="stack",
        height=360 + 150 * (n_rows - 1),
        xaxis_rangeslider_visible=False,
        showlegend=True,
        margin={"t": 40},
    )
    page.heading(
        "Price, volume and order flow",
        f"{b.ts.shape[0]:,} buckets of {_fmt_step(step)} (from {ts.shape[0]:,} rows): "
        "OHLC first/max/min/last, volumes and OFI summed, VWAP volume-weighted, other panels "
        "averaged.",
    )
    page.figure(fig, "price")
    if span >= 3 * 86400 * _NS:
        d = _buckets(ts, 86400 * _NS)
        daily = _candles(table, ts, price, d)
        dfig = go.Figure(
            go.Candlestick(
                x=_dates(d.ts),
                open=daily["open"],
                high=daily["high"],
                low=daily["low"],
                close=daily["close"],
                name="daily",
            )
        )
        dfig.update_layout(
            title="Full history (daily)", height=360, xaxis_rangeslider_visible=False
        )
        page.figure(dfig, "daily")


def _scatter(page: _Page, table: pa.Table, price: np.ndarray, seed: int) -> None:
    import plotly.graph_objects as go

    cols = table.column_names
    if "ofi" in cols:
        xname, x = "ofi", _col(table, "ofi")
    elif "signed_volume" in cols:
        xname, x = "signed_volume", _col(table, "signed_volume")
    elif "buy_volume" in cols and "sell_volume" in cols:
        xname, x = (
            "buy_volume - sell_volume",
            _col(table, "buy_volume") - _col(table, "sell_volume"),
        )
    else:
        return
    dp = np.diff(price, prepend=np.nan)
    ok = np.isfinite(x) & np.isfinite(dp)
    xs, ys = x[ok], dp[ok]
    page.heading(f"Δprice vs {xname}")
    if xs.size < 3 or np.ptp(xs) == 0:
        page.raw('<p class="note">Too few rows with both values for a fit.</p>')
        return
    slope, intercept = np.polyfit(xs, ys, 1)
    resid = ys - (slope * xs + intercept)
    tss = float(np.sum((ys - ys.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / tss if tss > 0 else float("nan")
    rng = np.random.default_rng(seed)
    pick = rng.choice(xs.size, size=min(SCATTER_POINTS, xs.size), replace=False)
    line_x = np.array([xs.min(), xs.max()])
    fig = go.Figure()
    fig.add_trace(
        go.Scattergl(
            x=xs[pick],
            y=ys[pick],
            mode="markers",
            name=f"{pick.size:,} of {xs.size:,} rows",
            marker={"size": 3, "opacity": 0.4},
        )
    )
    fig.add_trace(go.Scatter(x=line_x, y=slope * line_x + intercept, mode="lines", name="OLS fit"))
    fig.update_layout(
        title=f"Δprice = {intercept:.3g} + {slope:.4g}·{xname}   (R² = {r2:.4f}, n = {xs.size:,})",
        xaxis_title=xname,
        yaxis_title="Δprice (one row)",
        height=420,
    )
    page.figure(fig, "scatter")


def _distributions(page: _Page, table: pa.Table, feats: list[str]) -> None:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    chosen = feats[:MAX_HIST_FEATURES]
    ncol = 3
    nrow = math.ceil(len(chosen) / ncol)
    fig = make_subplots(
        rows=nrow, cols=ncol, subplot_titles=chosen, vertical_spacing=0.5 / max(nrow, 1)
    )
    for i, c in enumerate(chosen):
        v = _col(table, c)
        v = v[np.isfinite(v)]
        if v.size == 0:
            continue
        lo, hi = np.percentile(v[:: max(1, v.size // CORR_ROWS)], [0.5, 99.5])
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        counts, edges = np.histogram(v, bins=HIST_BINS, range=(lo, hi))
        fig.add_trace(
            go.Bar(
                x=(edges[:-1] + edges[1:]) / 2, y=counts, marker_color="#4c78a8", showlegend=False
            ),
            row=i // ncol + 1,
            col=i % ncol + 1,
        )
    fig.update_layout(height=max(300, 220 * nrow), bargap=0, margin={"t": 40})
    page.heading(
        "Feature distributions",
        f"{len(chosen)} of {len(feats)} features; {HIST_BINS} bins between the 0.5th and 99.5th "
        "percentiles of the finite values.",
    )
    page.figure(fig, "distributions")


def _correlation(page: _Page, table: pa.Table, feats: list[str], seed: int) -> None:
    import plotly.graph_objects as go

    chosen = feats[:MAX_CORR_FEATURES]
    n = table.num_rows
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, size=min(n, CORR_ROWS), replace=False))
    m = np.column_stack([_col(table, c)[rows] for c in chosen])
    m[~np.isfinite(m)] = np.nan
    med = np.nanmedian(np.where(np.isnan(m).all(axis=0), 0.0, m), axis=0)
    m = np.where(np.isnan(m), med, m)
    sd = m.std(axis=0)
    z = np.full((len(chosen), len(chosen)), np.nan)
    live = sd > 0
    if live.sum() >= 1:
        z[np.ix_(live, live)] = np.corrcoef(m[:, live], rowvar=False).reshape(
            live.sum(), live.sum()
        )
    fig = go.Figure(
        go.Heatmap(z=z, x=chosen, y=chosen, zmin=-1, zmax=1, colorscale="RdBu", reversescale=True)
    )
    fig.update_layout(height=max(400, 14 * len(chosen) + 160), margin={"t": 40, "b": 120})
    page.heading(
        "Correlation (Pearson)",
        f"{len(chosen)} features, {rows.size:,} sampled rows; a NaN counts as the feature's "
        "median; a constant feature is left blank.",
    )
    page.figure(fig, "correlation")


def _dataset_panels(page: _Page, ds: Dataset) -> None:
    import plotly.graph_objects as go

    y = ds.y
    classes = ds.classes
    fig = go.Figure()
    names = [f"fold {s.fold}" for s in ds.splits]
    for c in classes:
        counts = [int(np.count_nonzero(y[s.test] == c)) for s in ds.splits]
        fig.add_trace(go.Bar(x=names, y=counts, name=f"label {c}"))
    fig.update_layout(barmode="group", title="Labels of each fold's test rows", height=360)
    lab = ds.meta["label"]
    page.heading(
        "Labels, holding times and the CV timeline",
        f"{ds.n_rows:,} rows; label {lab['kind']}, horizon {lab['horizon']} rows; CV "
        f"{ds.meta['cv']['scheme']} ({len(ds.splits)} folds, embargo "
        f"{ds.meta.get('embargo_rows', '?')} rows); effective N "
        f"{ds.meta.get('effective_n', 0):,.0f}.",
    )
    page.figure(fig, "labels")
    hold = (ds.t1_ns - ds.t0_ns) / _NS
    hcounts, edges = np.histogram(hold, bins=HIST_BINS)
    hfig = go.Figure(go.Bar(x=(edges[:-1] + edges[1:]) / 2, y=hcounts, marker_color="#72b7b2"))
    hfig.update_layout(
        title=f"Holding time t1 - t (s): median {np.median(hold):g}, max {hold.max():g}",
        xaxis_title="seconds",
        height=320,
        bargap=0,
    )
    page.figure(hfig, "holding")
    wcounts, wedges = np.histogram(ds.weight, bins=HIST_BINS, range=(0.0, 1.0))
    wfig = go.Figure(go.Bar(x=(wedges[:-1] + wedges[1:]) / 2, y=wcounts, marker_color="#54a24b"))
    wfig.update_layout(title="Average label uniqueness (sample weight)", height=300, bargap=0)
    page.figure(wfig, "uniqueness")
    t0 = ds.t0_ns
    tfig = go.Figure()
    for code, role in enumerate(ROLES):
        xs: list[Any] = []
        ys: list[Any] = []
        for s in ds.splits:
            mask = s.roles == code
            if not mask.any():
                continue
            edges_i = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
            for a, b in zip(edges_i[::2], edges_i[1::2], strict=True):
                xs += [_dates(np.array([t0[a]]))[0], _dates(np.array([t0[b - 1]]))[0], None]
                ys += [f"fold {s.fold}", f"fold {s.fold}", None]
        if xs:
            tfig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines",
                    name=role,
                    line={"width": 14, "color": _ROLE_COLOURS[role]},
                )
            )
    tfig.update_layout(
        title="CV timeline (row roles over time)",
        height=140 + 36 * len(ds.splits),
        yaxis={"autorange": "reversed"},
    )
    page.figure(tfig, "cv-timeline")


def _importance(page: _Page, imp: pa.Table) -> None:
    import plotly.graph_objects as go

    need = {"feature", "permutation_mean"}
    if not need <= set(imp.column_names):
        raise InputError("--importance: not a table written by 'ml importance' (feature, ...)")
    top = imp.slice(0, 30).to_pydict()
    feats = list(reversed(top["feature"]))
    fig = go.Figure(
        go.Bar(
            y=feats,
            x=list(reversed(top["permutation_mean"])),
            orientation="h",
            name="permutation (Δ log loss)",
            error_x={"type": "data", "array": list(reversed(top.get("permutation_std", [])))},
        )
    )
    mdi = top.get("mdi_mean")
    if mdi and any(v is not None and not math.isnan(v) for v in mdi):
        fig.add_trace(
            go.Bar(y=feats, x=list(reversed(mdi)), orientation="h", name="MDI", xaxis="x2")
        )
        fig.update_layout(xaxis2={"overlaying": "x", "side": "top", "title": "MDI"})
    fig.update_layout(
        title="Feature importance on held-out purged folds", height=200 + 18 * len(feats)
    )
    page.heading("Feature importance")
    page.figure(fig, "importance")


_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
.note{color:#555;font-size:13px}table.kv th{text-align:left;padding-right:16px;font-weight:500}
"""


def eda_report(
    features: pa.Table,
    *,
    dataset: Dataset | None = None,
    importance: pa.Table | None = None,
    price_column: str | None = None,
    title: str = "Series Factory EDA",
    seed: int = 0,
) -> str:
    """The dashboard of a feature table (and optionally its dataset and importance) as HTML."""
    import plotly.offline  # type: ignore[import-untyped]

    if features.num_rows == 0:
        raise InputError("--features: the feature table has no rows")
    ts = _ts(features)
    order = np.argsort(ts, kind="stable")
    if np.any(np.diff(ts) < 0):
        features = features.take(pa.array(order))
        ts = ts[order]
    pcol = choose_price_column(features, price_column, "--features")
    price = _col(features, pcol)
    feats = [
        f.name
        for f in features.schema
        if f.name != "ts"
        and (
            pa.types.is_integer(f.type)
            or pa.types.is_floating(f.type)
            or pa.types.is_boolean(f.type)
        )
    ]
    page = _Page()
    try:
        _panels(page, features, ts, price, feats, dataset, importance, seed)
    finally:
        _COLUMNS.clear()
    js = plotly.offline.get_plotlyjs()
    head = (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<style>{_CSS}</style><script type="text/javascript">{js}</script></head><body>'
        f"<h1>{html.escape(title)}</h1>"
        f'<p class="note">{page.figures} figures; price column {html.escape(pcol)}; '
        "self-contained: opens offline.</p>"
    )
    return head + "\n".join(page.parts) + "</body></html>\n"


def _panels(
    page: _Page,
    features: pa.Table,
    ts: np.ndarray,
    price: np.ndarray,
    feats: list[str],
    dataset: Dataset | None,
    importance: pa.Table | None,
    seed: int,
) -> None:
    _coverage(page, features, ts, price, feats)
    _price_panels(page, features, ts, price)
    _scatter(page, features, price, seed)
    ordered = feats
    if importance is not None and "feature" in importance.column_names:
        ranked = [f for f in importance.column("feature").to_pylist() if f in feats]
        ordered = ranked + [f for f in feats if f not in ranked]
    _distributions(page, features, ordered)
    _correlation(page, features, ordered, seed)
    if dataset is not None:
        _dataset_panels(page, dataset)
    if importance is not None:
        _importance(page, importance)
