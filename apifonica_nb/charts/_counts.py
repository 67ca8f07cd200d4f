"""Calls per time bucket, stacked by status: :func:`apifonica_nb.charts.status_counts`."""

from __future__ import annotations

import html
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..summary import group_codes, lazy_frame
from ._buckets import Focus, bucketed, choose_freq, freq_word, period_layout
from ._colors import status_color
from ._data import column_or_na, has_values, zone_label
from ._layout import TEMPLATE, count_axis, empty_figure, join_subtitle, time_axis, titled
from ._lazy import LazyTimes, grouped, label_codes, timed

_TITLE = "Calls by status"


def status_counts(df: Any, *, freq: str | None = None, tz: str | None = None) -> go.Figure:
    """Count calls per time bucket (by ``created``), stacked by status.

    ``freq`` is a pandas frequency ("15min", "h", "D", "W", "M"); without one the bucket
    follows the span shown (hours for a day, days for a month, weeks for a year). A given one
    that would give more than a readable number of bars is coarsened, and the title says so.

    ``df`` may be a lazy frame (``ap.cache.scan()``, Polars, Spark, ...): the engine counts
    per status and bucket, and only those counts come back.

    >>> status_counts(df, freq="D", tz="Europe/Riga")  # doctest: +SKIP
    """
    lf = lazy_frame(df)
    if lf is not None:
        return _lazy_status_counts(lf, freq=freq, tz=tz)
    if not has_values(df, ["created"]):
        return empty_figure(_TITLE, "No calls to show")
    calls = df.loc[df["created"].notna()]
    buckets, used, note, focus = bucketed(calls["created"], freq, tz)
    labels, idx = group_codes(column_or_na(calls, "status"))
    # Sparse: each status trace only holds the buckets where it occurs.
    counts = pd.Series(1, index=calls.index).groupby([idx, buckets.to_numpy()]).sum()
    return _draw(labels, counts, used=used, note=note, focus=focus, calls=len(calls), tz=tz)


def _lazy_status_counts(lf: nw.LazyFrame[Any], *, freq: str | None, tz: str | None) -> go.Figure:
    """The engine counts calls per status and bucket; only those counts come back."""
    calls = timed(lf, "created", "status")
    times = LazyTimes(calls, tz)
    if times.n == 0:
        return empty_figure(_TITLE, "No calls to show")
    used, note = choose_freq(freq, times.span)
    calls, to_starts = times.bucketed(calls, used)
    keys = {"key": nw.col("__bucket"), "outside": times.outside_expr()}
    table = grouped(calls, keys, nw.len().alias("calls"), labels=["status"])
    focus = times.with_outside(int(table.loc[table["outside"].astype(bool), "calls"].sum()))
    labels, idx = label_codes(table, "status")
    per_call = pd.Series(table["calls"].to_numpy(dtype=np.int64))
    counts = per_call.groupby([idx, to_starts(table["key"])]).sum()
    return _draw(labels, counts, used=used, note=note, focus=focus, calls=times.n, tz=tz)


def _draw(
    labels: list[str],
    counts: pd.Series,
    *,
    used: str,
    note: str,
    focus: Focus | None,
    calls: int,
    tz: str | None,
) -> go.Figure:
    """Draw the counts per (label index, bucket start), one stacked trace per label."""
    fig = go.Figure()
    for k, status in enumerate(labels):  # group_codes returns only labels that occur
        per_bucket = counts.xs(k, level=0)
        fig.add_trace(
            go.Bar(
                name=status,
                x=per_bucket.index.to_numpy(),
                y=per_bucket.to_numpy(),
                marker={"color": status_color(status), "line": {"width": 0}},
                hovertemplate=f"{html.escape(status)}: %{{y}} calls<extra>%{{x}}</extra>",
                **period_layout(used),
            )
        )
    word = freq_word(used)
    fig.update_layout(
        title=titled(
            f"Calls per {word} by status{note}",
            join_subtitle(f"{calls:,} calls, by creation time", focus.note() if focus else ""),
        ),
        template=TEMPLATE,
        barmode="stack",
        xaxis=time_axis(f"{word} ({zone_label(tz)})", focus),
        yaxis=count_axis(f"calls per {word}", float(counts.groupby(level=1).sum().max())),
        legend={"title": "status", "traceorder": "normal"},
    )
    return fig
