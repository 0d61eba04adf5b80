"""Offline HTML reports (plotly, its JavaScript embedded): a run and a grid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from seriesfactory.core.atomic import atomic_write_bytes

__all__ = ["grid_report", "run_report"]

#: At most this many points per line (evenly thinned, keeping the last).
MAX_POINTS = 20_000


def _thin(n: int) -> npt.NDArray[np.int64]:
    if n <= MAX_POINTS:
        return np.arange(n)
    return np.unique(np.append(np.linspace(0, n - 1, MAX_POINTS).astype(np.int64), n - 1))


def _page(title: str, figs: list[Any], extra: str = "") -> bytes:
    parts = []
    for k, fig in enumerate(figs):
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(k == 0)))
    body = "\n".join(parts)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h1>{title}</h1>{extra}{body}</body></html>"
    ).encode()


def run_report(
    path: Path,
    timeline: npt.NDArray[np.float64],
    fills: npt.NDArray[np.float64],
    summary: dict[str, Any],
) -> Path:
    """Equity, inventory, and our quotes over the mid."""
    import plotly.graph_objects as go  # type: ignore[import-untyped]
    from plotly.subplots import make_subplots  # type: ignore[import-untyped]

    k = _thin(len(timeline))
    t = timeline[k, 0].astype("datetime64[ns]")
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        subplot_titles=("quotes over the mid", "inventory", "equity"),
    )
    fig.add_trace(go.Scattergl(x=t, y=timeline[k, 1], name="mid"), row=1, col=1)
    fig.add_trace(go.Scattergl(x=t, y=timeline[k, 2], name="bid"), row=1, col=1)
    fig.add_trace(go.Scattergl(x=t, y=timeline[k, 3], name="ask"), row=1, col=1)
    if len(fills):
        f = fills[_thin(len(fills))]
        fig.add_trace(
            go.Scattergl(
                x=f[:, 0].astype("datetime64[ns]"),
                y=f[:, 2],
                mode="markers",
                name="fills",
                marker={"color": np.where(f[:, 1] > 0, "green", "red")},
            ),
            row=1,
            col=1,
        )
    fig.add_trace(go.Scattergl(x=t, y=timeline[k, 5], name="inventory"), row=2, col=1)
    fig.add_trace(go.Scattergl(x=t, y=timeline[k, 12], name="equity"), row=3, col=1)
    fig.update_layout(height=900)
    rows = "".join(
        f"<tr><td>{key}</td><td>{summary[key]}</td></tr>"
        for key in (
            "pnl",
            "fills_bid",
            "fills_ask",
            "fees",
            "final_inventory",
            "max_drawdown",
            "sharpe",
            "time_quoting",
        )
    )
    return atomic_write_bytes(path, _page("Backtest", [fig], f"<table>{rows}</table>"))


def grid_report(
    path: Path,
    rows: list[dict[str, Any]],
    keys: list[str],
    best: dict[str, dict[str, Any]],
    metric: str = "pnl",
) -> Path:
    """A heatmap of ``metric`` over the first two grid parameters (best over the others)."""
    import plotly.graph_objects as go

    figs = []
    if len(keys) >= 2:
        xs = sorted({r[keys[0]] for r in rows})
        ys = sorted({r[keys[1]] for r in rows})
        z = np.full((len(ys), len(xs)), np.nan)
        for r in rows:
            v = r[metric]
            i, j = ys.index(r[keys[1]]), xs.index(r[keys[0]])
            if isinstance(v, (int, float)) and np.isfinite(v) and not (z[i, j] >= v):
                z[i, j] = v
        figs.append(
            go.Figure(
                go.Heatmap(
                    x=[str(x) for x in xs], y=[str(y) for y in ys], z=z, colorbar={"title": metric}
                ),
                layout={
                    "xaxis_title": keys[0],
                    "yaxis_title": keys[1],
                    "title": f"{metric} by {keys[0]} and {keys[1]}",
                },
            )
        )
    elif keys:
        xs = [r[keys[0]] for r in rows]
        figs.append(
            go.Figure(
                go.Bar(x=[str(x) for x in xs], y=[r[metric] for r in rows]),
                layout={"xaxis_title": keys[0], "yaxis_title": metric},
            )
        )
    table = "".join(
        f"<tr><td>{m}</td><td>{', '.join(f'{k}={v}' for k, v in b.items())}</td></tr>"
        for m, b in best.items()
    )
    return atomic_write_bytes(path, _page("Grid search", figs, f"<table>{table}</table>"))
