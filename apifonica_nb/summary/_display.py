"""The KPI table for reading: measures as rows, groups as columns, numbers formatted once.

The CLI prints it; the report and the explorer can show the same text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from ._groups import check_by
from ._kpis import KPI_COLUMNS, kpis

# How each measure reads: counts with separators, ratios as percentages, seconds, money.
_COUNT = "{:,.0f}".format
_FORMATS: dict[str, Callable[[float], str]] = {
    **{name: _COUNT for name, dtype in KPI_COLUMNS.items() if dtype == "int64"},
    **dict.fromkeys(("asr", "ner", "short_share"), "{:.1%}".format),
    **dict.fromkeys(
        ("acd_talk_s", "acd_billed_s", "tta_median_s", "tta_p90_s"), "{:,.1f} s".format
    ),
    **dict.fromkeys(("talk_minutes", "billed_minutes"), "{:,.1f}".format),
    "cost_eur": "{:,.2f} EUR".format,
    **dict.fromkeys(("cost_per_billed_minute", "cost_per_attempt"), "{:,.4f} EUR".format),
}


def kpi_table(
    df: Any, *, by: str | Sequence[str] | None = "channel", total: bool = True
) -> pd.DataFrame:
    """Return :func:`kpis` of ``df`` by ``by`` as text: one row per measure, one column per
    group (and an ``all`` column with ``total=True``); a ratio without attempts reads "–".
    ``df`` may be a lazy frame, as for :func:`kpis` (two queries: by group, and in all).

    >>> print(kpi_table(df, by="channel").to_string())  # doctest: +SKIP
    """
    names = check_by(df, by)
    columns: dict[str, pd.Series] = {}
    if names:
        table = kpis(df, by=names)
        for _, row in table.iterrows():  # one row per group: a handful, not per call
            columns[" / ".join(str(row[n]) for n in names)] = row[list(KPI_COLUMNS)]
    if total or not names:
        whole = kpis(df)
        columns["all"] = (
            whole.iloc[0][list(KPI_COLUMNS)]
            if len(whole)
            else pd.Series(
                {name: 0 if KPI_COLUMNS[name] == "int64" else pd.NA for name in KPI_COLUMNS}
            )
        )
    text = {
        name: [
            "–" if pd.isna(value := values[measure]) else _FORMATS[measure](float(value))
            for measure in KPI_COLUMNS
        ]
        for name, values in columns.items()
    }
    return pd.DataFrame(text, index=pd.Index(list(KPI_COLUMNS), name="measure"))
