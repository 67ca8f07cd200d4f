"""The carriers' call measures per group and time bucket: :func:`kpis` (defined once, here).

Every measure, as the README's "KPIs" section lists it (outcomes as in :mod:`._outcomes`):

- ``calls``: rows of the group; ``in_progress`` and ``unclassified``: calls left out of every
  ratio (not final yet; missing or undocumented status); ``attempts``: the others, with a final
  status; ``answered``, ``busy``, ``no_answer``, ``rejected``, ``canceled``, ``failed``: the
  attempts by outcome (they add up to ``attempts``).
- ``asr`` (answer-seizure ratio): answered / attempts.
- ``ner`` (network effectiveness ratio): (attempts - failed) / attempts: every attempt that
  the network carried to an answer, a busy or ringing callee, a refusal or a caller hanging up.
- ``acd_talk_s`` / ``acd_billed_s`` (average call duration): mean ``talk_seconds`` (started to
  ended) / mean billed ``duration`` of the answered calls.
- ``tta_median_s`` / ``tta_p90_s`` (time to answer): median / 90th percentile of
  ``setup_seconds`` (created to started) of the answered calls.
- ``short_calls``: answered calls that talked less than ``short_seconds`` (10 s);
  ``short_share``: short_calls / answered calls with a talk time.
- ``talk_minutes``, ``billed_minutes``, ``cost_eur``: sums over every call of the group.
- ``cost_per_billed_minute``: cost of the attempts / their billed minutes;
  ``cost_per_attempt``: cost of the attempts / attempts.

A ratio whose denominator is 0 is NA, never 0 or infinite.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidRequestError
from ._frame import numbers
from ._groups import Grouping, check_by, check_freq, check_tz, grouping
from ._kpis_lazy import lazy_measures
from ._lazy import lazy_frame
from ._outcomes import FINAL_OUTCOMES, OUTCOMES, outcome_codes

#: The measure columns of :func:`kpis`, in order, with their dtypes.
KPI_COLUMNS: dict[str, str] = {
    "calls": "int64",
    "in_progress": "int64",
    "unclassified": "int64",
    "attempts": "int64",
    **{name: "int64" for name in OUTCOMES[:FINAL_OUTCOMES]},
    "asr": "Float64",
    "ner": "Float64",
    "acd_talk_s": "Float64",
    "acd_billed_s": "Float64",
    "tta_median_s": "Float64",
    "tta_p90_s": "Float64",
    "short_calls": "int64",
    "short_share": "Float64",
    "talk_minutes": "float64",
    "billed_minutes": "float64",
    "cost_eur": "float64",
    "cost_per_billed_minute": "Float64",
    "cost_per_attempt": "Float64",
}


def kpis(
    df: Any,
    *,
    by: str | Sequence[str] | None = None,
    freq: str | None = None,
    tz: str | None = None,
    short_seconds: float = 10.0,
) -> pd.DataFrame:
    """Return the telecom KPIs of ``df``: one row per group of ``by`` and ``freq`` bucket.

    ``by`` names call columns (``"destination_country"``, ``["channel", "direction"]``, ...;
    a missing value is the group ``"unknown"``); ``freq`` buckets ``created`` in ``tz`` (UTC
    by default) into a ``period`` column, the bucket's start. Without either, one row for the
    whole frame. The measures are defined in this module's docstring and the README; calls in
    progress are counted (``in_progress``) and left out of every ratio. An empty frame gives an
    empty table with the same columns; calls without ``created`` are left out of a bucketed
    table, with a warning. ``df`` may be a lazy frame (``ap.cache.scan()``, Polars, Spark,
    ...): the sums and the time-to-answer quantiles run in its engine, one query, and the
    same table comes back.

    >>> kpis(df, by="destination_country", freq="D")  # doctest: +SKIP
    """
    names = check_by(df, by)
    if freq is not None:
        freq = check_freq(freq)
    tz = check_tz(tz)
    if not isinstance(short_seconds, (int, float)) or short_seconds < 0:
        raise InvalidRequestError(
            f"short_seconds must be a number of seconds >= 0, not {short_seconds!r}"
        )
    lf = lazy_frame(df)
    if lf is not None:
        groups, parts = lazy_measures(lf, names, freq, tz, float(short_seconds))
        table = finish(*parts)
    else:
        groups = grouping(df, names, freq, tz)
        table = _measures(df, groups, float(short_seconds))
    if groups.left_out:
        warnings.warn(
            f"kpis: {groups.left_out:,} calls have no 'created' time and are left out of the "
            "per-period rows (group without freq= to count them)",
            stacklevel=2,
        )
    return pd.concat([groups.keys, table], axis=1)


def _ratio(top: np.ndarray, bottom: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """top / bottom as Float64, NA where bottom is 0."""
    out = pd.array(top / np.where(bottom > 0, bottom, 1), dtype="Float64")
    out[bottom == 0] = pd.NA
    return out


#: The per-group sums every KPI is made of (:func:`_finish`), besides the outcome counts.
SUMS = (
    "talk_answered",  # talk seconds of the answered calls
    "talk_answered_n",  # answered calls with a talk time
    "billed_answered",
    "billed_answered_n",
    "short_calls",
    "talk",
    "billed",
    "cost",
    "attempt_cost",
    "attempt_billed",
)


def _measures(df: pd.DataFrame, groups: Grouping, short_seconds: float) -> pd.DataFrame:
    """The per-group sums of a pandas frame (one pass of ``np.bincount`` each), finished."""
    size = groups.size
    inside = groups.row >= 0
    row = groups.row[inside]
    outcome = outcome_codes(df)[inside]

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(row, weights=mask, minlength=size).astype(np.int64)

    def total(values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        # ``values`` has NaN as 0 already (a missing value counts as nothing).
        weights = values if mask is None else values * mask
        return np.bincount(row, weights=weights, minlength=size).astype(np.float64)

    def known(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return count(mask & ~np.isnan(values))

    talk = numbers(df, "talk_seconds")[inside]
    billed = numbers(df, "duration")[inside]
    setup = numbers(df, "setup_seconds")[inside]
    cost = numbers(df, "cost_eur")[inside]
    talk0, billed0, cost0 = (np.where(np.isnan(v), 0.0, v) for v in (talk, billed, cost))
    attempt = outcome < FINAL_OUTCOMES
    answered = outcome == OUTCOMES.index("answered")
    # Every outcome count of every group in one pass: a (group, outcome) table.
    table = np.bincount(row * len(OUTCOMES) + outcome, minlength=size * len(OUTCOMES))
    sums = {
        "talk_answered": total(talk0, answered),
        "talk_answered_n": known(talk, answered),
        "billed_answered": total(billed0, answered),
        "billed_answered_n": known(billed, answered),
        "short_calls": count(answered & (talk < short_seconds)),
        "talk": total(talk0),
        "billed": total(billed0),
        "cost": total(cost0),
        "attempt_cost": total(cost0, attempt),
        "attempt_billed": total(billed0, attempt),
    }
    outcomes = table.reshape(size, len(OUTCOMES)).astype(np.int64)
    return finish(outcomes, sums, _quantiles(setup, row, answered, size))


def finish(
    outcomes: np.ndarray,
    sums: dict[str, np.ndarray],
    quantiles: tuple[pd.api.extensions.ExtensionArray, pd.api.extensions.ExtensionArray],
) -> pd.DataFrame:
    """The KPI columns from per-group sums: ``outcomes`` (groups x :data:`OUTCOMES` counts),
    ``sums`` (:data:`SUMS`) and the time-to-answer median and 90th percentile. Shared by the
    pandas path and the engines' (whose sums come from the engine)."""
    size = len(outcomes)
    out: dict[str, object] = {
        "calls": outcomes.sum(axis=1),
        "in_progress": outcomes[:, OUTCOMES.index("in_progress")],
        "unclassified": outcomes[:, OUTCOMES.index("unclassified")],
        "attempts": outcomes[:, :FINAL_OUTCOMES].sum(axis=1),
    }
    for k, name in enumerate(OUTCOMES[:FINAL_OUTCOMES]):
        out[name] = outcomes[:, k]
    attempts = outcomes[:, :FINAL_OUTCOMES].sum(axis=1)
    n_answered = outcomes[:, OUTCOMES.index("answered")]
    failed = outcomes[:, OUTCOMES.index("failed")]
    talk_n = np.rint(sums["talk_answered_n"]).astype(np.int64)
    billed_n = np.rint(sums["billed_answered_n"]).astype(np.int64)
    short = np.rint(sums["short_calls"]).astype(np.int64)
    out["asr"] = _ratio(n_answered, attempts)
    out["ner"] = _ratio(attempts - failed, attempts)
    out["acd_talk_s"] = _ratio(sums["talk_answered"], talk_n)
    out["acd_billed_s"] = _ratio(sums["billed_answered"], billed_n)
    out["tta_median_s"], out["tta_p90_s"] = quantiles
    out["short_calls"] = short
    out["short_share"] = _ratio(short, talk_n)
    out["talk_minutes"] = sums["talk"] / 60
    out["billed_minutes"] = sums["billed"] / 60
    out["cost_eur"] = sums["cost"]
    out["cost_per_billed_minute"] = _ratio(sums["attempt_cost"], sums["attempt_billed"] / 60)
    out["cost_per_attempt"] = _ratio(sums["attempt_cost"], attempts)
    return pd.DataFrame(out, index=pd.RangeIndex(size))


