"""The status timeline: one row per call along time, or calls in progress per time bucket.

:func:`status_timeline` is public as :func:`apifonica_nb.charts.status_timeline`. Which view
it draws depends on how long calls are compared with the period shown: minute-long calls over
a month would be bars thinner than a pixel, so then it counts calls in progress instead (with
:func:`apifonica_nb.summary.concurrency`), and the title says which view it is.
"""

from __future__ import annotations

import html
from typing import Any, cast

import narwhals as nw
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..summary import concurrency, ensure_columns, group_codes, lazy_frame
from ._buckets import Focus, find_focus
from ._colors import status_color
from ._data import (
    MS,
    as_utc,
    column_or_na,
    escape_text,
    has_values,
    wall_clock,
    zone_label,
)
from ._layout import TEMPLATE, empty_figure, fmt_eur, join_subtitle, time_axis, titled
from ._lazy import collect_rows
from ._timeline_lazy import LAZY_ROWS, timeline_stats

# The aggregated timeline aims for about this many buckets over the period shown.
_TIMELINE_BUCKETS = 500
# A typical call must be at least this many pixels long on a plot this wide to draw bars.
_MIN_BAR_PIXELS, _PLOT_PIXELS = 2.0, 900.0
# Adaptive bucket widths (seconds) for the aggregated timeline: "nice" clock units.
_NICE_SECONDS = (
    *(60 * m for m in (1, 2, 5, 10, 15, 30)),
    *(3600 * h for h in (1, 2, 3, 6, 12)),
    *(86400 * d for d in (1, 2, 7, 14, 28)),
)


def status_timeline(df: Any, *, tz: str | None = None, max_calls: int = 2000) -> go.Figure:
    """Draw one row per call along time: setup (created→started) and talk (started→ended).

    Bars are coloured by the call's status; the setup phase is a thin pale bar, the talk phase
    a full one. Calls without ``ended`` (in progress, or never answered) run to ``updated``,
    hatched, with a ▸ mark. Durations are computed in UTC and only the endpoints are converted
    to ``tz``, so bars keep their true length across DST changes. Above ``max_calls`` calls, or
    when a typical call would be a bar under two pixels long over the period shown, the chart
    counts calls in progress per time bucket instead, stacked by status (said in the title).

    ``df`` may be a lazy frame (``ap.cache.scan()``, Polars, Spark, ...): up to ``max_calls``
    rows (never more than 10,000) are collected and drawn as above; beyond that the engine
    counts and :func:`apifonica_nb.concurrency` (in the engine too) gives the aggregated view.
    Ties in ``created`` keep the engine's row order.

    >>> status_timeline(df, tz="Europe/Berlin")  # doctest: +SKIP
    """
    title = "Call status timeline"
    lf = lazy_frame(df)
    if lf is not None:
        return _lazy_timeline(lf, tz=tz, max_calls=max_calls)
    if not has_values(df, ["created"]):
        return empty_figure(title, "No calls to show")
    calls = df.loc[column_or_na(df, "created").notna()]
    if len(calls) > max_calls:
        why = (
            f"{len(calls):,} calls exceed max_calls={max_calls:,}: one row per call would be "
            "unreadable"
        )
        return _timeline_aggregated(calls, tz=tz, why=why)
    created, _started, last, _open = _call_ends(calls)
    focus = find_focus(wall_clock(created, None))
    span = (focus.end - focus.start) if focus else (last.max() - created.min())
    typical = float((last - created).dt.total_seconds().median())
    seconds = max(span.total_seconds(), 1.0)
    if len(calls) > 1 and typical / seconds * _PLOT_PIXELS < _MIN_BAR_PIXELS:
        why = (
            f"a typical call lasts {typical:,.0f} s, under {_MIN_BAR_PIXELS:.0f} px over "
            f"this {span.total_seconds() / 86400:,.1f}-day period: bars would not show"
        )
        return _timeline_aggregated(calls, tz=tz, why=why)
    return _timeline_gantt(calls, tz=tz)


def _lazy_timeline(lf: nw.LazyFrame[Any], *, tz: str | None, max_calls: int) -> go.Figure:
    """Draw a few calls from their rows, many from the engine's aggregates."""
    lf = ensure_columns(lf, ["created"])
    dated = lf.filter(~nw.col("created").is_null())
    cap = min(max_calls, LAZY_ROWS)
    few = collect_rows(dated, cap + 1)
    if len(few) <= cap:  # all of them: the pandas code decides and draws
        return status_timeline(few, tz=tz, max_calls=max_calls)
    stats = timeline_stats(dated)
    limit = f"max_calls={max_calls:,}" if cap == max_calls else f"{LAZY_ROWS:,} (lazy frames)"
    why = f"{stats.calls:,} calls exceed {limit}: one row per call would be unreadable"
    width = _nice_bucket_seconds(max(stats.span.total_seconds(), 1.0))
    counts = concurrency(cast(Any, dated), freq=f"{width}s", by="status", tz=tz, phase="call")
    return _draw_aggregated(counts, stats.labels, width=width, why=why, focus=stats.focus, tz=tz)


