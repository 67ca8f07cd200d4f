"""Recordings: the typed listing, the audio bytes, where credentials go, and the player's state."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import pathlib
import threading
import wave
from collections.abc import Iterator
from typing import Any

import ipywidgets
import pandas as pd
import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

import apifonica_nb as ap
from apifonica_nb.errors import APIStatusError, DataQualityWarning, ResponseFormatError
from apifonica_nb.frame import RECORDING_DTYPES
from apifonica_nb.sandbox.recordings import synthetic_wav


@pytest.fixture(scope="module")
def history(sandbox: Any) -> list[dict[str, Any]]:
    return list(sandbox.client().iter_calls())


@pytest.fixture
def storage() -> Iterator[dict[str, Any]]:
    """A second loopback server (another origin): it records the Authorization header of every
    request and answers a WAV file."""
    state: dict[str, Any] = {"auth": [], "paths": []}

    @Request.application  # type: ignore[arg-type]
    def app(request: Request) -> Response:
        state["auth"].append(request.headers.get("Authorization"))
        state["paths"].append(request.path)
        if request.path.endswith(".mp3"):
            return Response(b"ID3\x04\x00" + bytes(64), mimetype="audio/mpeg")
        if request.path.endswith(".html"):
            return Response(b"<html>login</html>", mimetype="text/html")
        return Response(synthetic_wav("recstored"), mimetype="audio/wav")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_port}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def test_the_listing_is_one_typed_row_per_recording(
    sandbox: Any, history: list[dict[str, Any]]
) -> None:
    df = ap.fetch_recordings(client=sandbox.client())
    recorded = {c["record_sid"]: c for c in history if c["record_sid"]}
    assert sorted(df["record_sid"]) == sorted(recorded) and df["record_sid"].is_unique
    assert list(df.columns) == list(RECORDING_DTYPES)
    for name, dtype in RECORDING_DTYPES.items():
        assert df[name].dtype == dtype, name
    for row in df.head(20).to_dict("records"):
        call = recorded[row["record_sid"]]
        assert (row["call_sid"], row["from"], row["to"]) == (
            call["call_sid"],
            call["from"],
            call["to"],
        )
        assert row["direction"] == call["direction"] and row["number_sid"] == call["number_sid"]
    assert (df["size"] > 0).all() and (df["price"] > 0).all()
    assert ((df["exp_date"] - df["record_created"]).dt.days == 365).all()
    assert (df["record_created"] >= df["call_created"]).all()
    assert df["rec_url"].str.endswith(".wav").all()
    assert df.attrs["duplicates"] == 0 and df.attrs["warnings"] == []


def test_the_listing_filters_are_applied(sandbox: Any) -> None:
    client = sandbox.client()
    every = ap.fetch_recordings(client=client)
    one = every.iloc[5]
    only = ap.fetch_recordings(client=client, call_sid=one["call_sid"])
    assert only["record_sid"].tolist() == [one["record_sid"]]
    day = one["record_created"].normalize()
    window = ap.fetch_recordings(client=client, since=day, until=day + pd.Timedelta(days=1))
    expected = every[
        (every["record_created"] >= day) & (every["record_created"] < day + pd.Timedelta(days=1))
    ]
    assert sorted(window["record_sid"]) == sorted(expected["record_sid"]) and len(window) >= 1


def test_the_audio_is_a_valid_wav_file(sandbox: Any) -> None:
    client = sandbox.client()
    record_sid = ap.fetch_recordings(client=client)["record_sid"].iloc[0]
    data = ap.fetch_recording_audio(record_sid, client=client)
    with wave.open(io.BytesIO(data)) as wav:
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2 and wav.getframerate() == 8000
        assert wav.getnframes() == 12000  # 1.5 s
        assert any(wav.readframes(4000))  # not silence
    assert data == ap.fetch_recording_audio(record_sid, client=client)  # same bytes each time


def test_mp3_is_refused_clearly_by_the_sandbox(sandbox: Any) -> None:
    client = sandbox.client()
    record_sid = ap.fetch_recordings(client=client)["record_sid"].iloc[0]
    assert client.get_recording(record_sid, format="mp3")["rec_url"].endswith(".mp3")
    with pytest.raises(APIStatusError, match="WAV audio only") as info:
        ap.fetch_recording_audio(record_sid, client=client, format="mp3")
    assert info.value.status_code == 400
    with pytest.raises(ap.errors.InvalidRequestError, match="'wav' or 'mp3'"):
        ap.fetch_recording_audio(record_sid, client=client, format="ogg")


def _recording(rec_url: str, sid: str = "rec1") -> dict[str, Any]:
    return {"record_sid": sid, "call_sid": "cal1", "account_sid": "acc1", "rec_url": rec_url}


def test_credentials_are_never_sent_to_a_rec_url_on_another_origin(
    odd_server: Any, storage: dict[str, Any]
) -> None:
    client = ap.Client(account_sid="acc1", auth_token="tok", base_url=odd_server.url)
    api_auth: list[str | None] = []
    odd_server.json(
        "/v2/accounts/acc1/recordings/rec1", _recording(f"{storage['url']}/store/rec1.wav")
    )
    data = ap.fetch_recording_audio("rec1", client=client)
    assert data == synthetic_wav("recstored")
    assert storage["auth"] == [None] and storage["paths"] == ["/store/rec1.wav"]

    # A rec_url on the API's own origin gets the credentials; its redirect elsewhere does not.
    def redirect(request: Request) -> tuple[int, dict[str, str], bytes]:
        api_auth.append(request.headers.get("Authorization"))
        return 302, {"Location": f"{storage['url']}/moved/rec2.wav"}, b""

    own = odd_server.url + "/accounts/acc1/recordings/rec2.wav"
    odd_server.json("/v2/accounts/acc1/recordings/rec2", _recording(own, "rec2"))
    odd_server.routes["/v2/accounts/acc1/recordings/rec2.wav"] = redirect
    assert ap.fetch_recording_audio("rec2", client=client) == synthetic_wav("recstored")
    expected = "Basic " + base64.b64encode(b"acc1:tok").decode()
    assert api_auth == [expected]
    assert storage["auth"] == [None, None] and storage["paths"][-1] == "/moved/rec2.wav"


def test_a_foreign_rec_url_in_clear_text_or_not_audio_is_refused(
    odd_server: Any, storage: dict[str, Any]
) -> None:
    client = ap.Client(account_sid="acc1", auth_token="tok", base_url=odd_server.url)
    odd_server.json(
        "/v2/accounts/acc1/recordings/rec3",
        _recording("http://recordings.example.com/rec3.wav", "rec3"),
    )
    with pytest.raises(ResponseFormatError, match="not over https"):
        ap.fetch_recording_audio("rec3", client=client)
    odd_server.json(
        "/v2/accounts/acc1/recordings/rec4", _recording(f"{storage['url']}/login.html", "rec4")
    )
    with pytest.raises(ResponseFormatError, match="not a wav file") as info:
        ap.fetch_recording_audio("rec4", client=client)
    assert "tok" not in str(info.value)
    odd_server.json("/v2/accounts/acc1/recordings/rec5", _recording("x", "rec-other"))
    with pytest.raises(ResponseFormatError, match="another recording"):
        ap.fetch_recording_audio("rec5", client=client)


def test_odd_recording_values_become_na_with_one_warning_per_field() -> None:
    good = {
        "record_sid": "rec1",
        "call_sid": "cal1",
        "size": "0.5",
        "price": 0.001,
        "record_created": "Fri, 21 Apr 2017 13:01:25 +0000",
        "from": "+35894",
        "direction": "Outbound",
    }
    odd = {"record_sid": "rec2", "size": "big", "record_created": "yesterday", "rec_url": 7}
    with pytest.warns(DataQualityWarning) as caught:
        df = ap.recordings_to_frame([good, odd, dict(good)])
    fields = sorted(str(w.message).split(":")[0] for w in caught)
    assert fields == ["rec_url", "record_created", "size"]
    assert len(df) == 2 and df.attrs["duplicates"] == 1
    assert df["size"].tolist()[0] == 0.5 and df["size"].isna().tolist() == [False, True]
    assert df["from"].iloc[0] == "35894" and df["direction"].iloc[0] == "outbound"
    assert str(df["record_created"].dtype) == "datetime64[us, UTC]"
    empty = ap.recordings_to_frame([])
    assert list(empty.columns) == list(RECORDING_DTYPES)
    assert all(empty[k].dtype == v for k, v in RECORDING_DTYPES.items())


def _manager_state() -> str:
    return json.dumps(ipywidgets.Widget.get_manager_state())


def test_saved_widget_state_after_playing_has_no_audio(sandbox: Any) -> None:
    client = sandbox.client()
    record_sid = ap.fetch_recordings(client=client)["record_sid"].iloc[0]
    player = ap.widgets.recording_player(record_sid, client=client)
    sent: list[tuple[Any, Any]] = []
    player.send = lambda content, buffers=None: sent.append((content, buffers))  # type: ignore[method-assign]
    try:
        player._handle_custom_msg({"type": "load"}, [])  # what the browser sends when shown
        ((content, buffers),) = sent
        assert content == {"type": "audio", "mime": "audio/wav"}
        audio = bytes(buffers[0])
        with wave.open(io.BytesIO(audio)) as wav:
            assert wav.getnframes() > 0
        state = _manager_state()
        assert record_sid in state and "ready" in state  # the state is really there
        for trace in (base64.b64encode(audio[:30]).decode()[:24], "UklGR", "data:audio"):
            assert trace not in state
        assert sandbox.auth_token not in state
        assert player.src == ""
    finally:
        player.close()


def test_embed_is_the_explicit_way_to_keep_the_audio(sandbox: Any) -> None:
    client = sandbox.client()
    record_sid = ap.fetch_recordings(client=client)["record_sid"].iloc[0]
    player = ap.widgets.recording_player(record_sid, client=client, embed=True)
    try:
        assert player.src.startswith("data:audio/wav;base64,UklGR")
        assert player.src in _manager_state()
    finally:
        player.close()
    broken = ap.widgets.recording_player("recnope", client=client)
    try:
        assert (
            broken.audio() is None
            and "could not load" in broken.status
            and "not found" in broken.status
        )
    finally:
        broken.close()


def test_the_readme_documents_every_recording_column() -> None:
    root = pathlib.Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("readme_tool", root / "tools" / "readme.py")
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert set(tool.RECORDING_NOTES) == set(RECORDING_DTYPES)
    assert tool.REC_START in readme and tool.render(readme) == readme
    for name in RECORDING_DTYPES:
        assert f"| `{name}` |" in readme.partition(tool.REC_START)[2], name


def test_mp3_audio_is_read_when_the_api_serves_it(odd_server: Any, storage: dict[str, Any]) -> None:
    client = ap.Client(account_sid="acc1", auth_token="tok", base_url=odd_server.url)
    odd_server.json(
        "/v2/accounts/acc1/recordings/rec6", _recording(f"{storage['url']}/rec6.mp3", "rec6")
    )
    assert ap.fetch_recording_audio("rec6", client=client, format="mp3").startswith(b"ID3")
    assert odd_server.hits[-1] == "/v2/accounts/acc1/recordings/rec6?format=mp3"
    with pytest.raises(ResponseFormatError, match="not a wav file"):
        ap.fetch_recording_audio("rec6", client=client)  # an mp3 where a WAV was asked for
