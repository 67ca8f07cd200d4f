"""The explorer's detail pane: select a row, read the call, its legs, recording, and watch it."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from typing import Any

import ipywidgets
import pandas as pd
import pytest

import apifonica_nb as ap
from apifonica_nb.connect import DEMO_NOW
from apifonica_nb.frame import STATUS_DESCRIPTIONS
from apifonica_nb.widgets import CallExplorer, RecordingPlayer

TO, FROM = "4930123456", "358942417543"
FAST = {"step_seconds": 0.3, "talk_seconds": 0.3}


@pytest.fixture(scope="module")
def sb() -> Iterator[Any]:
    """This module's sandbox: it places calls, which the shared one must not get."""
    with ap.sandbox.running(calls=200, seed=41, now=DEMO_NOW) as sandbox:
        yield sandbox


@pytest.fixture
def explorer(sb: Any) -> Iterator[CallExplorer]:
    e = CallExplorer(client=sb.client())
    yield e
    e.close()


def select(explorer: CallExplorer, call_sid: str) -> None:
    assert explorer.select(call_sid)
    assert explorer.wait(60)  # the legs load in the background


def test_nothing_is_shown_before_a_row_is_selected(explorer: CallExplorer) -> None:
    explorer.fetch()
    assert explorer.selected is None
    assert "Select a row" in explorer.detail_title.value
    assert explorer.watch_button.disabled
    assert explorer.detail in explorer.results.children


def test_selecting_a_row_shows_every_field_and_the_legs(explorer: CallExplorer, sb: Any) -> None:
    df = explorer.fetch()
    legs = df[df["parent_call_sid"].notna() & (df["parent_call_sid"] != df["call_sid"])]
    sid = str(legs["call_sid"].iloc[0])
    before = sb.request_count
    explorer.table.selected_rows = [int(df.index[df["call_sid"] == sid][0])]  # a click
    assert explorer.wait(60)
    # GET the call, GET its parent, the history of the parent's span (one page here).
    assert sb.request_count - before == 3
    family = ap.call_family(sid, client=sb.client())
    assert sid in explorer.detail_title.value
    pd.testing.assert_frame_equal(
        explorer.selected, df[df["call_sid"] == sid].reset_index(drop=True)
    )
    for column in df.columns:  # every field of the call, in the pane
        assert f"<th>{column}" in explorer.detail_fields.value
    status = str(df.loc[df["call_sid"] == sid, "status"].iloc[0])
    assert STATUS_DESCRIPTIONS[status].replace("'", "&#x27;") in explorer.status_meaning.value
    (shown,) = explorer.legs.outputs
    figure = shown["data"]["application/vnd.plotly.v1+json"]
    drawn = {label.split(" ")[1].rstrip("…") for trace in figure["data"] for label in trace["y"]}
    assert {s[:11] for s in family["call_sid"]} == drawn and len(family) >= 2


def test_a_recorded_call_gets_a_player_and_no_audio_in_the_state(
    explorer: CallExplorer, sb: Any
) -> None:
    df = explorer.fetch()
    recorded = df[df["record_sid"].notna()].iloc[0]
    select(explorer, str(recorded["call_sid"]))
    (player,) = explorer.recording.children
    assert isinstance(player, RecordingPlayer)
    assert player.record_sid == recorded["record_sid"]
    sent: list[tuple[Any, Any]] = []
    player.send = lambda content, buffers=None: sent.append((content, buffers))  # type: ignore[method-assign]
    player._handle_custom_msg({"type": "load"}, [])  # what the browser sends when shown
    ((content, buffers),) = sent
    audio = bytes(buffers[0])
    assert content["type"] == "audio" and audio[:4] == b"RIFF"
    state = json.dumps(ipywidgets.Widget.get_manager_state(drop_defaults=False))
    assert str(recorded["call_sid"]) in state and "ready" in state  # the pane is in the state
    for trace in (base64.b64encode(audio[:30]).decode()[:24], "UklGR", "data:audio"):
        assert trace not in state
    assert sb.auth_token not in state
    # Another row without a recording: the player goes.
    select(explorer, str(df[df["record_sid"].isna()]["call_sid"].iloc[0]))
    assert explorer.recording.children == ()


def test_a_final_call_cannot_be_watched(explorer: CallExplorer) -> None:
    df = explorer.fetch()
    select(explorer, str(df[df["is_final"].fillna(False)]["call_sid"].iloc[0]))
    assert explorer.watch_button.disabled
    assert "final: it will not change" in explorer.status_meaning.value


def test_watch_follows_a_placed_call_to_its_final_status(explorer: CallExplorer, sb: Any) -> None:
    sid = sb.place_call(to=TO, from_=FROM, outcome="busy", **FAST)
    df = explorer.fetch()  # placed calls head the history listing
    select(explorer, sid)
    assert "in progress" in explorer.status_meaning.value
    assert not explorer.watch_button.disabled
    explorer.watch_button.click()
    assert explorer.wait(60)
    seen = explorer._detail.watch_seen
    assert seen is not None and seen.attrs["final"] and seen.attrs["call_sid"] == sid
    assert seen["status"].astype(str).iloc[-1] == "busy"
    assert "<b>busy</b>" in explorer.watch_view.value and "final" in explorer.watch_view.value
    assert explorer.watch_button.disabled  # final now
    assert not explorer.fetch_button.disabled and explorer.cancel_button.disabled
    assert len(df) > 0


def test_cancel_stops_a_watch_and_keeps_what_was_seen(explorer: CallExplorer, sb: Any) -> None:
    sid = sb.place_call(to=TO, from_=FROM, step_seconds=30)
    explorer.fetch()
    select(explorer, sid)
    polled = threading.Event()
    view = explorer.watch_view
    view.observe(lambda _c: polled.set(), names="value")
    assert explorer.watch() is not None
    assert polled.wait(30)  # "watching…" is shown
    assert not explorer.cancel_button.disabled and explorer.fetch_button.disabled
    explorer.cancel_button.click()
    assert explorer.wait(60)
    seen = explorer._detail.watch_seen
    assert seen is not None and seen.attrs["cancelled"] and not seen.attrs["final"]
    assert "cancelled" in explorer.watch_view.value
    assert not explorer.fetch_button.disabled and explorer.cancel_button.disabled


def test_a_new_fetch_clears_the_selection(explorer: CallExplorer) -> None:
    df = explorer.fetch()
    select(explorer, str(df["call_sid"].iloc[3]))
    explorer.fetch()
    assert explorer.selected is None and explorer.table.selected_rows == []
    assert "Select a row" in explorer.detail_title.value
    assert not explorer.select("calnothere")
