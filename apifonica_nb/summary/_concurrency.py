"""Calls in progress per time bucket, their peak and the traffic in Erlangs: :func:`concurrency`.

A sweep over start and end events, vectorised: no loop over calls, and no loop over buckets.
Each call is the half-open interval [start, end) of the chosen phase; for a bucket [a, b):

- ``calls``: calls in progress at some moment of the bucket (start < b and end > a);
- ``peak``: the most calls in progress at the same moment within the bucket;
- ``erlangs``: the traffic, i.e. the call-seconds inside the bucket divided by its length
  (the mean number of calls in progress; with ``freq="h"``, Erlangs per hour).

The counts come from sorted starts and ends (``np.searchsorted``); the call-seconds from the
running sums (``np.cumsum``) of the sorted times; the peaks from the level (starts minus ends
so far) as each bucket opens and right after each start, reduced per bucket. Buckets in which
no call is in progress are left out.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidRequestError
from ._concurrency_lazy import lazy_concurrency
from ._frame import epoch_seconds
from ._groups import check_by, check_freq, check_tz, grouping
from ._lazy import lazy_frame

#: The phases a call can be counted over: start column, end column.
PHASES = {"talk": "started", "call": "created"}
# A table above this many buckets is a mistake (a second's freq over years): say so instead.
_MAX_BUCKETS = 20_000_000
_COLUMNS = {"calls": "int64", "peak": "int64", "erlangs": "float64"}


def concurrency(
    df: Any,
    *,
    freq: str = "min",
    by: str | Sequence[str] | None = None,
    tz: str | None = None,
    phase: str = "talk",
) -> pd.DataFrame:
    """Return calls in progress per ``freq`` bucket: ``calls``, ``peak`` and ``erlangs``.

    ``phase="talk"`` counts answered calls from ``started`` to ``ended``; ``phase="call"``
    counts every call from ``created`` to ``ended``, the setup (ringing) phase included. A
    call with no end yet counts up to its last ``updated`` time. One row per group of ``by``
    and bucket in which a call is in progress, with the bucket's start as ``period`` (in
    ``tz``, UTC by default); ``freq`` must be a fixed length ("s", "min", "15min", "h", "D").
    Calls with no interval to count (never answered, for the talk phase; times missing or
    running backwards) are left out, and ``attrs["left_out"]`` says how many. ``df`` may be
    a lazy frame: starts and ends are aggregated per bucket in its engine (the peak from a
    running sum over instants that stays in the engine) and the same table comes back.

    >>> concurrency(df, freq="h")["peak"].max()  # doctest: +SKIP
    """
    names = check_by(df, by)
    freq = check_freq(freq)
    tz = check_tz(tz)
    if phase not in PHASES:
        raise InvalidRequestError(f"phase must be one of {sorted(PHASES)}, not {phase!r}")
    try:
        width = pd.tseries.frequencies.to_offset(freq).nanos / 1e9
    except ValueError as e:
        raise InvalidRequestError(
            f"concurrency needs a fixed-length freq such as 'min', 'h' or 'D', not {freq!r}"
        ) from e
    lf = lazy_frame(df)
    if lf is not None:
        return _lazy(lf, names, freq, tz, phase, width)
    start = epoch_seconds(df, PHASES[phase])
    end = epoch_seconds(df, "ended")
    end = np.where(np.isnan(end), epoch_seconds(df, "updated"), end)
    usable = ~np.isnan(start) & ~np.isnan(end) & (end > start)
    groups = grouping(df, names, None, None)
    origin = _origin(start[usable], width, tz)
    frames = []
    for g in range(groups.size):
        mine = usable & (groups.row == g)
        if not mine.any():
            continue
        bucket, counts = _sweep(start[mine] - origin, end[mine] - origin, width)
        part = pd.DataFrame(counts)
        for name in names:
            part.insert(len(part.columns) - 3, name, groups.keys[name].iloc[g])
        seconds = origin + bucket * width
        part.insert(len(names), "period", _times(seconds, tz))
        frames.append(part)
    result = pd.concat(frames, ignore_index=True) if frames else _empty(names, tz)
    for name in names:
        result[name] = result[name].astype("str")
    result.attrs["left_out"] = int((~usable).sum())
    result.attrs["phase"] = phase
    result.attrs["bucket_seconds"] = width
    if len(df) and not usable.any():
        warnings.warn(
            f"concurrency: none of the {len(df):,} calls has a {phase} interval to count "
            f"('{PHASES[phase]}' to 'ended')",
            stacklevel=2,
        )
    return result


def _lazy(
    lf: Any, names: list[str], freq: str, tz: str | None, phase: str, width: float
) -> pd.DataFrame:
    """:func:`concurrency` of a lazy frame: per-bucket aggregates from its engine, one query
    (two with a ``tz`` whose offsets place the bucket edges differently)."""
    step = int(pd.tseries.frequencies.to_offset(freq).nanos // 1000)
    parts, left_out, total, n_buckets = lazy_concurrency(lf, names, PHASES[phase], step, tz)
    if n_buckets > _MAX_BUCKETS:
        raise InvalidRequestError(
            f"concurrency would give {n_buckets:,} buckets; use a coarser freq"
        )
    frames = []
    for labels, starts, columns in parts:
        part = pd.DataFrame(
            {
                "calls": columns["calls"],
                "peak": columns["peak"],
                "erlangs": np.maximum(columns["busy_us"] / 1e6, 0.0) / width,
            }
        )
        for name in names:
            part.insert(len(part.columns) - 3, name, labels[name])
        part.insert(len(names), "period", _times(starts / 1e6, tz))
        frames.append(part)
    result = pd.concat(frames, ignore_index=True) if frames else _empty(names, tz)
    for name in names:
        result[name] = result[name].astype("str")
    result.attrs.update(left_out=left_out, phase=phase, bucket_seconds=width)
    if total and total == left_out:
        warnings.warn(
            f"concurrency: none of the {total:,} calls has a {phase} interval to count "
            f"('{PHASES[phase]}' to 'ended')",
            stacklevel=3,
        )
    return result


def _origin(start: np.ndarray, width: float, tz: str | None) -> float:
    """Return a bucket edge (epoch seconds) on the wall clock of ``tz``, at or before the
    first start. Buckets are of fixed length from there: across a DST change they stay on
    the first call's UTC offset, since call-seconds are counted in real time."""
    if not len(start):
        return 0.0
    first = float(start.min())
    offset = 0.0
    if tz is not None:
        stamp = pd.Timestamp(first, unit="s", tz="UTC").tz_convert(tz)
        offset = stamp.utcoffset().total_seconds()  # type: ignore[union-attr]
    return float(np.floor((first + offset) / width) * width - offset)


