"""Nothing silently partial: a frame cut by ``max_calls`` says so, and says what was asked."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest

import apifonica_nb as ap


@pytest.mark.parametrize(
    ("cap", "complete"),
    [("none", True), ("100", False), ("n-1", False), ("n", True), ("0", False)],
)
def test_max_calls_says_whether_more_calls_match(
    client: ap.Client, sandbox: Any, cap: str, complete: bool
) -> None:
    n = len(sandbox.call_sids)  # the account's size: every call of the history
    max_calls = {"none": None, "100": 100, "n-1": n - 1, "n": n, "0": 0}[cap]
    rows = n if max_calls is None else max_calls
    df = ap.fetch_history(client=client, max_calls=max_calls, progress=False, cache=False)
    assert len(df) == rows
    assert df.attrs["complete"] is complete
    assert df.attrs["stopped_at"] == (None if complete else max_calls)


def test_a_cut_costs_at_most_one_page_more(client: ap.Client, sandbox: Any) -> None:
    before = sandbox.request_count
    df = ap.fetch_history(client=client, max_calls=40, progress=False, cache=False)
    # 40 calls are two pages; the 41st, on a third, is what says "more match".
    assert sandbox.request_count - before == 3
    assert len(df) == 40 and df.attrs["complete"] is False


def test_max_calls_counts_matching_calls_for_completeness(client: ap.Client) -> None:
    busy = ap.fetch_history(client=client, status="busy", progress=False)
    exact = ap.fetch_history(client=client, status="busy", max_calls=len(busy), progress=False)
    assert exact.attrs["complete"] is True
    fewer = ap.fetch_history(client=client, status="busy", max_calls=len(busy) - 1, progress=False)
    assert fewer.attrs["complete"] is False and len(fewer) == len(busy) - 1


def test_the_cache_does_not_hide_a_cut(client: ap.Client) -> None:
    ap.fetch_history(client=client, progress=False)  # a complete listing, stored
    again = ap.fetch_history(client=client, max_calls=30, progress=False)
    assert len(again) == 30 and again.attrs["complete"] is False


def test_the_frame_says_what_was_asked_and_where_from(client: ap.Client) -> None:
    df = ap.fetch_history(
        client=client,
        since=dt.date(2026, 10, 1),
        until="2026-10-31",
        status=("failed", "busy"),
        max_calls=1000,
        progress=False,
    )
    assert df.attrs["query"] == {
        "since": "2026-10-01",
        "until": "2026-10-31",
        "status": ["failed", "busy"],
        "max_calls": 1000,
    }
    assert df.attrs["account_sid"] == client.account_sid
    assert df.attrs["base_url"] == client.base_url
    assert df.attrs["price_unit"] == "EUR"
    assert df.attrs["complete"] is True
    # Plain data: pd.concat compares attrs with ==, and keeps them when they are equal.
    assert pd.concat([df, df]).attrs["query"] == df.attrs["query"]


def test_batches_say_what_was_asked(client: ap.Client, sandbox: Any) -> None:
    sids = list(sandbox.call_sids[:3])
    df = ap.fetch_calls(sids, client=client, progress=False)
    assert df.attrs["query"] == {"call_sids": 3} and df.attrs["complete"] is True
    one = ap.fetch_call(sids[0], client=client, price_unit="cents")
    assert one.attrs["query"] == {"call_sid": sids[0]} and one.attrs["price_unit"] == "cents"
