"""The fetch verbs: typed frames from the sandbox, failures kept, filters right."""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd
import pytest
import requests

import apifonica_nb as ap
from apifonica_nb.errors import FetchFailuresWarning, InvalidRequestError, NotFoundError


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
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = ap.fetch_calls(sandbox.call_sids[:20], client=client, progress=False)
    assert len(df) == 20 and df.attrs["failures"] == []


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
    assert "APIFONICA_ACCOUNT_SID is not set" in out and "sandbox" in out
    assert client.base_url.startswith("http://127.0.0.1:")
    again = ap.connect(calls=120, seed=3, quiet=True)
    assert again.base_url == client.base_url  # one sandbox per process
    assert len(ap.fetch_history(client=client, progress=False)) == 120


def test_connect_uses_the_environment_when_set(
    sandbox: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("APIFONICA_ACCOUNT_SID", sandbox.account_sid)
    monkeypatch.setenv("APIFONICA_AUTH_TOKEN", sandbox.auth_token)
    monkeypatch.setenv("APIFONICA_BASE_URL", sandbox.url)
    client = ap.connect()
    out = capsys.readouterr().out
    assert "APIFONICA_* environment variables" in out
    assert sandbox.auth_token not in out
    assert client.base_url == sandbox.url
