"""fetch_history in parallel date windows: the very frame of following ``next``, only sooner."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from werkzeug.wrappers import Request

import apifonica_nb as ap
from apifonica_nb import cache
from apifonica_nb.cache import CallStore
from apifonica_nb.connect import DEMO_NOW
from apifonica_nb.errors import APIStatusError, InvalidRequestError, ResponseFormatError
from apifonica_nb.history import created_us

slow = pytest.mark.slow
FILTERS: list[Any] = [
    {},
    {"status": ["busy", "failed", "no_answer"], "direction": "outbound"},
    {"since": "2026-10-05", "until": "2026-10-25", "direction": "inbound", "channel": "number"},
    {"since": "2015-01-01", "until": "2026-10-03"},  # years with no call but the 2017 one
    pytest.param({"status": "completed"}, marks=slow),
    pytest.param({"channel": "viber"}, marks=slow),
    pytest.param({"since": "2026-10-10"}, marks=slow),
    pytest.param({"until": "2026-10-20"}, marks=slow),
    pytest.param({"since": pd.Timestamp("2026-10-12 13:30", tz="UTC"), "status": "completed"}),
]


def history(client: ap.Client, **kwargs: Any) -> pd.DataFrame:
    return ap.fetch_history(client=client, progress=False, cache=False, **kwargs)


def requests_made(sandbox: Any, fn: Any, **kwargs: Any) -> tuple[pd.DataFrame, int]:
    before = sandbox.request_count
    df = fn(**kwargs)
    return df, sandbox.request_count - before


@pytest.fixture(scope="module")
def big() -> Iterator[Any]:
    """A 2,000-call account (thirty busy days, and the vendor's 2017 call far below them)."""
    with ap.sandbox.running(calls=2000, seed=23, now=DEMO_NOW) as sb:
        yield sb


@pytest.mark.parametrize("filters", FILTERS, ids=str)
def test_windows_give_the_frame_of_one_listing(big: Any, filters: dict[str, Any]) -> None:
    client = big.client()
    one = history(client, workers=1, **filters)
    assert one.attrs["paging"]["mode"] == "sequential"
    for workers in (3, 8):
        df, n = requests_made(big, history, client=client, workers=workers, **filters)
        pd.testing.assert_frame_equal(df, one)
        assert df.attrs["filtered_locally"] == one.attrs["filtered_locally"]
        paging = df.attrs["paging"]
        if len(one) > 2 * 20:
            assert paging["mode"] == "windows" and paging["workers"] == workers
            assert paging["windows"] >= 2 and paging["note"] is None
        # Windows cost a few more requests than the pages themselves, not many.
        assert n <= -(-len(one) // 20) * 1.25 + 2 * workers + 2


def test_windows_are_the_default_on_the_session_sandbox(client: ap.Client, sandbox: Any) -> None:
    """The plain rule: windows whenever workers > 1, whatever the latency (none here)."""
    one = history(client, workers=1)
    df = history(client)
    pd.testing.assert_frame_equal(df, one)
    assert df["call_sid"].tolist() == list(sandbox.call_sids)
    assert df.attrs["paging"]["mode"] == "windows" and df.attrs["paging"]["workers"] == 8
    # The open-ended listing below the windows finds the vendor's 2017 call.
    assert df["call_sid"].iloc[-1] == sandbox.example_call_sid
    assert df["created"].iloc[-1] == pd.Timestamp("2017-04-21 13:01:25", tz="UTC")


def test_max_calls_keeps_its_meaning(big: Any) -> None:
    client = big.client()
    one = history(client, workers=1)
    df, n = requests_made(big, history, client=client, workers=4, max_calls=500)
    pd.testing.assert_frame_equal(df, one.head(500))
    assert df.attrs["paging"]["mode"] == "windows"
    # Not the whole history's 100 pages; how many windows were in flight when the limit was
    # reached depends on the machine's load, so the bound is loose.
    assert n < 90
    busy = history(client, workers=1, status="busy")
    pd.testing.assert_frame_equal(
        history(client, workers=4, status="busy", max_calls=90), busy.head(90)
    )
    # A few pages' worth is read page by page: windows would only cost requests.
    small, n = requests_made(big, history, client=client, workers=4, max_calls=45)
    assert small.attrs["paging"]["mode"] == "sequential" and n == 3
    pd.testing.assert_frame_equal(small, one.head(45))


def test_workers_leave_no_thread_behind(big: Any) -> None:
    client = big.client()
    history(client, workers=6, max_calls=300)
    history(client, workers=6)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        alive = [t for t in threading.enumerate() if t.name.startswith("apifonica-history")]
        if not alive:
            break
        time.sleep(0.05)
    assert alive == []


def test_workers_must_be_a_positive_whole_number(client: ap.Client) -> None:
    for bad in (0, -2, 1.5, True, "4", None):
        with pytest.raises(InvalidRequestError, match="workers"):
            history(client, workers=bad)


@slow
def test_with_the_cache_windows_store_a_listing_the_next_run_builds_on(big: Any) -> None:
    client = big.client()
    plain = history(client, workers=1)
    first, n_first = requests_made(big, ap.fetch_history, client=client, progress=False, workers=4)
    assert first.attrs["paging"]["mode"] == "windows"
    assert first.attrs["cache"]["misses"] == len(plain)
    pd.testing.assert_frame_equal(first, plain)
    # The windows' calls went to the store as one listing: the next run stops early.
    second, n_second = requests_made(
        big, ap.fetch_history, client=client, progress=False, workers=4
    )
    assert second.attrs["paging"]["mode"] == "sequential"
    assert n_second <= 4 < n_first
    assert second.attrs["cache"]["hits"] >= len(plain) - 20 * n_second
    pd.testing.assert_frame_equal(second, plain)
    # "refresh" reads everything again, in windows.
    again = ap.fetch_history(client=client, progress=False, workers=4, cache="refresh")
    assert again.attrs["paging"]["mode"] == "windows"
    pd.testing.assert_frame_equal(again, plain)


def test_a_server_that_ignores_date_filters_is_read_by_following_next(
    odd_server: Any, sandbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    records = list(sandbox.client().iter_calls())
    client = odd_server.serve_history(records)
    expected = ap.calls_to_frame(records)
    pages = -(-len(records) // 20)
    with caplog.at_level(logging.WARNING, logger="apifonica_nb"):
        for _ in range(2):  # nothing is remembered between runs: each finds out again
            odd_server.hits.clear()
            df = history(client, workers=4)
            pd.testing.assert_frame_equal(df, expected, check_like=False)
            paging = df.attrs["paging"]
            assert paging["mode"] == "sequential"
            assert "ignores the date_to filter" in paging["note"]
            windows = [hit for hit in odd_server.hits if "date_to=" in hit]
            assert 1 <= len(windows) <= 4  # tried, at most one page per worker
            assert len(odd_server.hits) == pages + len(windows)
    said = [r for r in caplog.records if "ignores the date_to filter" in r.getMessage()]
    assert len(said) == 2  # once per run
    assert "tok" not in caplog.text


def test_a_server_that_ignores_date_filters_with_a_range(odd_server: Any, sandbox: Any) -> None:
    """The first page honours date_from by chance (the newest calls): the windows tell."""
    records = list(sandbox.client().iter_calls())
    client = odd_server.serve_history(records)
    df = history(client, workers=3, since="2026-10-01")
    expected = ap.calls_to_frame(records)
    expected = expected[expected["created"] >= pd.Timestamp("2026-10-01", tz="UTC")]
    assert df["call_sid"].tolist() == expected["call_sid"].tolist()
    assert df.attrs["paging"]["mode"] == "sequential"
    assert df.attrs["filtered_locally"] == len(records) - len(expected)


def test_a_failing_window_raises_the_typed_error(odd_server: Any, sandbox: Any) -> None:
    records = list(sandbox.client().iter_calls())
    odd_server.serve_history(records)
    first = json.dumps({"limit": 20, "prev": None, "next": "/v2/accounts/acc1/calls/p1"})

    def calls(request: Request) -> tuple[int, dict[str, str], bytes]:
        if "date_to" in request.args:
            return 503, {"Content-Type": "application/json"}, b'{"status_code": 503}'
        body = json.loads(first)
        body["calls"] = records[:20]
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    odd_server.routes["/v2/accounts/acc1/calls"] = calls
    client = ap.Client(account_sid="acc1", auth_token="tok", base_url=odd_server.url, max_retries=0)
    with pytest.raises(APIStatusError) as err:
        history(client, workers=4)
    assert err.value.status_code == 503


def serve_dates_only(odd_server: Any, records: list[dict[str, Any]]) -> ap.Client:
    """A history of ``records`` that honours date_from/date_to and ignores other filters."""
    records = [{**r, "account_sid": "acc1"} for r in records]  # acc1's, as the client asks
    created = ap.calls_to_frame(records)["created"]
    day = created.dt.strftime("%Y-%m-%d").tolist()

    def calls(request: Request) -> tuple[int, dict[str, str], bytes]:
        lo, hi = request.args.get("date_from", ""), request.args.get("date_to", "9999")
        rows = [r for r, d in zip(records, day, strict=True) if lo <= d <= hi]
        offset = int(request.args.get("offset", "0"))
        more = offset + 20 < len(rows)
        query = request.query_string.decode().split("&offset=")[0]
        nxt = f"/v2/accounts/acc1/calls?{query}&offset={offset + 20}" if more else None
        body = {"limit": 20, "prev": None, "next": nxt, "calls": rows[offset : offset + 20]}
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    odd_server.routes["/v2/accounts/acc1/calls"] = calls
    return ap.Client(account_sid="acc1", auth_token="tok", base_url=odd_server.url)


@slow
def test_max_calls_reads_on_when_the_server_ignores_another_filter(
    odd_server: Any, big: Any
) -> None:
    """Windows pause once max_calls calls were read; the status filter, applied here, drops
    most of them, so the older windows are read after all."""
    client = serve_dates_only(odd_server, list(big.client().iter_calls()))
    one = history(client, workers=1, status="completed")
    df = history(client, workers=3, status="completed", max_calls=150)
    assert df.attrs["paging"]["mode"] == "windows"
    pd.testing.assert_frame_equal(df, one.head(150))
    rare = history(client, workers=1, status="busy", direction="inbound")
    assert 0 < len(rare) < 100
    df = history(client, workers=3, status="busy", direction="inbound", max_calls=100)
    assert df.attrs["paging"]["windows"] > 6
    pd.testing.assert_frame_equal(df, rare)
    pd.testing.assert_frame_equal(history(client, workers=4), history(client, workers=1))


def test_calls_read_before_a_failure_are_stored(odd_server: Any, sandbox: Any) -> None:
    """As when following next: a listing that fails keeps what it read in the store."""
    records = [{**r, "account_sid": "acc1"} for r in list(sandbox.client().iter_calls())[20:40]]
    foreign = "http://127.0.0.2:9/v2/accounts/acc1/calls?next=2"
    odd_server.json("/v2/accounts/acc1/calls", {"limit": 20, "next": foreign, "calls": records})
    client = ap.Client(account_sid="acc1", auth_token="tok", base_url=odd_server.url)
    for workers in (1, 4):
        with pytest.raises(ResponseFormatError, match="Refusing to send"):
            ap.fetch_history(client=client, progress=False, workers=workers)
        settled = [r["call_sid"] for r in records if r["price"] is not None]
        with CallStore() as store:
            assert store.cached_sids("acc1", settled) == set(settled) != set()
        cache.clear("acc1")


def test_created_dates_are_read_in_every_spelling() -> None:
    got = created_us(
        [
            {"created": "Fri, 21 Apr 2017 13:01:25 +0000"},
            {"created": "Fri, 21 Apr 2017 15:01:25 +0200"},
            {"created": "Sun, 31 January 2016 10:15:35 +0000"},
            {"created": None},
            {"created": "soon"},
            {},
        ]
    )
    stamp = int(pd.Timestamp("2017-04-21 13:01:25", tz="UTC").value // 1000)
    assert got[:2].tolist() == [stamp, stamp]
    assert got[2] == int(pd.Timestamp("2016-01-31 10:15:35", tz="UTC").value // 1000)
    assert (got[3:] == np.iinfo(np.int64).min).all()