def _call_ends(calls: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    """Return created, started, the last known time of each call and whether it has ended."""
    created = as_utc(calls["created"])
    started = as_utc(column_or_na(calls, "started"))
    ended = as_utc(column_or_na(calls, "ended"))
    updated = as_utc(column_or_na(calls, "updated"))
    # A call without an end is drawn up to its last update (or to where it is known to be).
    last = ended.fillna(updated).fillna(started).fillna(created)
    last = last.where(last >= created, created)
    return created, started, last, ended.isna()


def _timeline_gantt(calls: pd.DataFrame, *, tz: str | None) -> go.Figure:
    calls = calls.sort_values("created", kind="stable")
    created, started, last, is_open = _call_ends(calls)
    answered = started.notna().to_numpy()
    setup_end = started.where(started.notna(), last)
    setup_end = setup_end.where(setup_end >= created, created)
    talk_end = last.where(last >= started, started)
    setup_ms = (setup_end - created).dt.total_seconds().to_numpy() * MS
    talk_ms = (talk_end - started).dt.total_seconds().to_numpy() * MS
    open_ = is_open.to_numpy()
    # One row per call, named by its SID, so the unified hover is titled by the call.
    sid = escape_text(column_or_na(calls, "call_sid"))
    repeat = sid.groupby(sid).cumcount()
    rows = sid.where(repeat == 0, sid + " #" + (repeat + 1).astype("str")).to_numpy()

    status_labels, status_idx = group_codes(column_or_na(calls, "status"))
    duration = column_or_na(calls, "duration").astype("str").fillna("–")
    cost = pd.to_numeric(column_or_na(calls, "cost_eur"), errors="coerce")
    # The call's details ride once, on its creation dot; the bars only say how long they last.
    details = (
        escape_text(column_or_na(calls, "from"))
        + " → "
        + escape_text(column_or_na(calls, "to"))
        + "<br>"
        + pd.Series(np.array(status_labels, dtype=object)[status_idx], index=calls.index)
        .astype("str")
        .pipe(escape_text)
        + ", billed "
        + duration
        + " s, "
        + cost.map(fmt_eur, na_action="ignore").astype("str").fillna("no price yet")
        + "<br>tag: "
        + escape_text(column_or_na(calls, "tag"))
    ).to_numpy()
    # Whole-second text (API times have no fractions) is a third shorter than plotly's ISO.
    created_wall, started_wall, last_wall = (
        wall_clock(times, tz).dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy()
        for times in (created, started, last)
    )
    fig = go.Figure()
    for k, status in enumerate(status_labels):
        mine = status_idx == k
        color = status_color(status)
        phases = (
            # Never-answered calls are all setup; their setup is open when they have no end.
            ("setup", mine & ((setup_ms > 0) | ~answered), created_wall, setup_ms, 0.45,
             open_ & ~answered, 0.45),
            ("talk", mine & answered, started_wall, talk_ms, 0.85, open_, 1.0),
        )  # fmt: skip
        for phase, rows_in, base, length, width, is_open_, opacity in phases:
            if not rows_in.any():
                continue
            fig.add_trace(
                go.Bar(
                    name=f"{status} · {phase}",
                    legendgroup=status,
                    showlegend=False,
                    orientation="h",
                    base=base[rows_in],
                    x=length[rows_in],
                    y=rows[rows_in],
                    width=width,
                    marker={
                        "color": color,
                        "opacity": opacity,
                        "line": {"width": 0},
                        "pattern": {
                            "shape": np.where(is_open_[rows_in], "/", "")
                            if is_open_[rows_in].any()
                            else ""
                        },
                    },
                    customdata=length[rows_in] / MS,
                    hovertemplate=f"{phase}: %{{customdata:,.0f}} s<extra></extra>",
                    meta={"phase": phase, "status": status},
                )
            )
        # A dot at each call's creation, carrying the call's details for the hover.
        fig.add_trace(
            go.Scatter(
                name=status,
                legendgroup=status,
                mode="markers",
                x=created_wall[mine],
                y=rows[mine],
                marker={"color": color, "size": 5, "line": {"width": 0}},
                hovertext=details[mine],
                hovertemplate="created %{x|%Y-%m-%d %H:%M:%S}<br>%{hovertext}<extra></extra>",
                meta={"phase": "created", "status": status},
            )
        )
    if open_.any():
        fig.add_trace(
            go.Scatter(
                name="no end yet (drawn to last update)",
                mode="markers",
                x=last_wall[open_],
                y=rows[open_],
                marker={
                    "symbol": "triangle-right-open",
                    "size": 8,
                    "color": "#333",
                    "line": {"width": 1.5},
                },
                hovertemplate="no end yet; last update %{x|%H:%M:%S}<extra></extra>",
                meta={"phase": "open"},
            )
        )
    n = len(calls)
    focus = find_focus(wall_clock(created, tz))
    yaxis: dict[str, object] = {
        "title": "calls (by creation time)",
        "type": "category",
        # Without an explicit order plotly lists rows by first appearance, i.e. by status.
        "categoryorder": "array",
        "categoryarray": rows,
        "autorange": "reversed",
        "showticklabels": n <= 40,
    }
    drawn = {(t.meta or {}).get("phase") for t in fig.data}
    marks = [
        ("setup", "pale thin bar: setup (created→started)"),
        ("talk", "solid bar: talk (started→ended)"),
        ("open", "hatched ▸: no end yet, drawn to the last update"),
    ]
    fig.update_layout(
        title=titled(
            f"Call status timeline: one row per call ({n:,} calls)",
            join_subtitle(
                "dot: created",
                *(text for phase, text in marks if phase in drawn),
                focus.note() if focus else "",
            ),
        ),
        template=TEMPLATE,
        barmode="overlay",
        hovermode="y unified",
        xaxis=time_axis(f"time ({zone_label(tz)})", focus),
        yaxis=yaxis,
        legend={"title": "status", "traceorder": "normal", "itemsizing": "constant"},
        height=int(min(max(420, 14 * n + 200), 1000)),
    )
    return fig


def _nice_bucket_seconds(span_seconds: float) -> int:
    """Return a clock-friendly bucket width giving about ``_TIMELINE_BUCKETS`` buckets."""
    want = span_seconds / _TIMELINE_BUCKETS
    for step in _NICE_SECONDS:
        if step >= want:
            return step
    return int(np.ceil(want / _NICE_SECONDS[-1])) * _NICE_SECONDS[-1]


def _seconds_word(seconds: int) -> str:
    """Name a bucket width: "minute", "5 min", "hour", "6 h", "day", "7 days"."""
    for unit, one, many in ((86400, "day", " days"), (3600, "hour", " h"), (60, "minute", " min")):
        if seconds % unit == 0:
            count = seconds // unit
            return one if count == 1 else f"{count}{many}"
    return f"{seconds} s"


def _timeline_aggregated(calls: pd.DataFrame, *, tz: str | None, why: str) -> go.Figure:
    created, _started, last, _open = _call_ends(calls)
    focus = find_focus(wall_clock(created, None))
    if focus is not None:  # the bucket width follows the period shown, not a stray old call
        span = (focus.end - focus.start).total_seconds()
    else:
        span = (last.max() - created.min()).total_seconds()
    width = _nice_bucket_seconds(max(span, 1.0))
    counts = concurrency(calls, freq=f"{width}s", by="status", tz=tz, phase="call")
    status_labels, _idx = group_codes(column_or_na(calls, "status"))
    return _draw_aggregated(counts, status_labels, width=width, why=why, focus=focus, tz=tz)


def _draw_aggregated(
    counts: pd.DataFrame,
    status_labels: list[str],
    *,
    width: int,
    why: str,
    focus: Focus | None,
    tz: str | None,
) -> go.Figure:
    """Draw calls in progress per ``width``-second bucket (a concurrency table), by status."""
    fig = go.Figure()
    for status in status_labels:
        mine = counts.loc[counts["status"] == status]
        if mine.empty:
            continue
        middles = mine["period"] + pd.Timedelta(seconds=width / 2)
        fig.add_trace(
            go.Bar(
                name=status,
                x=wall_clock(middles, tz).to_numpy(),
                y=mine["calls"].to_numpy(),
                width=width * MS,
                marker={"color": status_color(status), "line": {"width": 0}},
                hovertemplate=f"{html.escape(status)}: %{{y}} calls<extra>%{{x}}</extra>",
                meta={"status": status},
            )
        )
    word = _seconds_word(width)
    left_out = counts.attrs["left_out"]
    fig.update_layout(
        title=titled(
            f"Calls in progress per {word}, by status (aggregated view)",
            join_subtitle(
                f"{why}; each bar counts the calls in progress (created→ended) during it",
                f"{left_out:,} calls not counted (no end, no update since creation)"
                if left_out
                else "",
                focus.note() if focus else "",
            ),
        ),
        template=TEMPLATE,
        barmode="stack",
        bargap=0,
        xaxis=time_axis(f"time ({zone_label(tz)})", focus),
        yaxis={"title": "calls in progress"},
        legend={"title": "status", "traceorder": "normal"},
        meta={"aggregated": True, "bucket_seconds": width},
    )
    return fig
