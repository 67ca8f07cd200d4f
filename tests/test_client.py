"""The HTTP client against the sandbox (and a scripted loopback server for wire oddities)."""

from __future__ import annotations

import json
import math
import socket
import threading
from typing import Any

import pytest

import apifonica_nb as ap
from apifonica_nb.client import validate_call_sid
from apifonica_nb.errors import (
    ApifonicaError,
    APIStatusError,
    AuthenticationError,
    ConfigurationError,
    FetchCancelled,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    ResponseFormatError,
    TransportError,
)

VENDOR_EXAMPLE = {
    "created": "Fri, 21 Apr 2017 13:01:25 +0000",
    "from": "358942417543",
    "to": "312031550066",
    "direction": "outbound",
    "status": "completed",
    "controller": "http://apifonica.com/voicexml/getxml?xml_variant=welcome_to_apifonica",
    "method": "POST",
    "timeout": 15,
    "updated": "Fri, 21 Apr 2017 13:02:02 +0000",
    "started": "Fri, 21 Apr 2017 13:01:37 +0000",
    "ended": "Fri, 21 Apr 2017 13:01:43 +0000",
    "duration": 18,
    "price": 0.0294,
    "record_sid": "rec17cb9958-3878-4562-b6a7-f67a0adsfsdfd",
    "tag": "MyClient_1",
    "channel": "number",
}

HOSTILE_SIDS: list[Any] = [
    "",
    "   ",
    "../accounts",
    "cal/../../x",
    "%2e%2e%2f",
    "cal?x=1",
    "cal#frag",
    "cal\nabc",
    "cal\x00",
    "cal abc",
    "x" * 5000,
    123,
    None,
    b"calbytes",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fast(sb: Any, **kwargs: Any) -> ap.Client:
    """A client that retries without waiting, so fault tests are quick."""
    kwargs.setdefault("backoff_factor", 0)
    return sb.client(**kwargs)


# -- configuration and secrecy -------------------------------------------------------------------


def test_from_env_reads_environment_when_called(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigurationError, match="APIFONICA_ACCOUNT_SID and APIFONICA_AUTH_TOKEN"):
        ap.Client.from_env()
    monkeypatch.setenv("APIFONICA_ACCOUNT_SID", sandbox.account_sid)
    monkeypatch.setenv("APIFONICA_AUTH_TOKEN", sandbox.auth_token)
    monkeypatch.setenv("APIFONICA_BASE_URL", sandbox.url)
    client = ap.Client.from_env()
    assert client.account_sid == sandbox.account_sid
    assert client.base_url == sandbox.url
    assert client.get_call(sandbox.example_call_sid)["tag"] == "MyClient_1"


def test_empty_token_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="auth_token is empty"):
        ap.Client(account_sid="acc1", auth_token="  ")


# -- one call ------------------------------------------------------------------------------------


def test_get_call_returns_the_vendor_example(client: ap.Client, sandbox: Any) -> None:
    call = client.get_call(sandbox.example_call_sid)
    for key, value in VENDOR_EXAMPLE.items():
        assert call[key] == value, key
    assert call["call_sid"] == sandbox.example_call_sid
    assert call["account_sid"] == sandbox.account_sid


def test_unknown_call_is_not_found(client: ap.Client, sandbox: Any) -> None:
    with pytest.raises(NotFoundError) as info:
        client.get_call("cal00000000-0000-0000-0000-000000000000")
    err = info.value
    assert err.status_code == 404
    assert "cal00000000-0000-0000-0000-000000000000" in str(err)
    assert sandbox.account_sid in str(err)
    assert sandbox.auth_token not in str(err) + err.body_excerpt


def test_wrong_token_is_an_authentication_error(sandbox: Any) -> None:
    wrong = "wrong-token-value-1234"
    client = ap.Client(account_sid=sandbox.account_sid, auth_token=wrong, base_url=sandbox.url)
    with pytest.raises(AuthenticationError) as info:
        client.get_call(sandbox.example_call_sid)
    assert info.value.status_code == 401
    assert "auth token" in str(info.value)
    assert wrong not in str(info.value) and wrong not in repr(info.value)


@pytest.mark.parametrize("bad", HOSTILE_SIDS, ids=lambda v: repr(v)[:20])
def test_hostile_sid_is_refused_before_any_request(sandbox: Any, bad: Any) -> None:
    client = sandbox.client()
    before = sandbox.request_count
    with pytest.raises(InvalidRequestError):
        client.get_call(bad)
    assert sandbox.request_count == before


def test_valid_sid_is_stripped() -> None:
    assert validate_call_sid("  cal17cb9958-3878  \n") == "cal17cb9958-3878"


# -- history paging ------------------------------------------------------------------------------


