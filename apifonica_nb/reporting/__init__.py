"""Write the standalone HTML call report: header, summary and KPI tables, every chart.

The header says what was asked (period and filters, falling back to the calls' own span only
when no period was), the account, where the data came from (the sandbox or the API's host),
the price-unit rule and when the report was made: read from ``df.attrs``, where the fetch
verbs record them, with keyword overrides. Numbers go through :func:`format_table` (money
with its currency, percentages, thousands separators, right-aligned, blanks for missing).
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
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from .. import charts, summary
from ..summary import Totals
from ._header import Header, header_of
from ._kpis import KPI_SHOWN, anomaly_sentence, anomaly_table_html, kpi_html
from ._tables import NUMERIC_KINDS, TABLE_CSS, Kind, format_table, format_value, guess_kind

__all__ = [
    "KPI_SHOWN",
    "NUMERIC_KINDS",
    "REPORT_CHARTS",
    "TABLE_CSS",
    "Kind",
    "anomaly_sentence",
    "anomaly_table_html",
    "format_table",
    "format_value",
    "guess_kind",
    "kpi_html",
    "report",
    "report_html",
]

_Builder = Callable[[pd.DataFrame, str | None], go.Figure]


def _timeline(df: pd.DataFrame, tz: str | None) -> go.Figure:
    return charts.status_timeline(df, tz=tz)


def _counts(df: pd.DataFrame, tz: str | None) -> go.Figure:
    return charts.status_counts(df, tz=tz)  # buckets follow the span shown


def _durations(df: pd.DataFrame, tz: str | None) -> go.Figure:
    return charts.duration_histogram(df)


def _by_channel(df: pd.DataFrame, tz: str | None) -> go.Figure:
    return charts.cost_by_channel(df)


def _over_time(df: pd.DataFrame, tz: str | None) -> go.Figure:
    return charts.cost_over_time(df, tz=tz)


def _by_destination(df: pd.DataFrame, tz: str | None) -> go.Figure:
    return charts.cost_by_destination(df)


def _concurrency(df: pd.DataFrame, tz: str | None) -> go.Figure:
    return charts.concurrency(df, tz=tz)  # buckets coarsened to the span shown


def _anomalies(df: pd.DataFrame, tz: str | None) -> go.Figure:
    return charts.cost_anomalies(df, tz=tz)


#: (element id, heading, builder) of every chart in the report, in page order.
REPORT_CHARTS: tuple[tuple[str, str, _Builder], ...] = (
    ("status-timeline", "Status timeline", _timeline),
    ("status-counts", "Calls by status over time", _counts),
    ("duration-histogram", "Talk time", _durations),
    ("cost-by-channel", "Cost by channel", _by_channel),
    ("cost-over-time", "Cost over time", _over_time),
    ("cost-by-destination", "Cost by destination", _by_destination),
    ("concurrency", "Concurrent calls", _concurrency),
    ("cost-anomalies", "Cost anomalies", _anomalies),
)

_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       margin: 0 auto; max-width: 1200px; padding: 1.5rem 2rem 3rem; }
h1 { margin: 0 0 .25rem; font-size: 1.7rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .5rem; border-bottom: 1px solid #ddd; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: .1rem 1rem;
         margin: .25rem 0 1rem; color: #333; }
.facts dt { color: #666; }
.facts dd { margin: 0; }
.partial { background: #fff3e0; border-left: 4px solid #e65100; padding: .5rem .75rem;
           margin: 0 0 1rem; font-weight: 600; color: #8a3300; }
.kpis { display: flex; flex-wrap: wrap; gap: .75rem; margin: 0; padding: 0; }
.kpi { background: #f5f7fa; border-radius: 6px; padding: .5rem 1rem; min-width: 9rem; }
.kpi dt { color: #666; font-size: .8rem; text-transform: uppercase; letter-spacing: .03em; }
.kpi dd { margin: 0; font-size: 1.35rem; font-weight: 600; }
.kpi dd small { display: block; font-size: .75rem; font-weight: 400; color: #666; }
.tables { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: flex-start; }
table { border-collapse: collapse; font-size: .85rem; }
th, td { padding: .2rem .5rem; border-bottom: 1px solid #eee; }
th { text-align: left; background: #fafafa; }
.swatch { display: inline-block; width: .8em; height: .8em; border-radius: 2px;
          margin-right: .4em; vertical-align: -.05em; }
.chart { margin-bottom: 1rem; }
.kpi-tables { overflow-x: auto; }
.kpi-tables h3 { font-size: 1rem; margin: 1rem 0 .4rem; }
.anomalies { margin: .25rem 0 .75rem; }
"""


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


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


