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
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

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

#: Label used for missing values (NA status, channel, country, ...) in every chart.
UNKNOWN = "unknown"
#: Colour for any status or channel not in the maps below (undocumented values, NA).
FALLBACK_COLOR = "#7f7f7f"
#: One colour per documented status, in lifecycle order: blues while the call is alive,
#: green for completed, warm colours for the ways a call can fail.
STATUS_COLORS: dict[str, str] = {
    "queued": "#c6dbef",
    "initiated": "#9ecae1",
    "ringing": "#6baed6",
    "answered": "#2171b5",
    "modified": "#9467bd",
    "completed": "#2ca02c",
    "no_answer": "#ffbb78",
    "canceled": "#8c564b",
    "busy": "#ff7f0e",
    "rejected": "#e377c2",
    "failed": "#d62728",
}
CHANNEL_COLORS: dict[str, str] = {"number": "#1f77b4", "viber": "#7360f2"}
#: Bar fill pattern per call direction (colour is left to the channel).
DIRECTION_PATTERNS: dict[str, str] = {"inbound": "", "outbound": "/"}

_TEMPLATE = "plotly_white"
_ms = 1000.0
# Above this many time buckets a bar chart is unreadable and heavy: use a coarser bucket.
_MAX_BUCKETS = 1500
# The aggregated timeline aims for about this many buckets over the whole period.
_TIMELINE_BUCKETS = 500
# Coarser and coarser buckets to fall back on, as pandas frequency strings.
_FREQ_LADDER = ("min", "5min", "15min", "h", "3h", "6h", "12h", "D", "W", "M", "Y")
# Adaptive bucket widths (seconds) for the aggregated timeline: "nice" clock units.
_NICE_SECONDS = (
    *(60 * m for m in (1, 2, 5, 10, 15, 30)),
    *(3600 * h for h in (1, 2, 3, 6, 12)),
    *(86400 * d for d in (1, 2, 7, 14, 28)),
)
_FREQ_WORDS = {"min": "minute", "h": "hour", "D": "day", "W": "week", "M": "month", "Y": "year"}
# Period aliases for frequencies that cannot be floored (calendar-based: weeks, months, ...).
_PERIOD_ALIASES = {"ME": "M", "MS": "M", "QE": "Q", "QS": "Q", "YE": "Y", "YS": "Y"}
_HISTOGRAM_BINS = 40


def status_color(status: object) -> str:
    """Return the colour of ``status`` in every chart (the fallback for unknown ones)."""
    return STATUS_COLORS.get(str(status), FALLBACK_COLOR)


def channel_color(channel: object) -> str:
    """Return the colour of ``channel`` in every chart (the fallback for unknown ones)."""
    return CHANNEL_COLORS.get(str(channel), FALLBACK_COLOR)


# --------------------------------------------------------------------------- helpers


def _empty_figure(title: str, message: str) -> go.Figure:
    """Return a figure that says why there is nothing to draw."""
    fig = go.Figure()
    fig.update_layout(
        title=title,
        template=_TEMPLATE,
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[
            {
                "text": message,
                "showarrow": False,
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": 0.5,
                "font": {"size": 18, "color": "#555"},
            }
        ],
    )
    return fig


def _column(df: pd.DataFrame, name: str) -> pd.Series:
    """Return ``df[name]``, or an all-NA column when the frame lacks it."""
    if name in df.columns:
        return df[name]
    return pd.Series(pd.NA, index=df.index, dtype="object")


def _has_values(df: pd.DataFrame, names: Iterable[str]) -> bool:
    """Tell whether every column in ``names`` exists and holds at least one value."""
    return all(name in df.columns and bool(df[name].notna().any()) for name in names)


def _utc(series: pd.Series) -> pd.Series:
    """Return ``series`` as tz-aware UTC datetimes (a naive column is taken as UTC)."""
    if not isinstance(series.dtype, pd.DatetimeTZDtype):
        series = pd.to_datetime(series, utc=True)
    return series.dt.tz_convert("UTC")


def _wall(series: pd.Series, tz: str | None) -> pd.Series:
    """Return UTC datetimes as naive wall-clock times in ``tz`` (plotly ignores offsets)."""
    series = _utc(series)
    if tz is not None:
        series = series.dt.tz_convert(tz)
    return series.dt.tz_localize(None)


def _epoch_seconds(series: pd.Series) -> np.ndarray:
    """Return UTC datetimes as whole seconds since the epoch (int64)."""
    naive = _utc(series).dt.tz_localize(None).to_numpy()
    return naive.astype("datetime64[s]").astype(np.int64)


def _zone(tz: str | None) -> str:
    return tz or "UTC"


