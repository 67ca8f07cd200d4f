"""The explorer's results: the summary line, the sortable table, the charts, the failures."""

from __future__ import annotations

import html
from collections.abc import Callable

import ipywidgets as widgets
import pandas as pd
import plotly.graph_objects as go

from .. import charts
from ..summary import totals
from ._html import failures_html, figure_output, html_output, summary_html, table_html
from ._part import WIDE, Part

__all__ = ["CHARTS", "ResultsView"]

#: Tab title -> chart builder, one tab each.
CHARTS: dict[str, Callable[[pd.DataFrame], go.Figure]] = {
    "Calls by status": lambda df: charts.status_counts(df, freq="h"),
    "Status timeline": charts.status_timeline,
    "Durations": charts.duration_histogram,
    "Cost by channel": charts.cost_by_channel,
    "Cost over time": lambda df: charts.cost_over_time(df, freq="D"),
    "Top destinations": lambda df: charts.cost_by_destination(df, top=10),
}


class ResultsView(Part):
    """Show a fetched frame: summary, table (sort and row count), chart tabs, failures.

    ``footer`` widgets (the export row) are shown below them.
    """

    def __init__(self, rows: int, footer: list[widgets.Widget]) -> None:
        self._frame: pd.DataFrame | None = None
        self._quiet = False
        self.summary = widgets.HTML("<i>Fetch to see calls.</i>")
        self.sort_by = widgets.Dropdown(options=["created"], description="Sort by", style=WIDE)
        self.ascending = widgets.ToggleButton(value=False, description="descending", icon="sort")
        self.ascending.observe(
            lambda c: setattr(
                self.ascending, "description", "ascending" if c["new"] else "descending"
            ),
            names="value",
        )
        self.rows = widgets.BoundedIntText(value=rows, min=1, max=100_000, description="Rows")
        self.table = widgets.HTML()
        for control in (self.sort_by, self.ascending, self.rows):
            control.observe(lambda _c: self.render_table(), names="value")
        self.chart_outputs = {title: widgets.Output() for title in CHARTS}
        self.charts = widgets.Tab(list(self.chart_outputs.values()), titles=tuple(CHARTS))
        self.failures_table = widgets.HTML("<i>No failures.</i>")
        self.failures_box = widgets.Accordion([self.failures_table], titles=("Failures",))
        self.failures_box.selected_index = None
        self.results = widgets.VBox(
            [
                self.summary,
                widgets.HBox([self.sort_by, self.ascending, self.rows]),
                self.table,
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
        columns = list(df.columns)
        keep = self.sort_by.value if self.sort_by.value in columns else None
        self._quiet = True  # new options reset the value: render once, at the end
        try:
            self.sort_by.options = columns
            self.sort_by.value = keep or ("created" if "created" in columns else columns[0])
        finally:
            self._quiet = False
        self.render_table()
        for title, build in CHARTS.items():
            try:
                output = figure_output(build(df))
            except Exception as exc:  # one broken chart must not hide the others
                output = html_output(f"<i>Chart unavailable: {html.escape(str(exc))}</i>")
            self.chart_outputs[title].outputs = (output,)
        self.failures_table.value = failures_html(failures)
        self.failures_box.set_title(0, f"Failures ({len(failures):,})")

    def render_table(self) -> None:
        """Render the table of the shown frame with the current sort and row count."""
        if self._frame is not None and not self._quiet:
            self.table.value = table_html(
                self._frame,
                sort_by=self.sort_by.value,
                ascending=self.ascending.value,
                rows=self.rows.value,
            )
