"""Group calls by columns and time buckets: the one grouping every table of the summary uses.

Time buckets follow ``created`` on the wall clock of ``tz`` (UTC by default), as the charts'
``tz=`` does: with ``tz="Europe/Berlin"`` a day runs from midnight to midnight in Berlin.
``freq`` is a pandas frequency: fixed ones ("min", "15min", "h", "D") are floored, calendar
ones ("W", "M", "Q", "Y") follow the calendar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidRequestError
from ..frame import CALL_DTYPES
from ._frame import column, dense_codes, group_codes, utc
from ._lazy import lazy_frame

# Period aliases for calendar frequencies that cannot be floored.
_PERIOD_ALIASES = {"ME": "M", "MS": "M", "QE": "Q", "QS": "Q", "YE": "Y", "YS": "Y"}
_PROBE = pd.Series(pd.to_datetime(["2026-10-05 10:03:00"]))


def check_by(df: Any, by: str | Sequence[str] | None) -> list[str]:
    """Return ``by`` as a list of column names, refusing names that are no call column.

    ``df`` is a pandas frame or a lazy one (anything :func:`~._lazy.lazy_frame` takes)."""
    lf = lazy_frame(df)
    columns = list(df.columns) if lf is None else lf.collect_schema().names()
    if by is None:
        return []
    names = [by] if isinstance(by, str) else by
    if not isinstance(names, Sequence) or not all(isinstance(n, str) for n in names):
        raise InvalidRequestError(f"by must be a column name or a list of them, not {by!r}")
    unknown = [n for n in names if n not in columns and n not in CALL_DTYPES]
    if unknown:
        raise InvalidRequestError(
            f"by names {unknown} but the frame has no such column; use one of "
            f"{sorted(set(columns) | set(CALL_DTYPES))}"
        )
    return list(dict.fromkeys(names))


def check_freq(freq: object) -> str:
    """Return ``freq`` if pandas can bucket times with it, else raise InvalidRequestError."""
    if isinstance(freq, str) and freq.strip():
        try:
            _floor(_PROBE, freq)
            return freq
        except ValueError:
            pass
    raise InvalidRequestError(
        f"freq {freq!r} is not a pandas frequency; use e.g. 'min', '15min', 'h', 'D', 'W' or 'M'"
    )


def check_tz(tz: object) -> str | None:
    """Return ``tz`` if it names a time zone (None: UTC), else raise InvalidRequestError."""
    if tz is None:
        return None
    try:
        _PROBE.dt.tz_localize("UTC").dt.tz_convert(tz)  # type: ignore[arg-type]
    except (TypeError, ValueError, KeyError) as e:
        raise InvalidRequestError(
            f"tz {tz!r} is not a time zone; use an IANA name such as 'Europe/Berlin'"
        ) from e
    return str(tz)


def _floor(wall: pd.Series, freq: str) -> pd.Series:
    try:
        return wall.dt.floor(freq)
    except ValueError:
        return wall.dt.to_period(_PERIOD_ALIASES.get(freq, freq)).dt.start_time


def bucket_starts(created: pd.Series, freq: str, tz: str | None) -> pd.Series:
    """Return the start of each call's ``freq`` bucket as a naive wall-clock time in ``tz``."""
    wall = utc(created)
    if tz is not None:
        wall = wall.dt.tz_convert(tz)
    return _floor(wall.dt.tz_localize(None), freq).astype("datetime64[us]")


def localize(wall: pd.Series, tz: str | None) -> pd.Series:
    """Turn naive wall-clock bucket starts back into tz-aware times in ``tz`` (UTC: None).

    In the hour repeated when daylight saving time ends both hours share one bucket, labelled
    with the first.
    """
    return wall.dt.tz_localize(
        tz or "UTC", ambiguous=np.ones(len(wall), dtype=bool), nonexistent="shift_forward"
    )


