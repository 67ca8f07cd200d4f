"""Totals and per-column tables: :func:`totals` and :func:`by_column`.

The answer rate is the ASR of :func:`apifonica_nb.summary.kpis`: answered calls over attempts
(calls with a final status, see :mod:`._outcomes`). Calls still in progress are not counted
either way, so a batch of live calls has no answer rate (``None``) rather than a misleading 0 %.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from ..errors import InvalidRequestError
from ._engine import check_utc, epoch, group_keys, key_series, outcome_flags, with_epoch
from ._frame import column as _column
from ._frame import group_codes
from ._frame import numbers as _numbers
from ._frame import utc as _utc
from ._lazy import collect_aggregates, ensure_columns, lazy_frame
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


def totals(df: Any) -> Totals:
    """Return the headline numbers of ``df``: calls, answer rate, cost, minutes, period.

    ``df`` is a pandas call frame or a lazy frame (``ap.cache.scan()``, Polars, Spark, ...):
    for a lazy frame the sums run in its engine, one query, and the same :class:`Totals`
    comes back (``failures`` is 0: only a pandas frame carries them).

    >>> t = totals(df)  # doctest: +SKIP
    >>> f"{t.calls} calls, {t.cost_eur:.2f} EUR, answer rate {t.answer_rate:.1%}"  # doctest: +SKIP
    """
    lf = lazy_frame(df)
    if lf is not None:
        return _lazy_totals(lf)
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


#: The per-group sums of :func:`by_column` (and :func:`totals`), as engine expressions over
#: the columns :func:`_with_flags` adds.
def _sums() -> list[nw.Expr]:
    return [
        nw.len().alias("calls"),
        nw.col("__finished").sum().alias("finished"),
        nw.col("__answered").sum().alias("answered"),
        nw.col("cost_eur").count().alias("priced"),
        nw.col("cost_eur").sum().alias("cost_eur"),
        nw.col("talk_seconds").sum().alias("talk_seconds"),
        nw.col("duration").cast(nw.Float64).sum().alias("duration"),
    ]


def _with_flags(lf: nw.LazyFrame[Any], names: Sequence[str] = ()) -> nw.LazyFrame[Any]:
    lf = ensure_columns(lf, [*names, "status", "cost_eur", "talk_seconds", "duration"])
    flags = outcome_flags()
    finished = flags[OUTCOMES[0]]
    for outcome in OUTCOMES[1:FINAL_OUTCOMES]:
        finished = finished + flags[outcome]
    return lf.with_columns(finished.alias("__finished"), flags["answered"].alias("__answered"))


def _lazy_totals(lf: nw.LazyFrame[Any]) -> Totals:
    lf = ensure_columns(_with_flags(lf), ["created"])
    check_utc(lf, ["created"])
    lf = with_epoch(lf, ["created"])
    created = epoch("created")
    row = collect_aggregates(
        lf.select(*_sums(), created.min().alias("first"), created.max().alias("last"))
    ).iloc[0]
    period = None
    if pd.notna(row["first"]):
        first, last = (pd.Timestamp(int(row[k]), unit="us", tz="UTC") for k in ("first", "last"))
        period = (first, last)
    return Totals(
        calls=int(row["calls"]),
        finished=int(row["finished"]),
        answered=int(row["answered"]),
        priced=int(row["priced"]),
        cost_eur=float(np.nan_to_num(row["cost_eur"])),
        talk_minutes=float(np.nan_to_num(row["talk_seconds"])) / 60,
        billed_minutes=float(np.nan_to_num(row["duration"])) / 60,
        failures=0,
        period=period,
    )


def by_column(df: Any, column: str | Sequence[str]) -> pd.DataFrame:
    """Return one row per value of ``column`` (or per combination of several columns).

    Columns: ``calls``, ``share`` (of all calls, 0–1), ``finished``,
    ``answered``, ``answer_rate`` (Float64, NA where none finished), ``priced``, ``cost_eur``,
    ``talk_minutes`` and ``billed_minutes``. Rows are the values that occur, in the order of
    :func:`group_codes` (lifecycle order for ``status``), :data:`UNKNOWN` last; the index is
    named after the column (a MultiIndex for several). The rows add up to :func:`totals`.
    ``df`` may be a lazy frame: the per-value sums run in its engine (one query) and the same
    table comes back.

    >>> by_column(df, "status")  # doctest: +SKIP
    >>> by_column(df, ["channel", "direction"])  # doctest: +SKIP
    """
    names = [column] if isinstance(column, str) else list(column)
    if not names or not all(isinstance(name, str) for name in names):
        raise InvalidRequestError(f"column must be a column name or a list of them, not {column!r}")
    lf = lazy_frame(df)
    if lf is not None:
        lf, keys, extra = group_keys(_with_flags(lf, names), names)
        table = collect_aggregates(lf.group_by(*keys).agg(*_sums(), *extra))
        groups = [group_codes(key_series(table, name)) for name in names]
        sums = {k: table[k].to_numpy(dtype=np.float64, na_value=0.0) for k in _SUMS}
        return _by_column_table(groups, names, sums)
    finished, answered = _outcomes(df)
    cost = _numbers(df, "cost_eur")
    row_sums = {
        "calls": np.ones(len(df)),
        "finished": finished,
        "answered": answered,
        "priced": ~np.isnan(cost),
        "cost_eur": np.nan_to_num(cost),
        "talk_seconds": np.nan_to_num(_numbers(df, "talk_seconds")),
        "duration": np.nan_to_num(_numbers(df, "duration")),
    }
    groups = [group_codes(_column(df, name)) for name in names]
    return _by_column_table(groups, names, row_sums)


_SUMS = ("calls", "finished", "answered", "priced", "cost_eur", "talk_seconds", "duration")


def _by_column_table(
    groups: list[tuple[list[str], np.ndarray]], names: list[str], sums: dict[str, np.ndarray]
) -> pd.DataFrame:
    """The table of :func:`by_column` from per-row sums: one row per call (pandas) or per
    group the engine made (a lazy frame), labelled by ``groups``."""
    combined = np.zeros(len(sums["calls"]), dtype=np.int64)
    for labels, codes in groups:
        combined = combined * len(labels) + codes
    # Only combinations that occur become rows, in label order (the codes sort like tuples).
    present, row = np.unique(combined, return_inverse=True)
    size = len(present)

    def total(name: str) -> np.ndarray:
        weights = np.asarray(sums[name], dtype=np.float64)
        return np.bincount(row.reshape(-1), weights=weights, minlength=size).astype(np.float64)

    def count(name: str) -> np.ndarray:
        return np.rint(total(name)).astype(np.int64)

    calls, finished_n, answered_n = count("calls"), count("finished"), count("answered")
    rate = pd.array(answered_n / np.where(finished_n > 0, finished_n, 1), dtype="Float64")
    rate[finished_n == 0] = pd.NA
    return pd.DataFrame(
        {
            "calls": calls,
            "share": calls / max(int(calls.sum()), 1),
            "finished": finished_n,
            "answered": answered_n,
            "answer_rate": rate,
            "priced": count("priced"),
            "cost_eur": total("cost_eur"),
            "talk_minutes": total("talk_seconds") / 60,
            "billed_minutes": total("duration") / 60,
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
