"""Batches (``Client.get_calls``): order, failures, the one retry budget, failing fast, cancel.

Every figure here is a count of sandbox requests, never a wall-clock time.
"""

from __future__ import annotations

import _thread
import copy
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

import apifonica_nb as ap
from apifonica_nb.client import CallBatch, Failures, Progress
from apifonica_nb.connect import DEMO_NOW
from apifonica_nb.errors import (
    APIStatusError,
    AuthenticationError,
    FetchCancelled,
    RateLimitedError,
)

# -- what a batch returns ------------------------------------------------------------------------


def test_get_calls_keeps_input_order_and_reports_failures(client: ap.Client, sandbox: Any) -> None:
    sids = list(sandbox.call_sids[:40])[::-1]
    missing = "cal00000000-dead-beef-0000-000000000000"
    asked = [sids[0], missing, *sids[1:], "../evil", sids[3], 42]
    batch = client.get_calls(asked, workers=8, progress=False)
    assert isinstance(batch, CallBatch) and batch.cancelled is False
    assert [r["call_sid"] for r in batch.records] == sids  # order kept, duplicate fetched once
    assert isinstance(batch.failures, Failures)
    assert [f["call_sid"] for f in batch.failures] == ["../evil", "42", missing]  # invalid first
    by_sid = {f["call_sid"]: f for f in batch.failures}
    assert by_sid[missing]["error"] == "NotFoundError"
    assert by_sid["../evil"]["error"] == "InvalidRequestError"
    assert all(set(f) == {"call_sid", "error", "message"} for f in batch.failures)


def test_on_record_and_on_progress_run_in_the_calling_thread(
    client: ap.Client, sandbox: Any
) -> None:
    caller = threading.get_ident()
    records: list[str] = []
    seen: list[Progress] = []
    threads: set[int] = set()

    def on_record(record: dict[str, Any]) -> None:
        threads.add(threading.get_ident())
        records.append(record["call_sid"])

    def on_progress(progress: Progress) -> None:
        threads.add(threading.get_ident())
        seen.append(progress)

    asked = [*sandbox.call_sids[:25], "calnothere", "../x"]
    batch = client.get_calls(asked, progress=False, on_record=on_record, on_progress=on_progress)
    assert threads == {caller}
    assert sorted(records) == sorted(r["call_sid"] for r in batch.records)  # as they came
    assert len(records) == 25
    assert all(isinstance(p, Progress) for p in seen)
    assert seen[0] == Progress(1, 27, cached=0, failed=1)  # the invalid SID is settled at once
    assert seen[-1]._replace(rate=None) == Progress(27, 27, cached=0, failed=2)
    assert seen[-1].rate is not None and seen[-1].rate > 0  # requests per second, now
    assert [p.done for p in seen] == sorted(p.done for p in seen)