#: How the summary tables show ``summary.by_column``'s columns (header, kind).
SUMMARY_COLUMNS: dict[str, tuple[str, Kind]] = {
    "calls": ("calls", "count"),
    "share": ("share", "percent"),
    "answer_rate": ("answer rate", "ratio"),
    "cost_eur": ("cost", "money"),
    "talk_minutes": ("talk minutes", "minutes"),
    "billed_minutes": ("billed minutes", "minutes"),
}


def _table(
    df: pd.DataFrame, by: str, color: Callable[[object], str], total: Totals, *, rates: bool
) -> str:
    """Return the summary table per value of ``by`` (calls, share, cost, minutes), with totals.

    ``rates=False`` leaves the answer rate out (per status it is 0 or 100% by definition; under
    a status filter without answered calls it measures nothing).
    """
    columns = [c for c in SUMMARY_COLUMNS if rates or c != "answer_rate"]
    table = summary.by_column(df, by)[columns]
    footer: dict[str, object] = {
        "calls": total.calls,
        "share": 1.0 if total.calls else None,
        "cost_eur": total.cost_eur,
        "talk_minutes": total.talk_minutes,
        "billed_minutes": total.billed_minutes,
    }
    if total.answer_rate is not None:
        footer["answer_rate"] = total.answer_rate
    return format_table(
        table,
        kinds={name: kind for name, (_label, kind) in SUMMARY_COLUMNS.items()},
        labels={by: by, **{name: label for name, (label, _kind) in SUMMARY_COLUMNS.items()}},
        footer=footer,
        marker=lambda value: (
            f'<span class="swatch" style="background:{_esc(color(value))}"></span>'
        ),
        attrs=f'data-by="{_esc(by)}"',
    )


def _kpi_section(df: pd.DataFrame) -> str:
    """The KPI tables by channel and by destination (see :func:`kpi_html`)."""
    tables = "".join(
        f"<h3>By {_esc(by.replace('_', ' '))}</h3>{kpi_html(df, by)}"
        for by in ("channel", "destination_country")
    )
    return (
        '<section id="kpis"><h2>KPIs</h2><p>ASR = answered / attempts (calls with a final '
        "status); NER = attempts the network carried / attempts; ACD = mean duration of the "
        "answered calls; calls still in progress are counted and left out of every ratio.</p>"
        f'<div class="kpi-tables">{tables}</div></section>'
    )


def _answer_rate(total: Totals, header: Header) -> str:
    if header.answer_rate_excluded:
        return "not measured<small>the status filter leaves out answered calls</small>"
    return _esc(format_value(total.answer_rate, "ratio"))


def _header_html(title: str, header: Header, total: Totals) -> str:
    facts = (
        ("Period", header.period),
        ("Filters", header.filters),
        ("Account", header.account),
        ("Source", header.source),
        ("Prices", header.price_rule),
        ("Generated", header.generated),
    )
    fact_html = "".join(
        f'<dt>{_esc(name)}</dt><dd data-fact="{_esc(name.lower())}">{_esc(value)}</dd>'
        for name, value in facts
    )
    partial = f'<p class="partial">⚠ {_esc(header.partial)}</p>' if header.partial else ""
    kpis = (  # name, markup
        ("calls", _esc(format_value(total.calls, "count"))),
        ("total cost", _esc(format_value(total.cost_eur, "money"))),
        ("answer rate", _answer_rate(total, header)),
        ("failures", _esc(format_value(total.failures, "count"))),
    )
    kpi_html = "".join(
        f'<div class="kpi" data-kpi="{_esc(name)}"><dt>{_esc(name)}</dt><dd>{markup}</dd></div>'
        for name, markup in kpis
    )
    return (
        f'<header><h1>{_esc(title)}</h1><dl class="facts">{fact_html}</dl>{partial}'
        f'<dl class="kpis">{kpi_html}</dl></header>'
    )


