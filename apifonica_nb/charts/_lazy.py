"""Charts over lazy frames: the engine reduces, the shared drawing code draws.

A builder given a lazy frame (anything :func:`apifonica_nb.summary.lazy_frame` wraps: a
DuckDB relation such as ``ap.cache.scan()``, a Polars, PySpark or Dask frame) writes its
reduction as narwhals expressions; only aggregates (a few numbers per group and time bucket or
bin) come back, into the same small pandas structures the pandas path builds, and one drawing
function makes the figure from either.

Times are handled as integer microseconds since the epoch, the one representation every
engine computes alike. ``tz=`` is applied as the zone's UTC offset, stepped at the zone's
transitions within the data's span (found in Python), so wall-clock buckets and the focus
window match pandas' ``tz_convert`` exactly, DST included, without asking an engine for time
zones it may not have.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import narwhals as nw
import numpy as np
import pandas as pd

from ..frame import CALL_DTYPES
from ..summary import UNKNOWN, collect_aggregates, ensure_columns
from ._buckets import Focus, bucket_starts, focus_window

_US_PER_S = 1_000_000
_HOUR_US = 3_600 * _US_PER_S
_DAY_US = 86_400 * _US_PER_S


def epoch_us(lf: nw.LazyFrame[Any], name: str) -> nw.Expr:
    """Return column ``name`` (a datetime) as integer microseconds since the epoch (UTC)."""
    col = nw.col(name)
    impl = lf.implementation
    if impl is nw.Implementation.DUCKDB:
        return col.dt.total_microseconds()  # DuckDB's epoch_us, on timestamps too
    if impl.is_spark_like():
        # Spark casts a timestamp to whole seconds; the fraction comes separately.
        return col.cast(nw.Int64) * _US_PER_S + col.dt.microsecond()
    return col.dt.timestamp("us")


def label_expr(name: str) -> nw.Expr:
    """Return a group label column: the text of ``name``, :data:`UNKNOWN` when missing."""
    return nw.col(name).cast(nw.String()).fill_null(UNKNOWN)


def label_order(name: str, present: Iterable[str]) -> list[str]:
    """Order the labels that occur as :func:`apifonica_nb.summary.group_codes` does.

    Categorical call columns (status, direction, channel) keep their documented order, then
    undocumented values (sorted: an engine's rows have no first-seen order); other columns
    are sorted. :data:`UNKNOWN` comes last.
    """
    seen = {str(label) for label in present}
    dtype = CALL_DTYPES.get(name)
    known = [str(c) for c in dtype.categories] if isinstance(dtype, pd.CategoricalDtype) else []
    order = [c for c in known if c in seen and c != UNKNOWN]
    order += sorted(seen - set(order) - {UNKNOWN})
    return order + ([UNKNOWN] if UNKNOWN in seen else [])


def to_timestamps(micros: Any) -> pd.Series:
    """Return integer epoch microseconds as naive datetime64[us] values."""
    values = np.asarray(pd.to_numeric(pd.Series(micros)), dtype=np.int64)
    return pd.Series(values.astype("datetime64[us]"))


def _offsets(tz: str, micros: np.ndarray) -> np.ndarray:
    utc = pd.DatetimeIndex(micros.astype("datetime64[us]")).as_unit("us").tz_localize("UTC")
    wall = utc.tz_convert(tz).tz_localize(None)
    return np.asarray(wall.asi8 - utc.tz_localize(None).asi8)  # microseconds


def _window(counts: np.ndarray, lo: np.ndarray, hi: np.ndarray, rank: int) -> tuple[int, int, int]:
    """Return a wall range [start, end] that holds the ``rank``-th value (from 0) whole, and
    how many values lie below it, from per-hour counts and wall ranges (which overlap only
    where clocks go back)."""
    order = np.argsort(hi, kind="stable")
    cum = np.cumsum(counts[order])
    j = order[int(np.searchsorted(cum, rank + 1))]
    start, end = int(lo[j]), int(hi[j])
    while True:  # take in every hour that overlaps the range, so none is split
        touching = (lo <= end) & (hi >= start)
        wider = int(lo[touching].min()), int(hi[touching].max())
        if wider == (start, end):
            break
        start, end = wider
    return start, end, int(counts[hi < start].sum())


def _transitions(tz: str, lo: int, hi: int) -> tuple[int, list[tuple[int, int]]]:
    """Return the offset of ``tz`` at ``lo`` and each (instant, change) up to ``hi`` (us)."""
    days = np.arange(lo - _DAY_US, hi + 2 * _DAY_US, _DAY_US, dtype=np.int64)
    offsets = _offsets(tz, days)
    steps: list[tuple[int, int]] = []
    for i in np.flatnonzero(np.diff(offsets)):
        # Zones change on whole seconds: the first second of the day with the new offset.
        seconds = days[i] + _US_PER_S * np.arange(1, 86_401, dtype=np.int64)
        within = _offsets(tz, seconds)
        first = int(np.argmax(within != offsets[i]))
        steps.append((int(seconds[first]), int(within[first] - offsets[i])))
    return int(offsets[0]), steps


def wall_us(utc: nw.Expr, tz: str | None, lo: int, hi: int) -> nw.Expr:
    """Return UTC microseconds as wall-clock microseconds in ``tz`` for times in [lo, hi]."""
    if tz is None:
        return utc
    base, steps = _transitions(tz, lo, hi)
    wall = utc + base
    for instant, change in steps:
        wall = wall + nw.when(utc >= instant).then(nw.lit(change)).otherwise(nw.lit(0))
    return wall


def collect_row(lf: nw.LazyFrame[Any], *exprs: nw.Expr) -> dict[str, Any]:
    """Run one aggregate query and return its single row as plain Python values."""
    row = collect_aggregates(lf.select(*exprs)).iloc[0]
    return {str(k): (None if pd.isna(v) else v) for k, v in row.items()}


class LazyTimes:
    """Count, span and focus window of a time column, in the engine, in two queries.

    ``lf`` holds a column ``_us`` (UTC microseconds, no nulls). :attr:`wall` is the
    wall-clock expression in ``tz``; :attr:`focus` what :func:`find_focus` finds on it.
    The 1% and 99% order statistics are exact without a sort of every call: an hourly
    histogram (count, first, last per hour) locates them, then the distinct values of the
    hour or two that hold them are counted.
    """

    def __init__(self, lf: nw.LazyFrame[Any], tz: str | None) -> None:
        utc = nw.col("_us")
        hours = collect_aggregates(
            lf.with_columns(_hour=utc // _HOUR_US)
            .group_by("_hour")
            .agg(nw.len().alias("n"), utc.min().alias("lo"), utc.max().alias("hi"))
        )
        self.n = int(hours["n"].sum()) if len(hours) else 0
        self.focus: Focus | None = None
        if self.n == 0:
            return
        counts = hours["n"].to_numpy(dtype=np.int64)
        lo, hi = (hours[c].to_numpy(dtype=np.int64) for c in ("lo", "hi"))
        self.wall = wall_us(utc, tz, int(lo.min()), int(hi.max()))
        if tz is not None:  # each hour's wall range, widened by any offset change inside it
            off_lo, off_hi = _offsets(tz, lo), _offsets(tz, hi)
            first, last = lo + off_lo, hi + off_hi
            lo, hi = lo + np.minimum(off_lo, off_hi), hi + np.maximum(off_lo, off_hi)
        else:
            first, last = lo, hi
        self.lo, self.hi = int(first.min()), int(last.max())
        if self.n >= 3:
            self.focus = self._focus(lf, counts, lo, hi)

    @property
    def span(self) -> pd.Timedelta:
        """The span shown: the focus window, or all the times."""
        if self.focus is not None:
            return self.focus.end - self.focus.start
        return pd.Timedelta(self.hi - self.lo, "us")

    def _focus(
        self, lf: nw.LazyFrame[Any], counts: np.ndarray, lo: np.ndarray, hi: np.ndarray
    ) -> Focus | None:
        # The ranks find_focus picks (numpy's sorted index, rounded inwards).
        ranks = (int(np.ceil(0.01 * (self.n - 1))), int(np.floor(0.99 * (self.n - 1))))
        windows = [_window(counts, lo, hi, rank) for rank in ranks]
        wall = self.wall
        inside = nw.lit(False)
        for start, end, _below in windows:
            inside = inside | ((wall >= start) & (wall <= end))
        exact = collect_aggregates(
            lf.with_columns(_wall=wall)
            .filter(inside)
            .group_by("_wall")
            .agg(nw.len().alias("n"))
            .sort("_wall")
        )
        values = exact["_wall"].to_numpy(dtype=np.int64)
        repeats = exact["n"].to_numpy(dtype=np.int64)
        picked = []
        for (start, end, below), rank in zip(windows, ranks, strict=True):
            mine = (values >= start) & (values <= end)
            at = int(np.searchsorted(np.cumsum(repeats[mine]), rank - below + 1))
            picked.append(int(values[mine][at]))
        window = focus_window(
            pd.Timestamp(picked[0], unit="us"),
            pd.Timestamp(picked[1], unit="us"),
            pd.Timedelta(self.hi - self.lo, "us"),
        )
        if window is None:
            return None
        return Focus(window[0], window[1], 0)  # outside is counted with the aggregates

    def outside_expr(self) -> nw.Expr:
        """A boolean column: the time is outside the focus window (False without one)."""
        if self.focus is None:
            return nw.lit(False)
        start = -(-self.focus.start.as_unit("ns").value // 1000)  # first us >= start
        end = self.focus.end.as_unit("ns").value // 1000
        return (self.wall < start) | (self.wall > end)

    def with_outside(self, outside: int) -> Focus | None:
        return self.focus._replace(outside=outside) if self.focus is not None else None


def bucket_expr(wall: nw.Expr, freq: str) -> nw.Expr:
    """Floor wall-clock microseconds to ``freq`` buckets, or to days for calendar ones.

    Fixed buckets are floored from the epoch, as pandas floors them; calendar ones (weeks,
    months) are finished in pandas from the day totals, with the pandas path's flooring.
    """
    try:
        width = int(pd.tseries.frequencies.to_offset(freq).nanos // 1000)
    except ValueError:
        width = _DAY_US
    return (wall // width) * width


def bucket_keys(micros: Any, freq: str) -> pd.Series:
    """Return engine bucket keys (wall microseconds) as the pandas path's bucket starts."""
    return bucket_starts(to_timestamps(micros), freq)


def timed(lf: nw.LazyFrame[Any], name: str, *columns: str) -> nw.LazyFrame[Any]:
    """Return the rows with a ``name`` time, with ``_us`` (its epoch microseconds) added;
    ``columns`` (and ``name``) are added as all-null columns where the frame lacks them."""
    lf = ensure_columns(lf, [name, *columns])
    return lf.filter(~nw.col(name).is_null()).with_columns(epoch_us(lf, name).alias("_us"))


def grouped(lf: nw.LazyFrame[Any], keys: dict[str, nw.Expr], *aggs: nw.Expr) -> pd.DataFrame:
    """Group by computed ``keys`` (name -> expression) in the engine and collect the result."""
    return collect_aggregates(lf.with_columns(**keys).group_by(*keys).agg(*aggs))


def codes(labels: list[str], values: pd.Series) -> np.ndarray:
    """Return each value's index in ``labels``."""
    return pd.Categorical(values.astype("str"), categories=labels).codes.astype(np.int64)


def collect_rows(lf: nw.LazyFrame[Any], cap: int) -> pd.DataFrame:
    """Collect at most ``cap`` rows as a call frame typed like :data:`CALL_DTYPES`.

    For the charts that draw individual calls (a timeline of a few calls, a call's legs):
    the engine's plain columns become categoricals again (documented categories first, so
    groups keep their order), timestamps UTC, numbers nullable.
    """
    rows = collect_aggregates(lf.head(cap))
    for name in rows.columns:
        dtype = CALL_DTYPES.get(name)
        if dtype is None:
            continue
        values = rows[name]
        if isinstance(dtype, pd.CategoricalDtype):
            text = values.astype("str").where(values.notna())
            labels = [c for c in label_order(name, text.dropna()) if c in set(text.dropna())]
            rows[name] = pd.Categorical(text, categories=labels)
        elif isinstance(dtype, pd.DatetimeTZDtype):
            rows[name] = pd.to_datetime(values, utc=True).astype(dtype)
        else:
            rows[name] = values.astype(cast(Any, dtype))
    return rows


def lazy_focus(lf: nw.LazyFrame[Any], name: str, tz: str | None) -> tuple[LazyTimes, Focus | None]:
    """Return the times of column ``name`` and :func:`find_focus` of them, outside counted."""
    calls = timed(lf, name)
    times = LazyTimes(calls, tz)
    if times.focus is None:
        return times, None
    outside = collect_row(calls, times.outside_expr().cast(nw.Int64).sum().alias("n"))
    return times, times.with_outside(int(outside["n"] or 0))
