"""Reliability against failing servers: a fault soak, a server that dies or stops answering,
rate limits beyond the budget, and history links that repeat or lead to another host.

The soak runs the issue's fault mix (10% 5xx, 5% 429, 2% dropped connections, 1% bodies cut
short) over a 1,000-SID batch and a 1,500-call history, and checks that nothing is lost or
doubled and that no call costs more requests than its one retry budget. Run with ``-s`` to
see the figures (times are printed, never asserted).
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

import apifonica_nb as ap
from apifonica_nb.cache import CallStore, settled_mask
from apifonica_nb.connect import DEMO_NOW
from apifonica_nb.errors import (
    ApifonicaError,
    FetchFailuresWarning,
    RateLimitedError,
    ResponseFormatError,
    TransportError,
)

SOAK_CALLS = 1500
BATCH = 1000
WORKERS = 8
MAX_RETRIES = 5
BACKOFF = 0.01
SOAK_FAULTS: dict[str, Any] = {
    "error_rate": 0.10,
    "rate_limit_rate": 0.05,
    "retry_after": 0,  # the sandbox accepts 0: the test needs the 429s, not the waiting
    "drop_rate": 0.02,
    "truncate_rate": 0.01,
}
#: What a failure row may say after the faults above (never NotFound, never invalid).
TRANSIENT_ERRORS = {"TransportError", "APIStatusError", "RateLimitedError", "ResponseFormatError"}


# -- helpers -------------------------------------------------------------------------------------


@contextlib.contextmanager
def faults(sb: Any, **settings: Any) -> Iterator[None]:
    """Set faults on a sandbox for a block, then clear them whatever happens."""
    sb.set_faults(**settings)
    try:
        yield
    finally:
        sb.set_faults()


def soak_client(sb: Any, **kwargs: Any) -> ap.Client:
    """Return a sandbox client with the soak's retry policy (small backoff, 5 retries)."""
    kwargs.setdefault("backoff_factor", BACKOFF)
    kwargs.setdefault("max_retries", MAX_RETRIES)
    return sb.client(**kwargs)


