"""The call explorer, driven from plain Python against a sandbox of its own (no kernel)."""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ipywidgets
import pandas as pd
import pytest
from itables.widget import ITable

import apifonica_nb as ap
from apifonica_nb.connect import DEMO_NOW
from apifonica_nb.errors import (
    AuthenticationError,
    FetchFailuresWarning,
    InvalidRequestError,
    TransportError,
)
from apifonica_nb.reporting import format_value
from apifonica_nb.sandbox.burst import burst_size
from apifonica_nb.summary import totals
from apifonica_nb.widgets import CHARTS, CallExplorer, ChartTab, parse_sid_list
from apifonica_nb.widgets._export import export_frame
from apifonica_nb.widgets._html import summary_html, table_frame
from apifonica_nb.widgets._query import DEFAULT_MAX_CALLS

CALLS = 300


@pytest.fixture(scope="module")
def sb() -> Iterator[Any]:
    """This module's sandbox (its own seed, so nothing else shares its request counter)."""
    with ap.sandbox.running(calls=CALLS, seed=21, now=DEMO_NOW) as sandbox:
        yield sandbox


@pytest.fixture
def explorer(sb: Any) -> Iterator[CallExplorer]:
    e = CallExplorer(client=sb.client())
    yield e
    e.close()


def manager_state_text() -> str:
    return json.dumps(ipywidgets.Widget.get_manager_state())


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the frame is the one the verbs give ---------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "kwargs"),
    [
        ({}, {"max_calls": DEFAULT_MAX_CALLS}),
        (
            {
                "since": dt.date(2026, 10, 10),
                "until": dt.date(2026, 10, 25),
                "status": ("completed", "busy", "failed"),
                "direction": "outbound",
            },
            {
                "since": dt.date(2026, 10, 10),
                "until": dt.date(2026, 10, 25),
                "status": ["completed", "busy", "failed"],
                "direction": "outbound",
                "max_calls": DEFAULT_MAX_CALLS,
            },
        ),
        (
            {"channel": "number", "tag": " support ", "max_calls": 25},
            {"channel": "number", "tag": "support", "max_calls": 25},
        ),
        ({"direction": "inbound", "max_calls": 0}, {"direction": "inbound"}),
    ],
    ids=["defaults", "dates-status-direction", "channel-tag-max", "no-limit"],
)
def test_history_form_gives_the_fetch_history_frame(
    explorer: CallExplorer, sb: Any, form: dict[str, Any], kwargs: dict[str, Any]
) -> None:
    for name, value in form.items():
        getattr(explorer, name).value = value
    df = explorer.fetch()
    expected = ap.fetch_history(client=sb.client(), progress=False, **kwargs)
    pd.testing.assert_frame_equal(df, expected)
    assert len(df) > 0
    assert explorer.frame is df
    assert df.attrs["partial"] is False
    assert explorer.failures.empty
    assert explorer.progress.bar_style == "success"
    assert not explorer.fetch_button.disabled
    assert explorer.cancel_button.disabled


def test_sid_list_gives_the_fetch_calls_frame(explorer: CallExplorer, sb: Any) -> None:
    sids = list(sb.call_sids[10:50])
    pasted = (
        "\n".join(sids[:20])
        + "\n\n  "
        + ", ".join(sids[20:])
        + f"\n{sids[0]} {sids[5]}\ncalnothere ../x\n"
    )
    explorer.query.selected_index = 1
    explorer.sids.value = pasted
    assert "41 call SIDs" in explorer.sids_status.value
    assert "1 invalid" in explorer.sids_status.value
    assert "../x" in explorer.sids_status.value
    df = explorer.fetch()
    with pytest.warns(FetchFailuresWarning):
        expected = ap.fetch_calls([*sids, "calnothere"], client=sb.client(), progress=False)
    pd.testing.assert_frame_equal(df, expected)
    assert df["call_sid"].tolist() == sids
    assert explorer.failures["call_sid"].tolist() == ["../x", "calnothere"]
    assert explorer.failures["error"].tolist() == ["InvalidRequestError", "NotFoundError"]
    assert "calnothere" in explorer.failures_table.value
    assert "Failures (2)" in explorer.failures_box.titles


