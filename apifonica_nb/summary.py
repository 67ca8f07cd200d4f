"""The numbers the report, the explorer and the CLI share: totals and per-group tables.

One home for "how many calls, how many answered, what they cost", so the HTML report, the
explorer's summary line and ``apifonica-nb summary`` can never disagree::

    from apifonica_nb import summary

    t = summary.totals(df)            # Totals(calls=500, answered=325, ...)
    t.answer_rate                     # 0.657, or None when no call has finished
    summary.by_column(df, "status")   # calls, answered, cost, minutes per status
    summary.by_column(df, ["channel", "direction"])

Everything is vectorised and NA-safe: a missing value counts as nothing (no cost, no
minutes), a missing label is grouped as :data:`UNKNOWN`, a missing column is all missing, and
an empty frame gives zero totals and an empty table, never an exception.

The answer rate is answered calls over finished ones: a call is *finished* when its status can
no longer change (``is_final``; the status vocabulary when the column is absent) and
*answered* when it finished ``completed``. Calls still in progress are not counted either way,
so a batch of live calls has no answer rate (``None``) rather than a misleading 0 %.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import InvalidRequestError
from .frame import FINAL_STATUSES

__all__ = ["UNKNOWN", "Totals", "by_column", "group_codes", "totals"]

#: Label of missing values (NA status, channel, country, ...) in every table and chart.
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Totals:
    """The headline numbers of a call frame (see :func:`totals`)."""

    #: Rows of the frame.
    calls: int
    #: Calls whose status can no longer change.
    finished: int
    #: Finished calls that ended ``completed``.
    answered: int
    #: Calls with a cost (billing may lag behind the end of a call).
    priced: int
    #: Sum of ``cost_eur`` over the priced calls (0.0 when none is priced).
    cost_eur: float
    #: Sum of ``talk_seconds`` (started → ended) in minutes.
    talk_minutes: float
    #: Sum of the billed ``duration`` in minutes.
    billed_minutes: float
    #: Calls that could not be fetched (``df.attrs["failures"]``), not rows of the frame.
    failures: int
    #: First and last ``created`` (UTC), or None when no call has a creation time.
    period: tuple[pd.Timestamp, pd.Timestamp] | None

    @property
    def answer_rate(self) -> float | None:
        """Answered calls over finished calls, or None when no call has finished."""
        return self.answered / self.finished if self.finished else None


def group_codes(series: pd.Series) -> tuple[list[str], np.ndarray]:
    """Split a column into the labels that occur and a label index per row.

    Categoricals keep their category order (the status lifecycle order, undocumented values
    after the documented ones), other columns are sorted; NA becomes :data:`UNKNOWN`, listed
    last (a real "unknown" value merges with it). The charts colour and order their traces
    with it, so charts and tables list groups alike.

    >>> group_codes(pd.Series(["b", None, "a", "b"]))
    (['a', 'b', 'unknown'], array([1, 2, 0, 1]))
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


def totals(df: pd.DataFrame) -> Totals:
    """Return the headline numbers of ``df``: calls, answer rate, cost, minutes, period.

    >>> t = totals(df)  # doctest: +SKIP
    >>> f"{t.calls} calls, {t.cost_eur:.2f} EUR, answer rate {t.answer_rate:.1%}"  # doctest: +SKIP
    """
    finished, answered = _outcomes(df)
    cost = _numbers(df, "cost_eur")
    created = _column(df, "created").dropna()
    period = None
    if not created.empty:
        created = _utc(created)
        period = (created.min(), created.max())
    return Totals(
        calls=len(df),
        finished=int(finished.sum()),
        answered=int(answered.sum()),
        priced=int(np.count_nonzero(~np.isnan(cost))),
        cost_eur=float(np.nansum(cost)),
        talk_minutes=float(np.nansum(_numbers(df, "talk_seconds"))) / 60,
        billed_minutes=float(np.nansum(_numbers(df, "duration"))) / 60,
        failures=len(df.attrs.get("failures") or ()),
        period=period,
    )


