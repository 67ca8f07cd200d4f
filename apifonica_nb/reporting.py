"""Write the standalone HTML call report: header figures, summary tables and every chart.

The file opens offline: plotly.js is inlined once, nothing is loaded from a CDN, and every
string that came from the data (SIDs, tags, statuses, failure messages) is HTML-escaped.

>>> ap.report(df, "report.html")  # doctest: +SKIP
PosixPath('report.html')
"""

from __future__ import annotations

import contextlib
import html
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from apifonica_nb import charts
from apifonica_nb.charts import _column, _groups
from apifonica_nb.frame import FINAL_STATUSES

__all__ = ["REPORT_CHARTS", "report", "report_html"]

_Builder = Callable[[pd.DataFrame, str | None], go.Figure]


def _timeline(df: pd.DataFrame, tz: str | None) -> go.Figure:
    return charts.status_timeline(df, tz=tz)


def _counts(df: pd.DataFrame, tz: str | None) -> go.Figure:
    return charts.status_counts(df, freq=_freq(df), tz=tz)


def _durations(df: pd.DataFrame, tz: str | None) -> go.Figure:
    return charts.duration_histogram(df)


def _by_channel(df: pd.DataFrame, tz: str | None) -> go.Figure:
    return charts.cost_by_channel(df)


def _over_time(df: pd.DataFrame, tz: str | None) -> go.Figure:
    return charts.cost_over_time(df, freq=_freq(df), tz=tz)


def _by_destination(df: pd.DataFrame, tz: str | None) -> go.Figure:
    return charts.cost_by_destination(df)


#: (element id, heading, builder) of every chart in the report, in page order.
REPORT_CHARTS: tuple[tuple[str, str, _Builder], ...] = (
    ("status-timeline", "Status timeline", _timeline),
    ("status-counts", "Calls by status over time", _counts),
    ("duration-histogram", "Talk time", _durations),
    ("cost-by-channel", "Cost by channel", _by_channel),
    ("cost-over-time", "Cost over time", _over_time),
    ("cost-by-destination", "Cost by destination", _by_destination),
)