def report_html(
    df: pd.DataFrame,
    *,
    title: str = "Apifonica call report",
    tz: str | None = None,
    **header: Any,
) -> str:
    """Return the report as one standalone HTML document (see :func:`report`)."""
    failures = (df.attrs.get("failures", []) or []) if isinstance(df, pd.DataFrame) else []
    total = summary.totals(df)
    facts = header_of(df, total, **header)
    rates = not facts.answer_rate_excluded
    anomalies = summary.cost_anomalies(df, tz=tz)
    notes = {  # what a chart's section says above the figure
        "cost-anomalies": (
            f'<p class="anomalies" data-anomalies="sentence">{_esc(anomaly_sentence(anomalies))}'
            f"</p>{anomaly_table_html(anomalies)}"
        )
    }
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
            f"{notes.get(element_id, '')}{figure_html}</section>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(title)}</title>\n<style>{_CSS}{TABLE_CSS}</style>\n</head>\n<body>\n"
        f"{_header_html(title, facts, total)}\n"
        '<section id="summary"><h2>Summary</h2><div class="tables">'
        f"{_table(df, 'status', charts.status_color, total, rates=False)}"
        f"{_table(df, 'channel', charts.channel_color, total, rates=rates)}</div></section>\n"
        f"{_kpi_section(df)}\n"
        f"{_failures(failures)}\n" + "\n".join(sections) + "\n</body>\n</html>\n"
    )


def report(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    title: str = "Apifonica call report",
    tz: str | None = None,
    since: object = None,
    until: object = None,
    filters: Mapping[str, Any] | None = None,
    account: str | None = None,
    source: str | None = None,
    price_unit: str | None = None,
    generated: datetime | None = None,
) -> Path:
    """Write the standalone HTML report of ``df`` to ``path`` and return the path.

    The header gives the period and filters asked (from ``df.attrs["query"]``, which the
    fetch verbs set; the calls' own span only when no period was asked), the account, the
    data source (the sandbox, or the API's host), the price-unit rule, when it was made and,
    in words nobody can miss, whether ``max_calls`` or a cancel cut the fetch. Then the
    number of calls, the total cost, the answer rate (the ASR: answered / attempts, calls
    with a final status; "not measured" when the status filter leaves answered calls out, "no
    calls to measure" when none finished) and the calls that could not be fetched
    (``df.attrs["failures"]``); a summary by status and by channel; the KPI tables
    (:func:`apifonica_nb.kpis`) by channel and by destination; and every chart of
    :mod:`apifonica_nb.charts`, the concurrent calls and the cost anomalies (with a sentence
    naming the flagged buckets, or saying none were flagged) included.

    ``since``, ``until``, ``filters`` (a dict such as ``{"status": ["failed"]}``),
    ``account``, ``source``, ``price_unit`` and ``generated`` override what ``df.attrs``
    says (for a frame built some other way). The file is written atomically.

    ``df`` may also be a lazy frame (``ap.cache.scan()``, a Polars LazyFrame, a Spark
    DataFrame): every number and chart is then aggregated in its engine, and the header,
    which has no attrs to read, takes the keywords.

    >>> ap.report(df, "calls.html", tz="Europe/Berlin")  # doctest: +SKIP
    >>> ap.report(ap.cache.scan(), "store.html", source="the local store")  # doctest: +SKIP
    >>> ap.report(frame, "oct.html", since="2026-10-01", until="2026-10-31")  # doctest: +SKIP
    """
    target = Path(path)
    text = report_html(
        df,
        title=title,
        tz=tz,
        since=since,
        until=until,
        filters=filters,
        account=account,
        source=source,
        price_unit=price_unit,
        generated=generated,
    )
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
