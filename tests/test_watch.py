"""watch_call against calls the sandbox places: the statuses seen, inferred, and how it stops."""

from __future__ import annotations

import _thread
import threading
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

import apifonica_nb as ap
from apifonica_nb.connect import DEMO_NOW
from apifonica_nb.errors import InvalidRequestError, NotFoundError
from apifonica_nb.fetch._watch import infer_statuses

TO, FROM = "4930123456", "358942417543"
FAST = {"step_seconds": 0.3, "talk_seconds": 0.3}


@pytest.fixture(scope="module")
def sb() -> Iterator[Any]:
    """This module's sandbox: it places calls, which the shared one must not get."""
    with ap.sandbox.running(calls=60, seed=31, now=DEMO_NOW) as sandbox:
        yield sandbox


def _seen(df: pd.DataFrame) -> list[str]:
    return df.loc[~df["inferred"], "status"].astype(str).tolist()


def test_a_placed_call_is_watched_to_its_final_status(sb: Any) -> None:
    sid = sb.place_call(to=TO, from_=FROM, **FAST)
    sb.reset_request_count()
    df = ap.watch_call(sid, client=sb.client(), interval=0.1, progress=False)
    seen = _seen(df)
    assert len(seen) >= 2
    assert seen[-1] == "completed" and df.attrs["final"] is True
    assert not df.attrs["timed_out"] and not df.attrs["cancelled"]
    # Every row is a documented step, in lifecycle order, and together they are the whole path.
    assert (
        df["status"].astype(str).tolist()
        == ["queued", "initiated", "ringing", "answered", "completed"][-len(df) :]
    )
    assert list(df.columns) == ["status", "first_seen", "last_seen", "polls", "inferred"]
    assert (
        str(df["first_seen"].dtype) == "datetime64[us, UTC]" and str(df["polls"].dtype) == "Int64"
    )
    assert (df.loc[~df["inferred"], "first_seen"] <= df.loc[~df["inferred"], "last_seen"]).all()
    assert df["polls"].sum() == df.attrs["requests"] == sb.request_count  # one GET per poll
    assert df.loc[df["inferred"], "first_seen"].isna().all()


@pytest.mark.parametrize("outcome", ["busy", "no_answer", "rejected", "failed", "canceled"])
def test_a_placed_call_ends_with_its_outcome(sb: Any, outcome: str) -> None:
    sid = sb.place_call(to=TO, from_=FROM, outcome=outcome, **FAST)
    df = ap.watch_call(sid, client=sb.client(), interval=0.1, progress=False)
    assert _seen(df)[-1] == outcome and df.attrs["final"] is True
    assert "answered" not in df["status"].astype(str).tolist()  # never answered
    record = sb.client().get_call(sid)
    assert record["status"] == outcome and record["started"] is None and record["duration"] == 0


def test_timeout_returns_what_was_seen(sb: Any) -> None:
    sid = sb.place_call(to=TO, from_=FROM, step_seconds=30)
    df = ap.watch_call(sid, client=sb.client(), timeout=0, progress=False)
    assert df.attrs["requests"] == 1 and df.attrs["timed_out"] is True
    assert df.attrs["final"] is False
    assert df["status"].astype(str).tolist() == ["queued"]
    assert df["polls"].tolist() == [1]


def test_a_cancel_already_set_returns_an_empty_history(sb: Any) -> None:
    sid = sb.place_call(to=TO, from_=FROM, step_seconds=30)
    stop = threading.Event()
    stop.set()
    sb.reset_request_count()
    df = ap.watch_call(sid, client=sb.client(), cancel=stop, progress=False)
    assert len(df) == 0 and df.attrs["cancelled"] is True and df.attrs["requests"] == 0
    assert sb.request_count == 0
    assert list(df.columns) == ["status", "first_seen", "last_seen", "polls", "inferred"]