def test_iter_calls_pages_through_everything_once(client: ap.Client, sandbox: Any) -> None:
    before = sandbox.request_count
    sids = [c["call_sid"] for c in client.iter_calls()]
    assert sids == list(sandbox.call_sids)
    assert len(set(sids)) == len(sids)
    assert sandbox.request_count - before == math.ceil(len(sids) / 20)


def test_iter_calls_sends_filters(client: ap.Client) -> None:
    calls = list(client.iter_calls(status=["busy", "failed"], direction="outbound"))
    assert calls, "the seeded account has busy/failed outbound calls"
    assert {c["status"] for c in calls} <= {"busy", "failed"}
    assert {c["direction"] for c in calls} == {"outbound"}


def _page(calls: list[dict[str, Any]], next_uri: str | None) -> dict[str, Any]:
    return {"limit": 20, "prev": None, "next": next_uri, "calls": calls}


@pytest.mark.parametrize(
    "style", ["absolute", "root-relative", "double-slash", "without-base-path", "relative"]
)
def test_next_links_are_followed_verbatim(odd_server: Any, style: str) -> None:
    base = odd_server.url  # http://127.0.0.1:PORT/v2
    second = {
        "absolute": f"{base}/accounts/acc1/page2?cursor=opaque",
        "root-relative": "/v2/accounts/acc1/page2?cursor=opaque",
        "double-slash": "//v2/accounts/acc1/page2?cursor=opaque",
        "without-base-path": "/accounts/acc1/page2?cursor=opaque",
        "relative": "page2?cursor=opaque",
    }[style]
    odd_server.json("/v2/accounts/acc1/calls", _page([{"call_sid": "cal1"}], second))
    odd_server.json("/v2/accounts/acc1/page2", _page([{"call_sid": "cal2"}], None))
    client = ap.Client(account_sid="acc1", auth_token="tok", base_url=base)
    assert [c["call_sid"] for c in client.iter_calls()] == ["cal1", "cal2"]
    assert odd_server.hits[-1] == "/v2/accounts/acc1/page2?cursor=opaque"


def test_repeated_next_is_an_error_not_a_loop(odd_server: Any) -> None:
    loop = f"{odd_server.url}/accounts/acc1/calls?next=7"
    odd_server.json("/v2/accounts/acc1/calls", _page([{"call_sid": "cal1"}], loop))
    client = ap.Client(account_sid="acc1", auth_token="tok", base_url=odd_server.url)
    with pytest.raises(ResponseFormatError, match="same next link twice") as info:
        list(client.iter_calls())
    assert "incomplete" in str(info.value)
    assert len(odd_server.hits) == 2  # first page, the cursor once; the repeat is refused


@pytest.mark.parametrize(
    "payload",
    [[1, 2], {"calls": "nope"}, {"limit": 20}, {"calls": [1]}],
    ids=["list", "calls-string", "no-calls", "call-not-object"],
)
def test_wrong_envelope_is_a_format_error(odd_server: Any, payload: Any) -> None:
    odd_server.json("/v2/accounts/acc1/calls", payload)
    client = ap.Client(account_sid="acc1", auth_token="tok", base_url=odd_server.url)
    with pytest.raises(ResponseFormatError):
        list(client.iter_calls())


# -- an answer is what it says, about the call asked for ----------------------------------------

ACC = "acc1"


def odd_client(odd_server: Any, **kwargs: Any) -> ap.Client:
    kwargs.setdefault("backoff_factor", 0)
    return ap.Client(account_sid=ACC, auth_token="tok", base_url=odd_server.url, **kwargs)


def serve_call(odd_server: Any, body: Any, status: int = 200, **headers: str) -> None:
    payload = json.dumps(body).encode()
    odd_server.routes["/v2/accounts/acc1/calls/cal1"] = lambda _req: (
        status,
        {"Content-Type": "application/json", **headers},
        payload,
    )


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (200, 404, NotFoundError),
        (200, "404", NotFoundError),
        (200, " 401 ", AuthenticationError),
        (200, 403, AuthenticationError),
        (200, 400, APIStatusError),
        (500, 404, NotFoundError),
    ],
)
def test_an_error_envelope_is_the_error_it_says(
    odd_server: Any, status: int, code: Any, error: type[APIStatusError]
) -> None:
    serve_call(odd_server, {"status_code": code, "status_message": "SAYS SO"}, status)
    with pytest.raises(error) as info:
        odd_client(odd_server).get_call("cal1")
    assert type(info.value) is error
    assert info.value.status_code == int(code)
    assert len(odd_server.hits) == 1  # none of these is worth another attempt
    if status == 200:
        assert "in its error envelope, with HTTP 200" in str(info.value)


