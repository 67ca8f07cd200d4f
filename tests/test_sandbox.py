"""The API simulator, checked over HTTP with plain requests (never through apifonica_nb.Client)."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import phonenumbers
import pytest
import requests

from apifonica_nb import sandbox
from apifonica_nb.sandbox.burst import PREMIUM_COUNTRY, burst_size
from apifonica_nb.sandbox.data import EXAMPLE_CALL, FINAL_STATUSES, STATUSES
from apifonica_nb.sandbox.generate import generate_account
from apifonica_nb.sandbox.server import normalize_faults

NOW = "2025-06-02T12:00:00+00:00"
CALLS = 300
FIELDS = {
    "call_sid",
    "parent_call_sid",
    "created",
    "account_sid",
    "from",
    "to",
    "direction",
    "status",
    "controller",
    "method",
    "timeout",
    "updated",
    "started",
    "ended",
    "duration",
    "price",
    "record_sid",
    "tag",
    "channel",
    "number_sid",
}
DATE_FIELDS = ("created", "updated", "started", "ended")
RFC2822 = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} \+0000"
)
LIFECYCLE = ("queued", "initiated", "ringing", "answered", "modified", "completed")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sb() -> Iterator[sandbox.Sandbox]:
    """One seeded sandbox with a frozen clock for the read-only tests of this module."""
    with sandbox.running(calls=CALLS, seed=7, now=NOW) as handle:
        yield handle


@pytest.fixture
def api(sb: sandbox.Sandbox) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.auth = (sb.account_sid, sb.auth_token)
        yield session


@pytest.fixture(scope="module")
def history(sb: sandbox.Sandbox) -> list[dict[str, Any]]:
    """Every call of the account, newest first, fetched by paging with the default limit."""
    return _page_all(sb, f"{sb.url}/accounts/{sb.account_sid}/calls")


@pytest.fixture
def faulty() -> Iterator[sandbox.Sandbox]:
    """A small sandbox of the test's own, to set faults and latency on."""
    with sandbox.running(calls=40, seed=3, now=NOW) as handle:
        yield handle


