"""The explorer's markup: its styles, the summary line, the escaped tables, Output payloads.

Plain functions from data to HTML (or to the output dicts an ``Output`` widget holds), so they
are tested without a widget in sight. Every string that came from the data is escaped.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pandas as pd
import plotly.io as pio

from ..reporting import NUMERIC_KINDS, Kind, format_value, guess_kind
from ..summary import Totals

__all__ = [
    "CSS",
    "failures_html",
    "fields_html",
    "figure_output",
    "html_output",
    "summary_html",
    "table_frame",
]

#: Styles of the explorer's tables, scoped to the explorer (an HTML widget in its tree).
CSS = """<style>
.apifonica-explorer table.apifonica-calls, .apifonica-explorer table.apifonica-fail {
  border-collapse: collapse; font-size: var(--jp-ui-font-size1, 12px); }
.apifonica-explorer table.apifonica-calls th, .apifonica-explorer table.apifonica-calls td,
.apifonica-explorer table.apifonica-fail th, .apifonica-explorer table.apifonica-fail td {
  white-space: nowrap; padding: 1px 8px; line-height: 1.5; text-align: left;
  border-bottom: 1px solid var(--jp-border-color2, #e0e0e0); }
.apifonica-explorer table.apifonica-fail td { white-space: normal; }
.apifonica-explorer table thead th { position: sticky; top: 0;
  background: var(--jp-layout-color1, #fff); }
.apifonica-explorer .apifonica-partial { color: var(--jp-warn-color0, #bf360c); font-weight: bold;
  background: var(--jp-warn-color3, #fff3e0); border-left: 4px solid var(--jp-warn-color1, #e65100);
  padding: 4px 8px; margin-top: 4px; white-space: normal; }
.apifonica-explorer .apifonica-progress, .apifonica-explorer .apifonica-progress * {
  white-space: normal; overflow: visible; text-overflow: clip; }
.apifonica-explorer .apifonica-statuses .widget-checkbox { width: 11em; }
.apifonica-explorer table.apifonica-calls td.num, .apifonica-explorer table.apifonica-calls th.num {
  text-align: right; font-variant-numeric: tabular-nums; }
.apifonica-explorer .apifonica-error { color: var(--jp-error-color1, #c62828); }
.apifonica-explorer .apifonica-detail { border-left: 4px solid var(--jp-brand-color1, #1976d2);
  padding-left: 8px; margin: 6px 0; }
.apifonica-explorer .apifonica-detail h4 { margin: 2px 0; }
</style>"""

_TABLE_FIRST = (
    "created",
    "call_sid",
    "status",
    "direction",
    "channel",
    "from",
    "to",
    "destination_country",
    "duration",
    "talk_seconds",
    "cost_eur",
    "tag",
)
# How the table shows the columns whose name does not say it (see reporting.format_table).
_TABLE_KINDS: dict[str, Kind] = {
    "cost_eur": "price",  # one call's amount: 4 decimals, not ten rows of 0.00
    "price": "text",  # the raw value, in whatever unit the rule says
    "duration": "count",
    "timeout": "count",
    "setup_seconds": "number",
    "talk_seconds": "number",
}
_BOX = (
    '<div style="max-height: 20em; overflow: auto; border: 1px solid var(--jp-border-color2, '
    '#ddd)">{}</div>'
)


def table_frame(df: pd.DataFrame, *, currency: str = "EUR") -> tuple[pd.DataFrame, list[int]]:
    """Return the table's columns of ``df`` as text, formatted as the report formats them.

    Returns the frame of strings (same row order; missing values blank) and the positions of
    its numeric columns (to be right-aligned). A unit goes into the header
    (``cost_eur (EUR)``, ``created (UTC)``), not into every cell: the interactive table
    (DataTables) then sees ``1,234.5000`` as a formatted number and sorts it numerically,
    which it would not do with ``1,234.5000 EUR`` (sorted as text, ``10`` before ``9``).
    """
    first = [c for c in _TABLE_FIRST if c in df.columns]
    columns: dict[str, list[str]] = {}
    numeric: list[int] = []
    for position, name in enumerate(first):
        kind = _TABLE_KINDS.get(name, guess_kind(name, df[name].dtype))
        texts = [format_value(v, kind, currency=currency) for v in df[name].tolist()]
        label = name
        if kind in ("money", "price"):
            texts = [t.removesuffix(f" {currency}") for t in texts]
            label = f"{name} ({currency})"
        elif kind == "time":
            label = f"{name} (UTC)"
        if kind in NUMERIC_KINDS:
            numeric.append(position)
        columns[label] = texts
    return pd.DataFrame(columns, dtype="str", index=range(len(df))), numeric


def fields_html(call: pd.DataFrame, *, currency: str = "EUR") -> str:
    """Render every field of one call (a one-row call frame) as an escaped two-column table."""
    cells = []
    for name in call.columns:
        kind = _TABLE_KINDS.get(str(name), guess_kind(str(name), call[name].dtype))
        text = format_value(call[name].iloc[0], kind, currency=currency)
        unit = " (UTC)" if kind == "time" else ""
        cls = ' class="num"' if kind in NUMERIC_KINDS else ""
        cells.append(
            f"<tr><th>{html.escape(str(name))}{unit}</th><td{cls}>{html.escape(text)}</td></tr>"
        )
    rows = "".join(cells)
    return f'<table class="apifonica-calls apifonica-fields"><tbody>{rows}</tbody></table>'


def failures_html(failures: list[dict[str, Any]]) -> str:
    """Render the failures (``call_sid``, ``error``, ``message``) as an escaped HTML table."""
    if not failures:
        return "<i>No failures.</i>"
    frame = pd.DataFrame(failures, columns=["call_sid", "error", "message"])
    table = frame.to_html(index=False, escape=True, na_rep="", border=0, classes="apifonica-fail")
    return _BOX.format(table)


def summary_html(totals: Totals, *, note: str = "") -> str:
    """Render the summary line; ``note`` (already plain text) says e.g. that a fetch was cut."""
    rate = totals.answer_rate
    parts = [
        f"<b>{totals.calls:,}</b> calls",
        f"total cost <b>{format_value(totals.cost_eur, 'money')}</b>",
        (
            f"answer rate (ASR) <b>{rate:.1%}</b> ({totals.answered:,} answered of "
            f"{totals.finished:,} attempts)"
            if rate is not None
            else "answer rate (ASR) <b>no calls to measure</b> (no attempt has ended yet)"
        ),
        f"<b>{totals.failures:,}</b> failures",
    ]
    text = " · ".join(parts)
    if note:  # on a line of its own, in bold: totals of a cut fetch must not pass for whole
        text += f'<div class="apifonica-partial" role="alert">⚠ {html.escape(note)}</div>'
    return f'<div class="apifonica-summary">{text}</div>'


def figure_output(fig: Any) -> dict[str, Any]:
    """Return the ``Output`` widget output that shows ``fig`` through plotly's mime renderer.

    Setting ``Output.outputs`` to this needs no kernel and no display hook, and JupyterLab
    renders it with the jupyterlab-plotly extension (plotly.js is not re-sent per figure, as a
    ``FigureWidget`` would re-send its 5 MB front-end module in every widget's state).
    """
    data = json.loads(pio.to_json(fig, validate=False, remove_uids=False))
    data["config"] = {"responsive": True, "displaylogo": False}
    title = fig.layout.title.text or "figure"
    return {
        "output_type": "display_data",
        "data": {
            "application/vnd.plotly.v1+json": data,
            "text/plain": f"<plotly figure: {title}>",
        },
        "metadata": {},
    }


def html_output(markup: str) -> dict[str, Any]:
    """Return an ``Output`` widget output holding ``markup`` as HTML (links resolved by Jupyter)."""
    return {
        "output_type": "display_data",
        "data": {"text/html": markup, "text/plain": re.sub(r"<[^>]+>", "", markup)},
        "metadata": {},
    }
