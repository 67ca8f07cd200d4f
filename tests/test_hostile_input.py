"""Hostile input: SIDs that try to change the URL, records of the wrong shape, bodies that are
not JSON, and generated records and bodies thrown at the parser and the client.

``test_client.py`` already refuses hostile SIDs in ``Client.get_call``; here the same inputs go
through ``fetch_call`` (with and without the cache), batches and the explorer's SID box.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

import apifonica_nb as ap
from apifonica_nb.errors import (
    ApifonicaError,
    APIStatusError,
    DataQualityWarning,
    FetchFailuresWarning,
    InvalidRequestError,
    RateLimitedError,
    ResponseFormatError,
)
from apifonica_nb.frame import build_frame
from apifonica_nb.widgets import CallExplorer

KNOWN = list(ap.CALL_DTYPES)
VENDOR_CALL: dict[str, Any] = json.loads(
    (Path(__file__).parent / "fixtures" / "vendor_call.json").read_text(encoding="utf-8")
)

#: Each hostile SID with why it is hostile; every one must be refused before any request.
HOSTILE_SIDS: dict[str, Any] = {
    "empty": "",
    "blank": " \t ",
    "dot-dot-slash": "../",
    "traversal": "../../accounts/other/calls",
    "encoded-traversal": "%2e%2e%2f",
    "encoded-slash": "cal%2Fx",
    "dot-dot": "..",
    "inner-dot-dot": "cal..x",
    "query": "cal?limit=1000",
    "fragment": "cal#x",
    "newline": "cal\nx",
    "crlf-header-injection": "cal\r\nX-Evil: 1",
    "nul": "cal\x00",
    "space": "cal x",
    "unicode-slash": "cal\u2215x",
    "zero-width": "cal\u200bx",
    "non-ascii": "calé",
    "5000-chars": "c" * 5000,
    "int": 123,
    "float": 1.5,
    "bool": True,
    "none": None,
    "bytes": b"cal123",
    "dict": {"call_sid": "cal1"},
    "list": ["cal1"],
}


def assert_schema(df: pd.DataFrame) -> None:
    """The known columns come first with the dtypes of CALL_DTYPES (categories may grow)."""
    assert list(df.columns[: len(KNOWN)]) == KNOWN
    for name, dtype in ap.CALL_DTYPES.items():
        if isinstance(dtype, pd.CategoricalDtype):
            assert isinstance(df[name].dtype, pd.CategoricalDtype), name
            got = list(cast(pd.CategoricalDtype, df[name].dtype).categories)
            assert got[: len(dtype.categories)] == list(dtype.categories), name
        else:
            assert df[name].dtype == pd.api.types.pandas_dtype(cast(Any, dtype)), name


# -- hostile SIDs --------------------------------------------------------------------------------


@pytest.mark.parametrize("cache", [True, False], ids=["cache", "no-cache"])
@pytest.mark.parametrize("bad", list(HOSTILE_SIDS.values()), ids=list(HOSTILE_SIDS))
def test_fetch_call_refuses_a_hostile_sid_before_any_request(
    sandbox: Any, client: ap.Client, bad: Any, cache: bool
) -> None:
    before = sandbox.request_count
    with pytest.raises(InvalidRequestError) as info:
        ap.fetch_call(bad, client=client, cache=cache)
    assert sandbox.request_count == before
    message = str(info.value)
    assert "call_sid" in message
    assert len(message) < 400  # a 5,000-character SID is not echoed in full


@pytest.mark.parametrize("cache", [True, False], ids=["cache", "no-cache"])
def test_fetch_calls_lists_each_hostile_sid_and_fetches_the_rest(
    sandbox: Any, client: ap.Client, cache: bool
) -> None:
    good = list(sandbox.call_sids[:6])
    hostile = list(HOSTILE_SIDS.values())
    asked = [good[0], *hostile[:12], *good[1:4], *hostile[12:], *good[4:]]
    before = sandbox.request_count
    with pytest.warns(FetchFailuresWarning) as seen:
        df = ap.fetch_calls(asked, client=client, progress=False, cache=cache)
    assert sandbox.request_count - before == len(good)
    assert df["call_sid"].tolist() == good
    failures = df.attrs["failures"]
    shown = [s if isinstance(s, str) else repr(s) for s in hostile]
    assert [f["call_sid"] for f in failures] == shown  # one row each, in input order
    assert {f["error"] for f in failures} == {"InvalidRequestError"}
    assert all(f["message"] for f in failures)
    assert [w.category for w in seen] == [FetchFailuresWarning]
    assert f"{len(hostile)} of {len(asked)} calls could not be fetched" in str(seen[0].message)


def test_the_explorer_refuses_hostile_sids_and_fetches_the_rest(sandbox: Any) -> None:
    good = list(sandbox.call_sids[10:14])
    hostile = ["../x", "%2e%2e%2f", "cal?limit=1", "cal#f", "c" * 5000, "cal\x00x", "calé"]
    explorer = CallExplorer(client=sandbox.client())
    try:
        explorer.query.selected_index = 1
        explorer.cache.value = False
        explorer.sids.value = "\n".join([good[0], *hostile, *good[1:]])
        assert f"{len(hostile)} invalid" in explorer.sids_status.value
        before = sandbox.request_count
        df = explorer.fetch()
        assert sandbox.request_count - before == len(good)
        assert df["call_sid"].tolist() == good
        assert explorer.failures["call_sid"].tolist() == hostile
        assert set(explorer.failures["error"]) == {"InvalidRequestError"}
    finally:
        explorer.close()


# -- hostile records, end to end -----------------------------------------------------------------

#: The vendor's example call as account acc1's, without a parent leg.
BASE_CALL = dict(VENDOR_CALL, call_sid="cal1", account_sid="acc1", parent_call_sid=None, tag="t")
MEGABYTE_TAG = "x" * (1 << 20)
#: call SID -> the fields that replace (or, with ..., remove) those of BASE_CALL.
HOSTILE_RECORDS: dict[str, dict[str, Any]] = {
    "calhuge": {"tag": MEGABYTE_TAG},
    "calstatus": {"status": "teleported", "channel": "carrier-pigeon"},
    "caldates": {"created": "yesterday-ish", "started": "Fri, 32 Apr 2017 13:01:37 +0000"},
    "caltypes": {"duration": "eighteen", "price": {"amount": 1}, "from": ["1"], "timeout": True},
    "calmissing": {"created": ..., "status": ..., "price": ..., "to": ..., "direction": ...},
    "calnulls": {"tag": None, "price": None, "ended": None},
    "calspelling": {"status": " COMPLETED ", "direction": "Outbound", "method": "post"},
    "calwritten": {"from": "+358 9 4241 7543", "to": "anonymous"},
    "calorder": {"started": "Fri, 21 Apr 2017 13:01:20 +0000"},  # before created
}
#: The fields that must warn (once each) when all the records above are parsed together.
WARNED_FIELDS = {"created", "started", "from", "to", "duration", "price", "timeout"}
WARNED_FIELDS |= {"setup_seconds"}


def hostile_record(sid: str) -> dict[str, Any]:
    """Return BASE_CALL with the replacements HOSTILE_RECORDS lists for ``sid``."""
    record = dict(BASE_CALL, call_sid=sid)
    for key, value in HOSTILE_RECORDS[sid].items():
        if value is ...:
            del record[key]
        else:
            record[key] = value
    return record


def serve_records(odd_server: Any) -> ap.Client:
    """Serve the hostile records as a history page and one by one; return a client."""
    records = [hostile_record(sid) for sid in HOSTILE_RECORDS]
    odd_server.json("/v2/accounts/acc1/calls", {"limit": 20, "next": None, "calls": records})
    for record in records:
        odd_server.json(f"/v2/accounts/acc1/calls/{record['call_sid']}", record)
    return ap.Client(account_sid="acc1", auth_token="tok", base_url=odd_server.url)


def warned_fields(seen: list[warnings.WarningMessage]) -> list[str]:
    """Assert only DataQualityWarnings were emitted; return the fields they name."""
    assert all(issubclass(w.category, DataQualityWarning) for w in seen), seen
    return sorted(str(w.message).split(":")[0] for w in seen)


@pytest.mark.parametrize("verb", ["fetch_calls", "fetch_history"])
def test_hostile_records_become_na_with_one_warning_per_field(
    odd_server: Any, verb: str, recwarn: pytest.WarningsRecorder
) -> None:
    client = serve_records(odd_server)
    sids = list(HOSTILE_RECORDS)

    def fetch(cache: bool) -> tuple[pd.DataFrame, list[warnings.WarningMessage]]:
        recwarn.clear()
        if verb == "fetch_calls":
            df = ap.fetch_calls(sids, client=client, progress=False, cache=cache)
        else:
            df = ap.fetch_history(client=client, progress=False, cache=cache)
        return df, list(recwarn)

    df, seen = fetch(cache=True)
    assert warned_fields(seen) == sorted(WARNED_FIELDS)
    assert df["call_sid"].tolist() == sids
    assert_schema(df)
    row = df.set_index("call_sid")

    def missing(sid: str, column: str) -> bool:
        return bool(pd.isna(cast(Any, row.loc[sid, column])))

    assert row.loc["calhuge", "tag"] == MEGABYTE_TAG
    assert row.loc["calstatus", "status"] == "teleported"  # kept, not dropped
    assert row.loc["calstatus", "channel"] == "carrier-pigeon"
    for column in ("created", "started", "setup_seconds"):
        assert missing("caldates", column), column
    for column in ("duration", "price", "from", "timeout"):
        assert missing("caltypes", column), column
    for column in ("created", "status", "price", "to", "direction", "is_final"):
        assert missing("calmissing", column), column
    assert row.loc["calnulls", "duration"] == 18
    spelled = row.loc["calspelling", ["status", "direction", "method"]].tolist()
    assert spelled == ["completed", "outbound", "POST"]
    assert row.loc["calwritten", "from"] == "358942417543"
    assert missing("calwritten", "to") and missing("calwritten", "destination_country")
    assert missing("calorder", "setup_seconds") and row.loc["calorder", "talk_seconds"] == 23
    # The same frame from the store and without it.
    again, _ = fetch(cache=True)
    plain, _ = fetch(cache=False)
    pd.testing.assert_frame_equal(again, df)
    pd.testing.assert_frame_equal(plain, df)


# -- bodies that are HTML or cut short -----------------------------------------------------------


def test_html_and_cut_bodies_in_a_batch_are_failure_rows_with_status_and_first_bytes(
    fault_sandbox: Any,
) -> None:
    client = fault_sandbox.client(backoff_factor=0)
    sids = list(fault_sandbox.call_sids[:6])
    for fault, start in (("html_rate", "<!DOCTYPE html>"), ("truncate_rate", '{"call_sid":')):
        fault_sandbox.set_faults(**{fault: 1.0})
        try:
            with pytest.warns(FetchFailuresWarning):
                df = ap.fetch_calls(sids, client=client, progress=False, cache=False)
        finally:
            fault_sandbox.set_faults()
        assert len(df) == 0
        failures = df.attrs["failures"]
        assert [f["call_sid"] for f in failures] == sids
        for failure in failures:
            assert failure["error"] == "ResponseFormatError"
            assert "HTTP 200" in failure["message"] and start in failure["message"]


def test_an_html_history_page_is_a_format_error_with_status_and_first_bytes(
    fault_sandbox: Any,
) -> None:
    client = fault_sandbox.client(backoff_factor=0)
    fault_sandbox.set_faults(html_rate=1.0)
    try:
        with pytest.raises(ResponseFormatError) as info:
            ap.fetch_history(client=client, progress=False)
    finally:
        fault_sandbox.set_faults()
    assert info.value.status_code == 200
    assert info.value.body_excerpt.startswith("<!DOCTYPE html>")
    assert "HTTP 200" in str(info.value) and "text/html" in str(info.value)


def test_an_html_error_page_is_a_status_error_with_its_first_bytes(fault_sandbox: Any) -> None:
    client = fault_sandbox.client(backoff_factor=0, max_retries=1)
    fault_sandbox.set_faults(html_rate=1.0, html_status=502)
    try:
        with pytest.raises(APIStatusError) as info:
            client.get_call(fault_sandbox.call_sids[0])
    finally:
        fault_sandbox.set_faults()
    assert info.value.status_code == 502
    assert info.value.body_excerpt.startswith("<!DOCTYPE html>")
    assert "HTTP 502" in str(info.value) and "502 Bad Gateway" in str(info.value)


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        (b"", "0 bytes"),
        (b"\xff\xfe\x00garbage\x80\x81", "garbage"),
        (b"[" * 100_000 + b"]" * 100_000, "[[[["),  # deeper than Python's recursion limit
        (b'{"call_sid": "cal1", ' + b'"tag": "' + b"y" * 5000, "yyyy"),
        (b"<html><body>Service Unavailable</body></html>", "Service Unavailable"),
    ],
    ids=["empty", "binary", "nested-too-deep", "cut-long", "html"],
)
def test_unparseable_bodies_are_format_errors(odd_server: Any, body: bytes, shown: str) -> None:
    odd_server.routes["/v2/accounts/acc1/calls/cal1"] = lambda _req: (200, {}, body)
    client = ap.Client(
        account_sid="acc1", auth_token="tok", base_url=odd_server.url, backoff_factor=0
    )
    with pytest.raises(ResponseFormatError) as info:
        client.get_call("cal1")
    err = info.value
    assert err.status_code == 200 and "HTTP 200" in str(err)
    assert shown in str(err) and f"{len(body)} bytes" in str(err)
    assert len(err.body_excerpt) <= 201
    assert len(str(err)) < 800  # a 200 kB body is not pasted into the message


@pytest.mark.parametrize(
    ("header", "retry_after"),
    [
        ("soon", None),
        ("-1", None),
        ("1" * 5000, None),  # int() refuses it; urllib3 let that ValueError escape
        ("0", 0.0),
        ("Mon, 01 Jan 1900 00:00:00 GMT", 0.0),
    ],
    ids=["word", "negative", "5000-digits", "zero", "past-date"],
)
def test_an_odd_retry_after_still_gives_a_rate_limited_error(
    odd_server: Any, header: str, retry_after: float | None
) -> None:
    """Retry-After is undocumented: what cannot be read means "back off as usual"."""
    body = b'{"status_code": 429, "status_message": "TOO MANY REQUESTS"}'
    odd_server.routes["/v2/accounts/acc1/calls/cal1"] = lambda _req: (
        429,
        {"Retry-After": header},
        body,
    )
    url = odd_server.url
    client = ap.Client(
        account_sid="acc1", auth_token="tok", base_url=url, max_retries=2, backoff_factor=0
    )
    with pytest.raises(RateLimitedError) as info:
        client.get_call("cal1")
    assert info.value.retry_after == retry_after
    assert len(odd_server.hits) == 3  # retried as usual, not given up on
    if retry_after is None:
        assert "wait a minute" in str(info.value)


@pytest.mark.parametrize(
    "link",
    ["http://[::1", "HTTP://[::1/x", "http://127.0.0.1:99999/v2/x", "http://h:port/x", "//[x"],
)
def test_a_next_link_that_is_no_url_is_a_format_error(odd_server: Any, link: str) -> None:
    page = {"limit": 20, "prev": None, "next": link, "calls": [{"call_sid": "cal1"}]}
    odd_server.json("/v2/accounts/acc1/calls", page)
    client = ap.Client(account_sid="acc1", auth_token="tok", base_url=odd_server.url)
    got: list[str] = []
    with pytest.raises(ResponseFormatError, match=r"not a valid URL|outside"):
        got.extend(call["call_sid"] for call in client.iter_calls())
    assert got == ["cal1"] and len(odd_server.hits) == 1


# -- hypothesis: generated records through the parser --------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
VALID_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "created": st.just(VENDOR_CALL["created"]),
    "started": st.just("Fri, 21 Apr 2017 13:01:37 +0200"),
    "ended": st.none() | st.just("Sun, 31 January 2016 10:15:35 +0000"),
    "from": st.from_regex(r"[1-9][0-9]{7,12}", fullmatch=True),
    "to": st.integers(10**7, 10**12),
    "direction": st.sampled_from(["inbound", "outbound", "sideways"]),
    "status": st.sampled_from(["completed", "busy", "queued", "teleported", " failed "]),
    "channel": st.sampled_from(["number", "viber", None]),
    "duration": st.integers(0, 10**5) | st.just("18"),
    "price": st.floats(0, 10) | st.just("0.0010"),
    "timeout": st.integers(0, 600),
    "tag": st.text(max_size=20),
}
#: A field holds a valid value, a JSON value of any type, or is missing.
FIELD = st.sampled_from(["valid", "junk", "missing"])


@st.composite
def wire_records(draw: st.DrawFn) -> dict[str, Any]:
    """A call object as the wire can carry it: every value JSON-representable."""
    record: dict[str, Any] = {"call_sid": "cal" + str(draw(st.uuids()))}
    for name, valid in VALID_VALUES.items():
        kind = draw(FIELD)
        if kind == "valid":
            record[name] = draw(valid)
        elif kind == "junk":
            record[name] = draw(JSON_VALUES)
    if draw(st.booleans()):
        record[draw(st.sampled_from(["region", "foo_sid", "x"]))] = draw(JSON_VALUES)
    return json.loads(json.dumps(record))  # exactly what json.loads of a body gives


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(wire_records(), max_size=10))
def test_generated_wire_records_never_crash_the_parser(records: list[dict[str, Any]]) -> None:
    built, findings = build_frame(records)
    assert len(built) == len(records)
    assert built["call_sid"].tolist() == [r["call_sid"] for r in records]
    assert_schema(built)
    assert {f.field for f in findings} <= set(KNOWN)
    if not findings:
        df = ap.calls_to_frame(records)  # pytest turns any warning into an error
    else:
        with pytest.warns(DataQualityWarning) as seen:
            df = ap.calls_to_frame(records)
        fields = warned_fields(list(seen))
        assert len(fields) == len(set(fields))  # one warning per field at most
        assert set(fields) == {f.field for f in findings}
    pd.testing.assert_frame_equal(df, built)


# -- hypothesis: generated response bodies through the client ------------------------------------


@dataclass
class Script:
    """A loopback server answering, for each path, what a hypothesis example scripted."""

    url: str = ""
    answers: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    #: The Authorization header of every request (None when there was none).
    auths: list[str | None] = field(default_factory=list)


def scripted_server() -> Iterator[Script]:
    """Serve a :class:`Script` from a thread until the generator is closed."""
    state = Script()

    @Request.application
    def app(request: Request) -> Response:
        state.hits.append(request.full_path)
        state.auths.append(request.headers.get("Authorization"))
        status, headers, body = state.answers.get(request.path, (404, {}, b'{"status_code": 404}'))
        response = Response(body, status=status)
        for key, value in headers.items():
            response.headers[key] = value
        return response

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def script() -> Iterator[Script]:
    """The API under test (module-scoped: hypothesis reuses it across examples)."""
    yield from scripted_server()


@pytest.fixture(scope="module")
def elsewhere() -> Iterator[Script]:
    """Another origin that links and redirects may point to: it never gets the credentials.

    (A ``next`` link to it is refused; a redirect to it is followed by requests, which drops
    the Authorization header on the way.)"""
    yield from scripted_server()


TOKEN = "0123456789abcdef0123456789abcdef"
BASIC = "Basic " + base64.b64encode(f"acc1:{TOKEN}".encode()).decode()
CALL_PATH = "/v2/accounts/acc1/calls/cal1"
HISTORY_PATH = "/v2/accounts/acc1/calls"
BODIES = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    wire_records().map(lambda r: json.dumps(r).encode()),
    st.sampled_from(
        [
            b"",
            b"null",
            b"NaN",
            b'{"call_sid": NaN}',
            b'{"a": 1e999999}',
            b'{"a": ' + b"9" * 5000 + b"}",
            b"[" * 50_000 + b"]" * 50_000,
            b"\xef\xbb\xbf{}",
            "{}".encode("utf-16"),
            b'{"call_sid": "cal1"',
        ]
    ),
)
HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
STATUSES = st.sampled_from(
    [
        200,
        200,
        200,
        201,
        203,
        204,
        206,
        301,
        302,
        303,
        307,
        308,
        400,
        401,
        403,
        404,
        409,
        410,
        418,
        429,
        500,
        502,
        503,
        504,
    ]
)


@st.composite
def headers(draw: st.DrawFn, locations: list[str]) -> dict[str, str]:
    """Draw response headers: content types, odd Retry-After values, redirects, encodings."""
    out: dict[str, str] = {}
    ctype = draw(
        st.sampled_from(
            [
                None,
                "application/json",
                "text/html",
                "text/plain; charset=latin-1",
                "application/json; charset=utf-16",
                "x/y",
            ]
        )
    )
    if ctype:
        out["Content-Type"] = ctype
    if draw(st.booleans()):
        out["Retry-After"] = draw(
            HEADER_TEXT
            | st.integers(0, 10**30).map(str)
            | st.sampled_from(
                [
                    "0",
                    "-1",
                    "Wed, 21 Oct 2015 07:28:00 GMT",
                    "Fri, 31 Dec 9999 23:59:59 GMT",
                    "1" * 5000,
                ]
            )
        )
    if draw(st.booleans()):
        out["Location"] = draw(st.sampled_from(locations) | HEADER_TEXT)
    if draw(st.integers(0, 9)) == 0:
        out["Content-Encoding"] = draw(st.sampled_from(["gzip", "deflate", "x-junk", "identity"]))
    return out


def script_client(script: Script) -> ap.Client:
    """Return a client of the scripted server that never waits long."""
    return ap.Client(
        account_sid="acc1",
        auth_token=TOKEN,
        base_url=script.url + "/v2",
        timeout=(2, 5),
        max_retries=1,
        backoff_factor=0,
        max_retry_wait=0.5,  # a generated Retry-After never makes an example wait long
    )


def other_links(script: Script, elsewhere: Script) -> list[str]:
    """Return links for next and Location: this server, another origin, junk."""
    return [
        script.url + CALL_PATH,
        script.url + HISTORY_PATH + "/p1",
        "/v2/accounts/acc1/calls/p1",
        "p1",
        elsewhere.url + CALL_PATH,
        elsewhere.url.replace("://", "://acc1:pw@") + HISTORY_PATH,
        "//" + elsewhere.url.split("://")[1] + HISTORY_PATH,
        "javascript:alert(1)",
        "http://[::1",
        "",
    ]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_generated_bodies_only_ever_raise_apifonica_errors(
    script: Script, elsewhere: Script, data: st.DataObject
) -> None:
    links = other_links(script, elsewhere)
    status = data.draw(STATUSES, label="status")
    answer = (status, data.draw(headers(links), label="headers"), data.draw(BODIES, label="body"))
    script.answers = {CALL_PATH: answer}
    try:
        call = script_client(script).get_call("cal1")
    except ApifonicaError as exc:
        assert TOKEN not in str(exc)
    else:
        assert isinstance(call, dict)
    assert BASIC not in elsewhere.auths


def envelopes(links: list[str]) -> st.SearchStrategy[bytes]:
    """A history page: mostly the envelope, with junk anywhere in it, or any body at all."""
    nexts = st.none() | st.sampled_from(links) | JSON_VALUES
    calls = st.lists(wire_records() | JSON_VALUES, max_size=4) | JSON_VALUES
    envelope = st.fixed_dictionaries(
        {"next": nexts, "calls": calls}, optional={"limit": JSON_VALUES, "prev": nexts}
    )
    return envelope.map(lambda e: json.dumps(e).encode()) | BODIES


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_generated_history_pages_only_ever_raise_apifonica_errors(
    script: Script, elsewhere: Script, data: st.DataObject
) -> None:
    links = other_links(script, elsewhere)
    pages = data.draw(st.lists(envelopes(links), min_size=1, max_size=3), label="pages")
    statuses = data.draw(st.lists(STATUSES, min_size=len(pages), max_size=len(pages)))
    answers = {}
    for i, (body, status) in enumerate(zip(pages, statuses, strict=True)):
        path = HISTORY_PATH if i == 0 else f"{HISTORY_PATH}/p{i}"
        answers[path] = (status, {"Content-Type": "application/json"}, body)
    script.answers = answers
    elsewhere.hits.clear()  # the other test's redirects may have been there
    try:
        for call in itertools.islice(script_client(script).iter_calls(), 500):
            assert isinstance(call, dict)
    except ApifonicaError as exc:
        assert TOKEN not in str(exc)
    assert elsewhere.hits == []  # no next link to another origin is followed
