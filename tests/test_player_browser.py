"""The recording player's front end in Debian's Chromium: the bytes become a playable blob URL.

The widget's ES module is loaded into a blank page and rendered with a minimal stand-in for the
anywidget model (``get``/``on``/``send``); the kernel's side is the real widget, whose answer to
the browser's "load" message (a binary buffer) is handed to the page. No JupyterLab needed.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

import apifonica_nb as ap
from apifonica_nb.widgets._player import _ESM

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAGE = """
<div id="out"></div>
<script>
window.sent = [];
window.handlers = {};
window.renderPlayer = async (esm, state) => {
  const url = URL.createObjectURL(new Blob([esm], { type: "text/javascript" }));
  const mod = await import(url);
  const model = {
    get: (k) => state[k],
    on: (event, fn) => { window.handlers[event] = fn; },
    send: (msg) => { window.sent.push(msg); },
  };
  mod.default.render({ model, el: document.getElementById("out") });
};
window.deliver = (msg, b64) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  window.handlers["msg:custom"](msg, [new DataView(bytes.buffer)]);
};
</script>
"""


def test_the_player_plays_the_audio_from_a_blob_url(chromium: Any, sandbox: Any) -> None:
    client = sandbox.client()
    record_sid = ap.fetch_recordings(client=client)["record_sid"].iloc[0]
    player = ap.widgets.recording_player(record_sid, client=client)
    sent: list[tuple[Any, Any]] = []
    player.send = lambda content, buffers=None: sent.append((content, buffers))  # type: ignore[method-assign]
    page = chromium.new_page()
    try:
        page.set_content(PAGE)
        state = {"record_sid": record_sid, "status": player.status, "src": player.src}
        page.evaluate("([esm, state]) => window.renderPlayer(esm, state)", [_ESM, state])
        assert page.evaluate("window.sent") == [{"type": "load"}]  # the browser asks for it
        player._handle_custom_msg({"type": "load"}, [])
        ((content, buffers),) = sent
        page.evaluate(
            "([m, b]) => window.deliver(m, b)",
            [content, base64.b64encode(bytes(buffers[0])).decode()],
        )
        audio = page.locator(f'audio[data-record-sid="{record_sid}"]')
        assert audio.get_attribute("src").startswith("blob:")
        page.wait_for_function("document.querySelector('audio').readyState >= 1", timeout=10_000)
        assert round(page.evaluate("document.querySelector('audio').duration"), 1) == 1.5
        assert record_sid in page.inner_text("#out")
    finally:
        page.close()
        player.close()