_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       margin: 0 auto; max-width: 1200px; padding: 1.5rem 2rem 3rem; }
h1 { margin: 0 0 .25rem; font-size: 1.7rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .5rem; border-bottom: 1px solid #ddd; }
.period { color: #555; margin: 0 0 1rem; }
.kpis { display: flex; flex-wrap: wrap; gap: .75rem; margin: 0; padding: 0; }
.kpi { background: #f5f7fa; border-radius: 6px; padding: .5rem 1rem; min-width: 9rem; }
.kpi dt { color: #666; font-size: .8rem; text-transform: uppercase; letter-spacing: .03em; }
.kpi dd { margin: 0; font-size: 1.35rem; font-weight: 600; }
.tables { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: flex-start; }
table { border-collapse: collapse; font-size: .85rem; }
th, td { padding: .2rem .5rem; border-bottom: 1px solid #eee; }
th { text-align: left; background: #fafafa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.swatch { display: inline-block; width: .8em; height: .8em; border-radius: 2px;
          margin-right: .4em; vertical-align: -.05em; }
.chart { margin-bottom: 1rem; }
"""


def _freq(df: pd.DataFrame) -> str:
    """Pick hourly buckets for a few days of calls, daily ones beyond."""
    created = df["created"].dropna() if "created" in df.columns else pd.Series([])
    if created.empty:
        return "h"
    return "h" if created.max() - created.min() <= pd.Timedelta(days=3) else "D"


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(series: pd.Series) -> pd.Series:
    """Return a numeric column as float64 with NaN for NA (missing columns: all NaN)."""
    return pd.to_numeric(series, errors="coerce").astype("float64")


def _summary(df: pd.DataFrame, by: str, color: Callable[[object], str]) -> str:
    """Return an HTML table of calls, cost, talk and billed minutes per value of ``by``."""
    labels, idx = _groups(_column(df, by))
    size = len(labels)
    calls = np.bincount(idx, minlength=size)
    cost = np.bincount(idx, weights=np.nan_to_num(_num(_column(df, "cost_eur"))), minlength=size)
    talk = np.bincount(
        idx, weights=np.nan_to_num(_num(_column(df, "talk_seconds"))), minlength=size
    )
    billed = np.bincount(idx, weights=np.nan_to_num(_num(_column(df, "duration"))), minlength=size)
    header = (
        f"<tr><th>{_esc(by)}</th><th>calls</th><th>share</th><th>cost (EUR)</th>"
        "<th>talk minutes</th><th>billed minutes</th></tr>"
    )
    rows = [
        f'<tr><td><span class="swatch" style="background:{_esc(color(label))}"></span>'
        f"{_esc(label)}</td><td class=num>{calls[k]:,}</td>"
        f"<td class=num>{calls[k] / max(len(df), 1):.1%}</td>"
        f"<td class=num>{cost[k]:,.4f}</td><td class=num>{talk[k] / 60:,.1f}</td>"
        f"<td class=num>{billed[k] / 60:,.1f}</td></tr>"
        for k, label in enumerate(labels)
    ]
    total = (
        f"<tr><th>total</th><th class=num>{len(df):,}</th><th></th>"
        f"<th class=num>{cost.sum():,.4f}</th><th class=num>{talk.sum() / 60:,.1f}</th>"
        f"<th class=num>{billed.sum() / 60:,.1f}</th></tr>"
    )
    return f'<table class="summary" data-by="{_esc(by)}">{header}{"".join(rows)}{total}</table>'


def _answer_rate(df: pd.DataFrame) -> str:
    """Return completed calls over final calls, as a percentage (or "n/a")."""
    status = _column(df, "status").astype("str")
    if "is_final" in df.columns:
        final = df["is_final"].astype("boolean").fillna(False).to_numpy(dtype=bool)
    else:
        final = status.isin(FINAL_STATUSES).to_numpy()
    completed = (status == "completed").fillna(False).to_numpy(dtype=bool)
    if not final.any():
        return "n/a"
    return f"{(completed & final).sum() / final.sum():.1%}"


def _period(df: pd.DataFrame) -> str:
    created = _column(df, "created").dropna()
    if created.empty:
        return "no calls"
    first, last = (pd.Timestamp(t).tz_convert("UTC") for t in (created.min(), created.max()))
    return f"{first:%Y-%m-%d %H:%M} – {last:%Y-%m-%d %H:%M} UTC (by creation time)"


def _failures(failures: Sequence[object]) -> str:
    """Return a table of the first calls that could not be fetched (all values escaped)."""
    if not failures:
        return ""
    shown = list(failures)[:50]
    rows = []
    for item in shown:
        entry = item if isinstance(item, dict) else {"message": item}
        cells = (entry.get(key, "") for key in ("call_sid", "error", "message"))
        rows.append("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in cells) + "</tr>")
    more = f"<p>… and {len(failures) - len(shown):,} more.</p>" if len(failures) > 50 else ""
    return (
        '<section id="failures"><h2>Calls that could not be fetched</h2>'
        "<table><tr><th>call_sid</th><th>error</th><th>message</th></tr>"
        f"{''.join(rows)}</table>{more}</section>"
    )


def report_html(
    df: pd.DataFrame, *, title: str = "Apifonica call report", tz: str | None = None
) -> str:
    """Return the report as one standalone HTML document (see :func:`report`)."""
    failures = df.attrs.get("failures", []) or []
    cost = _num(_column(df, "cost_eur"))
    kpis = (
        ("calls", f"{len(df):,}"),
        ("total cost", f"{np.nansum(cost.to_numpy()):,.2f} EUR"),
        ("answer rate", _answer_rate(df)),
        ("failures", f"{len(failures):,}"),
    )
    kpi_html = "".join(
        f'<div class="kpi" data-kpi="{_esc(name)}">'
        f"<dt>{_esc(name)}</dt><dd>{_esc(value)}</dd></div>"
        for name, value in kpis
    )
    sections = []
    for number, (element_id, heading, build) in enumerate(REPORT_CHARTS):
        figure_html = build(df, tz).to_html(
            full_html=False,
            # The first chart carries plotly.js inline; the others reuse it.
            include_plotlyjs=number == 0,
            include_mathjax=False,
            div_id=element_id,
            default_width="100%",
            config={"displaylogo": False, "responsive": True},
        )
        sections.append(
            f'<section class="chart" data-chart="{_esc(element_id)}"><h2>{_esc(heading)}</h2>'
            f"{figure_html}</section>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<header><h1>{_esc(title)}</h1>"
        f'<p class="period">{_esc(_period(df))}</p><dl class="kpis">{kpi_html}</dl></header>\n'
        '<section id="summary"><h2>Summary</h2><div class="tables">'
        f"{_summary(df, 'status', charts.status_color)}"
        f"{_summary(df, 'channel', charts.channel_color)}</div></section>\n"
        f"{_failures(failures)}\n" + "\n".join(sections) + "\n</body>\n</html>\n"
    )


def report(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    title: str = "Apifonica call report",
    tz: str | None = None,
) -> Path:
    """Write the standalone HTML report of ``df`` to ``path`` and return the path.

    The header gives the period, the number of calls, the total cost, the answer rate
    (completed / final calls) and the number of calls that could not be fetched
    (``df.attrs["failures"]``); then a summary by status and by channel, and every chart of
    :mod:`apifonica_nb.charts`. The file is written atomically (a reader never sees half of it).

    >>> ap.report(df, "calls.html", tz="Europe/Berlin")  # doctest: +SKIP
    """
    target = Path(path)
    text = report_html(df, title=title, tz=tz)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)  # mkstemp makes it private; a report is meant to be shared
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    return target
