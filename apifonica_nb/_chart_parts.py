"""What every chart shares: colour maps, labels for missing values, bucketing, axes, titles.

The public names here (the colour maps, :func:`status_color`, ...) are re-exported by
:mod:`apifonica_nb.charts`, which is where users and the docs find them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
import pandas as pd
import plotly.graph_objects as go

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
# Coarser and coarser buckets to fall back on, as pandas frequency strings.
_FREQ_LADDER = ("min", "5min", "15min", "h", "3h", "6h", "12h", "D", "W", "M", "Y")
_FREQ_WORDS = {"min": "minute", "h": "hour", "D": "day", "W": "week", "M": "month", "Y": "year"}
# Period aliases for frequencies that cannot be floored (calendar-based: weeks, months, ...).
_PERIOD_ALIASES = {"ME": "M", "MS": "M", "QE": "Q", "QS": "Q", "YE": "Y", "YS": "Y"}


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
