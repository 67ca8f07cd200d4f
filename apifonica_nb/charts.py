"""Build plotly figures from the call DataFrame: pure builders, DataFrame in, Figure out.

Every builder takes a frame shaped like :data:`apifonica_nb.records.CALL_DTYPES`, returns a
:class:`plotly.graph_objects.Figure`, displays nothing and never changes the frame. They
aggregate with pandas/numpy before plotting, so a figure of 100,000 calls stays small, and
they all share one colour map for statuses (:data:`STATUS_COLORS`) and one for channels
(:data:`CHANNEL_COLORS`), with :data:`FALLBACK_COLOR` for values the vendor never documented.

Times are UTC; ``tz=`` converts them to that zone's wall clock for display only.

>>> fig = cost_by_channel(df)  # doctest: +SKIP
>>> fig  # the notebook displays it  # doctest: +SKIP
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._chart_parts import (
    _TEMPLATE,
    CHANNEL_COLORS,
    DIRECTION_PATTERNS,
    FALLBACK_COLOR,
    STATUS_COLORS,
    UNKNOWN,
    _bucketed,
    _column,
    _empty_figure,
    _fmt_eur,
    _freq_word,
    _groups,
    _has_values,
    _period_layout,
    _subtitle,
    _time_axis,
    _title,
    _zone,
    channel_color,
    status_color,
)
from ._timeline import status_timeline

__all__ = [
    "CHANNEL_COLORS",
    "DIRECTION_PATTERNS",
    "FALLBACK_COLOR",
    "STATUS_COLORS",
    "UNKNOWN",
    "channel_color",
    "cost_by_channel",
    "cost_by_destination",
    "cost_over_time",
    "duration_histogram",
    "status_color",
    "status_counts",
    "status_timeline",
]

_HISTOGRAM_BINS = 40


# --------------------------------------------------------------------------- counts


def status_counts(df: pd.DataFrame, *, freq: str = "h", tz: str | None = None) -> go.Figure:
    """Count calls per time bucket (by ``created``), stacked by status.

    ``freq`` is a pandas frequency ("15min", "h", "D", "W", "M"); when it would give more than
    a readable number of bars it is coarsened and the title says so.

    >>> status_counts(df, freq="D", tz="Europe/Riga")  # doctest: +SKIP
    """
    if not _has_values(df, ["created"]):
        return _empty_figure("Calls by status", "No calls to show")
    calls = df.loc[df["created"].notna()]
    buckets, used, note, focus = _bucketed(calls["created"], freq, tz)
    labels, idx = _groups(_column(calls, "status"))
    # Sparse: each status trace only holds the buckets where it occurs.
    counts = pd.Series(1, index=calls.index).groupby([idx, buckets.to_numpy()]).sum()
    fig = go.Figure()
    for k, status in enumerate(labels):  # _groups returns only labels that occur
        per_bucket = counts.xs(k, level=0)
        fig.add_trace(
            go.Bar(
                name=status,
                x=per_bucket.index.to_numpy(),
                y=per_bucket.to_numpy(),
                marker={"color": status_color(status), "line": {"width": 0}},
                hovertemplate=f"{html.escape(status)}: %{{y}} calls<extra>%{{x}}</extra>",
                **_period_layout(used),
            )
        )
    word = _freq_word(used)
    fig.update_layout(
        title=_title(
            f"Calls per {word} by status{note}",
            _subtitle(f"{len(calls):,} calls, by creation time", focus.note() if focus else ""),
        ),
        template=_TEMPLATE,
        barmode="stack",
        xaxis=_time_axis(f"{word} ({_zone(tz)})", focus),
        yaxis={"title": f"calls per {word}"},
        legend={"title": "status", "traceorder": "normal"},
    )
    return fig


# --------------------------------------------------------------------------- durations

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
    df: pd.DataFrame, *, by: str = "status", log: bool = False, column: str = "talk_seconds"
) -> go.Figure:
    """Draw the distribution of talk time (or billed ``duration``), stacked by status or channel.

    Values are binned with numpy, so the figure holds a few dozen bars per group whatever the
    number of calls. ``log=True`` uses log-spaced bins on a log axis (values under 1 s are
    counted in the first bin). ``by`` is ``"status"`` or ``"channel"``; ``column`` is
    ``"talk_seconds"``, ``"duration"`` (billed seconds) or ``"setup_seconds"``.

    >>> duration_histogram(df, by="channel", log=True, column="duration")  # doctest: +SKIP
    """
    if by not in ("status", "channel"):
        raise ValueError(f"by must be 'status' or 'channel', not {by!r}")
    if column not in _DURATION_COLUMNS:
        raise ValueError(f"column must be one of {sorted(_DURATION_COLUMNS)}, not {column!r}")
    what = _DURATION_COLUMNS[column]
    title = f"Distribution of {what} by {by}"
    if not _has_values(df, [column]):
        return _empty_figure(title, "No calls to show")
    values = pd.to_numeric(df[column], errors="coerce").astype("float64")
    present = values.notna().to_numpy()
    x = values.to_numpy(na_value=np.nan)[present]
    labels, idx = _groups(_column(df, by).loc[present])
    edges = _bin_edges(x, log=log)
    binned = np.clip(x, edges[0], None) if log else x
    # One bin index per value, then one bincount per group: no per-group np.histogram passes.
    bins = np.clip(np.searchsorted(edges, binned, side="right") - 1, 0, len(edges) - 2)
    counts = np.bincount(idx * (len(edges) - 1) + bins, minlength=len(labels) * (len(edges) - 1))
    counts = counts.reshape(len(labels), len(edges) - 1)
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
        title=_title(title, f"{int(present.sum()):,} calls with a value, {len(edges) - 1} bins"),
        template=_TEMPLATE,
        barmode="stack",
        bargap=0,
        xaxis={"title": f"{what} (seconds)", "type": "log" if log else "linear"},
        yaxis={"title": "calls"},
        legend={"title": by, "traceorder": "normal"},
    )
    return fig


# --------------------------------------------------------------------------- costs


def cost_by_channel(df: pd.DataFrame) -> go.Figure:
    """Total ``cost_eur`` per channel, stacked by direction (hatched: outbound), totals labelled.

    >>> cost_by_channel(df)  # doctest: +SKIP
    """
    title = "Cost by channel and direction"
    if not _has_values(df, ["cost_eur"]):
        return _empty_figure(title, "No cost data")
    cost = pd.to_numeric(df["cost_eur"], errors="coerce").astype("float64")
    priced = cost.notna().to_numpy()
    amounts = cost.to_numpy(na_value=np.nan)[priced]
    channels, channel_idx = _groups(_column(df, "channel").loc[priced])
    directions, direction_idx = _groups(_column(df, "direction").loc[priced])
    sums = np.bincount(
        direction_idx * len(channels) + channel_idx,
        weights=amounts,
        minlength=len(directions) * len(channels),
    ).reshape(len(directions), len(channels))
    calls = np.bincount(
        direction_idx * len(channels) + channel_idx, minlength=len(directions) * len(channels)
    ).reshape(len(directions), len(channels))
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
        title=_title(
            title, f"total {_fmt_eur(float(totals.sum()))} over {int(priced.sum()):,} priced calls"
        ),
        template=_TEMPLATE,
        barmode="stack",
        xaxis={"title": "channel", "categoryorder": "array", "categoryarray": channels},
        yaxis={"title": "cost (EUR)"},
        legend={"title": "direction (pattern)", "traceorder": "normal"},
        annotations=[
            {
                "x": channel,
                "y": total,
                "text": f"<b>{_fmt_eur(float(total))}</b>",
                "showarrow": False,
                "yanchor": "bottom",
                "yshift": 2,
            }
            for channel, total in zip(channels, totals, strict=True)
        ],
    )
    return fig


def cost_over_time(df: pd.DataFrame, *, freq: str = "D", tz: str | None = None) -> go.Figure:
    """Draw cost per time bucket (by ``created``) per channel, plus the cumulative total.

    >>> cost_over_time(df, freq="W")  # doctest: +SKIP
    """
    title = "Cost over time by channel"
    if not _has_values(df, ["cost_eur", "created"]):
        return _empty_figure(title, "No cost data")
    cost = pd.to_numeric(df["cost_eur"], errors="coerce").astype("float64")
    keep = (cost.notna() & df["created"].notna()).to_numpy()
    priced = df.loc[keep]
    if priced.empty:
        return _empty_figure(title, "No cost data")
    buckets, used, note, focus = _bucketed(priced["created"], freq, tz)
    labels, idx = _groups(_column(priced, "channel"))
    amounts = cost.loc[keep]
    starts = buckets.to_numpy()
    per_channel = amounts.groupby([idx, starts]).sum()
    totals = amounts.groupby(starts).sum()  # sorted by bucket
    word = _freq_word(used)
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
                **_period_layout(used),
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
            **_period_layout(used),
        ),
        secondary_y=True,
    )
    fig.update_layout(
        title=_title(
            f"Cost per {word} by channel, with cumulative total{note}",
            _subtitle(
                f"total {_fmt_eur(float(cumulative[-1]))}; calls counted on their creation time",
                focus.note() if focus else "",
            ),
        ),
        template=_TEMPLATE,
        barmode="stack",
        legend={"title": "channel", "traceorder": "normal"},
    )
    fig.update_xaxes(_time_axis(f"{word} ({_zone(tz)})", focus))
    fig.update_yaxes(title_text=f"cost per {word} (EUR)", secondary_y=False)
    fig.update_yaxes(
        title_text="cumulative cost (EUR)",
        secondary_y=True,
        rangemode="tozero",
        showgrid=False,
        tickmode="auto",
    )
    return fig


def cost_by_destination(df: pd.DataFrame, *, top: int = 10) -> go.Figure:
    """Draw cost and billed minutes per destination country: the ``top`` by cost, then "other".

    Minutes are billed minutes (``duration`` / 60). Calls without a country are shown as
    "unknown"; bars are stacked by channel.

    >>> cost_by_destination(df, top=5)  # doctest: +SKIP
    """
    if top < 1:
        raise ValueError(f"top must be at least 1, not {top}")
    title = "Cost and billed minutes by destination country"
    if not (_has_values(df, ["cost_eur"]) or _has_values(df, ["duration"])):
        return _empty_figure(title, "No cost data")
    cost = pd.to_numeric(_column(df, "cost_eur"), errors="coerce").astype("float64")
    minutes = pd.to_numeric(_column(df, "duration"), errors="coerce").astype("float64") / 60
    country = _column(df, "destination_country").astype("str")
    ranking = (
        pd.DataFrame({"country": country, "cost": cost, "minutes": minutes})
        .groupby("country", dropna=True)[["cost", "minutes"]]
        .sum()
        .sort_values(["cost", "minutes"], ascending=False)
    )
    named = list(ranking.index[:top])
    # Countries past the top N fold into "other"; NA countries stay apart as "unknown".
    label = country.where(country.isin(named), "other").where(country.notna(), UNKNOWN)
    order = [*named, *(["other"] if len(ranking) > top else []), UNKNOWN]
    channels, channel_idx = _groups(_column(df, "channel"))
    table = (
        pd.DataFrame({"country": label, "channel": channel_idx, "cost": cost, "minutes": minutes})
        .groupby(["country", "channel"])[["cost", "minutes"]]
        .sum()
    )
    # Drop groups with nothing to draw (e.g. "unknown" when those calls have no cost).
    drawn = table.groupby(level="country").sum().abs().sum(axis=1)
    order = [c for c in order if drawn.get(c, 0) > 0]
    if not order:
        return _empty_figure(title, "No cost data")
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.04,
        subplot_titles=("cost (EUR)", "billed minutes (duration ÷ 60)"),
    )
    for k, channel in enumerate(channels):
        mine = table.xs(k, level="channel").reindex(order, fill_value=0.0)
        for col, (measure, unit) in enumerate((("cost", "EUR"), ("minutes", "min")), start=1):
            fig.add_trace(
                go.Bar(
                    name=channel,
                    legendgroup=channel,
                    showlegend=col == 1,
                    orientation="h",
                    y=order,
                    x=mine[measure].to_numpy(),
                    marker={"color": channel_color(channel), "line": {"width": 0}},
                    hovertemplate=(
                        f"{html.escape(channel)}: %{{x:,.2f}} {unit}<extra>%{{y}}</extra>"
                    ),
                    meta={"measure": measure},
                ),
                row=1,
                col=col,
            )
    fig.update_layout(
        title=_title(
            title,
            f"top {top} countries by cost, the rest as “other”; total "
            f"{_fmt_eur(float(cost.sum()))}, {float(minutes.sum()):,.1f} billed minutes",
        ),
        template=_TEMPLATE,
        barmode="stack",
        legend={"title": "channel", "traceorder": "normal"},
        height=max(420, 28 * len(order) + 200),
    )
    fig.update_yaxes(autorange="reversed", title_text="destination country (ISO)", row=1, col=1)
    fig.update_xaxes(title_text="EUR", row=1, col=1)
    fig.update_xaxes(title_text="minutes", row=1, col=2)
    return fig
