"""The one place that decides where calls come from: the real API or the bundled sandbox.

:func:`connect` is what notebooks start with; the CLI and the explorer call it too, and
:func:`describe` gives them the one line that says which source a client reads.

The sandboxes :func:`connect` starts (one per ``(calls, seed, now)``, once per process, stopped
at exit) live in :data:`SANDBOXES`, a :class:`DemoSandboxes`: the explicit home of that
process-wide state (a server must outlive the call that started it, and a second ``connect()``
in the same kernel must reach the same one). It starts nothing until asked.
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .client import Client
from .errors import ConfigurationError

if TYPE_CHECKING:
    from .sandbox import Sandbox

__all__ = [
    "DEMO_NOW",
    "SANDBOXES",
    "DemoSandboxes",
    "connect",
    "describe",
    "sandbox_calls",
    "uses_sandbox",
]

#: The frozen clock of the sandbox that :func:`connect` starts, so notebooks are reproducible.
DEMO_NOW = "2026-11-01T12:00:00+00:00"
_ENV_SID = "APIFONICA_ACCOUNT_SID"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class DemoSandboxes:
    """The seeded sandboxes this process started for :func:`connect`, by their settings.

    Each starts in the background on first use and stops when the interpreter exits.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[tuple[int, int, str | None], Sandbox] = {}
        self._settings: dict[str, tuple[int, int, str | None]] = {}
        self._by_url: dict[str, Sandbox] = {}

    def get(self, *, calls: int = 500, seed: int = 7, now: str | None = DEMO_NOW) -> Sandbox:
        """Return the sandbox for these settings, starting it if this process has none yet."""
        from . import sandbox  # deferred: the server is only needed when there are no credentials

        key = (calls, seed, now)
        with self._lock:
            sb = self._running.get(key)
            if sb is None:
                sb = sandbox.start(calls=calls, seed=seed, now=now)
                self._running[key] = sb
                self._settings[sb.url] = key
                self._by_url[sb.url] = sb
                atexit.register(sb.stop)
            return sb

    def settings_of(self, base_url: str) -> tuple[int, int, str | None] | None:
        """``(calls, seed, now)`` of the sandbox serving ``base_url``, if this registry has it."""
        with self._lock:
            return self._settings.get(base_url)

    def calls_of(self, base_url: str) -> int | None:
        """How many calls the sandbox serving ``base_url`` was seeded with, if this registry has
        it: ``calls`` and the fraud night's on top (read from the handle's ``call_sids``)."""
        with self._lock:
            sb = self._by_url.get(base_url)
        return None if sb is None else len(sb.call_sids)


#: The one home of the sandboxes :func:`connect` starts (nothing runs until one is asked for).
SANDBOXES = DemoSandboxes()


def uses_sandbox(sandbox: bool | None = None) -> bool:
    """Whether :func:`connect` with this ``sandbox=`` reads the sandbox (else the real API).

    ``None``: the sandbox unless ``APIFONICA_ACCOUNT_SID`` is set (read now); ``True``/``False``:
    as said.
    """
    if sandbox is None:
        return not os.environ.get(_ENV_SID)
    if not isinstance(sandbox, bool):
        raise ConfigurationError(f"sandbox must be True, False or None, got {sandbox!r}")
    return sandbox


def connect(
    *,
    sandbox: bool | None = None,
    calls: int = 500,
    seed: int = 7,
    now: str | None = DEMO_NOW,
    quiet: bool = False,
) -> Client:
    """Return a client for the real API if credentials are set, else for a seeded sandbox.

    ``sandbox=None`` (default): :meth:`Client.from_env` when ``APIFONICA_ACCOUNT_SID`` is set,
    else the sandbox; ``True``: always the sandbox; ``False``: always the environment
    (:class:`~apifonica_nb.errors.ConfigurationError` if it is not set). The sandbox has
    ``calls`` calls (seeded, clock frozen at ``now``; ``now=None`` for a live clock), starts in
    the background once per process, and stops at exit. Unless ``quiet``, one line says which
    source was chosen.

    >>> client = ap.connect()
    """
    if not uses_sandbox(sandbox):
        client = Client.from_env()
        if not quiet:
            print(f"apifonica_nb: using {describe(client)} (APIFONICA_* environment variables).")
        return client
    client = SANDBOXES.get(calls=calls, seed=seed, now=now).client()
    if not quiet:
        why = "sandbox=True, so" if sandbox else f"{_ENV_SID} is not set, so"
        print(f"apifonica_nb: {why} this runs on {describe(client)}.")
    return client


def describe(client: Client) -> str:
    """Say in a few words which source ``client`` reads (no credentials in it).

    >>> describe(ap.connect(quiet=True))
    'the bundled sandbox (527 calls: 500 seeded and a fraud night of 27; clock frozen at ...'
    """
    settings = SANDBOXES.settings_of(client.base_url)
    if settings is None:
        host = urlsplit(client.base_url).hostname
        where = "a local server" if host in _LOOPBACK else "the Apifonica API"
        return f"{where} at {client.base_url} as account {client.account_sid}"
    _calls, _seed, now = settings
    clock = f"clock frozen at {now}" if now else "live clock"
    return f"the bundled sandbox ({sandbox_calls(client.base_url)}; {clock}) at {client.base_url}"


def sandbox_calls(base_url: str) -> str:
    """Say how many calls the :data:`SANDBOXES` sandbox at ``base_url`` holds, and why.

    >>> sandbox_calls(ap.connect(quiet=True).base_url)
    '527 calls: 500 seeded and a fraud night of 27'
    """
    settings = SANDBOXES.settings_of(base_url)
    total = SANDBOXES.calls_of(base_url)
    if settings is None or total is None:
        return "calls not known"
    seeded = settings[0]
    if total == seeded:
        return f"{total:,} seeded calls"
    return f"{total:,} calls: {seeded:,} seeded and a fraud night of {total - seeded:,}"
