"""The status timeline's reductions on a lazy frame (:func:`status_timeline` decides).

A few calls are collected and drawn by the pandas code, a gantt or not as it decides; many
calls take the aggregated view, whose numbers come from the engine: the count, the focus
window and span, the statuses that occur, and the calls in progress per bucket (through
:func:`apifonica_nb.summary.concurrency`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import narwhals as nw
import pandas as pd

from ..summary import epoch_us, with_epoch
from ._buckets import Focus
from ._lazy import LazyTimes, grouped, label_codes, timed

#: At most this many rows of a lazy frame are ever collected to draw calls one by one.
LAZY_ROWS = 10_000


class TimelineStats(NamedTuple):
    calls: int
    focus: Focus | None
    span: pd.Timedelta  # the period shown: the focus window, or first creation to last end
    labels: list[str]  # the statuses that occur, in group order


def timeline_stats(lf: nw.LazyFrame[Any]) -> TimelineStats:
    """Count the calls, find the period shown and the statuses, in the engine."""
    calls = timed(lf, "created", "started", "ended", "updated", "status")
    times = LazyTimes(calls, None)
    created = epoch_us("created")
    # A call without an end is drawn up to its last update (or to where it is known to be).
    ends = ("ended", "updated", "started")
    last = nw.coalesce(*(epoch_us(name) for name in ends), created)
    last = nw.when(last >= created).then(last).otherwise(created)
    keys = {"outside": times.outside_expr()}
    table = grouped(
        with_epoch(calls, ends),
        keys,
        nw.len().alias("calls"),
        last.max().alias("last"),
        labels=["status"],
    )
    focus = times.with_outside(int(table.loc[table["outside"].astype(bool), "calls"].sum()))
    if focus is not None:
        span = focus.end - focus.start
    else:
        span = pd.Timedelta(int(table["last"].max()) - times.lo, "us")
    return TimelineStats(times.n, focus, span, label_codes(table, "status")[0])