def test_an_empty_sid_list_is_refused_in_the_form(explorer: CallExplorer) -> None:
    explorer.query.selected_index = 1
    explorer.sids.value = " ,\n ../nope "
    with pytest.raises(InvalidRequestError):
        explorer.fetch()
    assert "No valid call SID" in explorer.message.value
    assert explorer.start() is None  # the button does the same, without a thread


# -- parsing a pasted list ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "sids", "invalid"),
    [
        ("", [], []),
        ("  \n\n\t ", [], []),
        ("cal1\ncal2\r\ncal3", ["cal1", "cal2", "cal3"], []),
        ("cal1,cal2 , cal3;cal4", ["cal1", "cal2", "cal3", "cal4"], []),
        ("cal1 cal2\tcal3", ["cal1", "cal2", "cal3"], []),
        ("cal2\ncal1\ncal2\n\ncal1,", ["cal2", "cal1"], []),
        ("['cal1', \"cal2\"]", ["cal1", "cal2"], []),
        ("cal1\n../x\ncal/2 ../x", ["cal1"], ["../x", "cal/2"]),
        ("cal1 " + "a" * 5000, ["cal1"], ["a" * 5000]),
        ("cal%2e cal?x cal#y", [], ["cal%2e", "cal?x", "cal#y"]),
    ],
    ids=[
        "empty",
        "blank",
        "newlines",
        "commas",
        "spaces",
        "duplicates",
        "python-list",
        "path-tricks",
        "5000-chars",
        "url-chars",
    ],
)
def test_parse_sid_list(text: str, sids: list[str], invalid: list[str]) -> None:
    assert parse_sid_list(text) == (sids, invalid)


# -- background thread and cancel --------------------------------------------------------------


@pytest.fixture
def slow() -> Iterator[Any]:
    """A small sandbox answering every request after 0.15 s."""
    with ap.sandbox.running(calls=200, seed=5, now=DEMO_NOW, latency=0.15) as sandbox:
        yield sandbox


