"""Spend far above its own trailing baseline: :func:`cost_baseline` and :func:`cost_anomalies`.

For each group (a destination country by default) and bucket (a day by default) the spend is
``cost_eur`` summed over the calls created in that bucket (0 in a bucket without calls). The
baseline of a bucket is the group's own spend over the ``window`` buckets before it (not the
bucket itself), summarised robustly, so one past burst cannot hide the next:

- ``expected_eur``: the median of the trailing spend;
- ``scale_eur``: the larger of 1.4826 × the median absolute deviation (a standard deviation
  that outliers do not inflate), the trailing mean (so a group that spends a little on some
  days only is not flagged for an ordinary busy day) and ``min_excess_eur / threshold``;
- ``score``: (spend - expected) / scale.

A bucket is *flagged* when at least ``min_history`` buckets precede it, its score reaches
``threshold`` and the excess (spend - expected) reaches ``min_excess_eur``. A flagged group
that spent nothing in any earlier bucket is ``kind="new"`` (a destination the account never
called), otherwise ``"spike"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidRequestError
from ._frame import column, numbers
from ._groups import Grouping, bucket_starts, check_by, check_freq, check_tz, grouping, localize
from ._lazy import lazy_frame
from ._lazy_cells import lazy_cells

_ROBUST_SD = 1.4826  # MAD x this estimates a normal distribution's standard deviation
_MAX_CELLS = 50_000_000
_BASELINE = {
    "calls": "int64",
    "spend_eur": "float64",
    "expected_eur": "float64",
    "scale_eur": "float64",
    "score": "float64",
    "flagged": "bool",
    "kind": "str",
}
_ANOMALY = ("kind", "observed_eur", "expected_eur", "excess_eur", "score", "calls")


def cost_baseline(
    df: Any,
    *,
    by: str | Sequence[str] = "destination_country",
    freq: str = "D",
    tz: str | None = None,
    window: int = 14,
    min_history: int = 7,
    threshold: float = 5.0,
    min_excess_eur: float = 10.0,
) -> pd.DataFrame:
    """Return every group's spend per bucket next to its trailing baseline and score.

    One row per group of ``by`` and ``freq`` bucket from the first to the last priced call
    (buckets without calls spend 0): ``calls``, ``spend_eur``, ``expected_eur``,
    ``scale_eur``, ``score``, ``flagged`` and ``kind`` (see the module docstring; the score
    is NA where fewer than ``min_history`` buckets precede). :func:`cost_anomalies` keeps the
    flagged rows; ``ap.charts.cost_anomalies`` draws this table. ``df`` may be a lazy frame:
    the spend per group and bucket is summed in its engine (one query) and the same table
    comes back.

    >>> cost_baseline(df, freq="D").query("flagged")  # doctest: +SKIP
    """
    names = check_by(df, by)
    if not names:
        raise InvalidRequestError("by must name at least one column, e.g. 'destination_country'")
    freq = check_freq(freq)
    tz = check_tz(tz)
    for name, value, low in (("window", window, 1), ("min_history", min_history, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise InvalidRequestError(f"{name} must be a whole number >= {low}, not {value!r}")
    for name, number in (("threshold", threshold), ("min_excess_eur", min_excess_eur)):
        if not isinstance(number, (int, float)) or not number > 0:
            raise InvalidRequestError(f"{name} must be a positive number, not {number!r}")
    lf = lazy_frame(df)
    if lf is not None:
        groups, wall, cost, calls = lazy_cells(lf, names, freq, tz)
    else:
        cost = numbers(df, "cost_eur")
        priced = (~np.isnan(cost)) & column(df, "created").notna().to_numpy()
        frame = df.loc[priced]
        groups = grouping(frame, names, None, None)
        wall = np.zeros(0, dtype="datetime64[us]")
        if len(frame):
            wall = bucket_starts(frame["created"], freq, tz).to_numpy()
        cost, calls = cost[priced], np.ones(len(frame))
    if not len(cost):
        return _empty(names, tz)
    settings = (window, min_history, float(threshold), float(min_excess_eur))
    return _table(groups, wall, cost, calls, freq, tz, settings)


def _table(
    groups: Grouping,
    wall: np.ndarray,
    cost: np.ndarray,
    calls_: np.ndarray,
    freq: str,
    tz: str | None,
    settings: tuple[int, int, float, float],
) -> pd.DataFrame:
    """The baseline table from rows labelled by ``groups``, with their bucket (``wall``), spend
    and calls: a frame's priced calls, or the (group, bucket) sums an engine made."""
    window, min_history, threshold, min_excess_eur = settings
    buckets = _all_buckets(pd.Timestamp(wall.min()), pd.Timestamp(wall.max()), freq)
    b = np.searchsorted(buckets.to_numpy(), wall)
    n_groups, n_buckets = groups.size, len(buckets)
    if n_groups * n_buckets * (window + 1) > _MAX_CELLS:
        raise InvalidRequestError(
            f"{n_groups:,} groups x {n_buckets:,} buckets is too many to score; use a coarser "
            "freq or fewer groups"
        )
    cell = groups.row * n_buckets + b
    spend = np.bincount(cell, weights=cost, minlength=n_groups * n_buckets)
    spend = spend.reshape(n_groups, n_buckets).astype(np.float64)
    calls = np.bincount(cell, weights=calls_, minlength=n_groups * n_buckets)
    calls = np.rint(calls).astype(np.int64).reshape(n_groups, n_buckets)
    scores = _score(spend, window, min_history, threshold, min_excess_eur)
    expected, scale, score = scores
    excess = spend - expected
    flagged = (score >= threshold) & (excess >= min_excess_eur)
    flagged &= ~np.isnan(score)
    earlier = np.cumsum(spend, axis=1) - spend  # spend in every bucket before this one
    kind = np.where(flagged, np.where(earlier > 0, "spike", "new"), "")
    table = groups.keys.loc[np.repeat(np.arange(n_groups), n_buckets)].reset_index(drop=True)
    table["period"] = localize(pd.Series(np.tile(buckets.to_numpy(), n_groups)), tz)
    table["calls"] = calls.ravel().astype(np.int64)
    table["spend_eur"] = spend.ravel()
    table["expected_eur"] = expected.ravel()
    table["scale_eur"] = scale.ravel()
    table["score"] = score.ravel()
    table["flagged"] = flagged.ravel()
    table["kind"] = pd.array(kind.ravel(), dtype="str")
    table.loc[~table["flagged"], "kind"] = pd.NA
    table.attrs.update(freq=freq, window=window, threshold=threshold)
    return table