@dataclass(frozen=True)
class Grouping:
    """Rows split into groups: the group of each row and one row of keys per group."""

    #: Group index of each row of the frame, -1 for rows left out (no ``created`` time).
    row: np.ndarray
    #: One row per group that occurs, in label order: the ``by`` columns, then ``period``.
    keys: pd.DataFrame
    #: Rows left out because they have no ``created`` time to bucket.
    left_out: int

    @property
    def size(self) -> int:
        return len(self.keys)


def grouping(df: pd.DataFrame, names: list[str], freq: str | None, tz: str | None) -> Grouping:
    """Group the rows of ``df`` by the columns ``names`` and, with ``freq``, time buckets."""
    starts: np.ndarray | None = None
    if freq is not None:
        created = column(df, "created")
        keep = created.notna().to_numpy()
        starts = np.full(len(df), np.datetime64("NaT"), dtype="datetime64[us]")
        if keep.any():
            starts[keep] = bucket_starts(created[keep], freq, tz).to_numpy()
    columns = [column(df, name) for name in names]
    return group_rows(len(df), columns, names, starts, freq, tz)


def group_rows(
    size: int,
    parts_: list[pd.Series],
    names: list[str],
    starts: np.ndarray | None,
    freq: str | None,
    tz: str | None,
) -> Grouping:
    """Group ``size`` rows by the label columns ``parts_`` (named ``names``) and, unless
    None, their bucket ``starts`` (naive wall clock in ``tz``, NaT: left out). The rows are a
    frame's calls, or the groups an engine made (then each becomes one group)."""
    parts = [group_codes(part) for part in parts_]
    keep = np.ones(size, dtype=bool)
    bucket_labels: np.ndarray | None = None
    if starts is not None and freq is not None:
        keep = ~np.isnat(starts)
        bucket_codes = np.zeros(size, dtype=np.int64)
        bucket_labels, bucket_codes[keep] = _bucket_codes(starts[keep].astype(np.int64), freq)
        parts.append((["" for _ in range(len(bucket_labels))], bucket_codes))
    combined = np.zeros(size, dtype=np.int64)
    width = 1
    for labels, codes in parts:
        combined = combined * max(len(labels), 1) + codes
        width *= max(len(labels), 1)
    present, inverse = dense_codes(combined[keep], width)
    row = np.full(size, -1, dtype=np.int64)
    row[keep] = inverse
    # Decompose the combined codes back into each part's label.
    columns: dict[str, object] = {}
    rest = present
    for name, (labels, _codes) in reversed(list(zip([*names, "period"], parts, strict=False))):
        width = max(len(labels), 1)
        idx = rest % width
        rest = rest // width
        if name == "period" and bucket_labels is not None:
            wall = pd.Series(bucket_labels[idx].astype("datetime64[us]"))
            columns[name] = localize(wall, tz)
        else:
            columns[name] = pd.array(np.array(labels, dtype=object)[idx], dtype="str")
    ordered = {name: columns[name] for name in [*names, "period"] if name in columns}
    keys = pd.DataFrame(ordered, index=pd.RangeIndex(len(present)))
    return Grouping(row=row, keys=keys, left_out=int((~keep).sum()))


def _bucket_codes(starts: np.ndarray, freq: str) -> tuple[np.ndarray, np.ndarray]:
    """Return the distinct bucket starts (us, sorted) and each row's index among them."""
    if not len(starts):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    try:
        step = pd.tseries.frequencies.to_offset(freq).nanos // 1000
    except ValueError:  # calendar buckets (weeks, months) have no fixed length: sort them
        step = 0
    low = int(starts.min())
    if step and (int(starts.max()) - low) // step < 50_000_000:
        # Whole steps from the first bucket: a lookup table, no sort of the rows.
        present, codes = dense_codes((starts - low) // step, (int(starts.max()) - low) // step + 1)
        return present * step + low, codes
    codes, uniques = pd.factorize(starts, sort=True)
    return np.asarray(uniques, dtype=np.int64), np.asarray(codes, dtype=np.int64)
