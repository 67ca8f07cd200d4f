"""The KPIs and anomalies where people read them: the report, the explorer's tabs, describe().

Every number shown is checked against :func:`apifonica_nb.kpis` / :func:`cost_anomalies` on
the same frame, on the default sandbox account (its fraud night included) and on the same
account without the night.
"""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pandas as pd
import pytest

import apifonica_nb as ap
from apifonica_nb.connect import DEMO_NOW, describe
from apifonica_nb.reporting import KPI_SHOWN, format_value, kpi_html, report_html
from apifonica_nb.sandbox.burst import burst_size
from apifonica_nb.widgets import CHARTS, CallExplorer


class _KpiTables(HTMLParser):
    """Collect the cells of every ``data-kpis`` table and the text of ``data-anomalies``."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.anomalies: dict[str, str] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._note: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table" and attributes.get("data-kpis"):
            self._table = str(attributes["data-kpis"])
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "p" and attributes.get("data-anomalies"):
            self._note = str(attributes["data-anomalies"])
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
        elif tag == "p" and self._note and self._cell is not None:
            self.anomalies[self._note] = "".join(self._cell).strip()
            self._note, self._cell = None, None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _parse(text: str) -> _KpiTables:
    parser = _KpiTables()
    parser.feed(text)
    return parser


def _rows(text: str, by: str) -> dict[str, dict[str, str]]:
    """The table by ``by`` as {group (or "all calls"): {measure: cell}}."""
    header, *rows = _parse(text).tables[by]
    assert header[1:] == [label for label, _kind in KPI_SHOWN.values()]
    return {row[0]: dict(zip(KPI_SHOWN, row[1:], strict=True)) for row in rows}


def _percent(text: str) -> float:
    assert text.endswith("%"), text
    return float(text[:-1]) / 100


@pytest.fixture(scope="module")
def demo() -> Iterator[pd.DataFrame]:
    """The default account (500 seeded calls and the fraud night), clock as tests/conftest."""
    with ap.sandbox.running(now=DEMO_NOW) as sb:
        yield ap.fetch_history(client=sb.client(), progress=False, cache=False)


@pytest.fixture(scope="module")
def quiet() -> Iterator[pd.DataFrame]:
    """The same account without the fraud night."""
    with ap.sandbox.running(now=DEMO_NOW, fraud_burst=False) as sb:
        yield ap.fetch_history(client=sb.client(), progress=False, cache=False)


@pytest.fixture(scope="module")
def demo_report(demo: pd.DataFrame) -> str:
    return report_html(demo)


# -- the report ----------------------------------------------------------------------------------


@pytest.mark.parametrize("by", ["channel", "destination_country"])
def test_report_kpi_tables_equal_ap_kpis(demo: pd.DataFrame, demo_report: str, by: str) -> None:
    rows = _rows(demo_report, by)
    expected = ap.kpis(demo, by=by).set_index(by)
    assert set(rows) == {*map(str, expected.index), "all calls"}
    for group, measures in expected.iterrows():
        shown = rows[str(group)]
        for name, (_label, kind) in KPI_SHOWN.items():
            assert shown[name] == format_value(measures[name], kind), (group, name)
        assert int(shown["attempts"].replace(",", "")) == measures["attempts"]
        if pd.notna(measures["asr"]):
            assert _percent(shown["asr"]) == pytest.approx(measures["asr"], abs=0.0005)
    whole = ap.kpis(demo)
    in_progress = int(whole["in_progress"].iloc[0])
    assert rows["all calls"]["calls"] == f"{len(demo):,}"
    assert rows["all calls"]["in_progress"] == str(in_progress)
    assert rows["all calls"]["asr"] == format_value(whole["asr"].iloc[0], "ratio")
    assert in_progress > 0  # the sandbox has live calls: counted, not in the ratios


def test_report_kpis_say_the_numbers_by_channel(demo: pd.DataFrame, demo_report: str) -> None:
    rows = _rows(demo_report, "channel")
    number = ap.kpis(demo, by="channel").set_index("channel").loc["number"]
    assert _percent(rows["number"]["asr"]) == pytest.approx(
        number["answered"] / number["attempts"], abs=0.0005
    )
    assert rows["number"]["cost_eur"] == f"{number['cost_eur']:,.2f} EUR"
    assert rows["number"]["cost_per_billed_minute"].endswith(" EUR/min")
    assert len(rows["number"]["cost_per_billed_minute"].split(" ")[0].split(".")[1]) == 4
    # Cuba's night: every call answered, at the premium rate.
    cuba = _rows(demo_report, "destination_country")["CU"]
    assert cuba["asr"] == "100.0%" and cuba["cost_per_billed_minute"] == "0.9500 EUR/min"


def test_a_ratio_without_attempts_says_so(demo: pd.DataFrame) -> None:
    live = demo.loc[~demo["is_final"].fillna(False).astype(bool)]
    assert len(live) > 0
    rows = _rows(kpi_html(live, "channel"), "channel")
    for measures in rows.values():
        assert measures["asr"] == "no calls to measure"
        assert measures["attempts"] == "0"
    assert rows["all calls"]["in_progress"] == f"{len(live):,}"


def test_report_has_the_concurrency_and_anomaly_charts(demo_report: str) -> None:
    for element_id in ("concurrency", "cost-anomalies"):
        assert f'data-chart="{element_id}"' in demo_report
        assert f'id="{element_id}"' in demo_report
    assert demo_report.count("<script src=") == 0  # offline: nothing from a CDN
    assert demo_report.count("Plotly.newPlot") >= 8


def test_the_anomaly_sentence_names_cubas_night(demo: pd.DataFrame, demo_report: str) -> None:
    sentence = _parse(demo_report).anomalies["sentence"]
    flagged = ap.cost_anomalies(demo)
    assert flagged["destination_country"].tolist() == ["CU"]
    night = flagged.iloc[0]
    assert sentence.startswith("1 bucket flagged: CU on ")
    assert f"{night['period']:%Y-%m-%d}" in sentence
    assert f"{night['observed_eur']:,.2f} EUR spent" in sentence
    assert f"({night['calls']} calls" in sentence
    assert 'data-anomalies="flagged"' in demo_report


def test_a_stationary_account_has_none_flagged(quiet: pd.DataFrame) -> None:
    assert ap.cost_anomalies(quiet).empty
    text = report_html(quiet)
    sentence = _parse(text).anomalies["sentence"]
    assert sentence.startswith("No spend anomaly was flagged") and "none flagged" in sentence
    assert 'data-anomalies="flagged"' not in text


def test_the_report_calls_the_answer_rate_the_asr() -> None:
    doc = ap.report.__doc__ or ""
    assert "ASR: answered / attempts" in doc and "completed / final calls" not in doc


# -- the explorer --------------------------------------------------------------------------------


def test_the_explorer_has_kpi_and_anomaly_tabs(demo: pd.DataFrame) -> None:
    titles = [tab.title for tab in CHARTS]
    assert titles[-2:] == ["KPIs", "Anomalies"]
    with ap.sandbox.running(now=DEMO_NOW) as sb:
        explorer = CallExplorer(client=sb.client())
        try:
            df = explorer.fetch()
            assert len(df) == len(demo)
            explorer.charts.selected_index = titles.index("KPIs")
            (shown,) = explorer.chart_outputs["KPIs"].outputs
            markup = shown["data"]["text/html"]
            expected = ap.kpis(df, by="channel").set_index("channel")
            for by in ("channel", "destination_country"):
                assert f'data-kpis="{by}"' in markup
            rows = _rows(markup, "channel")
            for channel, measures in expected.iterrows():
                assert rows[str(channel)]["asr"] == format_value(measures["asr"], "ratio")
                assert rows[str(channel)]["cost_eur"] == format_value(measures["cost_eur"], "money")
            explorer.charts.selected_index = titles.index("Anomalies")
            (shown,) = explorer.chart_outputs["Anomalies"].outputs
            figure: dict[str, Any] = shown["data"]["application/vnd.plotly.v1+json"]
        finally:
            explorer.close()
    assert "CU spent" in figure["layout"]["title"]["text"]
    (table,) = [t for t in figure["data"] if t["type"] == "table"]
    night = ap.cost_anomalies(df).iloc[0]
    columns = table["cells"]["values"]
    assert columns[0] == ["CU"] and columns[1] == [f"{night['period']:%Y-%m-%d}"]
    assert columns[3] == [format_value(night["observed_eur"], "money")]
    assert any(t.get("meta", {}).get("mark") == "flag" for t in figure["data"])


def test_the_anomalies_tab_without_flags_is_the_chart(quiet: pd.DataFrame) -> None:
    (build,) = [tab.build for tab in CHARTS if tab.title == "Anomalies"]
    figure = build(quiet)
    assert "no anomaly flagged" in figure.layout.title.text
    assert not [t for t in figure.data if t.type == "table"]


# -- describe() ----------------------------------------------------------------------------------


def test_describe_counts_the_fraud_night(demo: pd.DataFrame) -> None:
    client = ap.connect(quiet=True)  # the default: 500 seeded calls and the night on top
    text = describe(client)
    night = burst_size(500)
    assert len(demo) == 500 + night
    assert text.startswith(
        f"the bundled sandbox ({len(demo)} calls: 500 seeded and a fraud night of {night}; "
        f"clock frozen at {DEMO_NOW})"
    )
    assert len(ap.fetch_history(client=client, progress=False, cache=False)) == len(demo)