def wait_for(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.slow
def test_cancel_keeps_what_was_fetched_history(slow: Any) -> None:
    # One listing page by page, so that a cancel lands mid-history (8 windows would read
    # these 200 calls before the progress bar reached 40).
    e = CallExplorer(client=slow.client(), workers=1)
    try:
        e.max_calls.value = 0
        e.fetch_button.click()  # the button's handler starts the background thread
        assert e.running
        assert e.fetch_button.disabled and not e.cancel_button.disabled
        assert e.start() is None  # a second click while running does nothing
        wait_for(lambda: e.progress.value >= 40)
        e.cancel()
        assert e.wait(20)
        df = e.frame
        assert df is not None
        assert df.attrs["partial"] is True
        # What was listed before the cancel is kept, in the history's order.
        assert 40 <= len(df) < 200
        assert df["call_sid"].tolist() == slow.call_sids[: len(df)]
        assert "partial" in e.summary.value
        assert e.message.value == ""
        assert e.progress.bar_style == "warning"
        assert not e.fetch_button.disabled and e.cancel_button.disabled
        assert f"{len(df):,}</b> calls" in e.summary.value
        # The pages read went to the cache, but the cut listing was not taken for the whole
        # history: the next fetch gives every call.
        slow.latency = 0.0
        again = ap.fetch_calls(df["call_sid"].tolist(), client=slow.client(), progress=False)
        settled = int((df["is_final"].fillna(False) & df["price"].notna()).sum())
        assert again.attrs["cache"]["hits"] == settled > 0
        full = e.fetch()
        assert full.attrs["partial"] is False
        pd.testing.assert_frame_equal(
            full, ap.fetch_history(client=slow.client(), progress=False, cache=False)
        )
    finally:
        e.close()


@pytest.mark.slow
def test_cancel_keeps_what_was_fetched_sid_list(slow: Any) -> None:
    e = CallExplorer(client=slow.client(), workers=2)
    try:
        # Some SIDs are in the local cache already, one does not exist: the partial frame
        # keeps the input order and the real failure, and lists no skipped SID as failed.
        ap.fetch_calls(slow.call_sids[3:9], client=slow.client(), progress=False)
        sids = [*slow.call_sids[:60], "calnothere", *slow.call_sids[60:120]]
        e.query.selected_index = 1
        e.sids.value = "\n".join(sids)
        thread = e.start()
        assert thread is not None
        wait_for(lambda: e.progress.value >= 12)  # 6 come from the cache at once
        e.cancel()
        thread.join(20)
        df = e.frame
        assert df is not None and df.attrs["partial"] is True
        assert 9 <= len(df) < 120
        assert df["call_sid"].tolist() == slow.call_sids[: len(df)]
        assert "SIDs were not fetched" in e.summary.value
        assert set(e.failures["error"]) <= {"NotFoundError"}
        assert e.message.value == ""
    finally:
        e.close()


def test_failures_fetched_in_the_background_are_shown_not_warned(sb: Any) -> None:
    e = CallExplorer(client=sb.client())
    try:
        e.query.selected_index = 1
        e.sids.value = f"{sb.call_sids[0]} calnothere {sb.call_sids[1]}"
        e.fetch_button.click()
        assert e.wait(20)
        # pytest turns warnings into errors: a warning from the verbs would show here.
        assert e.message.value == ""
        assert e.frame is not None and len(e.frame) == 2
        assert e.failures["call_sid"].tolist() == ["calnothere"]
        assert "<b>1</b> failures" in e.summary.value
    finally:
        e.close()


@pytest.mark.slow
def test_the_cache_choice_is_passed_on(explorer: CallExplorer) -> None:
    explorer.max_calls.value = 40
    first = explorer.fetch()
    assert first.attrs["cache"]["path"] is not None
    explorer.cache.value = False
    assert explorer.fetch().attrs["cache"]["path"] is None
    explorer.cache.value = "refresh"
    refreshed = explorer.fetch()
    assert refreshed.attrs["cache"]["hits"] == 0
    pd.testing.assert_frame_equal(refreshed, first)


def test_the_form_stays_usable_while_fetching(slow: Any) -> None:
    e = CallExplorer(client=slow.client())
    try:
        e.max_calls.value = 60
        thread = e.start()
        assert thread is not None
        # The caller's thread is free: the form answers while the fetch runs.
        e.tag.value = "sales"
        assert e.running
        thread.join(20)
        assert not e.running
        assert e.frame is not None and len(e.frame) == 60
        assert e.progress.value == e.progress.max == 60
        assert e.progress_label.value.startswith("done: 60 calls")
    finally:
        e.close()


# -- errors in plain words ---------------------------------------------------------------------


def test_a_wrong_token_is_reported_in_the_form(sb: Any) -> None:
    e = CallExplorer()
    try:
        e.source.value = "api"
        e.account_sid.value = sb.account_sid
        e.base_url.value = sb.url
        wrong = "0123456789abcdef-not-the-token"
        e.auth_token.value = wrong
        thread = e.start()
        assert thread is not None
        thread.join(20)
        text = e.message.value
        assert "Fetch failed" in text
        assert "HTTP 401" in text
        assert "auth token" in text and "credentials" in text
        assert "Traceback" not in text and 'File "' not in text
        assert wrong not in text
        assert e.frame is None
        assert e.progress.bar_style == "danger"
        assert not e.fetch_button.disabled
        with pytest.raises(AuthenticationError):
            e.fetch()
        # The right token, typed in, then works.
        e.auth_token.value = sb.auth_token
        assert len(e.fetch()) == len(sb.call_sids)
        assert e.message.value == ""
    finally:
        e.close()


def test_a_dead_server_is_reported_in_the_form(sb: Any) -> None:
    dead = ap.Client(
        account_sid=sb.account_sid,
        auth_token=sb.auth_token,
        base_url=f"http://127.0.0.1:{closed_port()}/v2",
        max_retries=0,
    )
    e = CallExplorer(client=dead)
    try:
        e.fetch_button.click()
        assert e.wait(20)
        text = e.message.value
        assert "Could not get an answer" in text
        assert "Check the network and base_url" in text
        assert "Traceback" not in text and sb.auth_token not in text
        assert e.frame is None
        with pytest.raises(TransportError):
            e.fetch()
    finally:
        e.close()


def test_missing_credentials_are_reported_in_the_form() -> None:
    e = CallExplorer()
    try:
        e.source.value = "api"
        e.account_sid.value = "acc123"
        with pytest.raises(ap.errors.ConfigurationError):
            e.fetch()
        assert "auth_token is empty" in e.message.value
    finally:
        e.close()


# -- the token -----------------------------------------------------------------------------------


def test_a_typed_token_never_reaches_the_widget_state(sb: Any) -> None:
    e = CallExplorer()
    try:
        e.source.value = "api"
        e.account_sid.value = sb.account_sid
        e.base_url.value = sb.url
        e.auth_token.value = sb.auth_token
        assert e.auth_token.value == ""
        assert e.token_status.value == "token set ✓"
        df = e.fetch()  # the token moved, and it is the one used
        assert len(df) == len(sb.call_sids)
        state = manager_state_text()
        assert sb.auth_token not in state
        assert sb.account_sid in state  # the state is really there
        assert sb.auth_token not in repr(e)
    finally:
        e.close()


def test_an_environment_token_prefills_but_never_reaches_the_widget_state(
    sb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APIFONICA_ACCOUNT_SID", sb.account_sid)
    monkeypatch.setenv("APIFONICA_AUTH_TOKEN", sb.auth_token)
    monkeypatch.setenv("APIFONICA_BASE_URL", sb.url)
    e = CallExplorer()
    try:
        assert e.source.value == "api"
        assert e.account_sid.value == sb.account_sid
        assert e.base_url.value == sb.url
        assert "token set ✓" in e.token_status.value
        assert len(e.fetch()) == len(sb.call_sids)
        assert sb.auth_token not in manager_state_text()
    finally:
        e.close()


# -- connection section ------------------------------------------------------------------------


def test_a_given_client_shows_as_connected(explorer: CallExplorer, sb: Any) -> None:
    assert explorer.connection.selected_index is None  # collapsed
    assert sb.account_sid in explorer.connection.titles[0]
    assert sb.account_sid in explorer.connection_status.value
    assert sb.url in explorer.connection_status.value


def test_the_sandbox_choice_starts_and_stops_a_sandbox() -> None:
    e = CallExplorer(sandbox_calls=120)
    assert e.source.value == "sandbox"  # no APIFONICA_* in the environment
    assert e.account_sid.disabled
    df = e.fetch()
    assert len(df) == 120 + burst_size(120)  # the seeded calls and the fraud night's
    assert "Sandbox running at" in e.connection_status.value
    port = re.search(r"http://127\.0\.0\.1:(\d+)", e.connection_status.value)
    assert port is not None
    e.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(port[1])), 1).close()


