"""The HTTP client against the sandbox (and a scripted loopback server for wire oddities)."""

from __future__ import annotations

import logging
import math
import socket
import time
from typing import Any

import pytest

import apifonica_nb as ap
from apifonica_nb.client import CallBatch, validate_call_sid
from apifonica_nb.errors import (
    APIStatusError,
    AuthenticationError,
    ConfigurationError,
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


def test_repr_and_errors_hide_the_token(sandbox: Any) -> None:
    client = sandbox.client()
    assert "auth_token='***'" in repr(client)
    assert sandbox.auth_token not in repr(client)
    assert sandbox.auth_token not in str(client)
    assert sandbox.auth_token not in repr(sandbox)


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


@pytest.mark.parametrize(
    "url",
    ["http://api.apifonica.com/v2", "http://10.0.0.5/v2", "ftp://127.0.0.1/v2", "not a url"],
)
def test_unsafe_base_url_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError):
        ap.Client(account_sid="acc1", auth_token="t0ken", base_url=url)


@pytest.mark.parametrize(
    "url", ["https://api.apifonica.com/v2", "http://127.0.0.1:9/v2", "http://localhost:9/v2"]
)
def test_https_or_loopback_base_url_is_accepted(url: str) -> None:
    assert ap.Client(account_sid="acc1", auth_token="t0ken", base_url=url).base_url == url


def test_credentials_inside_base_url_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="must not carry credentials"):
        ap.Client(account_sid="acc1", auth_token="x", base_url="https://u:p@api.apifonica.com/v2")


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
    origin = base.rsplit("/v2", 1)[0]
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
    assert origin.startswith("http://127.0.0.1")


def test_repeated_next_is_an_error_not_a_loop(odd_server: Any) -> None:
    loop = f"{odd_server.url}/accounts/acc1/calls?next=7"
    odd_server.json("/v2/accounts/acc1/calls", _page([{"call_sid": "cal1"}], loop))
    client = ap.Client(account_sid="acc1", auth_token="tok", base_url=odd_server.url)
    with pytest.raises(ResponseFormatError, match="same next link twice"):
        list(client.iter_calls())
    assert len(odd_server.hits) == 2  # first page, the cursor once; the repeat is refused


def test_next_to_another_host_never_gets_the_credentials(odd_server: Any) -> None:
    other_port = free_port()
    foreign = f"http://127.0.0.2:{other_port}/v2/accounts/acc1/calls?next=2"
    odd_server.json("/v2/accounts/acc1/calls", _page([{"call_sid": "cal1"}], foreign))
    client = ap.Client(account_sid="acc1", auth_token="tok", base_url=odd_server.url)
    seen: list[str] = []
    with pytest.raises(ResponseFormatError, match="Refusing to send the account's credentials"):
        for call in client.iter_calls():
            seen.append(call["call_sid"])
    assert seen == ["cal1"]
    assert len(odd_server.hits) == 1


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


# -- batches -------------------------------------------------------------------------------------


def test_get_calls_keeps_input_order_and_reports_failures(client: ap.Client, sandbox: Any) -> None:
    sids = list(sandbox.call_sids[:40])[::-1]
    missing = "cal00000000-dead-beef-0000-000000000000"
    asked = [sids[0], missing, *sids[1:], "../evil", sids[3], 42]
    batch = client.get_calls(asked, workers=8, progress=False)
    assert isinstance(batch, CallBatch)
    assert [r["call_sid"] for r in batch.records] == sids  # order kept, duplicate fetched once
    by_sid = {f["call_sid"]: f for f in batch.failures}
    assert set(by_sid) == {missing, "../evil", "42"}
    assert by_sid[missing]["error"] == "NotFoundError"
    assert by_sid["../evil"]["error"] == "InvalidRequestError"
    assert all(set(f) == {"call_sid", "error", "message"} for f in batch.failures)


def test_get_calls_calls_on_record_for_each_record(client: ap.Client, sandbox: Any) -> None:
    got: list[str] = []
    batch = client.get_calls(
        sandbox.call_sids[:25], progress=False, on_record=lambda r: got.append(r["call_sid"])
    )
    assert sorted(got) == sorted(r["call_sid"] for r in batch.records)
    assert len(got) == 25


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


def test_429_honours_retry_after_then_gives_up(fault_sandbox: Any) -> None:
    fault_sandbox.faults = {"rate_limit_rate": 1.0, "retry_after": 1}
    client = fast(fault_sandbox, max_retries=1)
    started = time.monotonic()
    with pytest.raises(RateLimitedError) as info:
        client.get_call(fault_sandbox.call_sids[0])
    assert time.monotonic() - started >= 1.0  # it waited as asked, once
    assert info.value.status_code == 429
    assert info.value.retry_after == pytest.approx(1.0)
    assert "wait 1 s" in str(info.value)


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
    started = time.monotonic()
    with pytest.raises(TransportError, match="timed out") as info:
        client.get_call(fault_sandbox.call_sids[0])
    assert time.monotonic() - started < 2.5
    assert "timeout=" in str(info.value)


def test_dropped_connection_becomes_transport_error(fault_sandbox: Any) -> None:
    fault_sandbox.faults = {"drop_rate": 1.0}
    client = fast(fault_sandbox, max_retries=2)
    before = fault_sandbox.request_count
    with pytest.raises(TransportError, match="after 3 attempts"):
        client.get_call(fault_sandbox.call_sids[0])
    assert fault_sandbox.request_count - before == 3


def test_truncated_body_is_a_format_error(fault_sandbox: Any) -> None:
    fault_sandbox.faults = {"truncate_rate": 1.0}
    with pytest.raises(ResponseFormatError) as info:
        fault_sandbox.client().get_call(fault_sandbox.call_sids[0])
    assert info.value.status_code == 200
    assert info.value.body_excerpt.startswith("{")
    assert "not valid JSON" in str(info.value)


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


def test_debug_logs_never_hold_the_token(
    fault_sandbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fault_sandbox.faults = {"error_rate": 0.5}
    caplog.set_level(logging.DEBUG)
    client = fast(fault_sandbox, max_retries=6)
    client.get_calls(fault_sandbox.call_sids[:10], progress=False)
    fault_sandbox.faults = {}
    with pytest.raises(NotFoundError):
        client.get_call("calmissing")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "apifonica" in text.lower() or "GET" in text
    assert fault_sandbox.auth_token not in text