def _groups(series: pd.Series) -> tuple[list[str], np.ndarray]:
    """Split a column into labels and a label index per row; NA becomes :data:`UNKNOWN`.

    Categoricals keep their category order (the status lifecycle order), other columns are
    sorted; only labels that occur are returned, with :data:`UNKNOWN` last.
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        labels = [str(c) for c in series.cat.categories]
        codes = series.cat.codes.to_numpy().astype(np.int64)
    else:
        codes_, uniques = pd.factorize(series, sort=True)
        codes = np.asarray(codes_, dtype=np.int64)
        labels = [str(u) for u in uniques]
    codes = np.where(codes < 0, len(labels), codes)
    labels.append(UNKNOWN)
    present = np.bincount(codes, minlength=len(labels)) > 0
    # Renumber to the labels that occur; a real "unknown" category merges with NA.
    kept = [label for label, keep in zip(labels, present, strict=True) if keep]
    order = {label: i for i, label in enumerate(dict.fromkeys(kept))}
    remap = np.array([order.get(label, -1) for label in labels], dtype=np.int64)
    return list(order), remap[codes]


def _escape(series: pd.Series) -> pd.Series:
    """HTML-escape a text column for plotly hover labels (which read a little HTML)."""
    text = series.astype("str").fillna("–")
    return text.str.replace("&", "&amp;").str.replace("<", "&lt;").str.replace(">", "&gt;")


def _approx_length(freq: str) -> pd.Timedelta:
    """Return the (typical) length of one ``freq`` bucket."""
    try:
        # Only fixed frequencies (Tick: min, h, D, ...) have a length in nanoseconds.
        return pd.Timedelta(pd.tseries.frequencies.to_offset(freq).nanos, "ns")
    except ValueError:
        period = pd.Period("2001-01-01", freq=_PERIOD_ALIASES.get(freq, freq))
        return pd.Timedelta(period.end_time - period.start_time) + pd.Timedelta(1, "ns")


def _bucket_starts(wall: pd.Series, freq: str) -> pd.Series:
    """Floor naive wall-clock times to ``freq`` buckets (weeks and months too)."""
    try:
        return wall.dt.floor(freq)
    except ValueError:
        # Calendar frequencies (W, M, ...) are not fixed lengths; periods know them.
        return wall.dt.to_period(_PERIOD_ALIASES.get(freq, freq)).dt.start_time


class _Focus(NamedTuple):
    """The stretch of the time axis that holds the bulk of the calls (naive wall times)."""

    start: pd.Timestamp
    end: pd.Timestamp
    outside: int  # calls left outside it

    def xrange(self) -> list[str]:
        return [f"{self.start:%Y-%m-%d %H:%M:%S}", f"{self.end:%Y-%m-%d %H:%M:%S}"]

    def note(self) -> str:
        noun = "call" if self.outside == 1 else "calls"
        return f"{self.outside:,} {noun} outside this window: zoom out to see them"


def _focus(wall: pd.Series) -> _Focus | None:
    """Find the window of the bulk of the times when a few outliers stretch the axis.

    A single old call (the vendor's 2017 example in an account of this month, say) would
    squeeze every other bar into one pixel column; the axis starts on the central 98% of the
    calls instead, and the outliers stay in the figure for whoever zooms out.
    """
    times = wall.dropna()
    if len(times) < 3:
        return None
    ordered = np.sort(times.to_numpy())
    # The 1% and 99% quantiles, rounded inwards so a lone outlier of a small frame is left out.
    low = pd.Timestamp(ordered[int(np.ceil(0.01 * (len(ordered) - 1)))])
    high = pd.Timestamp(ordered[int(np.floor(0.99 * (len(ordered) - 1)))])
    if not low < high:
        return None
    pad = max((high - low) * 0.05, pd.Timedelta(minutes=1))
    start, end = low - pad, high + pad
    full = times.max() - times.min()
    if full <= 3 * (end - start):  # the outliers do not stretch the axis much: show it all
        return None
    outside = int(((times < start) | (times > end)).sum())
    return _Focus(start, end, outside)


def _coarsen(freq: str, span: pd.Timedelta) -> str:
    """Return ``freq``, or the first coarser ladder step that keeps the bar count readable."""
    length = _approx_length(freq)
    if span / length <= _MAX_BUCKETS:
        return freq
    for step in _FREQ_LADDER:
        step_length = _approx_length(step)
        if step_length > length and span / step_length <= _MAX_BUCKETS:
            return step
    return _FREQ_LADDER[-1]


def _freq_word(freq: str) -> str:
    """Return a human name for a bucket frequency ("hour", "5 min", ...)."""
    if freq in _FREQ_WORDS:
        return _FREQ_WORDS[freq]
    return freq.replace("min", " min").replace("h", " h").replace("D", " days").strip()


def _period_layout(freq: str) -> dict[str, object]:
    """Bar keyword arguments that centre each bar on its whole bucket."""
    months = {"M": 1, "ME": 1, "MS": 1, "Q": 3, "QE": 3, "QS": 3, "Y": 12, "YE": 12, "YS": 12}
    if freq in months:
        return {"xperiod": f"M{months[freq]}", "xperiodalignment": "middle"}
    # pandas floors fixed frequencies from the epoch; weekly periods start on their own day.
    start = pd.Timestamp("1970-01-01")
    if freq.startswith("W"):
        start = pd.Period("1970-01-07", freq=freq).start_time
    return {
        "xperiod": _approx_length(freq).total_seconds() * _ms,
        "xperiod0": start.strftime("%Y-%m-%d"),
        "xperiodalignment": "middle",
    }


def _bucketed(
    created: pd.Series, freq: str, tz: str | None
) -> tuple[pd.Series, str, str, _Focus | None]:
    """Bucket creation times: bucket starts, the frequency used, a title note and the focus."""
    wall = _wall(created, tz)
    focus = _focus(wall)
    # Only buckets that hold calls become bars, so the focus span decides readability.
    span = focus.end - focus.start if focus else wall.max() - wall.min()
    used = _coarsen(freq, span)
    note = ""
    if used != freq:
        note = f" (per-{_freq_word(freq)} buckets would exceed {_MAX_BUCKETS:,}; coarsened)"
    return _bucket_starts(wall, used), used, note, focus


def _time_axis(title: str, focus: _Focus | None) -> dict[str, object]:
    """Return a date x-axis, starting on the focus window when there is one."""
    axis: dict[str, object] = {"title": title, "type": "date"}
    if focus is not None:
        axis["range"] = focus.xrange()
    return axis


def _subtitle(*parts: str) -> str:
    return " · ".join(part for part in parts if part)


def _fmt_eur(value: float) -> str:
    """Format an amount in euros with enough decimals for per-call prices."""
    value = round(value, 6)  # float sums like 34.0749999 should print as 34.08
    return f"{value:,.2f} EUR" if abs(value) >= 1 or value == 0 else f"{value:.4f} EUR"


def _title(text: str, subtitle: str = "") -> dict[str, object]:
    title: dict[str, object] = {"text": text}
    if subtitle:
        title["subtitle"] = {"text": subtitle}
    return title


# --------------------------------------------------------------------------- timeline


def status_timeline(df: pd.DataFrame, *, tz: str | None = None, max_calls: int = 2000) -> go.Figure:
    """Draw one row per call along time: setup (created→started) and talk (started→ended).

    Bars are coloured by the call's status; the setup phase is a thin pale bar, the talk phase
    a full one. Calls without ``ended`` (in progress, or never answered) run to ``updated``,
    hatched, with a ▸ mark. Durations are computed in UTC and only the endpoints are converted
    to ``tz``, so bars keep their true length across DST changes. Above ``max_calls`` calls the
    chart switches to calls in progress per time bucket, stacked by status (said in the title).

    >>> status_timeline(df, tz="Europe/Berlin")  # doctest: +SKIP
    """
    title = "Call status timeline"
    if not _has_values(df, ["created"]):
        return _empty_figure(title, "No calls to show")
    calls = df.loc[_column(df, "created").notna()]
    if len(calls) > max_calls:
        return _timeline_aggregated(calls, tz=tz, max_calls=max_calls)
    return _timeline_gantt(calls, tz=tz)


def _call_ends(calls: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    """Return created, started, the last known time of each call and whether it has ended."""
    created = _utc(calls["created"])
    started = _utc(_column(calls, "started"))
    ended = _utc(_column(calls, "ended"))
    updated = _utc(_column(calls, "updated"))
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
    setup_ms = (setup_end - created).dt.total_seconds().to_numpy() * _ms
    talk_ms = (talk_end - started).dt.total_seconds().to_numpy() * _ms
    open_ = is_open.to_numpy()
    # One row per call, named by its SID, so the unified hover is titled by the call.
    sid = _escape(_column(calls, "call_sid"))
    repeat = sid.groupby(sid).cumcount()
    rows = sid.where(repeat == 0, sid + " #" + (repeat + 1).astype("str")).to_numpy()

    status_labels, status_idx = _groups(_column(calls, "status"))
    duration = _column(calls, "duration").astype("str").fillna("–")
    cost = pd.to_numeric(_column(calls, "cost_eur"), errors="coerce")
    # The call's details ride once, on its creation dot; the bars only say how long they last.
    details = (
        _escape(_column(calls, "from"))
        + " → "
        + _escape(_column(calls, "to"))
        + "<br>"
        + pd.Series(np.array(status_labels, dtype=object)[status_idx], index=calls.index)
        .astype("str")
        .pipe(_escape)
        + ", billed "
        + duration
        + " s, "
        + cost.map(_fmt_eur, na_action="ignore").astype("str").fillna("no price yet")
        + "<br>tag: "
        + _escape(_column(calls, "tag"))
    ).to_numpy()
    # Whole-second text (API times have no fractions) is a third shorter than plotly's ISO.
    created_wall, started_wall, last_wall = (
        _wall(times, tz).dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy()
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
                    customdata=length[rows_in] / _ms,
                    hovertemplate=f"{phase}: %{{customdata:,.0f}} s<extra></extra>",
                    meta={"phase": phase, "status": status},
                )
            )
        # A dot at each call's creation: calls last minutes, periods span days, so at full
        # zoom the bars are thinner than a pixel and the dots are what shows (zoom in for bars).
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
    focus = _focus(_wall(created, tz))
    yaxis: dict[str, object] = {
        "title": "calls (by creation time)",
        "type": "category",
        # Without an explicit order plotly lists rows by first appearance, i.e. by status.
        "categoryorder": "array",
        "categoryarray": rows,
        "autorange": "reversed",
        "showticklabels": n <= 40,
    }
    fig.update_layout(
        title=_title(
            f"Call status timeline ({n:,} calls)",
            _subtitle(
                "pale thin bar: setup (created→started) · solid bar: talk (started→ended) · "
                "hatched ▸: no end yet, drawn to the last update",
                focus.note() if focus else "",
            ),
        ),
        template=_TEMPLATE,
        barmode="overlay",
        hovermode="y unified",
        xaxis=_time_axis(f"time ({_zone(tz)})", focus),
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


def _timeline_aggregated(calls: pd.DataFrame, *, tz: str | None, max_calls: int) -> go.Figure:
    created, _started, last, _open = _call_ends(calls)
    start = _epoch_seconds(created)
    end = _epoch_seconds(last)
    status_labels, status_idx = _groups(_column(calls, "status"))
    focus = _focus(_wall(created, None))
    outside = ""
    if focus is not None:
        # Count only inside the window (computed in UTC), or a stray old call would stretch
        # the buckets to weeks; calls that only partly overlap it are clipped to it.
        low, high = (int(t.timestamp()) for t in (focus.start, focus.end))
        inside = (end >= low) & (start <= high)
        start, end = np.clip(start[inside], low, high), np.clip(end[inside], low, high)
        status_idx = status_idx[inside]
        left_out = int((~inside).sum())
        noun = "call" if left_out == 1 else "calls"
        outside = f"not counted: {left_out:,} {noun} outside this window"
    width = _nice_bucket_seconds(float(end.max() - start.min()))
    origin = start.min() // width * width
    first = (start - origin) // width
    final = (end - origin) // width
    n_buckets = int(final.max()) + 1
    middles = pd.Series(
        pd.to_datetime(
            (origin + width * np.arange(n_buckets) + width / 2) * 1e6, unit="us", utc=True
        )
    )
    x = _wall(middles, tz).to_numpy()

    fig = go.Figure()
    for k, status in enumerate(status_labels):
        mine = status_idx == k
        # A call counts in every bucket its [created, end] interval touches: +1 at the first
        # bucket, -1 after the last, then a running sum.
        delta = np.bincount(first[mine], minlength=n_buckets + 1) - np.bincount(
            final[mine] + 1, minlength=n_buckets + 1
        )
        counts = np.cumsum(delta)[:n_buckets]
        fig.add_trace(
            go.Bar(
                name=status,
                x=x,
                y=counts,
                width=width * _ms,
                marker={"color": status_color(status), "line": {"width": 0}},
                hovertemplate=f"{html.escape(status)}: %{{y}} calls<extra>%{{x}}</extra>",
            )
        )
    word = _seconds_word(width)
    fig.update_layout(
        title=_title(
            f"Calls in progress per {word}, by status (aggregated view)",
            _subtitle(
                f"{len(calls):,} calls exceed max_calls={max_calls:,}: a per-call timeline "
                "would be unreadable, so each bar counts the calls alive during that bucket",
                outside,
            ),
        ),
        template=_TEMPLATE,
        barmode="stack",
        bargap=0,
        xaxis={"title": f"time ({_zone(tz)})", "type": "date"},
        yaxis={"title": "calls in progress"},
        legend={"title": "status", "traceorder": "normal"},
        meta={"aggregated": True, "bucket_seconds": width},
    )
    return fig


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
