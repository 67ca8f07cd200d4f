"""The two backends of a sandbox handle: a server thread here, or a child process.

:class:`~apifonica_nb.sandbox.Sandbox` talks to either the same way: ``state()``, ``change()``,
``request_count()``, ``stop()``. A process backend changes the server through its admin route
(``/_sandbox/state``), over loopback and never through a configured proxy.
"""

from __future__ import annotations

import atexit
import collections
import datetime as dt
import json
import subprocess
import urllib.request
from typing import IO, Any

from apifonica_nb.sandbox.server import SandboxApp, ServerThread
from apifonica_nb.sandbox.values import epoch

__all__ = ["CHILDREN", "LocalBackend", "ProcessBackend", "drain"]


class LocalBackend:
    """Backend of a sandbox served from a thread of this process."""

    def __init__(self, app: SandboxApp, server: ServerThread) -> None:
        self.app = app
        self.server = server

    def state(self) -> dict[str, Any]:
        return self.app.state()

    def change(self, **change: Any) -> None:
        if "latency" in change:
            self.app.latency = change["latency"]
        if "faults" in change:
            self.app.faults = change["faults"]
        if "now" in change:
            self.app.set_clock(epoch(change["now"]))
        if "rate_limit" in change:
            limit = change["rate_limit"]
            self.app.limiter.set(limit["rate"], limit["burst"])
        if change.get("reset_request_count"):
            self.app.reset_request_count()

    def request_count(self) -> int:
        return self.app.request_count

    def stop(self) -> None:
        self.server.stop()


class ProcessBackend:
    """Backend of a sandbox served by ``python -m apifonica_nb.sandbox`` in a child process."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, auth: str) -> None:
        self.proc = proc
        self._state_url = url.rsplit("/v2", 1)[0] + "/_sandbox/state"
        self._auth = auth
        # Loopback only: never send the admin request through a configured HTTP proxy.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _call(self, body: dict[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(
            self._state_url,
            data=None if body is None else json.dumps(body).encode(),
            method="GET" if body is None else "POST",
            headers={"Authorization": self._auth, "Content-Type": "application/json"},
        )
        with self._opener.open(request, timeout=30) as response:
            return dict(json.loads(response.read()))

    def state(self) -> dict[str, Any]:
        return self._call()

    def change(self, **change: Any) -> None:
        if "now" in change:
            seconds = epoch(change["now"])
            change["now"] = (
                None if seconds is None else dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat()
            )
        self._call(change)

    def request_count(self) -> int:
        return int(self.state()["request_count"])

    def stop(self) -> None:
        CHILDREN.discard(self)
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()  # stderr is closed by its drain thread at EOF


#: Sandbox processes still running; stopped at interpreter exit so none is left orphaned.
CHILDREN: set[ProcessBackend] = set()


@atexit.register
def _stop_children() -> None:
    for child in list(CHILDREN):
        child.stop()


def drain(pipe: IO[bytes], keep: collections.deque[bytes]) -> None:
    """Keep the last lines a child writes to stderr, until it exits, then close the pipe."""
    with pipe:
        for line in pipe:
            keep.append(line)
