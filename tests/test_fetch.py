"""The fetch verbs: typed frames from the sandbox, failures kept, filters right."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
import requests

import apifonica_nb as ap
from apifonica_nb.connect import DEMO_NOW, describe
from apifonica_nb.errors import (
    ConfigurationError,
    FetchFailuresWarning,
    InvalidRequestError,
    NotFoundError,
)
from apifonica_nb.frame import build_frame, deduplicate
from apifonica_nb.sandbox.burst import burst_size


def plain_history(sandbox: Any) -> list[dict[str, Any]]:
    """Every call of the account, fetched the naive way (the oracle for these tests)."""
    out: list[dict[str, Any]] = []
    url: str | None = f"{sandbox.url}/accounts/{sandbox.account_sid}/calls"
    auth = (sandbox.account_sid, sandbox.auth_token)
    while url:
        page = requests.get(url, auth=auth, timeout=10).json()
        out.extend(page["calls"])
        url = page["next"]
    return out


@pytest.fixture(scope="module")
def everything(sandbox: Any) -> pd.DataFrame:
    return ap.calls_to_frame(plain_history(sandbox))


def assert_schema(df: pd.DataFrame) -> None:
    assert list(df.columns[: len(ap.CALL_DTYPES)]) == list(ap.CALL_DTYPES)
    for column, dtype in ap.CALL_DTYPES.items():
        if isinstance(dtype, pd.CategoricalDtype):
            assert isinstance(df[column].dtype, pd.CategoricalDtype), column
            got = list(df[column].cat.categories)
            assert got[: len(dtype.categories)] == list(dtype.categories), column
        else:
            assert df[column].dtype == pd.api.types.pandas_dtype(dtype), column


def test_fetch_call_is_one_typed_row(client: ap.Client, sandbox: Any) -> None:
    df = ap.fetch_call(sandbox.example_call_sid, client=client)
    assert len(df) == 1
    assert_schema(df)
    row = df.iloc[0]
    assert row["call_sid"] == sandbox.example_call_sid
    assert row["created"] == pd.Timestamp("2017-04-21 13:01:25", tz="UTC")
    assert row["duration"] == 18
    assert row["talk_seconds"] == 6.0
    assert row["cost_eur"] == pytest.approx(0.0294)
    assert row["destination_country"] == "NL"
    assert df.attrs["failures"] == []


def test_fetch_call_raises_for_a_missing_call(client: ap.Client) -> None:
    with pytest.raises(NotFoundError):
        ap.fetch_call("calnothere", client=client)
    with pytest.raises(InvalidRequestError):
        ap.fetch_call("cal/../x", client=client)


def test_fetch_calls_keeps_order_and_lists_failures(client: ap.Client, sandbox: Any) -> None:
    sids = list(sandbox.call_sids[5:65])
    asked = [*sids[:10], "calnothere", *sids[10:], ""]
    with pytest.warns(FetchFailuresWarning, match=r"2 of 62 calls could not be fetched") as rec:
        df = ap.fetch_calls(asked, client=client, progress=False)
    assert len(rec) == 1
    assert df["call_sid"].tolist() == sids
    assert_schema(df)
    failures = pd.DataFrame(df.attrs["failures"])
    assert failures["call_sid"].tolist() == ["", "calnothere"]
    assert set(failures["error"]) == {"InvalidRequestError", "NotFoundError"}
    # attrs are plain data, so frames still concatenate
    both = pd.concat([df, df])
    assert len(both) == 2 * len(sids)


def test_fetch_calls_without_failures_is_silent(client: ap.Client, sandbox: Any) -> None:
    df = ap.fetch_calls(sandbox.call_sids[:20], client=client, progress=False)  # no warning
    assert len(df) == 20 and df.attrs["failures"] == [] and df.attrs["duplicates"] == 0


@pytest.mark.parametrize("cache", [True, False])
def test_a_sid_asked_for_twice_is_one_row(client: ap.Client, sandbox: Any, cache: bool) -> None:
    a, b = sandbox.call_sids[30], sandbox.call_sids[31]
    before = sandbox.request_count
    df = ap.fetch_calls([a, a, f" {a} ", b], client=client, progress=False, cache=cache)
    assert sandbox.request_count - before == 2
    assert df["call_sid"].tolist() == [a, b]
    assert df.attrs["duplicates"] == 2


def test_fetch_history_is_the_whole_account(
    client: ap.Client, sandbox: Any, everything: pd.DataFrame
) -> None:
    df = ap.fetch_history(client=client, progress=False)
    assert_schema(df)
    assert df["call_sid"].tolist() == list(sandbox.call_sids)
    pd.testing.assert_frame_equal(df, everything, check_like=False)
    assert df["created"].is_monotonic_decreasing


@pytest.mark.parametrize(
    "filters",
    [
        {"status": "completed"},
        {"status": ["busy", "failed", "no_answer"]},
        {"direction": "inbound"},
        {"channel": "viber"},
        {"status": "completed", "channel": "number", "direction": "outbound"},
    ],
    ids=str,
)
def test_fetch_history_filters(client: ap.Client, everything: pd.DataFrame, filters: dict) -> None:
    df = ap.fetch_history(client=client, progress=False, **filters)
    expected = everything
    for column, value in filters.items():
        allowed = [value] if isinstance(value, str) else value
        expected = expected[expected[column].astype(str).isin(allowed)]
    assert len(df) > 0
    assert df["call_sid"].tolist() == expected["call_sid"].tolist()
    assert df.attrs["filtered_locally"] == 0


def test_fetch_history_tag_filter(client: ap.Client, everything: pd.DataFrame) -> None:
    tag = everything["tag"].dropna().value_counts().index[0]
    df = ap.fetch_history(client=client, tag=tag, progress=False)
    assert len(df) == int((everything["tag"] == tag).sum()) > 0


def test_fetch_history_date_range(client: ap.Client, everything: pd.DataFrame) -> None:
    recent = everything[everything["created"] > pd.Timestamp("2016-01-01", tz="UTC")]
    days = recent["created"].dt.floor("D")
    first, last = days.iloc[len(days) * 3 // 4], days.iloc[len(days) // 4]
    since, until = first.strftime("%Y-%m-%d"), last.strftime("%Y-%m-%d")
    df = ap.fetch_history(client=client, since=since, until=until, progress=False)
    expected = everything[
        (everything["created"] >= first) & (everything["created"] < last + pd.Timedelta(days=1))
    ]
    assert df["call_sid"].tolist() == expected["call_sid"].tolist()
    # a datetime bound is exact, not a whole day
    cut = expected["created"].iloc[len(expected) // 2]
    df2 = ap.fetch_history(client=client, since=cut, until=until, progress=False)
    assert (df2["created"] >= cut).all()
    assert len(df2) == int((expected["created"] >= cut).sum())


def test_fetch_history_max_calls(client: ap.Client, sandbox: Any) -> None:
    before = sandbox.request_count
    df = ap.fetch_history(client=client, max_calls=45, progress=False)
    assert df["call_sid"].tolist() == list(sandbox.call_sids[:45])
    assert sandbox.request_count - before == 3  # 3 pages of 20, not the whole history


def test_fetch_history_rejects_bad_ranges(client: ap.Client) -> None:
    with pytest.raises(InvalidRequestError, match="not a date"):
        ap.fetch_history(client=client, since="last tuesday-ish")
    with pytest.raises(InvalidRequestError, match="must be before"):
        ap.fetch_history(client=client, since="2026-10-02", until="2026-10-01")


def test_fetch_history_is_right_when_the_server_ignores_filters(
    odd_server: Any, everything: pd.DataFrame, sandbox: Any
) -> None:
    """A server that ignores every filter: the client filters what comes back."""
    records = plain_history(sandbox)
    client = odd_server.serve_history(records)
    df = ap.fetch_history(client=client, status="busy", channel="number", progress=False)
    expected = everything[(everything["status"] == "busy") & (everything["channel"] == "number")]
    assert df["call_sid"].tolist() == expected["call_sid"].tolist()
    assert df.attrs["filtered_locally"] == len(records) - len(expected)
    assert "status=busy" in odd_server.hits[0]  # the filter was still sent
    # max_calls counts matching calls, not raw ones
    df3 = ap.fetch_history(client=client, status="busy", max_calls=3, progress=False)
    assert df3["call_sid"].tolist() == expected["call_sid"].tolist()[:3]


def test_connect_uses_the_sandbox_without_credentials(capsys: pytest.CaptureFixture) -> None:
    client = ap.connect(calls=120, seed=3)
    out = capsys.readouterr().out
    assert "APIFONICA_ACCOUNT_SID is not set, so this runs on the bundled sandbox" in out
    assert client.base_url.startswith("http://127.0.0.1:") and client.base_url in out
    again = ap.connect(calls=120, seed=3, quiet=True)
    assert again.base_url == client.base_url  # one sandbox per process
    assert capsys.readouterr().out == ""
    assert describe(again).startswith(
        f"the bundled sandbox ({120 + burst_size(120)} calls: 120 seeded and a fraud night of "
    )
    # 120 seeded calls and the fraud night's 22
    assert len(ap.fetch_history(client=client, progress=False)) == 120 + burst_size(120)


def test_connect_uses_the_environment_when_set(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("APIFONICA_ACCOUNT_SID", sandbox.account_sid)
    monkeypatch.setenv("APIFONICA_AUTH_TOKEN", sandbox.auth_token)
    monkeypatch.setenv("APIFONICA_BASE_URL", sandbox.url)
    client = ap.connect()
    out = capsys.readouterr().out
    assert "APIFONICA_* environment variables" in out and sandbox.account_sid in out
    assert sandbox.auth_token not in out
    assert client.base_url == sandbox.url
    # sandbox=True wins over the environment; sandbox=False insists on it.
    forced = ap.connect(sandbox=True, calls=120, seed=3)
    assert forced.base_url != sandbox.url and "sandbox=True" in capsys.readouterr().out
    assert ap.connect(sandbox=False, quiet=True).base_url == sandbox.url


def test_connect_without_the_environment_can_refuse(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="APIFONICA_ACCOUNT_SID"):
        ap.connect(sandbox=False)
    with pytest.raises(ConfigurationError, match="sandbox must be"):
        ap.connect(sandbox="yes")  # type: ignore[arg-type]


# -- filters -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "valid"),
    [
        ({"status": "compelted"}, "did you mean 'completed'"),
        ({"status": ["busy", "sideways"]}, "no_answer"),
        ({"direction": "outgoing"}, "inbound, outbound"),
        ({"channel": "sip"}, "number, viber"),
        ({"status": 5}, "a string or a list of strings"),
        ({"status": []}, "matches no call"),
        ({"tag": [None]}, "a string or a list of strings"),
    ],
    ids=str,
)
def test_filter_values_outside_the_vocabulary_are_refused(
    client: ap.Client, sandbox: Any, filters: dict[str, Any], valid: str
) -> None:
    before = sandbox.request_count
    with pytest.raises(InvalidRequestError, match=re.escape(valid)):
        ap.fetch_history(client=client, progress=False, **filters)
    with pytest.raises(ValueError):  # InvalidRequestError is a ValueError too
        ap.fetch_history(client=client, progress=False, **filters)
    assert sandbox.request_count == before  # refused before any request


def test_filters_match_the_vocabulary_case_insensitively(
    client: ap.Client, everything: pd.DataFrame
) -> None:
    """'Completed' is 'completed': the documented value is sent (the sandbox matches exactly)."""
    df = ap.fetch_history(
        client=client, status=["Completed", " BUSY "], direction="Outbound", progress=False
    )
    wanted = everything["status"].isin(["completed", "busy"]) & (
        everything["direction"] == "outbound"
    )
    assert df["call_sid"].tolist() == everything["call_sid"][wanted].tolist()
    assert len(df) > 0 and df.attrs["filtered_locally"] == 0


def test_datetimes_with_an_offset_are_sent_as_their_utc_date(
    client: ap.Client, everything: pd.DataFrame
) -> None:
    """A bound at +12:00 past midnight local time is the afternoon before in UTC: that UTC
    day is what is sent, so the server's answer holds just that day's other calls, which the
    client filters out (filtered_locally counts them exactly)."""
    created = everything["created"]
    recent = created[(created.dt.hour >= 12) & (created > pd.Timestamp("2026-10-02", tz="UTC"))]
    cut = recent.iloc[len(recent) // 2].floor("h")  # a call is at or after it, that day
    day = cut.floor("D")
    assert ((created >= day) & (created < cut)).any()  # and one before it, that day
    local = cut.tz_convert("+12:00")
    assert local.date() != cut.date()  # the local date is the next day
    for until in (local.isoformat(), local.to_pydatetime()):
        df = ap.fetch_history(client=client, until=until, progress=False, cache=False)
        assert df["call_sid"].tolist() == everything["call_sid"][created < cut].tolist()
        late = (created >= cut) & (created < day + pd.Timedelta(days=1))
        assert df.attrs["filtered_locally"] == int(late.sum()) > 0
    df = ap.fetch_history(client=client, since=local.isoformat(), progress=False, cache=False)
    assert df["call_sid"].tolist() == everything["call_sid"][created >= cut].tolist()
    early = (created >= day) & (created < cut)
    assert df.attrs["filtered_locally"] == int(early.sum()) > 0


# -- a history whose pages overlap -------------------------------------------------------------

ARRIVALS = 3


@pytest.fixture(scope="module")
def overlapping() -> Iterator[Any]:
    """A history read while calls arrive: each page repeats the last calls of the one before."""
    with ap.sandbox.running(calls=400, seed=13, now=DEMO_NOW) as sb:
        sb.oracle = ap.calls_to_frame(plain_history(sb))  # read before the pages overlap
        sb.set_faults(arrivals_per_page=ARRIVALS)
        yield sb


@pytest.mark.parametrize("workers", [1, 4])
def test_overlapping_pages_give_each_call_once(overlapping: Any, workers: int) -> None:
    sb = overlapping
    listed = plain_history(sb)
    assert len(listed) > len(sb.call_sids)  # the server does list calls twice
    df = ap.fetch_history(client=sb.client(), progress=False, cache=False, workers=workers)
    pd.testing.assert_frame_equal(df, sb.oracle)
    assert df.attrs["duplicates"] > 0
    assert df.attrs["paging"]["mode"] == ("windows" if workers > 1 else "sequential")
    if workers == 1:
        assert df.attrs["duplicates"] == len(listed) - len(sb.call_sids)
    capped = ap.fetch_history(
        client=sb.client(), progress=False, cache=False, workers=workers, max_calls=230
    )
    pd.testing.assert_frame_equal(capped, sb.oracle.head(230))


@pytest.mark.parametrize("workers", [1, 4])
def test_overlapping_pages_with_the_cache(overlapping: Any, workers: int) -> None:
    """Stored as they arrive, listed again, and the rest taken from the store: one row each."""
    sb = overlapping
    client = sb.client()
    first = ap.fetch_history(client=client, progress=False, workers=workers)
    pd.testing.assert_frame_equal(first, sb.oracle)
    assert first.attrs["cache"]["misses"] == len(sb.call_sids)
    before = sb.request_count
    second = ap.fetch_history(client=client, progress=False, workers=workers)
    assert sb.request_count - before <= 3  # it stopped at the first page it had
    pd.testing.assert_frame_equal(second, sb.oracle)
    assert second.attrs["cache"]["hits"] >= len(sb.call_sids) - 60
    assert second.attrs["duplicates"] == ARRIVALS * (sb.request_count - before - 1)
    ap.cache.clear()


def test_the_most_recent_version_of_a_call_wins() -> None:
    """Of two rows of one call, the later ``updated`` wins, then the later row; the call keeps
    the place of its first row."""
    base = {"created": "Sun, 01 Nov 2026 10:00:00 +0000", "direction": "outbound"}
    rows = [
        dict(base, call_sid="calA", status="ringing", updated="Sun, 01 Nov 2026 10:00:05 +0000"),
        dict(base, call_sid="calB", status="busy", updated="Sun, 01 Nov 2026 10:00:09 +0000"),
        dict(base, call_sid="calA", status="completed", updated="Sun, 01 Nov 2026 10:01:00 +0000"),
        dict(base, call_sid="calB", status="failed", updated="Sun, 01 Nov 2026 10:00:01 +0000"),
        dict(base, call_sid="calC", status="busy", updated=None),
        dict(base, call_sid=None, status="busy"),
        dict(base, call_sid="calC", status="failed", updated=None),
        dict(base, call_sid=None, status="busy"),
    ]
    df, merged = deduplicate(build_frame(rows)[0])
    assert merged == 3
    assert df["call_sid"].tolist()[:3] == ["calA", "calB", "calC"]
    assert df["status"].astype(str).tolist() == ["completed", "busy", "failed", "busy", "busy"]
    assert df["call_sid"].isna().sum() == 2  # rows without a SID are never merged
    unique = ap.calls_to_frame(rows[:2])
    assert deduplicate(unique) == (unique, 0)
