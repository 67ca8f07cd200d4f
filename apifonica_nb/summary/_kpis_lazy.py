"""The KPIs of a lazy frame: per-group sums and quantiles in its engine, one query.

The engine groups by the ``by`` keys and the ``freq`` bucket (see :mod:`._engine`) and
returns one row per group: the outcome counts, the sums of :data:`._kpis.SUMS` and the time to
answer's median and 90th percentile (narwhals ``quantile(..., interpolation="linear")``, the
interpolation of ``Series.quantile``). :func:`._kpis.finish` then makes the same columns the
pandas path makes; the groups are labelled and ordered by the pandas grouping.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from ._engine import (
    check_utc,
    flag,
    group_keys,
    key_series,
    outcome_flags,
    with_bucket,
    with_epoch,
)
from ._groups import Grouping, group_rows
from ._lazy import collect_aggregates, ensure_columns
from ._outcomes import FINAL_OUTCOMES, OUTCOMES

_NEEDED = ("status", "talk_seconds", "duration", "setup_seconds", "cost_eur", "created")


def lazy_measures(
    lf: nw.LazyFrame[Any], names: list[str], freq: str | None, tz: str | None, short: float
) -> tuple[Grouping, tuple[np.ndarray, dict[str, np.ndarray], Any]]:
    """Return the grouping and the inputs of :func:`._kpis.finish` for a lazy frame."""
    lf = ensure_columns(lf, [*names, *_NEEDED])
    check_utc(lf, ["created"])
    flags = outcome_flags()
    answered = flags["answered"] == 1
    attempt = flags[OUTCOMES[0]]
    for outcome in OUTCOMES[1:FINAL_OUTCOMES]:
        attempt = attempt + flags[outcome]
    is_attempt = attempt == 1
    talk, billed, setup, cost = (
        nw.col(name).cast(nw.Float64)
        for name in ("talk_seconds", "duration", "setup_seconds", "cost_eur")
    )
    columns = {f"__o{k}": flags[o] for k, o in enumerate(OUTCOMES[:-1])}
    columns.update(
        __talk_answered=nw.when(answered).then(talk),
        __billed_answered=nw.when(answered).then(billed),
        __tta=nw.when(answered).then(setup),
        __short=flag(answered & (talk < short)),
        __attempt_cost=nw.when(is_attempt).then(cost),
        __attempt_billed=nw.when(is_attempt).then(billed),
        __talk=talk,
        __billed=billed,
        __cost=cost,
    )
    lf = lf.with_columns(**columns)
    to_starts = None
    if freq is not None:
        lf, to_starts = with_bucket(with_epoch(lf, ["created"]), freq, tz)
    lf, keys, extra = group_keys(lf, names)
    tta = nw.col("__tta")
    aggregates = [
        nw.len().alias("calls"),
        *(nw.col(f"__o{k}").sum().alias(f"o{k}") for k in range(len(OUTCOMES) - 1)),
        nw.col("__talk_answered").sum().alias("talk_answered"),
        nw.col("__talk_answered").count().alias("talk_answered_n"),
        nw.col("__billed_answered").sum().alias("billed_answered"),
        nw.col("__billed_answered").count().alias("billed_answered_n"),
        nw.col("__short").sum().alias("short_calls"),
        *(nw.col(f"__{n}").sum().alias(n) for n in ("talk", "billed", "cost")),
        *(nw.col(f"__{n}").sum().alias(n) for n in ("attempt_cost", "attempt_billed")),
        tta.quantile(0.5, interpolation="linear").alias("tta_median"),
        tta.quantile(0.9, interpolation="linear").alias("tta_p90"),
        *extra,
    ]
    by = [*keys, *(["__bucket"] if freq is not None else [])]
    query = lf.group_by(*by).agg(*aggregates) if by else lf.select(*aggregates)
    table = collect_aggregates(query)
    if not by:
        table = table.loc[table["calls"] > 0].reset_index(drop=True)  # an empty frame: none
    starts = to_starts(table["__bucket"]) if to_starts is not None else None
    parts = [key_series(table, name) for name in names]
    groups = group_rows(len(table), parts, names, starts, freq, tz)
    inside = groups.row >= 0
    row, size = groups.row[inside], groups.size
    calls = table["calls"].to_numpy(dtype=np.float64)
    groups = replace(groups, left_out=int(calls[~inside].sum()))

    def total(name: str) -> np.ndarray:
        values = table[name].to_numpy(dtype=np.float64, na_value=np.nan)[inside]
        sums = np.bincount(row, weights=np.nan_to_num(values), minlength=size)
        return sums.astype(np.float64)  # bincount of nothing is int64

    counts = [total(f"o{k}") for k in range(len(OUTCOMES) - 1)]
    counts.append(np.bincount(row, weights=calls[inside], minlength=size) - sum(counts))
    outcomes = np.rint(np.column_stack(counts)).astype(np.int64).reshape(size, len(OUTCOMES))
    from ._kpis import SUMS  # here: _kpis imports this module at its top

    sums = {name: total(name) for name in SUMS}
    quantiles = []
    for name in ("tta_median", "tta_p90"):
        values = np.full(size, np.nan)
        values[row] = table[name].to_numpy(dtype=np.float64, na_value=np.nan)[inside]
        column = pd.array(values, dtype="Float64")
        column[np.isnan(values)] = pd.NA
        quantiles.append(column)
    return groups, (outcomes, sums, (quantiles[0], quantiles[1]))
