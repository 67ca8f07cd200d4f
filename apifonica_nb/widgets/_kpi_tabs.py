"""The explorer's "KPIs" and "Anomalies" tabs, appended to :data:`CHARTS`.

``kpis_tab`` returns HTML made by :func:`apifonica_nb.reporting.format_table`: the numbers of
:func:`apifonica_nb.kpis` by channel and by destination, formatted as the report shows them.
``anomalies_tab`` returns one figure: :func:`apifonica_nb.charts.cost_anomalies` on top and,
under it, a table of the buckets :func:`apifonica_nb.cost_anomalies` flagged (one figure, so
the tab is drawn by plotly's own renderer like every other chart tab).
"""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .. import charts, summary
from ..reporting import TABLE_CSS, Kind, format_value, kpi_html

__all__ = ["anomalies_tab", "kpis_tab"]

#: The flagged rows' columns in the Anomalies tab: column -> (header, kind).
_FLAGGED: dict[str, tuple[str, Kind]] = {
    "kind": ("kind", "text"),
    "observed_eur": ("spent", "money"),
    "expected_eur": ("expected", "money"),
    "excess_eur": ("excess", "money"),
    "score": ("score", "number"),
    "calls": ("calls", "count"),
}


def kpis_tab(df: pd.DataFrame) -> str:
    """Return the KPI tables of ``df`` by channel and by destination as HTML."""
    parts = [
        f"<style>{TABLE_CSS}</style>",
        "<p><small>ASR = answered / attempts (calls with a final status); calls still in "
        "progress are counted and left out of every ratio.</small></p>",
    ]
    for by in ("channel", "destination_country"):
        parts.append(f"<h4>By {html.escape(by.replace('_', ' '))}</h4>{kpi_html(df, by)}")
    return f'<div class="apifonica-kpis" style="overflow-x: auto">{"".join(parts)}</div>'


def anomalies_tab(df: pd.DataFrame, *, by: str = "destination_country") -> go.Figure:
    """Return the anomaly chart of ``df`` with the flagged buckets tabulated under it.

    Without a flag it is the chart alone, whose title says "no anomaly flagged".
    """
    chart = charts.cost_anomalies(df, by=by)
    flagged = summary.cost_anomalies(df, by=by)
    if flagged.empty:
        return chart
    fig = make_subplots(
        rows=2,
        cols=1,
        row_heights=[0.66, 0.34],
        vertical_spacing=0.2,
        specs=[[{"type": "xy"}], [{"type": "table"}]],
    )
    for trace in chart.data:
        fig.add_trace(trace, row=1, col=1)
    fig.update_layout(chart.layout.to_plotly_json())
    headers = [by.replace("_", " "), "day", *(label for label, _kind in _FLAGGED.values())]
    cells = [
        flagged[by].astype("str").tolist(),
        [f"{pd.Timestamp(p):%Y-%m-%d}" for p in flagged["period"]],
        *(
            [format_value(v, kind) for v in flagged[name].tolist()]
            for name, (_label, kind) in _FLAGGED.items()
        ),
    ]
    fig.add_trace(
        go.Table(
            header={"values": headers, "align": "left", "fill": {"color": "#fafafa"}},
            cells={"values": cells, "align": ["left", "left", "left", *["right"] * 5]},
            columnwidth=[1.6, 1.1, 0.8, 1, 1, 1, 0.7, 0.6],
            meta={"mark": "flagged rows"},
        ),
        row=2,
        col=1,
    )
    fig.update_layout(height=max(560, 460 + 28 * len(flagged)))
    return fig
