"""Build plotly figures from the call DataFrame: pure builders, DataFrame in, Figure out.

Every builder takes a frame shaped like :data:`apifonica_nb.frame.CALL_DTYPES`, returns a
:class:`plotly.graph_objects.Figure`, displays nothing and never changes the frame. They
aggregate with pandas/numpy before plotting, so a figure of 100,000 calls stays small, and
they all share one colour map for statuses (:data:`STATUS_COLORS`) and one for channels
(:data:`CHANNEL_COLORS`), with :data:`FALLBACK_COLOR` for values the vendor never documented.

Every builder that takes a call frame also takes a lazy frame: anything
:func:`apifonica_nb.summary.lazy_frame` wraps, such as ``ap.cache.scan()``'s DuckDB relation,
a Polars ``LazyFrame``, a PySpark or Dask ``DataFrame``. Then the reduction runs inside that
engine, written as narwhals expressions, and only the aggregates (one row per group and time
bucket or bin, never one per call) come back to the same drawing code, so the figure equals
the pandas one for the same calls. :func:`status_timeline` collects at most ``max_calls``
rows (10,000 at most) to draw calls one by one; :func:`call_legs` collects a family of at
most 1,000 rows. The engine's columns are plain (text for categoricals, UTC timestamps);
undocumented statuses follow the documented ones in sorted order.

Times are UTC; ``tz=`` converts them to that zone's wall clock for display only.

>>> fig = cost_by_channel(df)  # doctest: +SKIP
>>> fig  # the notebook displays it  # doctest: +SKIP

One module per chart (``_counts``, ``_durations``, ``_costs``, ``_destinations``, ``_timeline``,
``_concurrency``, ``_anomalies``, ``_legs``) over the shared
parts: ``_lazy`` (reductions in an engine: epoch microseconds, tz offsets, the focus
window; ``_timeline_lazy`` for the timeline), ``_colors`` (the colour maps), ``_data``
(reading columns, times and text from the frame), ``_buckets`` (time buckets and the focus
window) and ``_layout`` (titles, axes, the empty figure). Groups are split by
:func:`apifonica_nb.summary.group_codes`, so charts and summary tables list them in the same
order, with :data:`UNKNOWN` for missing values.
"""

from __future__ import annotations

from ..summary import UNKNOWN
from ._anomalies import cost_anomalies
from ._colors import (
    CHANNEL_COLORS,
    DIRECTION_PATTERNS,
    FALLBACK_COLOR,
    STATUS_COLORS,
    channel_color,
    status_color,
)
from ._concurrency import concurrency
from ._costs import cost_by_channel, cost_over_time
from ._counts import status_counts
from ._destinations import cost_by_destination
from ._durations import duration_histogram
from ._legs import call_legs
from ._timeline import status_timeline

__all__ = [
    "CHANNEL_COLORS",
    "DIRECTION_PATTERNS",
    "FALLBACK_COLOR",
    "STATUS_COLORS",
    "UNKNOWN",
    "call_legs",
    "channel_color",
    "concurrency",
    "cost_anomalies",
    "cost_by_channel",
    "cost_by_destination",
    "cost_over_time",
    "duration_histogram",
    "status_color",
    "status_counts",
    "status_timeline",
]
