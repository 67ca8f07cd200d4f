"""What the calls cost: per channel and direction, over time, and per destination country."""

from __future__ import annotations

import html
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..summary import ensure_columns, group_codes, lazy_frame
from ._buckets import Focus, bucketed, choose_freq, freq_word, period_layout
from ._colors import DIRECTION_PATTERNS, channel_color
from ._data import column_or_na, has_values, zone_label
from ._layout import TEMPLATE, empty_figure, fmt_eur, join_subtitle, time_axis, titled
from ._lazy import LazyTimes, grouped, label_codes, timed

_BY_CHANNEL = "Cost by channel and direction"


def cost_by_channel(df: Any) -> go.Figure:
    """Total ``cost_eur`` per channel, stacked by direction (hatched: outbound), totals labelled.

    ``df`` may be a lazy frame (``ap.cache.scan()``, Polars, Spark, ...): the engine sums
    per direction and channel.

    >>> cost_by_channel(df)  # doctest: +SKIP
    """
    lf = lazy_frame(df)
    if lf is not None:
        return _lazy_cost_by_channel(lf)
    if not has_values(df, ["cost_eur"]):
        return empty_figure(_BY_CHANNEL, "No cost data")
    cost = pd.to_numeric(df["cost_eur"], errors="coerce").astype("float64")
    priced = cost.notna().to_numpy()
    amounts = cost.to_numpy(na_value=np.nan)[priced]
    channels, channel_idx = group_codes(column_or_na(df, "channel").loc[priced])
    directions, direction_idx = group_codes(column_or_na(df, "direction").loc[priced])
    sums = np.bincount(
        direction_idx * len(channels) + channel_idx,
        weights=amounts,
        minlength=len(directions) * len(channels),
    ).reshape(len(directions), len(channels))
    calls = np.bincount(
        direction_idx * len(channels) + channel_idx, minlength=len(directions) * len(channels)
    ).reshape(len(directions), len(channels))
    return _draw_by_channel(channels, directions, sums, calls)


def _lazy_cost_by_channel(lf: nw.LazyFrame[Any]) -> go.Figure:
    """The engine sums cost per direction and channel; only those sums come back."""
    lf = ensure_columns(lf, ["cost_eur", "channel", "direction"])
    priced = lf.filter(~nw.col("cost_eur").is_null())
    table = grouped(
        priced,
        {},
        nw.len().alias("calls"),
        nw.col("cost_eur").cast(nw.Float64()).sum(),
        labels=["channel", "direction"],
    )
    if table.empty:
        return empty_figure(_BY_CHANNEL, "No cost data")
    channels, channel_idx = label_codes(table, "channel")
    directions, direction_idx = label_codes(table, "direction")
    cells = direction_idx * len(channels) + channel_idx
    size = len(directions) * len(channels)
    weights = table["cost_eur"].to_numpy(dtype=np.float64)
    sums = np.bincount(cells, weights=weights, minlength=size)
    calls = np.bincount(cells, weights=table["calls"].to_numpy(dtype=np.float64), minlength=size)
    shape = (len(directions), len(channels))
    return _draw_by_channel(
        channels, directions, sums.reshape(shape), calls.astype(np.int64).reshape(shape)
    )


def _draw_by_channel(
    channels: list[str], directions: list[str], sums: np.ndarray, calls: np.ndarray
) -> go.Figure:
    """Draw the cost ``sums`` and priced ``calls`` per (direction, channel) cell."""
    title = _BY_CHANNEL
    fig = go.Figure()
    for k, direction in enumerate(directions):
        pattern = {
            "shape": DIRECTION_PATTERNS.get(direction, "."),
            "fillmode": "overlay",
            "fgcolor": "rgba(255, 255, 255, 0.7)",
        }
        # One trace per (direction, channel): plotly.js cannot draw a pattern over an array
        # of colours. The first trace of each direction carries its legend entry.
        shown = False
        for j, channel in enumerate(channels):
            if calls[k, j] == 0:
                continue
            fig.add_trace(
                go.Bar(
                    name=direction,
                    legendgroup=direction,
                    showlegend=not shown,
                    x=[channel],
                    y=[sums[k, j]],
                    customdata=[calls[k, j]],
                    marker={
                        "color": channel_color(channel),
                        "pattern": pattern,
                        "line": {"width": 0},
                    },
                    texttemplate="%{y:,.2f}",
                    textposition="inside",
                    insidetextanchor="middle",
                    hovertemplate=(
                        f"{html.escape(direction)}: %{{y:,.4f}} EUR<br>"
                        "%{customdata:,} priced calls<extra>%{x}</extra>"
                    ),
                    meta={"channel": channel, "direction": direction},
                )
            )
            shown = True
    totals = sums.sum(axis=0)
    fig.update_layout(
        title=titled(
            title, f"total {fmt_eur(float(totals.sum()))} over {int(calls.sum()):,} priced calls"
        ),
        template=TEMPLATE,
        barmode="stack",
        xaxis={"title": "channel", "categoryorder": "array", "categoryarray": channels},
        yaxis={"title": "cost (EUR)"},
        legend={"title": "direction (pattern)", "traceorder": "normal"},
        # A label that does not fit its bar at a legible size is left out (the hover has it).
        uniformtext={"minsize": 11, "mode": "hide"},
        annotations=[
            {
                "x": channel,
                "y": total,
                "text": f"<b>{fmt_eur(float(total))}</b>",
                "showarrow": False,
                "yanchor": "bottom",
                "yshift": 2,
            }
            for channel, total in zip(channels, totals, strict=True)
        ],
    )
    return fig


