"""Charts over lazy frames: the engine reduces, the shared drawing code draws.

A builder given a lazy frame (anything :func:`apifonica_nb.summary.lazy_frame` wraps: a
DuckDB relation such as ``ap.cache.scan()``, a Polars, PySpark or Dask frame) writes its
reduction as narwhals expressions; only aggregates (a few numbers per group and time bucket or
bin) come back, into the same small pandas structures the pandas path builds, and one drawing
function makes the figure from either.

The engine-side building blocks are summary's (see :mod:`apifonica_nb.summary`): times as
integer microseconds since the epoch (:func:`~apifonica_nb.summary.with_epoch`), ``tz=`` as
the zone's UTC offsets stepped at its changes within the data's span
(:func:`~apifonica_nb.summary.wall_us`), buckets (:func:`~apifonica_nb.summary.with_bucket`)
and typed group keys (:func:`~apifonica_nb.summary.group_keys`). What is the charts' own is
here: the focus window found in the engine (:class:`LazyTimes`), grouping with labels, and the
few rows collected for the charts that draw calls one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import narwhals as nw
import numpy as np
import pandas as pd

from ..frame import CALL_DTYPES
from ..summary import (
    as_call_dtype,
    check_utc,
    collect_aggregates,
    ensure_columns,
    epoch_us,
    group_codes,
    group_keys,
    key_series,
    offsets_at,
    wall_us,
    with_bucket,
    with_epoch,
)
from ._buckets import Focus, focus_window

_HOUR_US = 3_600 * 1_000_000


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


def collect_row(lf: nw.LazyFrame[Any], *exprs: nw.Expr) -> dict[str, Any]:
    """Run one aggregate query and return its single row as plain Python values."""
    row = collect_aggregates(lf.select(*exprs)).iloc[0]
    return {str(k): (None if pd.isna(v) else v) for k, v in row.items()}


class LazyTimes:
    """Count, span and focus window of a time column, in the engine, in two queries.

    ``lf`` comes from :func:`timed` of column ``name``. :attr:`wall` is the wall-clock
    expression in ``tz`` (:func:`~apifonica_nb.summary.wall_us` over the data's span);
    :attr:`focus` what :func:`find_focus` finds on it. The 1% and 99% order statistics are
    exact without a sort of every call: an hourly histogram (count, first, last per hour)
    locates them, then the distinct values of the hour or two that hold them are counted.
    """

    def __init__(self, lf: nw.LazyFrame[Any], tz: str | None, name: str = "created") -> None:
        utc = epoch_us(name)
        self.tz = tz
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
        span = (int(lo.min()), int(hi.max()))
        self.wall = wall_us(utc, tz, span)
        if tz is not None:  # each hour's wall range, widened by any offset change inside it
            off_lo, off_hi = offsets_at(lo, tz, span), offsets_at(hi, tz, span)
            first, last = lo + off_lo, hi + off_hi
            lo, hi = lo + np.minimum(off_lo, off_hi), hi + np.maximum(off_lo, off_hi)
        else:
            first, last = lo, hi
        self.lo, self.hi = int(first.min()), int(last.max())
        if self.n >= 3:
            self.focus = self._focus(lf, counts, lo, hi)

    def bucketed(self, lf: nw.LazyFrame[Any], freq: str) -> tuple[nw.LazyFrame[Any], Any]:
        """``lf`` with ``__bucket`` (the ``freq`` bucket of ``created`` on :attr:`wall`) and
        the function turning collected buckets into the pandas path's bucket starts."""
        check_utc(lf, ["created"])  # calendar buckets read its UTC date
        return with_bucket(lf, freq, self.tz, wall=self.wall, sums=True)

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


def timed(lf: nw.LazyFrame[Any], name: str, *columns: str) -> nw.LazyFrame[Any]:
    """Return the rows with a ``name`` time, with its epoch microseconds
    (:func:`~apifonica_nb.summary.with_epoch`); ``columns`` (and ``name``) are added as
    all-null columns where the frame lacks them."""
    lf = ensure_columns(lf, [name, *columns])
    return with_epoch(lf.filter(~nw.col(name).is_null()), [name])


def grouped(
    lf: nw.LazyFrame[Any], keys: dict[str, nw.Expr], *aggs: nw.Expr, labels: Sequence[str] = ()
) -> pd.DataFrame:
    """Group by the call columns ``labels`` (:func:`~apifonica_nb.summary.group_keys`) and
    computed ``keys`` (name -> expression) in the engine and collect the result; read the
    labels with :func:`label_codes`."""
    lf, names, real = group_keys(lf.with_columns(**keys) if keys else lf, labels)
    return collect_aggregates(lf.group_by(*names, *keys).agg(*aggs, *real))


def label_codes(table: pd.DataFrame, name: str) -> tuple[list[str], np.ndarray]:
    """Return the labels of the collected call column ``name`` and each row's index among
    them, typed and ordered as :func:`~apifonica_nb.summary.group_codes` does in pandas."""
    return group_codes(key_series(table, name))


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
            text = values.astype("str").where(values.notna(), None)
            rows[name] = as_call_dtype(text, name).cat.remove_unused_categories()
        elif isinstance(dtype, pd.DatetimeTZDtype):
            rows[name] = pd.to_datetime(values, utc=True).astype(dtype)
        else:
            rows[name] = values.astype(cast(Any, dtype))
    return rows


def lazy_focus(lf: nw.LazyFrame[Any], name: str, tz: str | None) -> tuple[LazyTimes, Focus | None]:
    """Return the times of column ``name`` and :func:`find_focus` of them, outside counted."""
    calls = timed(lf, name)
    times = LazyTimes(calls, tz, name)
    if times.focus is None:
        return times, None
    outside = collect_row(calls, times.outside_expr().cast(nw.Int64).sum().alias("n"))
    return times, times.with_outside(int(outside["n"] or 0))