def test_the_pool_grows_to_the_workers(sandbox: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Sixteen workers, sixteen pooled connections: urllib3 never discards one as 'full'."""
    client = sandbox.client()
    with caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"):
        batch = client.get_calls(sandbox.call_sids[:120], workers=16, progress=False)
        client.ensure_pool(4)  # never shrinks
        client.get_calls(sandbox.call_sids[120:240], workers=16, progress=False)
    assert len(batch.records) == 120
    assert "pool is full" not in caplog.text


# -- Failures: plain data that costs pandas nothing to copy --------------------------------------


def test_failures_are_an_immutable_tuple_of_plain_dicts() -> None:
    rows = [{"call_sid": f"cal{i}", "error": "NotFoundError", "message": "m"} for i in range(3)]
    failures = Failures(rows)
    assert isinstance(failures, tuple) and all(type(f) is dict for f in failures)
    assert failures == rows and failures == tuple(rows) and rows == failures
    assert failures != rows[:2] and Failures() == []
    assert copy.deepcopy(failures) is failures and copy.copy(failures) is failures
    with pytest.raises(TypeError):
        failures[0] = {}  # type: ignore[index]
    assert json.loads(json.dumps(failures)) == rows
    assert pd.DataFrame(failures)["call_sid"].tolist() == ["cal0", "cal1", "cal2"]
    assert [*rows, *failures] == rows * 2 and (rows + failures) == rows * 2
    assert CallBatch([], rows).failures == failures  # a list given is made a Failures


def test_frames_carrying_failures_concat_and_copy_cheaply() -> None:
    failures = Failures({"call_sid": f"cal{i}", "error": "E", "message": "m"} for i in range(5000))
    one = pd.DataFrame({"a": [1, 2]})
    two = pd.DataFrame({"a": [3]})
    one.attrs["failures"] = failures
    two.attrs["failures"] = Failures(list(failures))  # equal, not the same object
    both = pd.concat([one, two])
    assert both.attrs["failures"] == failures
    assert one.head().attrs["failures"] is failures  # copied by reference, not deep-copied


# -- the one retry budget, pinned ----------------------------------------------------------------


def test_the_worst_case_is_what_the_client_docstring_says() -> None:
    """6 requests and at most 17 s of waiting for one call with the defaults (the worst case
    is written in the client module's docstring, which the Client docstring points to)."""
    from apifonica_nb.client import _client

    doc = " ".join((_client.__doc__ or "").split())
    client = ap.Client(account_sid="acc1", auth_token="tok")
    assert client.max_retries + 1 == 6 and "**6 requests**" in doc
    assert "at most **6 N requests**" in doc
    assert client._transport.worst_wait() == 17.0 and "**15–17 s**" in doc
    quick = ap.Client(account_sid="acc1", auth_token="tok", backoff_factor=0)
    assert quick._transport.worst_wait() == 0.0


def test_a_call_that_always_fails_costs_one_budget_alone_and_in_a_batch(fault_sandbox: Any) -> None:
    fault_sandbox.faults = {"error_rate": 1.0}
    client = fault_sandbox.client(backoff_factor=0)  # max_retries=5, the default
    fault_sandbox.reset_request_count()
    with pytest.raises(APIStatusError):
        client.get_call(fault_sandbox.call_sids[0])
    assert fault_sandbox.request_count == 6
    fault_sandbox.reset_request_count()
    n = 12
    batch = client.get_calls(fault_sandbox.call_sids[:n], workers=4, progress=False)
    assert fault_sandbox.request_count == 6 * n  # no second pass on top of the budget
    assert batch.records == [] and len(batch.failures) == n
    assert {f["error"] for f in batch.failures} == {"APIStatusError"}


# -- fail fast -----------------------------------------------------------------------------------


def test_a_wrong_token_stops_a_batch_of_300_at_the_first_answers(sandbox: Any) -> None:
    bad = ap.Client(
        account_sid=sandbox.account_sid, auth_token="0badc0ffee0badc0ffee", base_url=sandbox.url
    )
    sids = list(sandbox.call_sids[:300])
    before = sandbox.request_count
    with pytest.raises(AuthenticationError) as info:
        bad.get_calls(sids, workers=8, progress=False)
    batch = info.value.batch
    assert isinstance(batch, CallBatch) and batch.records == []
    assert [f["error"] for f in batch.failures] == ["AuthenticationError"]
    assert ".batch" in str(info.value)
    time.sleep(0.3)  # requests sent before the raise may reach the server a little later
    assert 1 <= sandbox.request_count - before <= 8  # those already in flight, nothing more


def test_a_429_beyond_the_budget_stops_the_batch_with_what_came(fault_sandbox: Any) -> None:
    client = fault_sandbox.client(max_retry_wait=30, backoff_factor=0)
    sids = list(fault_sandbox.call_sids[:40])
    fault_sandbox.faults = {"rate_limit_rate": 1.0, "retry_after": 3600}
    fault_sandbox.reset_request_count()
    with pytest.raises(RateLimitedError) as info:
        client.get_calls(sids, workers=4, progress=False)
    time.sleep(0.3)  # let any request sent before the raise reach the counter
    assert 1 <= fault_sandbox.request_count <= 4
    assert info.value.retry_after == 3600 and "wait 3600 s" in str(info.value)
    batch = info.value.batch
    assert batch is not None and batch.records == [] and not batch.cancelled
    assert {f["error"] for f in batch.failures} == {"RateLimitedError"}


def test_a_body_for_another_call_is_a_failure_row_not_a_record(odd_server: Any) -> None:
    odd_server.json("/v2/accounts/acc1/calls/cal1", {"call_sid": "cal1", "account_sid": "acc1"})
    odd_server.json("/v2/accounts/acc1/calls/cal2", {"call_sid": "cal1", "account_sid": "acc1"})
    odd_server.json("/v2/accounts/acc1/calls/cal3", {"call_sid": "cal3", "account_sid": "acc9"})
    odd_server.json("/v2/accounts/acc1/calls/cal4", {"status_code": 404, "status_message": "NF"})
    client = ap.Client(account_sid="acc1", auth_token="tok", base_url=odd_server.url)
    batch = client.get_calls(["cal1", "cal2", "cal3", "cal4"], progress=False)
    assert [r["call_sid"] for r in batch.records] == ["cal1"]
    assert [(f["call_sid"], f["error"]) for f in batch.failures] == [
        ("cal2", "ResponseFormatError"),
        ("cal3", "ResponseFormatError"),
        ("cal4", "NotFoundError"),
    ]


# -- cancel and Ctrl-C at any latency ------------------------------------------------------------


@pytest.fixture
def slow_sandbox() -> Iterator[Any]:
    """A sandbox that takes 1 s to answer each request."""
    with ap.sandbox.running(calls=60, seed=11, now=DEMO_NOW, latency=1.0) as sb:
        yield sb


def settles(sb: Any, most: int) -> int:
    """Wait until every request sent has reached the server and been answered (latency 1 s),
    and check there are no more than the ``most`` that can have been in flight at the return
    (on a loaded machine a request sent before the return may reach the server after it)."""
    time.sleep(1.3)
    count = sb.request_count
    assert count <= most, "a request was sent after the method returned"
    return count


@pytest.mark.slow
@pytest.mark.parametrize("how", ["cancel", "ctrl-c"])
def test_a_cancelled_batch_returns_at_once_and_sends_nothing_more(
    slow_sandbox: Any, how: str
) -> None:
    client = slow_sandbox.client()
    cancel = threading.Event()
    fire = cancel.set if how == "cancel" else _thread.interrupt_main
    slow_sandbox.reset_request_count()
    threading.Timer(0.3, fire).start()
    batch = client.get_calls(slow_sandbox.call_sids, workers=4, progress=False, cancel=cancel)
    returned_at = slow_sandbox.request_count
    assert batch.cancelled is True
    # Returned before the server answered one request: none came back, at most 4 were sent.
    assert batch.records == [] and batch.failures == [] and returned_at <= 4
    settles(slow_sandbox, 4)


@pytest.mark.slow
def test_get_call_and_iter_calls_raise_when_cancelled(slow_sandbox: Any) -> None:
    client = slow_sandbox.client()
    slow_sandbox.reset_request_count()
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    with pytest.raises(FetchCancelled):
        client.get_call(slow_sandbox.call_sids[0], cancel=cancel)
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    with pytest.raises(FetchCancelled):
        list(client.iter_calls(cancel=cancel))
    assert slow_sandbox.request_count <= 2  # returned before either was answered
    sent = settles(slow_sandbox, 2)
    slow_sandbox.latency = 0.0
    with pytest.raises(FetchCancelled):  # already set: not one request
        client.get_call(slow_sandbox.call_sids[0], cancel=cancel)
    assert slow_sandbox.request_count == sent


@pytest.mark.slow
def test_ctrl_c_in_iter_calls_is_a_keyboard_interrupt_that_stops_the_worker(
    slow_sandbox: Any,
) -> None:
    client = slow_sandbox.client()
    slow_sandbox.reset_request_count()
    threading.Timer(0.3, _thread.interrupt_main).start()
    with pytest.raises(KeyboardInterrupt):
        list(client.iter_calls())
    assert slow_sandbox.request_count == 1
    settles(slow_sandbox, 1)