def quietly(fn: Callable[..., pd.DataFrame], *args: Any, **kwargs: Any) -> pd.DataFrame:
    """Call a fetch verb, allowing only its FetchFailuresWarning (the failures are asserted)."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        df = fn(*args, **kwargs)
    others = [w for w in seen if not issubclass(w.category, FetchFailuresWarning)]
    assert others == [], [str(w.message) for w in others]
    assert len(seen) == (1 if df.attrs["failures"] else 0)
    return df


def request_bound(items: int) -> int:
    """The most requests ``items`` requests may cost: one retry budget each, nothing more."""
    return items * (1 + MAX_RETRIES)


def check_batch(df: pd.DataFrame, asked: list[str], expected: pd.DataFrame) -> dict[str, Any]:
    """Assert the batch invariants and return its figures."""
    got = df["call_sid"].tolist()
    failed = [f["call_sid"] for f in df.attrs["failures"]]
    assert len(set(got)) == len(got), "a call is in the frame twice"
    assert len(set(failed)) == len(failed), "a call is listed as failed twice"
    assert not set(got) & set(failed), "a call is both fetched and failed"
    assert set(got) | set(failed) == set(asked), "a call was silently lost"
    assert got == [s for s in asked if s in set(got)], "input order was not kept"
    for failure in df.attrs["failures"]:
        assert set(failure) == {"call_sid", "error", "message"}
        assert failure["error"] in TRANSIENT_ERRORS, failure
        assert failure["message"], failure
    # What arrived is exactly what a fault-free fetch gives (no half-parsed bodies).
    pd.testing.assert_frame_equal(
        df, expected.set_index("call_sid", drop=False).loc[got].reset_index(drop=True)
    )
    assert len(got) >= 0.99 * len(asked)
    return {
        "fetched": len(got),
        "failures": dict(Counter(f["error"] for f in df.attrs["failures"])),
        "duplicates": len(got) - len(set(got)),
    }


# -- the soak ------------------------------------------------------------------------------------


@dataclass
class Soak:
    """The soak sandbox with its fault-free oracle and timings."""

    sb: Any
    oracle: list[str]
    frame: pd.DataFrame
    batch_seconds: float
    history_seconds: float


@pytest.fixture(scope="module")
def soak() -> Iterator[Soak]:
    """A 1,500-call sandbox, its fault-free history (the oracle) and fault-free timings."""
    # The stationary account (no fraud night on top), so it has exactly SOAK_CALLS calls.
    with ap.sandbox.running(calls=SOAK_CALLS, seed=5, now=DEMO_NOW, fraud_burst=False) as sb:
        client = soak_client(sb)
        started = time.perf_counter()
        frame = ap.fetch_history(client=client, progress=False, cache=False)
        history_seconds = time.perf_counter() - started
        started = time.perf_counter()
        clean = ap.fetch_calls(
            frame["call_sid"][:BATCH], client=client, progress=False, cache=False
        )
        batch_seconds = time.perf_counter() - started
        assert clean.attrs["failures"] == []
        oracle = frame["call_sid"].tolist()
        assert oracle == sb.call_sids and len(set(oracle)) == SOAK_CALLS
        yield Soak(sb, oracle, frame, batch_seconds, history_seconds)


@pytest.mark.slow
@pytest.mark.parametrize("cache", [False, True], ids=["no-cache", "cache"])
def test_fault_soak_batch_loses_nothing(soak: Soak, cache: bool) -> None:
    sb = soak.sb
    asked = soak.oracle[:BATCH]
    client = soak_client(sb)
    sb.reset_request_count()
    started = time.perf_counter()
    with faults(sb, **SOAK_FAULTS):
        df = quietly(
            ap.fetch_calls, asked, client=client, workers=WORKERS, progress=False, cache=cache
        )
    seconds = time.perf_counter() - started
    made = sb.request_count
    figures = check_batch(df, asked, soak.frame)
    assert BATCH < made <= request_bound(BATCH)
    print(
        f"\nsoak batch (cache={cache}): {figures['fetched']}/{BATCH} fetched, failures "
        f"{figures['failures'] or 'none'}, {figures['duplicates']} duplicates, {made} requests, "
        f"{seconds:.2f} s (fault-free {soak.batch_seconds:.2f} s)"
    )
    if cache:
        assert df.attrs["cache"]["hits"] == 0
        # With the server healthy again, a rerun asks only for what is missing or unsettled.
        unsettled = int((~settled_mask(df)).sum())
        sb.reset_request_count()
        again = quietly(ap.fetch_calls, asked, client=client, progress=False)
        assert sb.request_count == len(df.attrs["failures"]) + unsettled
        assert again["call_sid"].tolist() == asked
        assert again.attrs["failures"] == []


@pytest.mark.slow
@pytest.mark.parametrize("cache", [False, True], ids=["no-cache", "cache"])
def test_fault_soak_history_is_complete_and_unique(soak: Soak, cache: bool) -> None:
    sb = soak.sb
    client = soak_client(sb)
    sb.reset_request_count()
    started = time.perf_counter()
    with faults(sb, **SOAK_FAULTS):
        df = quietly(ap.fetch_history, client=client, progress=False, cache=cache)
    seconds = time.perf_counter() - started
    made = sb.request_count
    sids = df["call_sid"].tolist()
    assert len(set(sids)) == len(sids)
    assert sids == soak.oracle
    pd.testing.assert_frame_equal(df, soak.frame)
    pages = math.ceil(SOAK_CALLS / 20)
    assert made <= request_bound(pages * 2)  # windows may ask for up to twice the pages
    print(
        f"\nsoak history (cache={cache}): {len(sids)}/{SOAK_CALLS} calls, "
        f"{len(sids) - len(set(sids))} duplicates, {made} requests for {pages} pages, "
        f"{seconds:.2f} s (fault-free {soak.history_seconds:.2f} s)"
    )


def test_a_cut_off_history_page_is_fetched_again(odd_server: Any) -> None:
    """A 200 whose body does not parse is asked for again, within the one budget (before, one
    cut page in 75 aborted the whole history)."""
    second = json.dumps(page([{"call_sid": "cal2"}], None)).encode()
    answers = iter([second[: len(second) // 2], second[:-1], second])
    odd_server.json("/v2/accounts/acc1/calls", page([{"call_sid": "cal1"}], "/v2/p2?cursor=9"))
    odd_server.routes["/v2/p2"] = lambda _req: (
        200,
        {"Content-Type": "application/json"},
        next(answers),
    )
    client = ap.Client(
        account_sid="acc1", auth_token="tok", base_url=odd_server.url, backoff_factor=0
    )
    assert [c["call_sid"] for c in client.iter_calls()] == ["cal1", "cal2"]
    assert odd_server.hits[1:] == ["/v2/p2?cursor=9"] * 3


def test_a_history_page_that_never_parses_is_a_clear_error(fault_sandbox: Any) -> None:
    client = fault_sandbox.client(backoff_factor=0, max_retries=2)
    fault_sandbox.reset_request_count()
    with faults(fault_sandbox, truncate_rate=1.0), pytest.raises(ResponseFormatError) as info:
        ap.fetch_history(client=client, progress=False)
    err = info.value
    assert fault_sandbox.request_count == 3
    assert err.status_code == 200
    assert err.body_excerpt.startswith('{"limit":20')
    assert "HTTP 200" in str(err) and "3 times in a row" in str(err)
    assert '{"limit":20' in str(err)


def test_no_body_retries_when_retries_are_off(fault_sandbox: Any) -> None:
    client = fault_sandbox.client(max_retries=0)
    fault_sandbox.reset_request_count()
    with faults(fault_sandbox, truncate_rate=1.0), pytest.raises(ResponseFormatError):
        client.get_call(fault_sandbox.call_sids[0])
    assert fault_sandbox.request_count == 1


# -- a body cut off while it is read (a real network cut, which the sandbox cannot do) --------


@dataclass
class CuttingServer:
    """A raw loopback HTTP server: answers ``body``, but cuts the first ``cuts`` answers off
    mid-body (the Content-Length promises more than is sent, then the socket closes)."""

    body: bytes
    cuts: int
    port: int = 0
    served: int = 0
    _sock: socket.socket | None = None

    def __enter__(self) -> CuttingServer:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._sock is not None
        self._sock.close()

    def _serve(self) -> None:
        assert self._sock is not None
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                self.served += 1
                head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                head += f"Content-Length: {len(self.body)}\r\nConnection: close\r\n\r\n"
                cut = self.served <= self.cuts
                conn.sendall(
                    head.encode() + (self.body[: len(self.body) // 3] if cut else self.body)
                )

    def client(self, **kwargs: Any) -> ap.Client:
        url = f"http://127.0.0.1:{self.port}/v2"
        return ap.Client(account_sid="acc1", auth_token="tok", base_url=url, **kwargs)


def test_a_body_cut_mid_read_is_fetched_again() -> None:
    with CuttingServer(b'{"call_sid": "cal1", "status": "completed"}', cuts=5) as srv:
        call = srv.client(backoff_factor=0).get_call("cal1")  # max_retries=5: 6 attempts
        assert call == {"call_sid": "cal1", "status": "completed"}
        assert srv.served == 6


def test_a_body_always_cut_mid_read_is_a_clear_transport_error() -> None:
    with CuttingServer(b'{"call_sid": "cal1"}', cuts=100) as srv:
        with pytest.raises(TransportError) as info:
            srv.client(backoff_factor=0, max_retries=2).get_call("cal1")
        assert srv.served == 3
    message = str(info.value)
    assert "broke while the answer" in message and "(3 attempts)" in message


# -- a server that dies or stops answering mid-batch ---------------------------------------------


def when_requests_reach(sb: Any, count: int, action: Callable[[], None]) -> threading.Thread:
    """Run ``action`` in a thread as soon as the sandbox has served ``count`` requests."""

    def watch() -> None:
        deadline = time.monotonic() + 60
        while sb.request_count < count and time.monotonic() < deadline:
            time.sleep(0.002)
        action()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
def test_a_server_that_stops_answering_mid_batch_times_out_and_keeps_what_came() -> None:
    asked_n, healthy_for, workers = 90, 30, 16
    with ap.sandbox.running(calls=asked_n, seed=31, now=DEMO_NOW) as sb:
        asked = list(sb.call_sids)
        client = sb.client(timeout=(2, 0.2), max_retries=1, backoff_factor=0)
        watcher = when_requests_reach(
            sb, healthy_for, lambda: sb.set_faults(hang_rate=1.0, hang_seconds=20)
        )
        df = quietly(ap.fetch_calls, asked, client=client, workers=workers, progress=False)
        watcher.join()
        got = df["call_sid"].tolist()
        failures = df.attrs["failures"]
        failed = [f["call_sid"] for f in failures]
        assert set(got) | set(failed) == set(asked) and not set(got) & set(failed)
        assert healthy_for // 2 <= len(got) <= healthy_for + 2 * workers
        for failure in failures:
            assert failure["error"] == "TransportError"
            assert "timed out" in failure["message"] and "timeout=" in failure["message"]
        # What came is in the store: with the server answering again, only the rest is asked.
        sb.set_faults()
        unsettled = int((~settled_mask(df)).sum())
        sb.reset_request_count()
        again = quietly(ap.fetch_calls, asked, client=client, progress=False)
        assert sb.request_count == len(failed) + unsettled
        pd.testing.assert_frame_equal(
            again, ap.fetch_calls(asked, client=client, progress=False, cache=False)
        )


def test_a_server_that_dies_mid_batch_is_a_transport_error_and_resumes_from_the_cache() -> None:
    asked_n, healthy_for = 150, 50
    sb = ap.sandbox.start(calls=asked_n, seed=32, now=DEMO_NOW)
    port, url, asked = int(sb.url.rsplit(":", 1)[1].split("/")[0]), sb.url, list(sb.call_sids)
    try:
        client = sb.client(max_retries=1, backoff_factor=0)
        watcher = when_requests_reach(sb, healthy_for, sb.stop)
        df = quietly(ap.fetch_calls, asked, client=client, workers=4, progress=False)
        watcher.join()
    finally:
        sb.stop()
    got = df["call_sid"].tolist()
    failures = df.attrs["failures"]
    assert set(got) | {f["call_sid"] for f in failures} == set(asked)
    assert healthy_for // 2 <= len(got) < len(asked) and failures
    for failure in failures:
        assert failure["error"] == "TransportError", failure
        assert "Could not get an answer" in failure["message"] or "broke" in failure["message"]
    with CallStore() as store:
        stored = store.count(client.account_sid)
    assert stored == int(settled_mask(df).sum())
    # The same sandbox (same seed, port and clock) comes back: the rerun resumes.
    with ap.sandbox.running(calls=asked_n, seed=32, now=DEMO_NOW, port=port) as back:
        assert back.url == url and back.account_sid == client.account_sid
        again = quietly(ap.fetch_calls, asked, client=client, progress=False)
        assert back.request_count == len(asked) - stored
        assert again["call_sid"].tolist() == asked
        assert again.attrs["cache"]["hits"] == stored


# -- rate limits beyond the budget ---------------------------------------------------------------


def test_retry_after_within_the_budget_is_waited_for_in_a_batch(fault_sandbox: Any) -> None:
    client = fault_sandbox.client(max_retry_wait=30, backoff_factor=0)
    asked = list(fault_sandbox.call_sids[:16])
    with faults(fault_sandbox, rate_limit_rate=0.3, retry_after=1):
        df = quietly(ap.fetch_calls, asked, client=client, progress=False, cache=False)
    assert df["call_sid"].tolist() == asked


def test_a_history_rate_limited_beyond_the_budget_says_when_to_retry(fault_sandbox: Any) -> None:
    client = fault_sandbox.client(max_retry_wait=30)
    late = {"rate_limit_rate": 1.0, "retry_after": 7200, "retry_after_http_date": True}
    with faults(fault_sandbox, **late), pytest.raises(RateLimitedError) as info:
        ap.fetch_history(client=client, progress=False)
    assert info.value.retry_after is not None and 7190 <= info.value.retry_after <= 7200
    assert "wait 7" in str(info.value)


# -- history links that repeat or lead elsewhere -------------------------------------------------


@dataclass
class Recorder:
    """A loopback server that records every request (path and Authorization header)."""

    url: str = ""
    seen: list[tuple[str, str | None]] = field(default_factory=list)


@pytest.fixture
def other_host() -> Iterator[Recorder]:
    """A second server, on another loopback address when the system has one: "another host"."""
    state = Recorder()

    @Request.application
    def app(request: Request) -> Response:
        state.seen.append((request.full_path, request.headers.get("Authorization")))
        body = b'{"limit": 20, "prev": null, "next": null, "calls": [{"call_sid": "calevil"}]}'
        return Response(body, mimetype="application/json")

    try:
        server = make_server("127.0.0.2", 0, app, threaded=True)
    except OSError:  # no 127.0.0.2 here: another port is another origin too
        server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    state.url = f"http://{server.host}:{server.server_port}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def page(calls: list[dict[str, Any]], next_uri: str | None) -> dict[str, Any]:
    """Return a history page in the documented envelope."""
    return {"limit": 20, "prev": None, "next": next_uri, "calls": calls}


def settled_call(sid: str) -> dict[str, Any]:
    """Return a minimal settled call (final, priced), which the store keeps."""
    return {
        "call_sid": sid,
        "created": "Fri, 21 Apr 2017 13:01:25 +0000",
        "status": "completed",
        "price": 0.01,
        "direction": "outbound",
        "to": "312031550066",
    }


@pytest.mark.parametrize("style", ["absolute", "same-host-other-port", "userinfo", "https"])
def test_history_next_to_another_host_is_refused_without_sending_credentials(
    odd_server: Any, other_host: Recorder, style: str
) -> None:
    api = odd_server.url  # http://127.0.0.1:PORT/v2
    foreign = {
        "absolute": f"{other_host.url}/v2/accounts/acc1/calls?next=2",
        "same-host-other-port": f"{other_host.url}/v2/accounts/acc1/calls?next=2",
        "userinfo": other_host.url.replace("://", "://acc1:pw@") + "/v2/accounts/acc1/calls",
        "https": api.replace("http://", "https://") + "/accounts/acc1/calls?next=2",
    }[style]
    if style == "same-host-other-port":
        foreign = foreign.replace("127.0.0.2", "127.0.0.1")
    odd_server.json("/v2/accounts/acc1/calls", page([settled_call("cal1")], foreign))
    client = ap.Client(account_sid="acc1", auth_token="tok", base_url=api)
    with pytest.raises(ResponseFormatError, match="Refusing to send the account's credentials"):
        ap.fetch_history(client=client, progress=False)
    assert other_host.seen == []
    assert len(odd_server.hits) == 1
    # What was read before the refusal is kept in the store.
    with CallStore() as store:
        assert store.cached_sids("acc1", ["cal1"]) == {"cal1"}


def test_a_scheme_relative_next_stays_on_the_api_origin(
    odd_server: Any, other_host: Recorder
) -> None:
    """``//host/path`` is read as a path of the API (the vendor's pages show double slashes)."""
    foreign = "//" + other_host.url.split("://")[1] + "/v2/accounts/acc1/calls"
    odd_server.json("/v2/accounts/acc1/calls", page([{"call_sid": "cal1"}], foreign))
    client = ap.Client(account_sid="acc1", auth_token="tok", base_url=odd_server.url)
    with pytest.raises(ApifonicaError):  # the odd server has no such path: a 404
        list(client.iter_calls())
    assert other_host.seen == []
    assert odd_server.hits[1].startswith("/v2/" + other_host.url.split("://")[1])


def test_a_redirect_to_another_host_never_carries_the_credentials(
    odd_server: Any, other_host: Recorder
) -> None:
    target = f"{other_host.url}/v2/accounts/acc1/calls/cal1"
    odd_server.routes["/v2/accounts/acc1/calls/cal1"] = lambda _req: (
        302,
        {"Location": target},
        b"",
    )
    client = ap.Client(account_sid="acc1", auth_token="tok", base_url=odd_server.url)
    with contextlib.suppress(ApifonicaError):
        client.get_call("cal1")
    assert [auth for _, auth in other_host.seen] in ([], [None])
