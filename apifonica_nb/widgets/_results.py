"""The explorer's results: the summary line, the interactive table, the charts, the failures."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import ipywidgets as widgets
import pandas as pd
import plotly.graph_objects as go

from .. import charts
from ..summary import totals
from ._html import failures_html, figure_output, html_output, summary_html
from ._kpi_tabs import anomalies_tab, kpis_tab
from ._part import Part
from ._table import CallTable

__all__ = ["CHARTS", "ChartTab", "ResultsView"]


class ChartTab(NamedTuple):
    """One tab of the explorer's results: its title and what it shows of a frame.

    ``build`` returns a plotly figure, or HTML text (a table such as
    :func:`apifonica_nb.reporting.format_table` makes).
    """

    title: str
    build: Callable[[pd.DataFrame], go.Figure | str]


#: The explorer's tabs, in order. Extend it (or pass ``tabs=`` to the explorer) to add one:
#: ``CallExplorer(tabs=[*CHARTS, ChartTab("KPIs", lambda df: format_table(ap.kpis(df)))])``.
CHARTS: tuple[ChartTab, ...] = (
    ChartTab("Calls by status", charts.status_counts),  # buckets follow the span shown
    ChartTab("Status timeline", charts.status_timeline),
    ChartTab("Durations", charts.duration_histogram),
    ChartTab("Cost by channel", charts.cost_by_channel),
    ChartTab("Cost over time", charts.cost_over_time),
    ChartTab("Top destinations", lambda df: charts.cost_by_destination(df, top=10)),
    ChartTab("KPIs", kpis_tab),
    ChartTab("Anomalies", anomalies_tab),
)


def _tab_output(tab: ChartTab, df: pd.DataFrame) -> dict[str, Any]:
    try:
        shown = tab.build(df)
    except Exception as exc:  # one broken tab must not hide the others
        return html_output(f"<i>Unavailable: {html.escape(str(exc))}</i>")
    return html_output(shown) if isinstance(shown, str) else figure_output(shown)


class ResultsView(Part):
    """Show a fetched frame: summary, interactive table, chart tabs, failures.

    ``detail`` (the detail pane) sits under the table; ``footer`` widgets (the export row)
    are shown below the rest. ``rows`` is the table's page length.
    """

    def __init__(
        self,
        rows: int,
        footer: list[widgets.Widget],
        tabs: Sequence[ChartTab] = CHARTS,
        detail: widgets.Widget | None = None,
    ) -> None:
        self._tabs = tuple(ChartTab(*tab) for tab in tabs)
        self._drawn: set[int] = set()  # tabs drawn for the frame shown
        self._frame: pd.DataFrame | None = None
        self.summary = widgets.HTML("<i>Fetch to see calls.</i>")
        self.calls = CallTable(page_length=rows)
        self.table = self.calls.table
        self.chart_outputs = {tab.title: widgets.Output() for tab in self._tabs}
        self.charts = widgets.Tab(
            list(self.chart_outputs.values()), titles=tuple(self.chart_outputs)
        )
        # A figure drawn in a hidden tab gets no size (an empty strip): draw each tab when it
        # is shown, once per frame.
        self.charts.observe(lambda _c: self.draw_selected(), names="selected_index")
        self.failures_table = widgets.HTML("<i>No failures.</i>")
        self.failures_box = widgets.Accordion([self.failures_table], titles=("Failures",))
        self.failures_box.selected_index = None
        self.results = widgets.VBox(
            [
                self.summary,
                self.calls.caption,
                self.table,
                *([detail] if detail is not None else []),
                self.charts,
                self.failures_box,
                *footer,
            ]
        )

    def show(self, df: pd.DataFrame, note: str = "") -> None:
        """Show ``df``; ``note`` (plain text) says e.g. that the fetch was cut short."""
        self._frame = df
        failures = list(df.attrs.get("failures") or [])
        self.summary.value = summary_html(totals(df), note=note)
        self.calls.show(df)
        self._drawn = set()
        for output in self.chart_outputs.values():
            output.outputs = ()
        self.draw_selected()
        self.failures_table.value = failures_html(failures)
        self.failures_box.set_title(0, f"Failures ({len(failures):,})")

    def draw_selected(self) -> None:
        """Draw the selected tab for the shown frame, unless it is drawn already."""
        index = self.charts.selected_index
        if self._frame is None or index is None or index in self._drawn:
            return
        self._drawn.add(index)
        tab = self._tabs[index]
        self.chart_outputs[tab.title].outputs = (_tab_output(tab, self._frame),)