def _page_all(
    sb: sandbox.Sandbox, url: str, params: dict[str, str] | None = None, key: str = "calls"
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    with requests.Session() as session:
        session.auth = (sb.account_sid, sb.auth_token)
        response = session.get(url, params=params)
        while True:
            assert response.status_code == 200, response.text
            page = response.json()
            assert set(page) == {"limit", "prev", "next", key}
            assert len(page[key]) <= page["limit"] <= 20
            items.extend(page[key])
            if page["next"] is None:
                return items
            assert page["next"] not in seen, "the server repeated a next link"
            seen.add(page["next"])
            response = session.get(page["next"])


def _calls_url(sb: sandbox.Sandbox, call_sid: str = "") -> str:
    return f"{sb.url}/accounts/{sb.account_sid}/calls" + (f"/{call_sid}" if call_sid else "")


def _epoch(rfc2822: str) -> float:
    return email.utils.parsedate_to_datetime(rfc2822).timestamp()


# -- the documented call object ----------------------------------------------------------------


def test_vendor_curl_example_returns_the_documented_call(sb: sandbox.Sandbox) -> None:
    # curl -X GET {base}/accounts/{accountSID}/calls/{callSID} -u {accountSID}:{authToken}
    response = requests.get(
        _calls_url(sb, sb.example_call_sid), auth=(sb.account_sid, sb.auth_token)
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    call = response.json()
    assert set(call) == FIELDS
    for name in DATE_FIELDS:
        assert RFC2822.fullmatch(call[name]), call[name]
    assert {k: call[k] for k in EXAMPLE_CALL} == EXAMPLE_CALL
    assert call["call_sid"] == call["parent_call_sid"] == sb.example_call_sid
    assert call["account_sid"] == sb.account_sid
    assert call["price"] == 0.0294 and call["duration"] == 18
    assert sb.call_sids[-1] == sb.example_call_sid  # the oldest call


def test_every_call_is_well_typed(history: list[dict[str, Any]], sb: sandbox.Sandbox) -> None:
    assert [c["call_sid"] for c in history] == sb.call_sids
    for call in history:
        assert set(call) == FIELDS
        for name in DATE_FIELDS:
            assert call[name] is None or RFC2822.fullmatch(call[name]), call
        assert call["status"] in STATUSES
        assert call["direction"] in ("inbound", "outbound")
        assert call["channel"] in ("number", "viber")
        assert call["method"] in ("GET", "POST")
        assert isinstance(call["timeout"], int) and 15 <= call["timeout"] <= 60
        assert call["duration"] is None or isinstance(call["duration"], int)
        assert call["price"] is None or isinstance(call["price"], float)
        assert re.fullmatch(r"cal[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", call["call_sid"])
        assert call["number_sid"].startswith("num")
        assert call["from"].isdigit() and call["to"].isdigit()


def test_calls_are_realistic(history: list[dict[str, Any]], sb: sandbox.Sandbox) -> None:
    anchor = dt.datetime.fromisoformat(NOW).timestamp()
    sids = set(sb.call_sids)
    regions: Counter[str] = Counter()
    externals = set()
    for call in history[:-1]:  # the vendor's example is verbatim (its 'to' is not a valid number)
        for number in (call["from"], call["to"]):
            parsed = phonenumbers.parse("+" + number)
            assert phonenumbers.is_valid_number(parsed), number
        external = call["to"] if call["direction"] == "outbound" else call["from"]
        regions[str(phonenumbers.region_code_for_number(phonenumbers.parse("+" + external)))] += 1
        externals.add(external)
        created = _epoch(call["created"])
        assert anchor - 31 * 86400 <= created <= anchor
        if call["status"] in FINAL_STATUSES:
            assert created <= _epoch(call["ended"]) <= _epoch(call["updated"]) <= anchor
            if call["status"] == "completed":
                started = _epoch(call["started"])
                assert created < started < _epoch(call["ended"])
                assert started - created <= 40
                assert call["duration"] == _epoch(call["ended"]) - created  # as in the example
                assert call["price"] > 0
            else:
                assert call["started"] is None and call["duration"] == 0 and call["price"] == 0
        if call["parent_call_sid"] is not None:
            assert call["parent_call_sid"] in sids and call["parent_call_sid"] != call["call_sid"]
    assert len(regions) >= 10
    statuses = Counter(c["status"] for c in history)
    assert 0.55 <= statuses["completed"] / len(history) <= 0.8
    assert sum(statuses[s] for s in LIFECYCLE[:5]) >= 3  # calls in progress
    assert 0.6 <= sum(c["direction"] == "outbound" for c in history) / len(history) <= 0.8
    assert 0.05 <= sum(c["channel"] == "viber" for c in history) / len(history) <= 0.25
    assert 0.05 <= sum(c["parent_call_sid"] is not None for c in history) / len(history) <= 0.15
    # Almost every call to another number, but the fraud night's, which call three numbers.
    fraud = regions[PREMIUM_COUNTRY]
    assert 0 < fraud < 0.1 * len(history)
    assert len(externals) > 0.95 * (len(history) - 1 - fraud)


def test_generated_data_depends_on_seed_and_size_only() -> None:
    anchor = 1_750_000_000
    a = generate_account(calls=1000, seed=5, anchor=anchor)
    b = generate_account(calls=1000, seed=5, anchor=anchor)
    c = generate_account(calls=1000, seed=6, anchor=anchor)
    assert a.call_json == b.call_json and a.call_sids == b.call_sids
    assert a.call_sids != c.call_sids and a.account_sid != c.account_sid
    assert len(a.call_sids) == len(set(a.call_sids)) == 1000 + burst_size(1000)
    assert np.all(np.diff(a.created) <= 0)
    with pytest.raises(ValueError, match="at least 1"):
        generate_account(calls=0, seed=5, anchor=anchor)
    tiny = generate_account(calls=1, seed=5, anchor=anchor)
    assert tiny.call_sids == [tiny.example_call_sid]


def test_account_object(sb: sandbox.Sandbox, api: requests.Session) -> None:
    account = api.get(f"{sb.url}/accounts/{sb.account_sid}").json()
    assert set(account) == {"account_sid", "name", "status", "token", "created", "updated", "type"}
    assert account["account_sid"] == sb.account_sid
    assert account["token"] == sb.auth_token  # the real API includes it too
    assert (account["status"], account["type"]) == ("active", "master")
    assert RFC2822.fullmatch(account["created"]) and RFC2822.fullmatch(account["updated"])


# -- auth and errors ---------------------------------------------------------------------------


def test_auth_is_required_and_wrong_parts_are_indistinguishable(sb: sandbox.Sandbox) -> None:
    url = _calls_url(sb, sb.example_call_sid)
    missing = requests.get(url)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Basic")
    wrong_token = requests.get(url, auth=(sb.account_sid, "0" * 32))
    wrong_sid = requests.get(url, auth=("acc" + "0" * 32, sb.auth_token))
    garbage = requests.get(url, headers={"Authorization": "Basic !!!"})
    for response in (wrong_token, wrong_sid, garbage):
        assert response.status_code == 401
        assert response.content == wrong_token.content == missing.content
    body = missing.json()
    assert body["status_code"] == 401 and body["status_message"] == "UNAUTHORIZED"
    assert sb.auth_token not in missing.text


def test_unknown_call_and_other_account_are_404(sb: sandbox.Sandbox, api: requests.Session) -> None:
    response = api.get(_calls_url(sb, "cal00000000-0000-4000-8000-000000000000"))
    assert response.status_code == 404
    assert response.json() == {
        "status_code": 404,
        "status_message": "NOT FOUND",
        "message": (
            f"Call cal00000000-0000-4000-8000-000000000000 was not found in account "
            f"{sb.account_sid}"
        ),
    }
    other = api.get(f"{sb.url}/accounts/acc00000000-0000-4000-8000-000000000000/calls")
    assert other.status_code == 404 and other.json()["status_message"] == "NOT FOUND"
    assert api.get(f"{sb.url}/nothing/here").status_code == 404


def test_only_reads_are_allowed(sb: sandbox.Sandbox, api: requests.Session) -> None:
    # POST .../calls places a call (tests/test_placed_calls.py); everything else is read-only.
    response = api.post(_calls_url(sb, sb.example_call_sid), json={"from": "1", "to": "2"})
    assert response.status_code == 405
    assert response.json()["status_message"] == "METHOD NOT ALLOWED"
    assert "GET" in response.headers["Allow"]
    head = api.head(_calls_url(sb, sb.example_call_sid))
    assert head.status_code == 200 and head.content == b""


# -- paging and filters ------------------------------------------------------------------------


def test_paging_visits_every_call_once_newest_first(sb: sandbox.Sandbox) -> None:
    with requests.Session() as api:
        api.auth = (sb.account_sid, sb.auth_token)
        first = api.get(_calls_url(sb)).json()
        assert first["prev"] is None and first["limit"] == 20 and len(first["calls"]) == 20
        assert re.fullmatch(re.escape(_calls_url(sb)) + r"\?next=\d+", first["next"])
        second = api.get(first["next"]).json()
        assert second["prev"] is not None
        assert api.get(second["prev"]).json()["calls"] == first["calls"]
    calls = _page_all(sb, _calls_url(sb), {"limit": "7"})
    assert [c["call_sid"] for c in calls] == sb.call_sids
    created = [_epoch(c["created"]) for c in calls]
    assert created == sorted(created, reverse=True)


def test_limit_is_capped_at_20_and_validated(sb: sandbox.Sandbox, api: requests.Session) -> None:
    for asked, got in (("100", 20), ("20", 20), ("5", 5), ("1", 1)):
        page = api.get(_calls_url(sb), params={"limit": asked}).json()
        assert page["limit"] == got and len(page["calls"]) == got
    for bad in ("0", "-1", "abc", "2.5"):
        response = api.get(_calls_url(sb), params={"limit": bad})
        assert response.status_code == 400, bad
        assert response.json()["status_message"] == "BAD REQUEST"


def test_unknown_cursor_is_400(sb: sandbox.Sandbox, api: requests.Session) -> None:
    for cursor in ("999999999", "abc"):
        response = api.get(_calls_url(sb), params={"next": cursor})
        assert response.status_code == 400
        assert "cursor" in response.json()["message"]


@pytest.mark.parametrize(
    "params",
    [
        {"status": "completed"},
        {"status": "busy,no_answer"},
        {"status": "answered"},
        {"direction": "inbound"},
        {"channel": "viber"},
        {"tag": "support"},
        {"status": "completed", "direction": "outbound", "channel": "number", "tag": "sales"},
        {"status": "sideways"},
        {"unknown_param": "x", "direction": "outbound"},
    ],
)
def test_filters_return_exactly_the_matching_calls(
    sb: sandbox.Sandbox, history: list[dict[str, Any]], params: dict[str, str]
) -> None:
    def matches(call: dict[str, Any]) -> bool:
        for key, value in params.items():
            if key == "status" and call["status"] not in value.split(","):
                return False
            if key in ("direction", "channel", "tag") and call[key] != value:
                return False
        return True

    got = [c["call_sid"] for c in _page_all(sb, _calls_url(sb), params)]
    assert got == [c["call_sid"] for c in history if matches(c)]


def test_from_and_to_filters(sb: sandbox.Sandbox, history: list[dict[str, Any]]) -> None:
    own = Counter(c["from"] for c in history if c["direction"] == "outbound").most_common(1)[0][0]
    for key, value in (("from", own), ("to", history[3]["to"]), ("from", "+" + own)):
        got = [c["call_sid"] for c in _page_all(sb, _calls_url(sb), {key: value})]
        expected = [c["call_sid"] for c in history if c[key] == value.lstrip("+")]
        assert got == expected and got


def test_date_filters_are_inclusive_utc_days(
    sb: sandbox.Sandbox, history: list[dict[str, Any]], api: requests.Session
) -> None:
    day = email.utils.parsedate_to_datetime(history[40]["created"]).date()

    def on(call: dict[str, Any], lo: dt.date | None, hi: dt.date | None) -> bool:
        d = email.utils.parsedate_to_datetime(call["created"]).date()
        return (lo is None or d >= lo) and (hi is None or d <= hi)

    before = day - dt.timedelta(days=2)
    for lo, hi in ((day, day), (before, day), (day, None), (None, before)):
        params = {k: v.isoformat() for k, v in (("date_from", lo), ("date_to", hi)) if v}
        got = [c["call_sid"] for c in _page_all(sb, _calls_url(sb), params)]
        assert got == [c["call_sid"] for c in history if on(c, lo, hi)]
        assert got
    upside_down = {"date_from": day.isoformat(), "date_to": before.isoformat()}
    assert api.get(_calls_url(sb), params=upside_down).json()["calls"] == []
    for bad in ("2025-13-01", "2025-6-1", "yesterday", "2025-02-30"):
        response = api.get(_calls_url(sb), params={"date_from": bad})
        assert response.status_code == 400, bad
        assert "YYYY-MM-DD" in response.json()["message"]


def test_recordings_list_the_recorded_calls(
    sb: sandbox.Sandbox, history: list[dict[str, Any]], api: requests.Session
) -> None:
    recordings = _page_all(sb, f"{sb.url}/accounts/{sb.account_sid}/recordings", key="recordings")
    recorded = {c["record_sid"]: c["call_sid"] for c in history if c["record_sid"]}
    assert {r["record_sid"]: r["call_sid"] for r in recordings} == recorded
    one = recordings[0]
    assert set(one) == {
        *("record_sid", "call_sid", "call_created", "account_sid", "from", "to", "number_sid"),
        *("direction", "record_created", "size", "price", "exp_date", "rec_url"),
    }
    assert one["size"] > 0 and one["price"] > 0
    assert (
        api.get(f"{sb.url}/accounts/{sb.account_sid}/recordings/{one['record_sid']}").json() == one
    )
    wav = api.get(one["rec_url"])
    assert wav.headers["Content-Type"] == "audio/wav" and wav.content.startswith(b"RIFF")
    assert api.get(f"{sb.url}/accounts/{sb.account_sid}/recordings/recnope").status_code == 404


# -- clock -------------------------------------------------------------------------------------


def test_frozen_clock_gives_identical_data(sb: sandbox.Sandbox, api: requests.Session) -> None:
    with sandbox.running(calls=CALLS, seed=7, now=NOW) as twin:
        assert (twin.account_sid, twin.auth_token) == (sb.account_sid, sb.auth_token)
        assert twin.call_sids == sb.call_sids
        with requests.Session() as other:
            other.auth = (twin.account_sid, twin.auth_token)
            for sid in sb.call_sids[:25]:
                assert (
                    other.get(_calls_url(twin, sid)).content == api.get(_calls_url(sb, sid)).content
                )
    with sandbox.running(calls=CALLS, seed=8, now=NOW) as stranger:
        assert stranger.account_sid != sb.account_sid
        assert set(stranger.call_sids).isdisjoint(sb.call_sids)


def test_live_call_moves_through_its_lifecycle_as_the_clock_moves() -> None:
    with sandbox.running(calls=120, seed=7, now=NOW) as sb, requests.Session() as api:
        api.auth = (sb.account_sid, sb.auth_token)
        newest = sb.call_sids[0]
        created = _epoch(api.get(_calls_url(sb, newest)).json()["created"])
        seen: list[dict[str, Any]] = []
        for offset in range(1500):
            sb.now = dt.datetime.fromtimestamp(created + offset, dt.UTC)
            call = api.get(_calls_url(sb, newest)).json()
            if not seen or seen[-1]["status"] != call["status"]:
                seen.append(call)
            if call["status"] == "completed":
                break
        statuses = [c["status"] for c in seen]
        assert statuses[0] == "queued" and statuses[-1] == "completed"
        assert statuses == sorted(statuses, key=LIFECYCLE.index)
        assert {"initiated", "ringing", "answered"} <= set(statuses)
        for call in seen[:-1]:
            assert call["started"] is call["ended"] is call["duration"] is call["price"] is None
        done = seen[-1]
        ended = _epoch(done["ended"])
        assert done["duration"] == ended - created and done["started"] is not None
        assert done["price"] is None  # billing lags the end of the call ...
        sb.now = dt.datetime.fromtimestamp(ended + 61, dt.UTC)
        billed = api.get(_calls_url(sb, newest)).json()
        assert isinstance(billed["price"], float) and billed["price"] > 0  # ... by at most 60 s
        assert _epoch(billed["updated"]) > ended
        # A status filter sees the status at the time of the request.
        assert newest in [
            c["call_sid"] for c in _page_all(sb, _calls_url(sb), {"status": "completed"})
        ]
        in_progress = [s for s in sb.call_sids[:10] if s != newest]
        sb.now = NOW
        statuses_now = {api.get(_calls_url(sb, s)).json()["status"] for s in in_progress}
        assert "modified" in statuses_now


def test_real_clock_moves_live_calls() -> None:
    with sandbox.running(calls=50, seed=7) as sb, requests.Session() as api:
        api.auth = (sb.account_sid, sb.auth_token)
        assert abs(sb.now.timestamp() - time.time()) < 5
        first = api.get(_calls_url(sb, sb.call_sids[0])).json()["status"]
        assert first in ("queued", "initiated", "ringing")
        deadline = time.monotonic() + 4
        status = first
        while status == first and time.monotonic() < deadline:
            time.sleep(0.2)
            status = api.get(_calls_url(sb, sb.call_sids[0])).json()["status"]
        assert LIFECYCLE.index(status) > LIFECYCLE.index(first)


# -- handle ------------------------------------------------------------------------------------


def test_request_count_counts_every_request(sb: sandbox.Sandbox) -> None:
    sb.reset_request_count()
    assert sb.request_count == 0
    requests.get(_calls_url(sb, sb.example_call_sid))  # 401
    requests.get(_calls_url(sb, "calnope"), auth=(sb.account_sid, sb.auth_token))  # 404
    requests.get(_calls_url(sb, sb.example_call_sid), auth=(sb.account_sid, sb.auth_token))
    assert sb.request_count == 3


def test_repr_hides_the_token(sb: sandbox.Sandbox) -> None:
    for text in (repr(sb), str(sb)):
        assert sb.auth_token not in text
        assert "auth_token='***'" in text and sb.account_sid in text


def test_keep_alive_reuses_the_connection(sb: sandbox.Sandbox) -> None:
    host, port = sb.url.split("//")[1].split("/")[0].split(":")
    auth = "Basic " + base64.b64encode(f"{sb.account_sid}:{sb.auth_token}".encode()).decode()
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.connect()
        sock = conn.sock
        for sid in sb.call_sids[:3]:
            conn.request(
                "GET", f"/v2/accounts/{sb.account_sid}/calls/{sid}", headers={"Authorization": auth}
            )
            response = conn.getresponse()
            assert json.loads(response.read())["call_sid"] == sid
            assert conn.sock is sock  # http.client drops the socket when the server closes
    finally:
        conn.close()


def test_stop_frees_the_port_and_is_idempotent() -> None:
    sb = sandbox.start(calls=20, now=NOW)
    port = int(sb.url.rsplit(":", 1)[1].split("/")[0])
    with requests.Session() as api:  # an idle keep-alive connection must not hold the port
        assert api.get(_calls_url(sb, sb.example_call_sid), auth=(sb.account_sid, sb.auth_token)).ok
        sb.stop()
        sb.stop()
        assert "stopped" in repr(sb)
        with pytest.raises(requests.ConnectionError):
            api.get(_calls_url(sb, sb.example_call_sid), timeout=2)
    with sandbox.running(calls=20, now=NOW, port=port) as again:
        assert again.url == sb.url
    busy = socket.create_server(("127.0.0.1", 0))
    try:
        with pytest.raises(OSError):
            sandbox.start(calls=20, port=busy.getsockname()[1])
    finally:
        busy.close()


@pytest.mark.slow
def test_process_mode(tmp_path: Path) -> None:
    with sandbox.running(calls=100, seed=7, now=NOW, process=True) as sb:
        assert sb.process and sb.pid != 0
        with requests.Session() as api:
            api.auth = (sb.account_sid, sb.auth_token)
            call = api.get(_calls_url(sb, sb.example_call_sid)).json()
            assert call["call_sid"] == sb.example_call_sid and call["price"] == 0.0294
            assert sb.request_count == 1
            sb.set_faults(error_rate=1.0)
            assert sb.faults == {"error_rate": 1.0}
            assert api.get(_calls_url(sb, sb.example_call_sid)).status_code in (500, 502, 503)
            sb.faults = None
            sb.latency = 0.05
            assert sb.latency == 0.05
            sb.now = "2025-06-03T00:00:00Z"
            assert sb.now == dt.datetime(2025, 6, 3, tzinfo=dt.UTC)
            assert api.get(_calls_url(sb, sb.call_sids[0])).json()["status"] == "completed"
            sb.reset_request_count()
            assert sb.request_count == 0
        with sandbox.running(calls=100, seed=7, now=NOW) as local:
            assert local.call_sids == sb.call_sids and local.auth_token == sb.auth_token
        pid = sb.pid
    with pytest.raises(ProcessLookupError):  # stopped and reaped
        os.kill(pid, 0)


def test_credential_overrides() -> None:
    with sandbox.running(calls=20, account_sid="accmine", auth_token="sekrit", now=NOW) as sb:
        assert (sb.account_sid, sb.auth_token) == ("accmine", "sekrit")
        assert requests.get(_calls_url(sb, sb.example_call_sid), auth=("accmine", "sekrit")).ok


# -- faults and latency ------------------------------------------------------------------------


def test_error_fault(faulty: sandbox.Sandbox) -> None:
    faulty.set_faults(error_rate=1.0)
    statuses = set()
    for _ in range(12):
        response = requests.get(_calls_url(faulty, faulty.example_call_sid))
        statuses.add(response.status_code)
        assert response.json()["status_code"] == response.status_code
    assert statuses <= {500, 502, 503} and len(statuses) >= 2
    faulty.set_faults()
    assert requests.get(_calls_url(faulty), auth=(faulty.account_sid, faulty.auth_token)).ok


def test_rate_limit_fault_sends_retry_after(faulty: sandbox.Sandbox) -> None:
    faulty.set_faults(rate_limit_rate=1.0, retry_after=3)
    response = requests.get(_calls_url(faulty), auth=(faulty.account_sid, faulty.auth_token))
    assert response.status_code == 429 and response.headers["Retry-After"] == "3"
    assert response.json()["status_message"] == "TOO MANY REQUESTS"
    faulty.set_faults(rate_limit_rate=1.0, retry_after=30, retry_after_http_date=True)
    response = requests.get(_calls_url(faulty))
    when = email.utils.parsedate_to_datetime(response.headers["Retry-After"]).timestamp()
    assert 25 <= when - time.time() <= 35


def test_drop_fault_closes_the_connection_without_a_response(faulty: sandbox.Sandbox) -> None:
    faulty.set_faults(drop_rate=1.0)
    with requests.Session() as api:
        for _ in range(3):
            with pytest.raises(requests.ConnectionError):
                api.get(_calls_url(faulty), auth=(faulty.account_sid, faulty.auth_token))
    faulty.set_faults()
    assert requests.get(_calls_url(faulty), auth=(faulty.account_sid, faulty.auth_token)).ok


def test_truncate_fault_cuts_the_body_short(faulty: sandbox.Sandbox) -> None:
    faulty.set_faults(truncate_rate=1.0)
    url = _calls_url(faulty, faulty.example_call_sid)
    response = requests.get(url, auth=(faulty.account_sid, faulty.auth_token))
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == len(response.content) > 0
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    faulty.set_faults()
    full = requests.get(url, auth=(faulty.account_sid, faulty.auth_token)).content
    assert full.startswith(response.content) and len(full) > len(response.content)


def test_html_fault(faulty: sandbox.Sandbox) -> None:
    faulty.set_faults(html_rate=1.0)
    response = requests.get(_calls_url(faulty))
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    assert response.text.startswith("<!DOCTYPE html>")
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    faulty.set_faults(html_rate=1.0, html_status=502)
    assert requests.get(_calls_url(faulty)).status_code == 502


def test_hang_fault_times_clients_out_and_never_blocks_stop() -> None:
    sb = sandbox.start(calls=20, now=NOW, faults={"hang_rate": 1.0, "hang_seconds": 60})
    try:
        started = time.monotonic()
        with pytest.raises(requests.ReadTimeout):
            requests.get(_calls_url(sb), timeout=(2, 0.3))
        assert time.monotonic() - started < 5
        errors: list[BaseException] = []

        def hang() -> None:
            try:
                requests.get(_calls_url(sb), timeout=30)
            except requests.RequestException as exc:
                errors.append(exc)

        waiting = threading.Thread(target=hang)
        waiting.start()
        time.sleep(0.3)
    finally:
        started = time.monotonic()
        sb.stop()
        assert time.monotonic() - started < 3
    waiting.join(timeout=5)
    assert not waiting.is_alive() and isinstance(errors[0], requests.ConnectionError)


def test_faults_spare_the_admin_endpoint(faulty: sandbox.Sandbox) -> None:
    faulty.set_faults(drop_rate=1.0)
    assert faulty.faults == {"drop_rate": 1.0}
    state_url = faulty.url.removesuffix("/v2") + "/_sandbox/state"
    state = requests.get(state_url, auth=(faulty.account_sid, faulty.auth_token)).json()
    assert state["faults"] == {"drop_rate": 1.0} and state["frozen"] is True
    assert requests.get(state_url).status_code == 401


def test_fault_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        normalize_faults({"eror_rate": 0.1})
    with pytest.raises(ValueError, match="between 0 and 1"):
        normalize_faults({"drop_rate": 2})
    with pytest.raises(ValueError, match="more than 1"):
        normalize_faults({"drop_rate": 0.6, "error_rate": 0.6})
    for bad in (-1, 20, 2.5, True, "3"):
        with pytest.raises(ValueError, match="arrivals_per_page"):
            normalize_faults({"arrivals_per_page": bad})


def test_arrivals_make_pages_overlap_like_an_offset_cursor(faulty: sandbox.Sandbox) -> None:
    """New calls arriving at the head between two requests: with an offset cursor, the last
    calls of a page slide onto the top of the next one."""
    faulty.set_faults(arrivals_per_page=3)
    with requests.Session() as api:
        api.auth = (faulty.account_sid, faulty.auth_token)
        first = api.get(_calls_url(faulty)).json()
        second = api.get(first["next"]).json()
    assert [c["call_sid"] for c in second["calls"][:3]] == [
        c["call_sid"] for c in first["calls"][-3:]
    ]
    listed = [c["call_sid"] for c in _page_all(faulty, _calls_url(faulty))]
    assert listed != faulty.call_sids and list(dict.fromkeys(listed)) == faulty.call_sids
    pages = -(-(len(faulty.call_sids) - 3) // 17)  # each page moves the offset on by 20 - 3
    assert len(listed) == len(faulty.call_sids) + 3 * (pages - 1)
    short = _page_all(faulty, _calls_url(faulty), {"limit": "2"})  # at most limit - 1 again
    assert [c["call_sid"] for c in short] == [s for s in faulty.call_sids for _ in (0, 1)][1:-1]
    faulty.set_faults()
    assert [c["call_sid"] for c in _page_all(faulty, _calls_url(faulty))] == faulty.call_sids


def test_fault_rates_are_shares_of_requests() -> None:
    faults = {"error_rate": 0.3, "rate_limit_rate": 0.2}
    with sandbox.running(calls=20, now=NOW, faults=faults) as sb, requests.Session() as api:
        api.auth = (sb.account_sid, sb.auth_token)
        codes = Counter(
            api.get(_calls_url(sb, sb.example_call_sid)).status_code for _ in range(300)
        )
    assert 60 <= sum(codes[c] for c in (500, 502, 503)) <= 120
    assert 35 <= codes[429] <= 85
    assert set(codes) <= {200, 429, 500, 502, 503}


def test_latency_is_honoured(faulty: sandbox.Sandbox) -> None:
    faulty.latency = 0.2
    assert faulty.latency == 0.2
    started = time.perf_counter()
    requests.get(_calls_url(faulty, faulty.example_call_sid))
    assert time.perf_counter() - started >= 0.2
    with pytest.raises(ValueError):
        faulty.latency = -1


# -- command line ------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "apifonica_nb.sandbox", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cli_json_line() -> None:
    proc = _cli("--json", "--port", "0", "--calls", "50", "--now", NOW)
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert {"url", "account_sid", "auth_token", "call_sids", "example_call_sid"} <= set(info)
        assert len(info["call_sids"]) == 50
        url = f"{info['url']}/accounts/{info['account_sid']}/calls/{info['example_call_sid']}"
        assert (
            requests.get(url, auth=(info["account_sid"], info["auth_token"])).json()["duration"]
            == 18
        )
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "Traceback" not in err


def test_cli_human_output_and_clean_ctrl_c() -> None:
    proc = _cli("--port", "0", "--calls", "30", "--now", NOW)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(6)]
        text = "".join(lines)
        assert "base URL" in text and "account SID" in text and "curl -u acc" in text
        assert "Ctrl-C" in lines[-1]
        curl = next(line for line in lines if "curl -u" in line).split()
        user, password = curl[curl.index("-u") + 1].split(":")
        assert requests.get(curl[-1], auth=(user, password)).json()["price"] == 0.0294
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0 and "Traceback" not in err and "stopped" in out
