"""Draw the distribution of talk time or billed duration (``charts.duration_histogram``)."""

from __future__ import annotations

import html
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..errors import InvalidRequestError
from ..summary import ensure_columns, group_codes, lazy_frame
from ._colors import channel_color, status_color
from ._data import column_or_na, has_values
from ._layout import TEMPLATE, count_axis, empty_figure, titled
from ._lazy import collect_row, grouped, label_codes

_HISTOGRAM_BINS = 40

_DURATION_COLUMNS = {
    "talk_seconds": "talk time (started→ended)",
    "setup_seconds": "setup time (created→started)",
    "duration": "billed duration",
}


def _bin_edges(values: np.ndarray, *, log: bool) -> np.ndarray:
    """Return shared histogram edges: nice linear widths, or log-spaced from 1 s."""
    high = float(values.max())
    if log:
        return np.geomspace(1.0, max(high, 1.0) * 1.0001 + 1e-9, _HISTOGRAM_BINS + 1)
    low = min(float(values.min()), 0.0)
    raw = (high - low) / _HISTOGRAM_BINS or 1.0
    magnitude = 10 ** np.floor(np.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    start = np.floor(low / step) * step
    count = int(np.floor((high - start) / step)) + 1
    return start + step * np.arange(count + 1)


def duration_histogram(
    df: Any, *, by: str = "status", log: bool = False, column: str = "talk_seconds"
) -> go.Figure:
    """Draw the distribution of talk time (or billed ``duration``), stacked by status or channel.

    Values are binned with numpy, so the figure holds a few dozen bars per group whatever the
    number of calls. ``log=True`` uses log-spaced bins on a log axis (values under 1 s are
    counted in the first bin). ``by`` is ``"status"`` or ``"channel"``; ``column`` is
    ``"talk_seconds"``, ``"duration"`` (billed seconds) or ``"setup_seconds"``.

    ``df`` may be a lazy frame (``ap.cache.scan()``, Polars, Spark, ...): the engine finds
    the range and counts per group and bin against the same edges.

    >>> duration_histogram(df, by="channel", log=True, column="duration")  # doctest: +SKIP
    """
    if by not in ("status", "channel"):
        raise InvalidRequestError(f"by must be 'status' or 'channel', not {by!r}")
    if column not in _DURATION_COLUMNS:
        raise InvalidRequestError(
            f"column must be one of {sorted(_DURATION_COLUMNS)}, not {column!r}"
        )
    title = _title(column, by)
    lf = lazy_frame(df)
    if lf is not None:
        return _lazy_histogram(lf, by=by, log=log, column=column)
    if not has_values(df, [column]):
        return empty_figure(title, "No calls to show")
    values = pd.to_numeric(df[column], errors="coerce").astype("float64")
    present = values.notna().to_numpy()
    x = values.to_numpy(na_value=np.nan)[present]
    labels, idx = group_codes(column_or_na(df, by).loc[present])
    edges = _bin_edges(x, log=log)
    binned = np.clip(x, edges[0], None) if log else x
    # One bin index per value, then one bincount per group: no per-group np.histogram passes.
    bins = np.clip(np.searchsorted(edges, binned, side="right") - 1, 0, len(edges) - 2)
    counts = np.bincount(idx * (len(edges) - 1) + bins, minlength=len(labels) * (len(edges) - 1))
    counts = counts.reshape(len(labels), len(edges) - 1)
    return _draw(labels, counts, edges, by=by, log=log, column=column)


def _lazy_histogram(lf: nw.LazyFrame[Any], *, by: str, log: bool, column: str) -> go.Figure:
    """The engine bins the values against the same edges and counts per group and bin."""
    lf = ensure_columns(lf, [column, by])
    values = nw.col(column).cast(nw.Float64())
    lf = lf.filter(~values.is_null())
    stats = collect_row(lf, values.min().alias("low"), values.max().alias("high"))
    if stats["low"] is None:
        return empty_figure(_title(column, by), "No calls to show")
    edges = _bin_edges(np.array([stats["low"], stats["high"]], dtype=np.float64), log=log)
    # searchsorted(edges, x, "right") - 1, clipped to the bins: how many inner edges x reaches.
    inner = (
        nw.when(values >= float(edge)).then(nw.lit(1)).otherwise(nw.lit(0)) for edge in edges[1:-1]
    )
    bin_ = nw.sum_horizontal(*inner) if len(edges) > 2 else nw.lit(0)
    table = grouped(lf, {"bin": bin_}, nw.len().alias("calls"), labels=[by])
    labels, idx = label_codes(table, by)
    nbins = len(edges) - 1
    cells = idx * nbins + table["bin"].to_numpy(dtype=np.int64)
    counts = np.bincount(
        cells, weights=table["calls"].to_numpy(dtype=np.float64), minlength=len(labels) * nbins
    )
    return _draw(
        labels,
        counts.astype(np.int64).reshape(len(labels), nbins),
        edges,
        by=by,
        log=log,
        column=column,
    )


def _title(column: str, by: str) -> str:
    return f"Distribution of {_DURATION_COLUMNS[column]} by {by}"


def _draw(
    labels: list[str], counts: np.ndarray, edges: np.ndarray, *, by: str, log: bool, column: str
) -> go.Figure:
    """Draw ``counts`` per (label, bin) of ``edges``, one stacked trace per label."""
    what = _DURATION_COLUMNS[column]
    title = _title(column, by)
    color = status_color if by == "status" else channel_color
    lows, highs = edges[:-1], edges[1:]
    # Bars span [low, high] in data units, which plotly maps edge by edge on a log axis too.
    centres, widths = (lows + highs) / 2, highs - lows
    ranges = np.char.add(
        np.char.add(np.round(lows, 1).astype(str), "–"), np.round(highs, 1).astype(str)
    )
    fig = go.Figure()
    for k, label in enumerate(labels):
        fig.add_trace(
            go.Bar(
                name=label,
                x=centres,
                y=counts[k],
                width=widths,
                customdata=ranges,
                marker={"color": color(label), "line": {"width": 0}},
                hovertemplate=f"{html.escape(label)}: %{{y}} calls<extra>%{{customdata}} s</extra>",
            )
        )
    fig.update_layout(
        title=titled(title, f"{int(counts.sum()):,} calls with a value, {len(edges) - 1} bins"),
        template=TEMPLATE,
        barmode="stack",
        bargap=0,
        xaxis={"title": f"{what} (seconds)", "type": "log" if log else "linear"},
        yaxis=count_axis("calls", float(counts.sum(axis=0).max())),
        legend={"title": by, "traceorder": "normal"},
    )
    return fig
