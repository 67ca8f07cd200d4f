"""Play one recording in a notebook without the audio ever landing in saved widget state.

The widget's synced state is the record SID and a status line. When a view is rendered, the
browser asks the kernel for the audio; the kernel fetches it
(:func:`apifonica_nb.fetch_recording_audio`) and sends the bytes as a custom message's binary
buffer, which is never part of the widget state. The browser turns them into a ``blob:`` URL
for its ``<audio>`` element. So "Save widget state" and a committed notebook hold no audio, and
a reopened notebook asks for it again (it plays only with a live kernel). ``embed=True`` is the
explicit opt-in: the audio goes into the state as a ``data:`` URL, and is saved with it.
"""

from __future__ import annotations

import base64
from typing import Any

import anywidget
import traitlets

from ..client import Client, validate_call_sid
from ..errors import ApifonicaError
from ..fetch import fetch_recording_audio

__all__ = ["RecordingPlayer", "recording_player"]

_MIME = {"wav": "audio/wav", "mp3": "audio/mpeg"}

_ESM = """
function render({ model, el }) {
  const box = document.createElement("div");
  box.className = "apifonica-recording";
  const label = document.createElement("div");
  label.style.fontSize = "small";
  const audio = document.createElement("audio");
  audio.controls = true;
  audio.preload = "auto";
  audio.dataset.recordSid = model.get("record_sid");
  box.append(audio, label);
  el.append(box);
  const show = () => {
    label.textContent = model.get("record_sid") + ": " + model.get("status");
  };
  model.on("change:status", show);
  show();
  let url = null;
  model.on("msg:custom", (msg, buffers) => {
    if (msg.type !== "audio" || !buffers.length) return;
    if (url) URL.revokeObjectURL(url);
    url = URL.createObjectURL(new Blob([buffers[0]], { type: msg.mime }));
    audio.src = url;
  });
  const embedded = model.get("src");
  if (embedded) {
    audio.src = embedded;
  } else {
    model.send({ type: "load" });
  }
  return () => { if (url) URL.revokeObjectURL(url); };
}
export default { render };
"""


class RecordingPlayer(anywidget.AnyWidget):
    """An ``<audio>`` player of one recording (build it with :func:`recording_player`)."""

    _esm = _ESM
    record_sid = traitlets.Unicode("").tag(sync=True)
    #: What the player is doing: waiting for the kernel, "ready (… KB wav)", or why it could
    #: not load. A saved notebook keeps the first (the audio itself is never saved).
    status = traitlets.Unicode(
        "waiting for a live kernel to send the audio (it is never saved with the notebook)"
    ).tag(sync=True)
    #: Empty unless ``embed=True``: then the audio as a data: URL (saved with the state).
    src = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self, record_sid: str, *, client: Client, embed: bool = False, format: str = "wav"
    ) -> None:
        super().__init__(record_sid=validate_call_sid(record_sid, what="record_sid"))
        self._client = client
        self._format = format
        self._audio: bytes | None = None  # kept in the kernel only, never synced
        self.on_msg(self._on_message)
        if embed:
            data = self.audio()
            if data is not None:
                mime = _MIME.get(format, "audio/wav")
                self.src = f"data:{mime};base64,{base64.b64encode(data).decode()}"

    def audio(self) -> bytes | None:
        """Return the recording's bytes (fetched once), or None if they could not be fetched
        (``status`` then says why)."""
        if self._audio is None:
            try:
                self._audio = fetch_recording_audio(
                    self.record_sid, client=self._client, format=self._format
                )
            except ApifonicaError as exc:
                self.status = f"could not load the recording: {exc}"
                return None
            self.status = f"ready ({len(self._audio) / 1024:.0f} KB {self._format})"
        return self._audio

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "load":
            data = self.audio()
            if data is not None:
                mime = _MIME.get(self._format, "audio/wav")
                self.send({"type": "audio", "mime": mime}, buffers=[data])


def recording_player(
    record_sid: str, *, client: Client, embed: bool = False, format: str = "wav"
) -> RecordingPlayer:
    """Return a player widget for one recording (display it; it fetches when shown).

    The audio is sent to the browser as a binary message and played from a ``blob:`` URL, so
    it never lands in saved widget state or a committed notebook; ``embed=True`` asks for the
    opposite explicitly (the audio is stored in the widget state, and saved with it).

    >>> ap.widgets.recording_player("rec…", client=client)  # doctest: +SKIP
    """
    return RecordingPlayer(record_sid, client=client, embed=embed, format=format)