# -- results -------------------------------------------------------------------------------------


def test_summary_numbers_are_those_of_the_frame(explorer: CallExplorer) -> None:
    df = explorer.fetch()
    finished = df["is_final"].fillna(False).astype(bool)
    answered = int(((df["status"].astype("str") == "completed") & finished).sum())
    total = float(df["cost_eur"].sum())
    text = explorer.summary.value
    assert f"<b>{len(df):,}</b> calls" in text
    assert f"{total:,.2f} EUR" in text
    assert f"{answered / int(finished.sum()):.1%}" in text
    assert f"({answered:,} answered of {int(finished.sum()):,} attempts)" in text
    assert "<b>0</b> failures" in text
    assert total > 0 and 0 < answered < len(df)


def table_cells(explorer: CallExplorer) -> tuple[list[str], list[list[str]]]:
    """Return the headers and the rows the interactive table sends to the browser."""
    args = explorer.table._dt_args
    headers = re.findall(r"<th>(.*?)</th>", args["table_html"])
    return headers, json.loads(args["data_json"])


def test_the_table_holds_every_call_in_the_frame_order(explorer: CallExplorer, sb: Any) -> None:
    df = explorer.fetch()
    headers, rows = table_cells(explorer)
    assert len(rows) == len(df) == len(sb.call_sids)  # search, sort, pages: in the browser
    sids = [row[headers.index("call_sid")] for row in rows]
    assert sids == df["call_sid"].tolist()
    assert explorer.table.selected_rows == []
    assert f"{len(df):,} calls" in explorer.results.children[1].value