def _quantiles(
    values: np.ndarray, row: np.ndarray, mask: np.ndarray, size: int
) -> tuple[pd.api.extensions.ExtensionArray, pd.api.extensions.ExtensionArray]:
    """Median and 90th percentile of ``values`` per group over the rows of ``mask``, with
    linear interpolation (as ``Series.quantile``): one sort for every group and both."""
    use = mask & ~np.isnan(values)
    group, vals = row[use], values[use]
    counts = np.bincount(group, minlength=size)
    if len(vals):
        # Sort by (group, value) as one float key: exact for whole seconds (the API's times),
        # and several times faster than a two-key lexsort.
        smallest = float(vals.min())
        span = float(vals.max()) - smallest + 1.0
        key = group * span + (vals - smallest)
        key.sort()
        vals = key - np.repeat(np.arange(size), counts) * span + smallest
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    result = []
    for q in (0.5, 0.9):
        position = first + (np.maximum(counts, 1) - 1) * q
        low = np.floor(position).astype(np.int64)
        high = np.ceil(position).astype(np.int64)
        column = pd.array(np.full(size, np.nan), dtype="Float64")
        has = counts > 0
        if has.any():
            lo_v, hi_v = vals[low[has]], vals[high[has]]
            column[has] = lo_v + (hi_v - lo_v) * (position[has] - low[has])
        column[~has] = pd.NA
        result.append(column)
    return result[0], result[1]