def cost_anomalies(
    df: Any,
    *,
    by: str | Sequence[str] = "destination_country",
    freq: str = "D",
    tz: str | None = None,
    window: int = 14,
    min_history: int = 7,
    threshold: float = 5.0,
    min_excess_eur: float = 10.0,
) -> pd.DataFrame:
    """Return one row per flagged bucket: spend far above that group's own trailing baseline.

    Columns: the ``by`` columns, ``period`` (the bucket's start in ``tz``), ``kind``
    (``"spike"``, or ``"new"`` for a group with no earlier spend), ``observed_eur``,
    ``expected_eur`` (the trailing median), ``excess_eur`` (their difference), ``score``
    (the excess in robust standard deviations) and ``calls``; the largest excess first.
    How the baseline is made is in :func:`cost_baseline` (``df`` may be a lazy frame, as
    there). A frame without priced calls gives
    an empty table with these columns.

    >>> cost_anomalies(df)  # one night of calls to a premium destination  # doctest: +SKIP
    """
    table = cost_baseline(
        df,
        by=by,
        freq=freq,
        tz=tz,
        window=window,
        min_history=min_history,
        threshold=threshold,
        min_excess_eur=min_excess_eur,
    )
    names = [c for c in table.columns if c not in _BASELINE and c != "period"]
    flagged = table.loc[table["flagged"]].copy()
    flagged["observed_eur"] = flagged["spend_eur"]
    flagged["excess_eur"] = flagged["spend_eur"] - flagged["expected_eur"]
    flagged = flagged.sort_values(["excess_eur", "period"], ascending=[False, True], kind="stable")
    return flagged[[*names, "period", *_ANOMALY]].reset_index(drop=True)


def _all_buckets(first: pd.Timestamp, last: pd.Timestamp, freq: str) -> pd.DatetimeIndex:
    """Every bucket start from ``first`` to ``last`` (naive wall clock)."""
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
        offset.nanos  # noqa: B018 (calendar offsets raise here)
        index = pd.date_range(first, last, freq=offset)
    except ValueError:
        aliases = {"ME": "M", "MS": "M", "QE": "Q", "QS": "Q", "YE": "Y", "YS": "Y"}
        index = pd.period_range(first, last, freq=aliases.get(freq, freq)).start_time
    return pd.DatetimeIndex(index).as_unit("us")


def _score(
    spend: np.ndarray, window: int, min_history: int, threshold: float, min_excess: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trailing median, scale and score of every bucket (NaN where history is too short)."""
    n_groups, n_buckets = spend.shape
    expected = np.full(spend.shape, np.nan)
    scale = np.full(spend.shape, np.nan)
    if n_buckets > min_history:
        padded = np.concatenate([np.full((n_groups, window), np.nan), spend], axis=1)
        # windows[:, b] holds the `window` buckets before bucket b (NaN before the first one).
        windows = np.lib.stride_tricks.sliding_window_view(padded, window, axis=1)
        trailing = windows[:, min_history:n_buckets]
        median = np.nanmedian(trailing, axis=2)
        mad = np.nanmedian(np.abs(trailing - median[:, :, None]), axis=2)
        mean = np.nanmean(trailing, axis=2)
        expected[:, min_history:] = median
        scale[:, min_history:] = np.maximum(
            np.maximum(_ROBUST_SD * mad, mean), min_excess / threshold
        )
    score = (spend - expected) / scale
    return expected, scale, score


def _empty(names: list[str], tz: str | None) -> pd.DataFrame:
    columns: dict[str, object] = {name: pd.Series([], dtype="str") for name in names}
    columns["period"] = pd.Series([], dtype=f"datetime64[us, {tz or 'UTC'}]")
    columns.update({name: pd.Series([], dtype=dtype) for name, dtype in _BASELINE.items()})
    return pd.DataFrame(columns)