def _sweep(
    start: np.ndarray, end: np.ndarray, width: float
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Count the intervals [start, end) (seconds from a bucket edge) per bucket of ``width``."""
    first = np.floor(start / width).astype(np.int64)
    last = (np.ceil(end / width) - 1).astype(np.int64)
    last = np.maximum(last, first)
    bucket = _occupied(first, last)
    if len(bucket) > _MAX_BUCKETS:
        raise InvalidRequestError(
            f"concurrency would give {len(bucket):,} buckets; use a coarser freq"
        )
    lo = bucket * width
    hi = lo + width
    s = np.sort(start)
    e = np.sort(end)
    calls = np.searchsorted(s, hi, side="left") - np.searchsorted(e, lo, side="right")
    busy = _busy(s, e, hi) - _busy(s, e, lo)
    # The level only rises at a start, so a bucket's peak is the level as it opens or right
    # after one of its starts (every call starting or ending at that moment counted).
    peak = np.searchsorted(s, lo, side="right") - np.searchsorted(e, lo, side="right")
    level = np.searchsorted(s, s, side="right") - np.searchsorted(e, s, side="right")
    pos = np.searchsorted(bucket, np.floor(s / width).astype(np.int64))
    if len(pos):
        cuts = np.flatnonzero(np.r_[True, pos[1:] != pos[:-1]])
        peak[pos[cuts]] = np.maximum(peak[pos[cuts]], np.maximum.reduceat(level, cuts))
    return bucket, {
        "calls": calls.astype(np.int64),
        "peak": peak.astype(np.int64),
        "erlangs": np.maximum(busy, 0.0) / width,
    }


def _busy(s: np.ndarray, e: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Call-seconds before each time of ``t``: sum over calls of clip(t - start, 0, length)."""
    cs = np.concatenate([[0.0], np.cumsum(s)])
    ce = np.concatenate([[0.0], np.cumsum(e)])
    ns = np.searchsorted(s, t, side="right")
    ne = np.searchsorted(e, t, side="right")
    return (ns * t - cs[ns]) - (ne * t - ce[ne])


def _occupied(first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Return the sorted union of the integer ranges [first, last] (first >= 0)."""
    top = int(last.max()) + 2
    if top <= 8 * len(first) + 10_000_000:
        # +1 where a range opens, -1 after it closes: covered where the running sum is > 0.
        cover = np.cumsum(np.bincount(first, minlength=top) - np.bincount(last + 1, minlength=top))
        return np.flatnonzero(cover > 0).astype(np.int64)
    order = np.argsort(first, kind="stable")  # sparse over a long span: merge sorted ranges
    first, last = first[order], np.maximum.accumulate(last[order])
    new = np.r_[True, first[1:] > last[:-1] + 1]
    starts = first[new]
    ends = last[np.r_[np.flatnonzero(new)[1:] - 1, len(first) - 1]]
    lengths = ends - starts + 1
    offsets = np.repeat(starts - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
    return offsets + np.arange(int(lengths.sum()), dtype=np.int64)


def _times(seconds: np.ndarray, tz: str | None) -> pd.Series:
    micros = np.round(seconds * 1e6).astype(np.int64).astype("datetime64[us]")
    times = pd.Series(micros).dt.tz_localize("UTC")
    return times.dt.tz_convert(tz) if tz else times


def _empty(names: list[str], tz: str | None) -> pd.DataFrame:
    columns: dict[str, object] = {name: pd.Series([], dtype="str") for name in names}
    columns["period"] = pd.Series([], dtype=f"datetime64[us, {tz or 'UTC'}]")
    columns.update({name: pd.Series([], dtype=dtype) for name, dtype in _COLUMNS.items()})
    return pd.DataFrame(columns)