def test_an_enveloped_5xx_or_429_is_retried_like_a_real_one(odd_server: Any) -> None:
    serve_call(odd_server, {"status_code": 503, "status_message": "SERVICE UNAVAILABLE"})
    with pytest.raises(APIStatusError) as info:
        odd_client(odd_server, max_retries=2).get_call("cal1")
    assert info.value.status_code == 503 and len(odd_server.hits) == 3
    odd_server.hits.clear()
    serve_call(odd_server, {"status_code": 429}, 200, **{"Retry-After": "3600"})
    with pytest.raises(RateLimitedError) as limited:
        odd_client(odd_server, max_retries=2).get_call("cal1")
    assert limited.value.retry_after == 3600 and len(odd_server.hits) == 1  # beyond the budget


@pytest.mark.parametrize(
    "body",
    [{"status_code": 200, "status_message": "OK"}, {"status_code": 999}, {"status_code": True}],
    ids=["200", "999", "bool"],
)
def test_a_body_that_is_no_error_envelope_and_no_call_is_a_format_error(
    odd_server: Any, body: Any
) -> None:
    serve_call(odd_server, body)
    with pytest.raises(ResponseFormatError, match="no call_sid"):
        odd_client(odd_server).get_call("cal1")


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"call_sid": "cal2", "account_sid": ACC}, "answered call 'cal2' when call cal1"),
        ({"account_sid": ACC, "status": "completed"}, "no call_sid"),
        ({"call_sid": "", "account_sid": ACC}, "no call_sid"),
        ({"call_sid": 1, "account_sid": ACC}, "no call_sid"),
        ({"call_sid": "cal1", "account_sid": "acc2"}, "belongs to account 'acc2'"),
    ],
    ids=["other-call", "no-sid", "empty-sid", "number-sid", "other-account"],
)
def test_a_body_about_another_call_or_account_is_a_format_error(
    odd_server: Any, body: dict[str, Any], match: str
) -> None:
    serve_call(odd_server, body)
    with pytest.raises(ResponseFormatError, match=match):
        odd_client(odd_server).get_call("cal1")


def test_a_call_without_account_sid_is_taken(odd_server: Any) -> None:
    serve_call(odd_server, {"call_sid": "cal1", "account_sid": None, "status": "busy"})
    assert odd_client(odd_server).get_call("cal1")["status"] == "busy"


@pytest.mark.parametrize(
    "item",
    [{"call_sid": "cal2", "account_sid": "acc2"}, {"status": "completed"}, {"call_sid": None}],
    ids=["other-account", "no-sid", "null-sid"],
)
def test_a_history_item_that_is_no_call_of_this_account_is_a_format_error(
    odd_server: Any, item: dict[str, Any]
) -> None:
    odd_server.json("/v2/accounts/acc1/calls", _page([{"call_sid": "cal1"}, item], None))
    with pytest.raises(ResponseFormatError):
        list(odd_client(odd_server).iter_calls())


def test_an_error_envelope_in_a_history_page_is_the_error_it_says(odd_server: Any) -> None:
    odd_server.json("/v2/accounts/acc1/calls", {"status_code": 401, "status_message": "NO"})
    with pytest.raises(AuthenticationError):
        list(odd_client(odd_server).iter_calls())


def test_argument_mistakes_are_value_and_type_errors(client: ap.Client) -> None:
    with pytest.raises(TypeError):
        client.get_call(123)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        client.get_call("../x")
    with pytest.raises(InvalidRequestError, match="workers"):
        client.get_calls(["cal1"], workers=0)
    with pytest.raises(ConfigurationError, match="max_retries"):
        ap.Client(account_sid=ACC, auth_token="tok", max_retries=-1)


# -- failures and retries ------------------------------------------------------------------------


def test_5xx_is_retried_then_reported(fault_sandbox: Any) -> None:
    fault_sandbox.faults = {"error_rate": 1.0}
    client = fast(fault_sandbox, max_retries=3)
    before = fault_sandbox.request_count
    with pytest.raises(APIStatusError) as info:
        client.get_call(fault_sandbox.call_sids[0])
    assert info.value.status_code in (500, 502, 503)
    assert "server error" in str(info.value)
    assert fault_sandbox.request_count - before == 4


def test_5xx_then_success_is_transparent(fault_sandbox: Any) -> None:
    fault_sandbox.faults = {"error_rate": 0.5}
    client = fast(fault_sandbox, max_retries=10)
    sids = fault_sandbox.call_sids[:30]
    batch = client.get_calls(sids, progress=False)
    assert [r["call_sid"] for r in batch.records] == list(sids)
    assert batch.failures == []


def test_429_waits_as_asked_on_the_cancel_event(fault_sandbox: Any) -> None:
    """Retry-After within the budget is waited for, and the wait is cut short by a cancel:
    one request, no retry sent while it waited."""
    fault_sandbox.faults = {"rate_limit_rate": 1.0, "retry_after": 30}
    client = fast(fault_sandbox, max_retries=5, max_retry_wait=60)
    cancel = threading.Event()
    fault_sandbox.reset_request_count()
    threading.Timer(0.3, cancel.set).start()
    with pytest.raises(FetchCancelled):
        client.get_call(fault_sandbox.call_sids[0], cancel=cancel)
    assert fault_sandbox.request_count == 1


