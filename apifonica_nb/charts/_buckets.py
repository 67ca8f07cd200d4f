"""Time buckets for the bar charts: frequencies, coarsening, and the focus window.

A bucket frequency is a pandas one ("15min", "h", "D", "W", "M"). Without one, the bucket
follows the span shown (:func:`auto_freq`: hours for a day, days for a month, weeks for a
year); too fine a given one is coarsened to keep the bar count readable; and a few far
outliers (the vendor's 2017 example call in this month's account) do not squash the axis: it
starts on the bulk of calls.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from ._data import MS, wall_clock

# Above this many time buckets a bar chart is unreadable and heavy: use a coarser bucket.
_MAX_BUCKETS = 1500
# Coarser and coarser buckets to fall back on, as pandas frequency strings.
_FREQ_LADDER = ("min", "5min", "15min", "h", "3h", "6h", "12h", "D", "W", "M", "Y")
_FREQ_WORDS = {"min": "minute", "h": "hour", "D": "day", "W": "week", "M": "month", "Y": "year"}
# Period aliases for frequencies that cannot be floored (calendar-based: weeks, months, ...).
_PERIOD_ALIASES = {"ME": "M", "MS": "M", "QE": "Q", "QS": "Q", "YE": "Y", "YS": "Y"}


def _approx_length(freq: str) -> pd.Timedelta:
    """Return the (typical) length of one ``freq`` bucket."""
    try:
        # Only fixed frequencies (Tick: min, h, D, ...) have a length in nanoseconds.
        return pd.Timedelta(pd.tseries.frequencies.to_offset(freq).nanos, "ns")
    except ValueError:
        period = pd.Period("2001-01-01", freq=_PERIOD_ALIASES.get(freq, freq))
        return pd.Timedelta(period.end_time - period.start_time) + pd.Timedelta(1, "ns")


def bucket_starts(wall: pd.Series, freq: str) -> pd.Series:
    """Floor naive wall-clock times to ``freq`` buckets (weeks and months too)."""
    try:
        return wall.dt.floor(freq)
    except ValueError:
        # Calendar frequencies (W, M, ...) are not fixed lengths; periods know them.
        return wall.dt.to_period(_PERIOD_ALIASES.get(freq, freq)).dt.start_time


class Focus(NamedTuple):
    """The stretch of the time axis that holds the bulk of the calls (naive wall times)."""

    start: pd.Timestamp
    end: pd.Timestamp
    outside: int  # calls left outside it

    def xrange(self) -> list[str]:
        return [f"{self.start:%Y-%m-%d %H:%M:%S}", f"{self.end:%Y-%m-%d %H:%M:%S}"]

    def note(self) -> str:
        noun = "call" if self.outside == 1 else "calls"
        return f"{self.outside:,} {noun} outside this window: zoom out to see them"


def find_focus(wall: pd.Series) -> Focus | None:
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
    window = focus_window(low, high, times.max() - times.min())
    if window is None:
        return None
    start, end = window
    outside = int(((times < start) | (times > end)).sum())
    return Focus(start, end, outside)


def focus_window(
    low: pd.Timestamp, high: pd.Timestamp, full: pd.Timedelta
) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """Return the padded window around the 1%-99% times, or None when it is not needed."""
    if not low < high:
        return None
    pad = max((high - low) * 0.05, pd.Timedelta(minutes=1))
    start, end = low - pad, high + pad
    if full <= 3 * (end - start):  # the outliers do not stretch the axis much: show it all
        return None
    return start, end


# (longest span shown, bucket): the first that fits the span wins, months beyond.
_AUTO_FREQ = (
    (pd.Timedelta(days=3), "h"),
    (pd.Timedelta(days=120), "D"),
    (pd.Timedelta(days=3 * 366), "W"),
)


def auto_freq(span: pd.Timedelta) -> str:
    """Return the bucket for a time axis spanning ``span``: hours up to 3 days, days up to
    4 months, weeks up to 3 years, months beyond (a few dozen to a hundred bars)."""
    for longest, freq in _AUTO_FREQ:
        if span <= longest:
            return freq
    return "M"


def coarsen(freq: str, span: pd.Timedelta) -> str:
    """Return ``freq``, or the first coarser ladder step that keeps the bar count readable."""
    length = _approx_length(freq)
    if span / length <= _MAX_BUCKETS:
        return freq
    for step in _FREQ_LADDER:
        step_length = _approx_length(step)
        if step_length > length and span / step_length <= _MAX_BUCKETS:
            return step
    return _FREQ_LADDER[-1]


def freq_word(freq: str) -> str:
    """Return a human name for a bucket frequency ("hour", "5 min", ...)."""
    if freq in _FREQ_WORDS:
        return _FREQ_WORDS[freq]
    return freq.replace("min", " min").replace("h", " h").replace("D", " days").strip()


def period_layout(freq: str) -> dict[str, object]:
    """Bar keyword arguments that centre each bar on its whole bucket."""
    months = {"M": 1, "ME": 1, "MS": 1, "Q": 3, "QE": 3, "QS": 3, "Y": 12, "YE": 12, "YS": 12}
    if freq in months:
        return {"xperiod": f"M{months[freq]}", "xperiodalignment": "middle"}
    # pandas floors fixed frequencies from the epoch; weekly periods start on their own day.
    start = pd.Timestamp("1970-01-01")
    if freq.startswith("W"):
        start = pd.Period("1970-01-07", freq=freq).start_time
    return {
        "xperiod": _approx_length(freq).total_seconds() * MS,
        "xperiod0": start.strftime("%Y-%m-%d"),
        "xperiodalignment": "middle",
    }


def bucketed(
    created: pd.Series, freq: str | None, tz: str | None
) -> tuple[pd.Series, str, str, Focus | None]:
    """Bucket creation times: bucket starts, the frequency used, a title note and the focus.

    ``freq=None`` picks the bucket from the span shown (the focus window when there is one).
    """
    wall = wall_clock(created, tz)
    focus = find_focus(wall)
    # Only buckets that hold calls become bars, so the focus span decides readability.
    span = focus.end - focus.start if focus else wall.max() - wall.min()
    used, note = choose_freq(freq, span)
    return bucket_starts(wall, used), used, note, focus


def choose_freq(freq: str | None, span: pd.Timedelta) -> tuple[str, str]:
    """Return the bucket for a span shown (``freq``, coarsened if needed) and a title note."""
    if freq is None:
        return auto_freq(span), ""
    used = coarsen(freq, span)
    note = ""
    if used != freq:
        note = f" (per-{freq_word(freq)} buckets would exceed {_MAX_BUCKETS:,}; coarsened)"
    return used, note