_OVER_TIME = "Cost over time by channel"


def cost_over_time(df: Any, *, freq: str | None = None, tz: str | None = None) -> go.Figure:
    """Draw cost per time bucket (by ``created``) per channel, plus the cumulative total.

    Without ``freq`` the bucket follows the span shown (hours for a day, days for a month,
    weeks for a year), as :func:`status_counts` does.

    ``df`` may be a lazy frame (``ap.cache.scan()``, Polars, Spark, ...): the engine sums
    per channel and bucket.

    >>> cost_over_time(df, freq="W")  # doctest: +SKIP
    """
    lf = lazy_frame(df)
    if lf is not None:
        return _lazy_cost_over_time(lf, freq=freq, tz=tz)
    if not has_values(df, ["cost_eur", "created"]):
        return empty_figure(_OVER_TIME, "No cost data")
    cost = pd.to_numeric(df["cost_eur"], errors="coerce").astype("float64")
    keep = (cost.notna() & df["created"].notna()).to_numpy()
    priced = df.loc[keep]
    if priced.empty:
        return empty_figure(_OVER_TIME, "No cost data")
    buckets, used, note, focus = bucketed(priced["created"], freq, tz)
    labels, idx = group_codes(column_or_na(priced, "channel"))
    amounts = cost.loc[keep]
    starts = buckets.to_numpy()
    per_channel = amounts.groupby([idx, starts]).sum()
    totals = amounts.groupby(starts).sum()  # sorted by bucket
    return _draw_over_time(labels, per_channel, totals, used=used, note=note, focus=focus, tz=tz)


def _lazy_cost_over_time(lf: nw.LazyFrame[Any], *, freq: str | None, tz: str | None) -> go.Figure:
    """The engine sums cost per channel and bucket; only those sums come back."""
    priced = timed(lf, "created", "cost_eur", "channel").filter(~nw.col("cost_eur").is_null())
    times = LazyTimes(priced, tz)
    if times.n == 0:
        return empty_figure(_OVER_TIME, "No cost data")
    used, note = choose_freq(freq, times.span)
    priced, to_starts = times.bucketed(priced, used)
    table = grouped(
        priced,
        {"key": nw.col("__bucket"), "outside": times.outside_expr()},
        nw.len().alias("calls"),
        nw.col("cost_eur").cast(nw.Float64()).sum(),
        labels=["channel"],
    )
    focus = times.with_outside(int(table.loc[table["outside"].astype(bool), "calls"].sum()))
    labels, idx = label_codes(table, "channel")
    amounts = pd.Series(table["cost_eur"].to_numpy(dtype=np.float64))
    starts = to_starts(table["key"])
    per_channel = amounts.groupby([idx, starts]).sum()
    totals = amounts.groupby(starts).sum()
    return _draw_over_time(labels, per_channel, totals, used=used, note=note, focus=focus, tz=tz)


def _draw_over_time(
    labels: list[str],
    per_channel: pd.Series,
    totals: pd.Series,
    *,
    used: str,
    note: str,
    focus: Focus | None,
    tz: str | None,
) -> go.Figure:
    """Draw cost per (channel index, bucket start) and the cumulative of ``totals``."""
    word = freq_word(used)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for k, channel in enumerate(labels):
        per_bucket = per_channel.xs(k, level=0)
        fig.add_trace(
            go.Bar(
                name=channel,
                x=per_bucket.index.to_numpy(),
                y=per_bucket.to_numpy(),
                marker={"color": channel_color(channel), "line": {"width": 0}},
                hovertemplate=f"{html.escape(channel)}: %{{y:,.4f}} EUR<extra>%{{x}}</extra>",
                **period_layout(used),
            ),
            secondary_y=False,
        )
    cumulative = totals.cumsum().to_numpy()
    fig.add_trace(
        go.Scatter(
            name="cumulative total",
            x=totals.index.to_numpy(),
            y=cumulative,
            mode="lines+markers" if len(totals) < 60 else "lines",
            line={"color": "#222", "width": 2},
            hovertemplate="cumulative: %{y:,.2f} EUR<extra>%{x}</extra>",
            **period_layout(used),
        ),
        secondary_y=True,
    )
    fig.update_layout(
        title=titled(
            f"Cost per {word} by channel, with cumulative total{note}",
            join_subtitle(
                f"total {fmt_eur(float(cumulative[-1]))}; calls counted on their creation time",
                focus.note() if focus else "",
            ),
        ),
        template=TEMPLATE,
        barmode="stack",
        legend={"title": "channel", "traceorder": "normal"},
    )
    fig.update_xaxes(time_axis(f"{word} ({zone_label(tz)})", focus))
    fig.update_yaxes(title_text=f"cost per {word} (EUR)", secondary_y=False)
    fig.update_yaxes(
        title_text="cumulative cost (EUR)",
        secondary_y=True,
        rangemode="tozero",
        showgrid=False,
        tickmode="auto",
    )
    return fig
