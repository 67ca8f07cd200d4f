"""Totals and per-column tables: :func:`totals` and :func:`by_column`.

The answer rate is the ASR of :func:`apifonica_nb.summary.kpis`: answered calls over attempts
(calls with a final status, see :mod:`._outcomes`). Calls still in progress are not counted
either way, so a batch of live calls has no answer rate (``None``) rather than a misleading 0 %.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InvalidRequestError
from ._frame import column as _column
from ._frame import group_codes
from ._frame import numbers as _numbers
from ._frame import utc as _utc
from ._outcomes import FINAL_OUTCOMES, OUTCOMES, outcome_codes


@dataclass(frozen=True)
class Totals:
    """The headline numbers of a call frame (see :func:`totals`)."""

    #: Rows of the frame.
    calls: int
    #: Attempts: calls whose status is final (see :mod:`._outcomes`).
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
        """The ASR: answered calls over attempts, or None when no call has finished."""
        return self.answered / self.finished if self.finished else None


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


def _outcomes(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return per row whether the call is an attempt (final) and whether it was answered."""
    codes = outcome_codes(df)
    return codes < FINAL_OUTCOMES, codes == OUTCOMES.index("answered")
