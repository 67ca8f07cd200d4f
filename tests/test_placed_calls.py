"""The sandbox places calls: POST /accounts/{sid}/calls, its 201 envelope, the live lifecycle."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

import apifonica_nb as ap
from apifonica_nb.connect import DEMO_NOW


@pytest.fixture(scope="module")
def sb() -> Iterator[Any]:
    with ap.sandbox.running(calls=40, seed=41, now=DEMO_NOW) as sandbox:
        yield sandbox


@pytest.fixture
def api(sb: Any) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.auth = (sb.account_sid, sb.auth_token)
        yield session


def test_post_answers_the_documented_201_envelope(sb: Any, api: requests.Session) -> None:
    body = {"from": "358942417543", "to": "+4930123456", "call_app_sid": "app1", "events": []}
    response = api.post(f"{sb.url}/accounts/{sb.account_sid}/calls", json=body)
    assert response.status_code == 201
    envelope = response.json()
    assert set(envelope) == {"status_code", "status_message", "uri"}
    assert envelope["status_code"] == 201 and envelope["status_message"] == "CREATED"
    prefix = f"/v2/accounts/{sb.account_sid}/calls/"
    assert envelope["uri"].startswith(prefix) and response.headers["Location"] == envelope["uri"]
    call_sid = envelope["uri"].removeprefix(prefix)
    call = sb.client().get_call(call_sid)
    assert call["status"] == "queued" and call["to"] == "4930123456"
    assert call["account_sid"] == sb.account_sid and call["direction"] == "outbound"
    assert call["started"] is None and call["price"] is None and call["ended"] is None


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"to": "4930123456"}, "'from'"),
        ({"from": "358942417543", "to": "anonymous"}, "'to'"),
        ({"from": "358942417543", "to": "4930123456", "outcome": "exploded"}, "outcome"),
        ({"from": "358942417543", "to": "4930123456", "step_seconds": 0}, "step_seconds"),
    ],
)
def test_a_call_the_sandbox_cannot_place_is_a_clear_400(
    sb: Any, api: requests.Session, body: dict[str, Any], says: str
) -> None:
    response = api.post(f"{sb.url}/accounts/{sb.account_sid}/calls", json=body)
    assert response.status_code == 400 and says in response.json()["message"]
    with pytest.raises(ValueError, match=says):
        sb.place_call(
            **{
                "to": body.get("to"),
                "from_": body.get("from"),
                **{k: v for k, v in body.items() if k not in ("to", "from")},
            }
        )
    not_json = api.post(f"{sb.url}/accounts/{sb.account_sid}/calls", data=b"{")
    assert not_json.status_code == 400


def test_a_placed_call_needs_the_credentials(sb: Any) -> None:
    response = requests.post(
        f"{sb.url}/accounts/{sb.account_sid}/calls",
        json={"from": "358942417543", "to": "4930123456"},
        auth=(sb.account_sid, "wrong"),
        timeout=10,
    )
    assert response.status_code == 401


def test_placed_calls_head_the_history_and_match_its_filters(sb: Any) -> None:
    client = sb.client()
    before = [c["call_sid"] for c in client.iter_calls()]
    sid = sb.place_call(to="4930123456", from_="358942417543", step_seconds=30, tag="demo")
    after = [c["call_sid"] for c in client.iter_calls()]
    assert after == [sid, *before]  # one more call, the newest, nothing else changed
    assert set(sb.call_sids) <= set(after) and sid not in sb.call_sids

    def listed(**filters: Any) -> list[str]:
        return [c["call_sid"] for c in client.iter_calls(**filters)]

    assert sid in listed(status="queued") and sid not in listed(status="completed")
    assert listed(tag="demo") == [sid] and sid in listed(to="4930123456", direction="outbound")
    assert sid not in listed(direction="inbound") and sid not in listed(date_to="2026-10-01")
    assert sid in listed(date_from=DEMO_NOW[:10], date_to=DEMO_NOW[:10])
    df = ap.fetch_history(client=client, progress=False, cache=False)
    assert df["call_sid"].iloc[0] == sid and df["call_sid"].is_unique and len(df) == len(after)
    assert df["status"].iloc[0] == "queued" and df["tag"].iloc[0] == "demo"


def test_a_recorded_completed_call_gets_a_recording(sb: Any) -> None:
    sid = sb.place_call(
        to="4930123456", from_="358942417543", record=True, step_seconds=0.2, talk_seconds=0.2
    )
    client = sb.client()
    seen = ap.watch_call(sid, client=client, interval=0.1, progress=False)
    assert seen["status"].astype(str).tolist()[-1] == "completed"
    call = client.get_call(sid)
    assert call["record_sid"] and call["price"] is not None and call["duration"] >= 0
    recording = client.get_recording(call["record_sid"])
    assert recording["call_sid"] == sid and recording["to"] == "4930123456"
    listed = ap.fetch_recordings(client=client, call_sid=sid)
    assert listed["record_sid"].tolist() == [call["record_sid"]]


def test_placed_call_sids_are_distinct_under_concurrency(sb: Any) -> None:
    sids: list[str] = []
    lock = threading.Lock()

    def place() -> None:
        sid = sb.place_call(to="4930123456", from_="358942417543", step_seconds=30)
        with lock:
            sids.append(sid)

    threads = [threading.Thread(target=place) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(sids)) == 8


@pytest.mark.slow
def test_a_process_sandbox_places_calls_too() -> None:
    with ap.sandbox.running(calls=20, seed=43, now=DEMO_NOW, process=True) as sb:
        sid = sb.place_call(to="4930123456", from_="358942417543", outcome="busy", step_seconds=0.2)
        seen = ap.watch_call(sid, client=sb.client(), interval=0.1, progress=False)
        assert seen["status"].astype(str).tolist()[-1] == "busy" and seen.attrs["final"]