def test_429_that_keeps_coming_is_a_rate_limited_error(fault_sandbox: Any) -> None:
    fault_sandbox.faults = {"rate_limit_rate": 1.0, "retry_after": 0}
    fault_sandbox.reset_request_count()
    with pytest.raises(RateLimitedError) as info:
        fast(fault_sandbox, max_retries=2).get_call(fault_sandbox.call_sids[0])
    assert fault_sandbox.request_count == 3
    assert info.value.status_code == 429
    assert info.value.retry_after == 0
    assert "wait 0 s" in str(info.value)


def test_retry_after_beyond_budget_fails_at_once(fault_sandbox: Any) -> None:
    fault_sandbox.faults = {"rate_limit_rate": 1.0, "retry_after": 3600}
    client = fast(fault_sandbox, max_retries=5, max_retry_wait=30)
    before = fault_sandbox.request_count
    with pytest.raises(RateLimitedError) as info:
        client.get_call(fault_sandbox.call_sids[0])
    assert fault_sandbox.request_count - before == 1
    assert info.value.retry_after == pytest.approx(3600, abs=1)
    assert "3600 s" in str(info.value)


def test_retry_after_as_http_date(fault_sandbox: Any) -> None:
    fault_sandbox.faults = {"rate_limit_rate": 1.0, "retry_after": 1, "retry_after_http_date": True}
    client = fast(fault_sandbox, max_retries=0)
    with pytest.raises(RateLimitedError) as info:
        client.get_call(fault_sandbox.call_sids[0])
    assert info.value.retry_after is not None and 0 <= info.value.retry_after <= 2


def test_timeout_becomes_transport_error(fault_sandbox: Any) -> None:
    fault_sandbox.faults = {"hang_rate": 1.0, "hang_seconds": 3}
    client = fast(fault_sandbox, max_retries=1, timeout=(1, 0.3))
    fault_sandbox.reset_request_count()
    with pytest.raises(TransportError, match="timed out") as info:
        client.get_call(fault_sandbox.call_sids[0])
    assert "timeout=" in str(info.value) and "2 attempts" in str(info.value)
    assert fault_sandbox.request_count == 2


def test_dropped_connection_becomes_transport_error(fault_sandbox: Any) -> None:
    fault_sandbox.faults = {"drop_rate": 1.0}
    client = fast(fault_sandbox, max_retries=2)
    before = fault_sandbox.request_count
    with pytest.raises(TransportError, match="after 3 attempts"):
        client.get_call(fault_sandbox.call_sids[0])
    assert fault_sandbox.request_count - before == 3


def test_truncated_body_is_a_format_error_after_the_same_budget(fault_sandbox: Any) -> None:
    fault_sandbox.faults = {"truncate_rate": 1.0}
    fault_sandbox.reset_request_count()
    with pytest.raises(ResponseFormatError) as info:
        fast(fault_sandbox, max_retries=3).get_call(fault_sandbox.call_sids[0])
    assert fault_sandbox.request_count == 4
    assert info.value.status_code == 200
    assert info.value.body_excerpt.startswith("{")
    assert "not valid JSON" in str(info.value) and "4 times in a row" in str(info.value)


def test_faults_of_every_kind_share_one_budget(fault_sandbox: Any) -> None:
    """5xx, 429, dropped connections and cut bodies all count against the same attempts."""
    fault_sandbox.faults = {
        "error_rate": 0.25,
        "rate_limit_rate": 0.25,
        "retry_after": 0,
        "drop_rate": 0.25,
        "truncate_rate": 0.25,
    }
    client = fast(fault_sandbox, max_retries=4)
    fault_sandbox.reset_request_count()
    for sid in fault_sandbox.call_sids[:5]:
        with pytest.raises(ApifonicaError):
            client.get_call(sid)
    assert fault_sandbox.request_count == 5 * 5


def test_html_body_shows_status_and_first_bytes(fault_sandbox: Any) -> None:
    fault_sandbox.faults = {"html_rate": 1.0}
    with pytest.raises(ResponseFormatError) as info:
        fast(fault_sandbox, max_retries=0).get_call(fault_sandbox.call_sids[0])
    assert "<" in info.value.body_excerpt
    assert f"HTTP {info.value.status_code}" in str(info.value)


def test_dead_server_is_a_transport_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v2"
    client = ap.Client(account_sid="acc1", auth_token="tok", base_url=url, max_retries=1,
                       backoff_factor=0)  # fmt: skip
    with pytest.raises(TransportError, match="Could not get an answer"):
        client.get_call("cal1")
