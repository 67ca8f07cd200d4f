"""The KPI tables and the anomaly sentence that the report and the explorer share.

Numbers come from :func:`apifonica_nb.summary.kpis` and :func:`~apifonica_nb.summary.
cost_anomalies` unchanged; only their formatting happens here, through :func:`format_table`:
money with its currency at 2 decimals, rates per minute at 4, ratios as percentages ("no
calls to measure" when nothing finished), calls in progress counted in their own column.

>>> print(kpi_html(df, "channel"))  # doctest: +SKIP
"""

from __future__ import annotations

import html

import pandas as pd

from .. import summary
from ._tables import Kind, format_table, format_value

__all__ = ["KPI_SHOWN", "anomaly_sentence", "anomaly_table_html", "kpi_html"]

#: The measures of :func:`apifonica_nb.summary.kpis` a KPI table shows: column -> (header, kind).
KPI_SHOWN: dict[str, tuple[str, Kind]] = {
    "calls": ("calls", "count"),
    "in_progress": ("in progress", "count"),
    "attempts": ("attempts", "count"),
    "answered": ("answered", "count"),
    "asr": ("ASR", "ratio"),
    "ner": ("NER", "ratio"),
    "acd_talk_s": ("ACD talk (s)", "number"),
    "acd_billed_s": ("ACD billed (s)", "number"),
    "tta_median_s": ("time to answer, median (s)", "number"),
    "short_share": ("short calls", "ratio"),
    "billed_minutes": ("billed minutes", "minutes"),
    "cost_eur": ("cost", "money"),
    "cost_per_billed_minute": ("cost per billed minute", "rate"),
    "cost_per_attempt": ("cost per attempt", "price"),
}

_ANOMALY_KINDS: dict[str, Kind] = {
    "period": "text",
    "kind": "text",
    "observed_eur": "money",
    "expected_eur": "money",
    "excess_eur": "money",
    "score": "number",
    "calls": "count",
}
_ANOMALY_LABELS = {
    "observed_eur": "spent",
    "expected_eur": "expected",
    "excess_eur": "excess",
    "score": "score (robust SDs)",
}


def kpi_html(df: pd.DataFrame, by: str, *, classes: str = "") -> str:
    """Return the KPI table of ``df`` by ``by`` (one row per group, the largest cost first,
    the whole frame in the footer) as HTML; the table's ``data-kpis`` attribute is ``by``."""
    columns = list(KPI_SHOWN)
    table = summary.kpis(df, by=by)
    if table.empty:
        return (
            f'<p data-kpis="{html.escape(by)}"><i>No calls to measure by {html.escape(by)}.</i></p>'
        )
    table = table.sort_values(["cost_eur", "attempts"], ascending=False, kind="stable")
    shown = table.set_index(by)[columns]
    whole = summary.kpis(df).iloc[0]
    return format_table(
        shown,
        kinds={name: kind for name, (_label, kind) in KPI_SHOWN.items()},
        labels={by: by, **{name: label for name, (label, _kind) in KPI_SHOWN.items()}},
        footer={name: whole[name] for name in columns},
        footer_label="all calls",
        attrs=f'data-kpis="{html.escape(by, quote=True)}"',
        classes=classes,
    )


def anomaly_sentence(anomalies: pd.DataFrame, *, by: str = "destination_country") -> str:
    """Say in one plain-text sentence which buckets :func:`summary.cost_anomalies` flagged."""
    if anomalies.empty:
        return (
            f"No spend anomaly was flagged: every {by}'s daily spend stayed near its own "
            "trailing baseline (none flagged)."
        )
    parts = []
    for row_map in anomalies.to_dict("records"):  # the flagged buckets: a handful
        label = str(row_map[by])
        new = ", a destination with no earlier spend" if row_map["kind"] == "new" else ""
        parts.append(
            f"{label} on {pd.Timestamp(row_map['period']):%Y-%m-%d}: "
            f"{format_value(row_map['observed_eur'], 'money')} spent against "
            f"{format_value(row_map['expected_eur'], 'money')} expected "
            f"({row_map['calls']:,} calls{new})"
        )
    noun = "bucket" if len(parts) == 1 else "buckets"
    return f"{len(parts)} {noun} flagged: " + "; ".join(parts) + "."


def anomaly_table_html(anomalies: pd.DataFrame, *, classes: str = "") -> str:
    """Return the flagged buckets of :func:`summary.cost_anomalies` as an HTML table."""
    if anomalies.empty:
        return ""
    shown = anomalies.assign(period=anomalies["period"].dt.strftime("%Y-%m-%d"))
    return format_table(
        shown,
        kinds=_ANOMALY_KINDS,
        labels=_ANOMALY_LABELS,
        index=False,
        attrs='data-anomalies="flagged"',
        classes=classes,
    )
