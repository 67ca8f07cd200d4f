"""The fetch verbs' control knobs, over the sandbox: progress, cancel, fail fast, warn=.

No wall-clock assertions: a cancel is checked by the sandbox's request count (it stops
growing once the verb has returned), a fail-fast stop by how few requests it cost.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

import apifonica_nb as ap
from apifonica_nb.client import Progress
from apifonica_nb.connect import DEMO_NOW
from apifonica_nb.errors import AuthenticationError, FetchFailuresWarning, RateLimitedError


@pytest.fixture
def slow_sandbox() -> Iterator[Any]:
    with ap.sandbox.running(calls=200, seed=21, now=DEMO_NOW) as sb:
        yield sb


def _settles(sb: Any) -> int:
    """The request count once requests already sent have reached the server."""
    before = -1
    while before != sb.request_count:
        before = sb.request_count
        time.sleep(max(sb.latency, 0.05) + 0.2)
    return before


def test_on_progress_counts_up_to_the_total(client: ap.Client, sandbox: Any) -> None:
    seen: list[Progress] = []
    sids = sandbox.call_sids[:30]
    df = ap.fetch_calls(sids, client=client, cache=False, on_progress=seen.append)
    assert len(df) == 30
    assert all(isinstance(p, Progress) for p in seen)
    assert seen[-1].done == 30 and seen[-1].total == 30
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    assert df.attrs["cancelled"] is False


def test_history_progress_reports_pages(client: ap.Client) -> None:
    seen: list[Progress] = []
    df = ap.fetch_history(client=client, cache=False, workers=1, on_progress=seen.append)
    assert seen and seen[-1].done == len(df) and seen[-1].total is None


@pytest.mark.slow
@pytest.mark.parametrize("verb", ["calls", "history-sequential", "history-windows"])
def test_cancel_returns_the_partial_frame_and_sends_nothing_after(
    slow_sandbox: Any, verb: str
) -> None:
    sb = slow_sandbox
    sb.latency = 0.5
    client = sb.client()
    cancel = threading.Event()
    timer = threading.Timer(1.6, cancel.set)
    timer.start()
    try:
        if verb == "calls":
            df = ap.fetch_calls(sb.call_sids, client=client, cache=False, cancel=cancel, workers=4)
        else:
            workers = 1 if verb == "history-sequential" else 4
            df = ap.fetch_history(client=client, cache=False, cancel=cancel, workers=workers)
    finally:
        timer.cancel()
    returned = sb.request_count
    assert df.attrs["cancelled"] is True
    assert 0 < len(df) < 200
    assert df["call_sid"].is_unique
    # Requests in flight when the verb returned may still arrive; nothing new is started.
    assert _settles(sb) <= returned + 4


def test_a_wrong_token_stops_a_batch_at_once(sandbox: Any) -> None:
    client = ap.Client(account_sid=sandbox.account_sid, auth_token="wrong", base_url=sandbox.url)
    before = sandbox.request_count
    with pytest.raises(AuthenticationError) as caught:
        ap.fetch_calls(sandbox.call_sids, client=client, cache=False, workers=4)
    assert sandbox.request_count - before <= 8  # the ones in flight, not 300
    frame = caught.value.frame
    assert isinstance(frame, pd.DataFrame) and len(frame) == 0
    assert ".frame" in str(caught.value)


def test_a_wrong_token_stops_a_history(sandbox: Any) -> None:
    client = ap.Client(account_sid=sandbox.account_sid, auth_token="wrong", base_url=sandbox.url)
    with pytest.raises(AuthenticationError) as caught:
        ap.fetch_history(client=client, cache=False)
    assert caught.value.frame is not None and len(caught.value.frame) == 0


def test_an_over_budget_429_stops_with_what_was_fetched(fault_sandbox: Any) -> None:
    sb = fault_sandbox
    client = sb.client()
    first = ap.fetch_calls(sb.call_sids[:5], client=client, cache=True)
    assert len(first) == 5
    sb.set_faults(rate_limit_rate=1.0, retry_after=3600)
    with pytest.raises(RateLimitedError) as caught:
        ap.fetch_calls(sb.call_sids[:20], client=sb.client(max_retry_wait=5), workers=2)
    frame = caught.value.frame
    assert frame is not None and ".frame" in str(caught.value)
    # What the store had of the first run is in it, each call once; nothing else was fetched.
    assert 0 < len(frame) <= 5
    assert frame["call_sid"].isin(first["call_sid"]).all() and frame["call_sid"].is_unique


def test_warn_false_keeps_the_warnings_in_attrs(client: ap.Client, sandbox: Any) -> None:
    sids = [*sandbox.call_sids[:3], "calDoesNotExist"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = ap.fetch_calls(sids, client=client, cache=False, warn=False)
    assert not caught
    assert len(df) == 3 and len(df.attrs["failures"]) == 1
    assert any("could not be fetched" in text for text in df.attrs["warnings"])
    with pytest.warns(FetchFailuresWarning):
        again = ap.fetch_calls(sids, client=client, cache=False)
    assert again.attrs["warnings"] == df.attrs["warnings"]


def test_failures_cost_nothing_to_copy(client: ap.Client) -> None:
    sids = [f"cal{i:05d}-nope" for i in range(40)]
    with pytest.warns(FetchFailuresWarning):
        df = ap.fetch_calls(sids, client=client, cache=False)
    failures = df.attrs["failures"]
    assert df.head().attrs["failures"] is failures  # not deep-copied by pandas
    combined = pd.concat([df, df])
    assert list(combined.attrs.get("failures", failures)) == list(failures)
    assert pd.DataFrame(failures)["error"].eq("NotFoundError").all()