def by_column(df: pd.DataFrame, column: str | Sequence[str]) -> pd.DataFrame:
    """Return one row per value of ``column`` (or per combination of several columns).

    Columns: ``calls``, ``share`` (of all calls, 0–1), ``finished``,
    ``answered``, ``answer_rate`` (Float64, NA where none finished), ``priced``, ``cost_eur``,
    ``talk_minutes`` and ``billed_minutes``. Rows are the values that occur, in the order of
    :func:`group_codes` (lifecycle order for ``status``), :data:`UNKNOWN` last; the index is
    named after the column (a MultiIndex for several). The rows add up to :func:`totals`.

    >>> by_column(df, "status")  # doctest: +SKIP
    >>> by_column(df, ["channel", "direction"])  # doctest: +SKIP
    """
    names = [column] if isinstance(column, str) else list(column)
    if not names or not all(isinstance(name, str) for name in names):
        raise InvalidRequestError(f"column must be a column name or a list of them, not {column!r}")
    groups = [group_codes(_column(df, name)) for name in names]
    combined = np.zeros(len(df), dtype=np.int64)
    for labels, codes in groups:
        combined = combined * len(labels) + codes
    # Only combinations that occur become rows, in label order (the codes sort like tuples).
    present, row = np.unique(combined, return_inverse=True)
    size = len(present)
    finished, answered = _outcomes(df)
    cost = _numbers(df, "cost_eur")

    def total(weights: np.ndarray) -> np.ndarray:
        sums = np.bincount(row, weights=np.nan_to_num(weights), minlength=size)
        return sums.astype(np.float64)  # bincount of nothing is int64

    calls = np.bincount(row, minlength=size)
    finished_n = np.bincount(row[finished], minlength=size)
    answered_n = np.bincount(row[answered], minlength=size)
    rate = pd.array(answered_n / np.where(finished_n > 0, finished_n, 1), dtype="Float64")
    rate[finished_n == 0] = pd.NA
    return pd.DataFrame(
        {
            "calls": calls.astype(np.int64),
            "share": calls / max(len(df), 1),
            "finished": finished_n,
            "answered": answered_n,
            "answer_rate": rate,
            "priced": np.bincount(row[~np.isnan(cost)], minlength=size),
            "cost_eur": total(cost),
            "talk_minutes": total(_numbers(df, "talk_seconds")) / 60,
            "billed_minutes": total(_numbers(df, "duration")) / 60,
        },
        index=_index(present, groups, names),
    )


# --------------------------------------------------------------------------- helpers


def _index(
    present: np.ndarray, groups: list[tuple[list[str], np.ndarray]], names: list[str]
) -> pd.Index:
    """Turn combined codes back into the labels of each column (an Index or a MultiIndex)."""
    levels = []
    rest = present
    for labels, _codes in reversed(groups):
        width = max(len(labels), 1)
        levels.append(np.array(labels, dtype=object)[rest % width])
        rest = rest // width
    levels.reverse()
    if len(names) == 1:
        return pd.Index(levels[0], dtype="str", name=names[0])
    return pd.MultiIndex.from_arrays(
        [pd.Index(level, dtype="str") for level in levels], names=names
    )


def _column(df: pd.DataFrame, name: str) -> pd.Series:
    """Return ``df[name]``, or an all-NA column when the frame lacks it."""
    if name in df.columns:
        return df[name]
    return pd.Series(pd.NA, index=df.index, dtype="object")


def _numbers(df: pd.DataFrame, name: str) -> np.ndarray:
    """Return a column as float64 with NaN for NA (a missing column: all NaN)."""
    values = pd.to_numeric(_column(df, name), errors="coerce").astype("float64")
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


def _outcomes(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return per row whether the call finished and whether it finished answered."""
    status = _column(df, "status").astype("str")
    if "is_final" in df.columns:
        finished = df["is_final"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    else:
        finished = status.isin(FINAL_STATUSES).to_numpy(dtype=bool)
    completed = (status == "completed").fillna(False).to_numpy(dtype=bool)
    return finished, finished & completed


def _utc(times: pd.Series) -> pd.Series:
    if not isinstance(times.dtype, pd.DatetimeTZDtype):
        return pd.to_datetime(times, utc=True)
    return times.dt.tz_convert("UTC")