def test_the_table_has_no_hand_written_sort_controls(explorer: CallExplorer) -> None:
    for gone in ("sort_by", "ascending", "rows"):
        assert not hasattr(explorer, gone)


def test_the_summary_line_has_no_answer_rate_without_finished_calls() -> None:
    live = pd.DataFrame(
        {
            "status": pd.Categorical(["ringing", "answered"]),
            "is_final": pd.array([False, False], dtype="boolean"),
            "cost_eur": pd.array([None, 0.5], dtype="Float64"),
        }
    )
    text = summary_html(totals(live), note="partial: <cut>")
    assert "answer rate (ASR) <b>no calls to measure</b>" in text  # not a misleading 0.0%
    assert "total cost <b>0.50 EUR</b>" in text
    assert "&lt;cut&gt;" in text and "<cut>" not in text


def test_table_cells_are_escaped() -> None:
    df = pd.DataFrame({"call_sid": ["cal1"], "tag": ["<script>alert(1)</script>"]})
    text, _ = table_frame(df)
    args = ITable(text, maxBytes=0)._dt_args  # what the browser gets: escaped by itables
    assert "<script>" not in args["data_json"] and "&lt;script&gt;" in args["data_json"]


def test_every_chart_has_a_tab_drawn_when_shown(explorer: CallExplorer) -> None:
    explorer.fetch()
    assert list(explorer.charts.titles) == [tab.title for tab in CHARTS]
    # Only the tab in sight is drawn: a figure drawn hidden would get no size.
    drawn = [title for title, out in explorer.chart_outputs.items() if out.outputs]
    assert drawn == [CHARTS[0].title]
    for index, (title, output) in enumerate(explorer.chart_outputs.items()):
        explorer.charts.selected_index = index
        (shown,) = output.outputs
        if "text/html" in shown["data"]:  # the KPIs tab is a table
            assert "<table" in shown["data"]["text/html"], title
            continue
        figure = shown["data"]["application/vnd.plotly.v1+json"]
        assert figure["data"], title
        assert figure["layout"]["title"]["text"], title
    # A new fetch clears them, and draws the tab in sight again.
    explorer.fetch()
    drawn = [title for title, out in explorer.chart_outputs.items() if out.outputs]
    assert drawn == [CHARTS[-1].title]


def test_tabs_are_a_list_to_extend(sb: Any) -> None:
    counted = ChartTab("Counted", lambda df: f"<table><tr><td>{len(df)} calls</td></tr></table>")
    e = CallExplorer(client=sb.client(), tabs=[*CHARTS, counted])
    try:
        e.max_calls.value = 30
        e.fetch()
        assert list(e.charts.titles)[-1] == "Counted"
        e.charts.selected_index = len(CHARTS)
        (shown,) = e.chart_outputs["Counted"].outputs
        assert "30 calls" in shown["data"]["text/html"]
    finally:
        e.close()


def test_a_capped_fetch_says_so_in_the_summary(explorer: CallExplorer) -> None:
    explorer.max_calls.value = 100
    df = explorer.fetch()
    assert len(df) == 100 and df.attrs["complete"] is False
    assert "stopped at 100: more calls match" in explorer.summary.value
    assert 'class="apifonica-partial"' in explorer.summary.value
    explorer.max_calls.value = 0  # no limit: the whole history, and no warning
    whole = explorer.fetch()
    assert whole.attrs["complete"] is True
    assert "apifonica-partial" not in explorer.summary.value


def test_statuses_are_checkboxes_with_all_and_none(explorer: CallExplorer) -> None:
    picker = explorer.status
    assert list(picker.checkboxes) == list(ap.frame.STATUSES)  # every status in sight
    picker.all_button.click()
    assert picker.value == tuple(ap.frame.STATUSES)
    picker.none_button.click()
    assert picker.value == () and explorer.filters()["status"] is None
    picker.checkboxes["busy"].value = True
    picker.checkboxes["failed"].value = True
    assert explorer.filters()["status"] == ["busy", "failed"]  # lifecycle order
    with pytest.raises(InvalidRequestError, match="unknown statuses"):
        picker.value = ("compelted",)