def test_a_cancel_during_the_watch_returns_what_was_seen(sb: Any) -> None:
    sid = sb.place_call(to=TO, from_=FROM, step_seconds=30)
    stop = threading.Event()
    out: dict[str, pd.DataFrame] = {}
    client = sb.client()
    sb.reset_request_count()
    worker = threading.Thread(
        target=lambda: out.update(
            df=ap.watch_call(sid, client=client, interval=0.05, cancel=stop, progress=False)
        )
    )
    worker.start()
    while sb.request_count < 3:  # three polls answered (or on their way), then cancel
        threading.Event().wait(0.02)
    stop.set()
    worker.join(timeout=30)
    df = out["df"]
    assert df.attrs["cancelled"] is True and df.attrs["final"] is False
    assert df["status"].astype(str).tolist() == ["queued"]
    assert df.attrs["requests"] >= 2 and df["polls"].sum() == df.attrs["requests"]


def test_a_429_is_waited_out_as_the_api_asks(fault_sandbox: Any) -> None:
    sid = fault_sandbox.place_call(to=TO, from_=FROM, **FAST)
    fault_sandbox.set_faults(rate_limit_rate=0.4, retry_after=0)
    fault_sandbox.reset_request_count()
    df = ap.watch_call(sid, client=fault_sandbox.client(), interval=0.1, progress=False)
    assert _seen(df)[-1] == "completed"
    # Some answers were 429s, retried by the client's one policy: more requests than polls.
    assert fault_sandbox.request_count > df.attrs["requests"]


def test_an_unknown_call_raises_a_clear_error(sb: Any) -> None:
    with pytest.raises(NotFoundError, match="not found") as info:
        ap.watch_call("calnope", client=sb.client(), progress=False)
    assert len(info.value.frame) == 0
    for bad in ({"interval": -1}, {"timeout": "soon"}):
        with pytest.raises(InvalidRequestError):
            ap.watch_call("calnope", client=sb.client(), progress=False, **bad)


def test_progress_without_a_notebook_prints_one_line_per_status(
    sb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    sid = sb.place_call(to=TO, from_=FROM, outcome="failed", **FAST)
    df = ap.watch_call(sid, client=sb.client(), interval=0.1)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == len(_seen(df))  # one line per status seen, the final one once
    assert lines[-1].startswith(f"call {sid}: failed") and "final" in lines[-1]
    assert sb.auth_token not in "".join(lines)


@pytest.mark.parametrize(
    ("seen", "inferred"),
    [
        (["queued", "completed"], ["initiated", "ringing", "answered"]),
        (["queued", "ringing", "busy"], ["initiated"]),
        (["initiated", "no_answer"], ["ringing"]),
        (["ringing", "answered", "completed"], []),
        (["queued", "failed"], []),
        (["queued", "canceled"], []),
        (["answered", "modified", "completed"], []),
        (["queued", "brand_new", "completed"], []),
    ],
)
def test_the_lifecycle_says_what_a_get_missed(seen: list[str], inferred: list[str]) -> None:
    rows = infer_statuses(seen)
    assert [s for s, was_inferred in rows if not was_inferred] == seen
    assert [s for s, was_inferred in rows if was_inferred] == inferred


def test_ctrl_c_returns_what_was_seen(sb: Any) -> None:
    sid = sb.place_call(to=TO, from_=FROM, step_seconds=30)
    sb.reset_request_count()

    def interrupt_after_two_polls() -> None:
        while sb.request_count < 2:
            threading.Event().wait(0.02)
        _thread.interrupt_main()  # what Ctrl-C does to the notebook's main thread

    threading.Thread(target=interrupt_after_two_polls, daemon=True).start()
    df = ap.watch_call(sid, client=sb.client(), interval=0.05, progress=False)
    assert df.attrs["cancelled"] is True and df.attrs["final"] is False
    assert df["status"].astype(str).tolist() == ["queued"] and df["polls"].iloc[0] >= 1
