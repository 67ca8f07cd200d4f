"""Check the standalone HTML report: its numbers, its safety, and that it renders offline."""

from __future__ import annotations

import html
import os
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from test_charts import UNKNOWN_STATUS, make_frame

import apifonica_nb as ap
from apifonica_nb import charts
from apifonica_nb.frame import FINAL_STATUSES
from apifonica_nb.reporting import (
    REPORT_CHARTS,
    format_table,
    format_value,
    report,
    report_html,
)

HOSTILE_TAG = "<script>window.__pwned = 1</script>"
HOSTILE_STATUS = "<img src=x onerror=window.__pwned=2>"
DOCS = Path(__file__).resolve().parent.parent / "docs"


class _Tables(HTMLParser):
    """Collect the text of every table cell and every KPI of the report."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.kpis: dict[str, str] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._kpi: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table" and attributes.get("data-by"):
            self._table = str(attributes["data-by"])
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "div" and attributes.get("data-kpi"):
            self._kpi = str(attributes["data-kpi"])
        elif tag == "dd" and self._kpi:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._table and self._row is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "dd" and self._kpi and self._cell is not None:
            self.kpis[self._kpi] = "".join(self._cell).strip()
            self._kpi, self._cell = None, None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def money(text: str) -> float:
    """Read "1,234.50 EUR" back as a number."""
    amount, currency = text.split(" ")
    assert currency == "EUR"
    return float(amount.replace(",", ""))


def _parse(text: str) -> _Tables:
    parser = _Tables()
    parser.feed(text)
    return parser


def _hostile(df: pd.DataFrame) -> pd.DataFrame:
    """Return a copy with a script in a tag and markup in an undocumented status."""
    out = df.copy()
    out["tag"] = pd.Series(HOSTILE_TAG, index=out.index, dtype="str")
    status = out["status"].cat.add_categories([HOSTILE_STATUS])
    out["status"] = status.where(out.index >= out.index[3], HOSTILE_STATUS)
    out.attrs["failures"] = [
        {"call_sid": "cal<b>bad</b>", "error": "NotFoundError", "message": HOSTILE_TAG},
        {"call_sid": "cal2", "error": "TransportError", "message": "timed out"},
    ]
    return out


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_frame(600, seed=21, days=2)


@pytest.fixture(scope="module")
def html_text(frame: pd.DataFrame) -> str:
    return report_html(_hostile(frame))


# ----------------------------------------------------------------- content


def test_report_has_every_chart(html_text: str) -> None:
    for element_id, heading, _build in REPORT_CHARTS:
        assert f'id="{element_id}"' in html_text
        assert f"<h2>{heading}</h2>" in html_text
    assert html_text.count('class="plotly-graph-div"') == len(REPORT_CHARTS)


def test_header_numbers_match_the_frame(frame: pd.DataFrame, html_text: str) -> None:
    df = _hostile(frame)
    kpis = _parse(html_text).kpis
    assert kpis["calls"] == f"{len(df):,}"
    assert kpis["total cost"] == f"{float(df['cost_eur'].sum()):,.2f} EUR"
    assert kpis["failures"] == "2"
    # The ASR of ap.kpis: an undocumented status is no attempt, whatever is_final says.
    final = df["status"].isin(FINAL_STATUSES)
    completed = df["status"].eq("completed").fillna(False).astype(bool)
    assert kpis["answer rate"] == f"{(completed & final).sum() / final.sum():.1%}"
    first, last = df["created"].min(), df["created"].max()
    assert f"{first:%Y-%m-%d %H:%M} – {last:%Y-%m-%d %H:%M} UTC" in html_text


@pytest.mark.parametrize("by", ["status", "channel"])
def test_summary_tables_match_the_frame(frame: pd.DataFrame, html_text: str, by: str) -> None:
    df = _hostile(frame)
    header, *rows, total = _parse(html_text).tables[by]
    assert header[:2] == [by, "calls"]
    labels = df[by].astype("str").fillna(charts.UNKNOWN)
    counts = labels.value_counts()
    cost = df["cost_eur"].astype("float64").groupby(labels).sum()
    # The answer rate per status is 0 or 100% by definition: only the channel table has it.
    assert header[2:4] == (["share", "cost"] if by == "status" else ["share", "answer rate"])
    at = header.index("cost")
    drawn = {row[0]: (int(row[1].replace(",", "")), money(row[at])) for row in rows}
    assert drawn == {k: (int(counts[k]), pytest.approx(cost[k], abs=0.00501)) for k in counts.index}
    assert int(total[1].replace(",", "")) == len(df)
    assert money(total[at]) == pytest.approx(float(df["cost_eur"].sum()), abs=0.00501)
    assert total[2] == "100.0%"
    if by == "status":
        # Lifecycle order, undocumented statuses after the documented ones, NA last.
        names = [row[0] for row in rows]
        assert names.index("queued") < names.index("completed") < names.index(UNKNOWN_STATUS)
        assert names[-1] == charts.UNKNOWN


def test_user_strings_cannot_inject_markup(html_text: str) -> None:
    assert HOSTILE_TAG not in html_text
    assert HOSTILE_STATUS not in html_text
    assert "<b>bad</b>" not in html_text
    assert "&lt;img src=x onerror=window.__pwned=2&gt;" in html_text  # summary table cell
    assert "cal&lt;b&gt;bad&lt;/b&gt;" in html_text  # failures table
    title = report_html(make_frame(5, seed=1), title="Q3 <script>alert(1)</script>")
    assert "<title>Q3 &lt;script&gt;alert(1)&lt;/script&gt;</title>" in title


def test_plotly_js_is_inlined_once_and_nothing_comes_from_the_network(html_text: str) -> None:
    assert html_text.count("* plotly.js v") == 1
    assert not re.search(r"<script[^>]*\bsrc\s*=", html_text, re.IGNORECASE)
    assert not re.search(
        r"<(?:link|img|iframe)[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", html_text, re.I
    )
    assert "mathjax.js" not in html_text.lower()  # include_mathjax="cdn" would add it


def test_report_writes_utf8_atomically(tmp_path: Path) -> None:
    frame = make_frame(30, seed=2)
    target = tmp_path / "new dir" / "calls report.html"
    written = report(frame, target, title="Anrufe – Übersicht")
    assert written == target
    text = target.read_text(encoding="utf-8")
    assert "<title>Anrufe – Übersicht</title>" in text
    assert '<meta charset="utf-8">' in text
    # Writing again replaces the file whole and leaves no temporary file behind.
    report(frame.head(10), target)
    assert "<dd>10</dd>" in target.read_text(encoding="utf-8")
    assert [p.name for p in target.parent.iterdir()] == [target.name]
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_empty_frame_gives_a_report_that_says_so(tmp_path: Path) -> None:
    empty = make_frame(5, seed=1).iloc[0:0]
    text = report(empty, tmp_path / "empty.html").read_text(encoding="utf-8")
    assert _parse(text).kpis == {
        "calls": "0",
        "total cost": "0.00 EUR",
        "answer rate": "no calls to measure",
        "failures": "0",
    }
    assert text.count("No calls to show") >= 3
    assert text.count('class="plotly-graph-div"') == len(REPORT_CHARTS)


# ----------------------------------------------------------------- in a real browser


def _open_offline(browser: Any, path: Path) -> tuple[Any, list[str], list[str]]:
    """Open ``path`` with every other request aborted; return page, foreign URLs, errors."""
    url = path.resolve().as_uri()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    foreign: list[str] = []
    errors: list[str] = []

    def guard(route: Any) -> None:
        if route.request.url == url:
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    def console(message: Any) -> None:
        if message.type in ("error", "warning"):
            errors.append(message.text)

    page.route("**/*", guard)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", console)
    page.goto(url)
    return page, foreign, errors


@pytest.mark.slow
@pytest.mark.browser
def test_report_renders_offline_in_chromium(
    chromium: Any, frame: pd.DataFrame, tmp_path: Path
) -> None:
    path = report(_hostile(frame), tmp_path / "report.html")
    page, foreign, errors = _open_offline(chromium, path)
    try:
        page.wait_for_selector(".js-plotly-plot .main-svg")
        page.wait_for_function(
            "n => document.querySelectorAll('.js-plotly-plot').length === n && "
            "[...document.querySelectorAll('.js-plotly-plot')].every(p => p._fullLayout)",
            arg=len(REPORT_CHARTS),
        )
        plots = page.locator(".js-plotly-plot")
        assert plots.count() == len(REPORT_CHARTS)
        ids = [plots.nth(i).get_attribute("id") for i in range(plots.count())]
        assert ids == [element_id for element_id, _heading, _build in REPORT_CHARTS]
        for i, element_id in enumerate(ids):
            drawn = plots.nth(i).locator(".main-svg .trace").count()
            assert drawn > 0, f"{element_id} has no drawn trace"
            assert plots.nth(i).locator(".main-svg .point, .main-svg path.js-line").count() > 0
        assert page.evaluate("window.__pwned") is None
        assert foreign == []
        assert errors == []
    finally:
        page.close()


@pytest.mark.slow
@pytest.mark.browser
def test_seeded_sandbox_report_renders_offline(chromium: Any, sandbox: Any, tmp_path: Path) -> None:
    """The whole path: sandbox account -> fetch_history -> report -> Chromium, offline."""
    df = ap.fetch_history(client=sandbox.client(), progress=False)
    path = report(df, tmp_path / "sandbox-report.html")
    text = path.read_text(encoding="utf-8")
    assert _parse(text).kpis["calls"] == f"{len(df):,}"
    page, foreign, errors = _open_offline(chromium, path)
    try:
        page.wait_for_function(
            "n => [...document.querySelectorAll('.js-plotly-plot')]"
            ".filter(p => p._fullLayout && p.querySelector('.main-svg .trace')).length === n",
            arg=len(REPORT_CHARTS),
        )
        assert foreign == []
        assert errors == []
        if os.environ.get("APIFONICA_NB_SCREENSHOTS") == "1":
            DOCS.mkdir(exist_ok=True)
            page.screenshot(path=str(DOCS / "report.png"), full_page=True)
    finally:
        page.close()


# ----------------------------------------------------------------- the header and the numbers


def _facts(text: str) -> dict[str, str]:
    found = re.findall(r'<dd data-fact="([a-z]+)">([^<]*)</dd>', text)
    return {name: html.unescape(value) for name, value in found}


def test_header_says_what_was_asked_of_whom_and_where(sandbox: Any) -> None:
    df = ap.fetch_history(
        client=sandbox.client(),
        since="2026-10-01",
        until="2026-10-31",
        status=["failed", "busy"],
        progress=False,
    )
    text = report_html(df)
    facts = _facts(text)
    # The period asked, not the calls' span; the filters; the account; the source.
    assert facts["period"].startswith("2026-10-01 – 2026-10-31 (UTC, as asked")
    assert facts["filters"] == "status failed, busy"
    assert facts["account"] == sandbox.account_sid
    assert facts["source"].startswith("a local server at http://127.0.0.1:")
    assert facts["prices"].startswith("price read as EUR")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", facts["generated"])
    # No completed call can be in the frame: the answer rate is not a misleading 0.0%.
    assert _parse(text).kpis["answer rate"].startswith("not measured")
    assert "answer rate" not in "".join(_parse(text).tables["channel"][0])
    assert 'class="partial"' not in text


def test_header_falls_back_to_the_span_and_takes_overrides(frame: pd.DataFrame) -> None:
    facts = _facts(report_html(frame))
    assert "(no period asked: the calls' span)" in facts["period"]
    assert facts["filters"] == "none (every call of the period)"
    assert facts["account"] == "not recorded"
    given = report_html(
        frame,
        since="2026-09-01",
        until="2026-09-30",
        filters={"channel": "viber"},
        account="acc-mine",
        source="the Apifonica API at api.example",
        price_unit="cents",
    )
    facts = _facts(given)
    assert facts["period"].startswith("2026-09-01 – 2026-09-30")
    assert facts["filters"] == "channel viber"
    assert facts["account"] == "acc-mine"
    assert facts["source"] == "the Apifonica API at api.example"
    assert facts["prices"] == "price read as euro cents: cost = price ÷ 100 EUR"


def test_a_capped_frame_says_so_in_the_header(sandbox: Any) -> None:
    df = ap.fetch_history(client=sandbox.client(), max_calls=40, progress=False)
    text = report_html(df)
    assert "Stopped at 40 calls (max_calls): more calls match" in text
    assert _facts(text)["filters"] == "at most 40 calls"


@pytest.mark.parametrize(
    ("value", "kind", "text"),
    [
        (25.215, "money", "25.22 EUR"),
        (1234567.891, "money", "1,234,567.89 EUR"),
        (-0.0001, "money", "0.00 EUR"),
        (0.02945, "price", "0.0295 EUR"),
        (0.05, "rate", "0.0500 EUR/min"),
        (0.6574, "percent", "65.7%"),
        (None, "ratio", "no calls to measure"),
        (pd.NA, "money", ""),
        (float("nan"), "count", ""),
        (12345, "count", "12,345"),
        (886.04, "minutes", "886.0"),
        (pd.Timestamp("2026-10-01 12:30", tz="Europe/Riga"), "time", "2026-10-01 09:30:00"),
    ],
)
def test_format_value(value: object, kind: Any, text: str) -> None:
    assert format_value(value, kind) == text


def test_format_table_right_aligns_numbers_and_leaves_missing_blank() -> None:
    table = pd.DataFrame(
        {
            "calls": pd.array([1200, 3], dtype="Int64"),
            "answer_rate": pd.array([0.5, None], dtype="Float64"),
            "cost_eur": [12.345, float("nan")],
            "per_minute_eur": [0.0123, 0.05],
            "note": ["<b>x</b>", None],
        },
        index=pd.Index(["DE", "LV"], name="country"),
    )
    out = format_table(table, footer={"calls": 1203, "cost_eur": 12.345})
    assert "<th>country</th>" in out and "<th class=num>calls</th>" in out
    assert '<td class="num">1,200</td>' in out
    assert '<td class="num">50.0%</td>' in out
    assert '<td class="num none">no calls to measure</td>' in out
    assert '<td class="num">12.35 EUR</td>' in out and '<td class="num"></td>' in out
    assert '<td class="num">0.0123 EUR/min</td>' in out
    assert "&lt;b&gt;x&lt;/b&gt;" in out and "<td></td>" in out
    assert "<tfoot><tr><th>total</th>" in out and "NA" not in out