def test_progress_has_a_line_of_its_own(explorer: CallExplorer) -> None:
    explorer.max_calls.value = 40
    explorer.fetch()
    buttons, label = explorer.run_row.children
    assert label is explorer.progress_label and "apifonica-progress" in label._dom_classes
    assert explorer.fetch_button in buttons.children
    assert explorer.progress_label.value.startswith("done: 40 calls")


def test_exports_read_back_with_the_same_values(
    explorer: CallExplorer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidRequestError):
        explorer.export("csv")
    df = explorer.fetch()
    parquet = explorer.export("parquet")
    explorer.export_dir.value = str(tmp_path / "out")
    csv = explorer.export("csv")
    assert parquet.parent == tmp_path and csv.parent == tmp_path / "out"
    assert explorer.exports == [parquet, csv]

    # Parquet keeps every dtype.
    pd.testing.assert_frame_equal(pd.read_parquet(parquet), df, check_flags=False)

    # CSV is text: read it back through the schema.
    back = pd.read_csv(csv, dtype="str", keep_default_na=False, na_values=[""])
    for column, dtype in df.dtypes.items():
        if isinstance(dtype, pd.DatetimeTZDtype):
            back[column] = pd.to_datetime(back[column], utc=True, format="ISO8601").astype(dtype)
        elif dtype == "boolean":
            back[column] = back[column].map({"True": True, "False": False}).astype(dtype)
        else:
            back[column] = back[column].astype(dtype)
    pd.testing.assert_frame_equal(back, df, check_flags=False)

    links = [o["data"]["text/html"] for o in explorer.export_links.outputs]
    assert f'<a href="{parquet.name}" download>' in links[0]
    assert f'<a href="out/{csv.name}" download>' in links[1]
    assert str(tmp_path) not in "".join(links)  # no server path beside a link that works
    outside = explorer.export("csv", folder=tmp_path.parent / "elsewhere")
    assert str(outside) in explorer.export_links.outputs[-1]["data"]["text/html"]


def test_a_dashboard_has_no_folder_field(sb: Any) -> None:
    e = CallExplorer(client=sb.client(), dashboard=True)
    try:
        (row, _links) = e._export.children
        assert e.export_dir not in row.children
        assert e.export_csv_button in row.children
    finally:
        e.close()


def test_export_goes_to_a_new_file_each_time(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": [1, 2]})
    first = export_frame(df, "csv", tmp_path)
    second = export_frame(df, "csv", tmp_path)
    assert first != second and first.exists() and second.exists()
    with pytest.raises(InvalidRequestError):
        export_frame(df, "xlsx", tmp_path)  # type: ignore[arg-type]


def test_the_explorer_displays_as_its_form(explorer: CallExplorer) -> None:
    bundle = explorer._repr_mimebundle_()
    view = bundle["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == explorer.widget.model_id
    assert "apifonica-explorer" in explorer.widget._dom_classes


def test_close_closes_the_widgets(sb: Any) -> None:
    e = CallExplorer(client=sb.client())
    e.fetch()
    some = [e.widget, e.table, e.fetch_button, e.chart_outputs["Durations"], e.auth_token]
    assert all(w.comm is not None for w in some)
    e.close()
    assert all(w.comm is None for w in some)


def test_table_numbers_are_formatted_and_right_aligned(explorer: CallExplorer) -> None:
    explorer.max_calls.value = 20
    df = explorer.fetch()
    headers, rows = table_cells(explorer)
    assert "cost_eur (EUR)" in headers and "created (UTC)" in headers
    costs = [row[headers.index("cost_eur (EUR)")] for row in rows]
    # Each call's cost at 4 decimals, the unit in the header: DataTables sorts "1,234.5000"
    # as a number (it would sort "1,234.5000 EUR" as text). Missing: blank, never "<NA>".
    assert all(re.fullmatch(r"\d[\d,]*\.\d{4}|", c) for c in costs)
    assert costs == [format_value(v, "price").removesuffix(" EUR") for v in df["cost_eur"]]
    assert any(costs) and all("NA" not in c and "nan" not in c for row in rows for c in row)
    (right,) = explorer.table._dt_args["columnDefs"]
    assert right["className"] == "dt-right"
    assert {headers[i] for i in right["targets"]} == {
        "duration",
        "talk_seconds",
        "cost_eur (EUR)",
    }
