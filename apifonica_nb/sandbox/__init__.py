"""Simulate the Apifonica calls API locally: a real HTTP server on 127.0.0.1, a seeded account.

::

    import apifonica_nb as ap

    with ap.sandbox.running(calls=500, seed=7, now="2025-06-02T12:00:00Z") as sb:
        client = sb.client()
        call = client.get_call(sb.example_call_sid)

The server never imports the client side: it is an independent oracle of the wire format
(see :mod:`apifonica_nb.sandbox.server` for the routes and the choices made where the vendor
is silent, and :mod:`apifonica_nb.sandbox.data` for the synthetic account).
"""

from __future__ import annotations

import base64
import collections
import datetime as dt
import json
import os
import selectors
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from apifonica_nb.sandbox.backends import CHILDREN, LocalBackend, ProcessBackend, drain
from apifonica_nb.sandbox.generate import generate_account
from apifonica_nb.sandbox.live import place_call
from apifonica_nb.sandbox.ratelimit import check_rate_limit
from apifonica_nb.sandbox.server import SandboxApp, ServerThread, normalize_faults
from apifonica_nb.sandbox.values import epoch
from apifonica_nb.sandbox.values import url_host as _url_host

if TYPE_CHECKING:
    from apifonica_nb.client import Client

__all__ = ["DEFAULT_SEED", "Sandbox", "running", "start"]

DEFAULT_SEED = 7
#: Environment variable that hands an auth-token override to a sandbox subprocess (never argv).
TOKEN_ENV = "APIFONICA_NB_SANDBOX_TOKEN"
_STARTUP_TIMEOUT = 60.0


class Sandbox:
    """A running sandbox: where it is, its credentials and its knobs (see :func:`start`).

    ``url`` is the base URL for ``Client(base_url=...)``; ``call_sids`` lists every call of the
    account, newest first; ``example_call_sid`` is the vendor's documented example call (the
    oldest). ``latency``, ``faults``, ``now`` and the rate limit (:meth:`set_rate_limit`) can be
    changed while it runs.
    """

    def __init__(
        self,
        *,
        url: str,
        account_sid: str,
        auth_token: str,
        call_sids: list[str],
        example_call_sid: str,
        backend: LocalBackend | ProcessBackend,
    ) -> None:
        self.url = url
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.call_sids = call_sids
        self.example_call_sid = example_call_sid
        self._backend = backend
        self._stopped = False

    def __repr__(self) -> str:
        mode = "process" if isinstance(self._backend, ProcessBackend) else "thread"
        state = "stopped" if self._stopped else mode
        return (
            f"Sandbox(url={self.url!r}, account_sid={self.account_sid!r}, auth_token='***', "
            f"calls={len(self.call_sids)}, {state})"
        )

    __str__ = __repr__

    @property
    def process(self) -> bool:
        """Whether the server runs in a child process (``start(process=True)``)."""
        return isinstance(self._backend, ProcessBackend)

    @property
    def pid(self) -> int:
        """Process id of the server (this process for a thread sandbox)."""
        return self._backend.proc.pid if isinstance(self._backend, ProcessBackend) else os.getpid()

    @property
    def request_count(self) -> int:
        """Requests the server has received so far, including 401s, 404s and faults."""
        return self._backend.request_count()

    def reset_request_count(self) -> None:
        """Set the request counter, :attr:`rate_limited` and :attr:`early_requests` to zero."""
        self._backend.change(reset_request_count=True)

    @property
    def latency(self) -> float:
        """Seconds every API request waits before it is answered."""
        return float(self._backend.state()["latency"])

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._backend.change(latency=float(seconds))

    @property
    def faults(self) -> dict[str, Any]:
        """The fault settings in force (a copy; assign a dict, or use :meth:`set_faults`)."""
        return dict(self._backend.state()["faults"])

    @faults.setter
    def faults(self, faults: Mapping[str, Any] | None) -> None:
        self._backend.change(faults=normalize_faults(faults))

    def set_faults(self, **faults: Any) -> None:
        """Replace the fault settings, e.g. ``set_faults(error_rate=0.1)``; no arguments: none."""
        self.faults = faults

    @property
    def now(self) -> dt.datetime:
        """The sandbox clock (UTC): frozen, or the real time. Assign a datetime or None."""
        return dt.datetime.fromisoformat(self._backend.state()["now"])

    @now.setter
    def now(self, value: dt.datetime | str | None) -> None:
        self._backend.change(now=value)

    def place_call(self, *, to: str, from_: str, outcome: str = "completed", **options: Any) -> str:
        """Place a call that moves through its statuses in real time; return its SID (options
        and lifecycle: :mod:`apifonica_nb.sandbox.live`)."""
        return place_call(self, to=to, from_=from_, outcome=outcome, **options)

    @property
    def rate_limit(self) -> float | None:
        """Requests per second each account may make (None: no limit)."""
        return self._backend.state()["rate_limit"]

    def set_rate_limit(self, rate: float | None, *, burst: float | None = None) -> None:
        """Change the rate limit now: ``rate`` requests per second per account, ``burst`` at
        once (default: one second's worth); ``None`` lifts it. Beyond it: 429, Retry-After."""
        rate, burst = check_rate_limit(rate, burst)
        self._backend.change(rate_limit={"rate": rate, "burst": burst})

    @property
    def rate_limited(self) -> int:
        """429s the rate limit answered since the last :meth:`reset_request_count`."""
        return int(self._backend.state()["rate_limited"])

    @property
    def early_requests(self) -> int:
        """Requests that arrived while their account had been told to wait (by a 429's
        Retry-After, the limit's or an injected one), since the last reset."""
        return int(self._backend.state()["early_requests"])

    def client(self, **kwargs: Any) -> Client:
        """Return an :class:`apifonica_nb.Client` for this sandbox (keyword arguments pass on)."""
        from apifonica_nb.client import Client  # the sandbox itself never needs the client

        return Client(
            account_sid=self.account_sid,
            auth_token=self.auth_token,
            base_url=self.url,
            **kwargs,
        )

    def stop(self) -> None:
        """Stop the server and free its port (calling it again does nothing)."""
        if not self._stopped:
            self._stopped = True
            self._backend.stop()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start(
    *,
    calls: int = 500,
    seed: int = DEFAULT_SEED,
    latency: float = 0.0,
    faults: Mapping[str, Any] | None = None,
    rate_limit: float | None = None,
    burst: float | None = None,
    now: dt.datetime | str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    process: bool = False,
    account_sid: str | None = None,
    auth_token: str | None = None,
    fraud_burst: bool = True,
) -> Sandbox:
    """Start a sandbox and return its handle once it accepts connections.

    ``calls`` calls (the vendor's example among them) are generated from ``seed``, over the 30
    days before ``now``; ``now`` freezes the clock (a datetime, naive = UTC, or an ISO 8601
    string), ``None`` lets it run so in-progress calls advance. ``port=0`` picks a free port.
    ``process=True`` serves from a child process, so a benchmark's client and the server do not
    share the GIL. The credentials derive from ``seed`` unless given. ``faults`` takes the rates
    of :data:`~apifonica_nb.sandbox.server.FAULT_RATES` and the options of
    :data:`~apifonica_nb.sandbox.server.FAULT_DEFAULTS`, e.g. ``{"error_rate": 0.1}``, or
    ``{"arrivals_per_page": 3}`` for a history whose pages overlap by three calls.
    ``rate_limit`` (requests per second per account, ``burst`` at once; default one second's
    worth) is enforced with a token bucket: beyond it, 429 with ``Retry-After`` (the seconds
    until the next token); :meth:`Sandbox.set_rate_limit` changes it while it runs.
    ``fraud_burst=True`` adds a toll-fraud-like night (:mod:`~.burst`: its calls come on top
    of ``calls``, none below 100); ``False`` gives the same account without it.
    """
    frozen = epoch(now)
    faults = normalize_faults(faults)
    limit = check_rate_limit(rate_limit, burst)
    if process:
        return _start_process(
            calls=calls,
            seed=seed,
            latency=latency,
            faults=faults,
            limit=limit,
            frozen=frozen,
            host=host,
            port=port,
            account_sid=account_sid,
            auth_token=auth_token,
            fraud_burst=fraud_burst,
        )
    anchor = int(time.time() if frozen is None else frozen)
    account = generate_account(
        calls=calls,
        seed=seed,
        anchor=anchor,
        account_sid=account_sid,
        auth_token=auth_token,
        fraud_burst=fraud_burst,
    )
    app = SandboxApp(account, latency=latency, faults=faults, fault_seed=seed, now=frozen)
    app.limiter.set(*limit)
    server = ServerThread(app, host=host, port=port)
    return Sandbox(
        url=f"http://{_url_host(host)}:{server.port}/v2",
        account_sid=account.account_sid,
        auth_token=account.auth_token,
        call_sids=account.call_sids,
        example_call_sid=account.example_call_sid,
        backend=LocalBackend(app, server),
    )


@contextmanager
def running(**kwargs: Any) -> Iterator[Sandbox]:
    """Start a sandbox (same arguments as :func:`start`) for a ``with`` block, then stop it."""
    sandbox = start(**kwargs)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def _start_process(
    *,
    calls: int,
    seed: int,
    latency: float,
    faults: dict[str, Any],
    limit: tuple[float | None, float | None],
    frozen: float | None,
    host: str,
    port: int,
    account_sid: str | None,
    auth_token: str | None,
    fraud_burst: bool,
) -> Sandbox:
    """Spawn ``python -m apifonica_nb.sandbox --json`` and wrap it in a handle."""
    cmd = [sys.executable, "-m", "apifonica_nb.sandbox", "--json", "--host", host]
    cmd += ["--port", str(port), "--calls", str(calls), "--seed", str(seed)]
    cmd += ["--latency", repr(float(latency))]
    if faults:
        cmd += ["--faults", json.dumps(faults)]
    if limit[0] is not None:
        cmd += ["--rate-limit", repr(limit[0]), "--burst", repr(limit[1])]
    if frozen is not None:
        cmd += ["--now", dt.datetime.fromtimestamp(frozen, dt.UTC).isoformat()]
    if account_sid:
        cmd += ["--account-sid", account_sid]
    if not fraud_burst:
        cmd += ["--no-fraud-burst"]
    env = dict(os.environ)
    # The child must import this very package, installed or not.
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    if auth_token:
        env[TOKEN_ENV] = auth_token
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert proc.stdout is not None and proc.stderr is not None
    errors: collections.deque[bytes] = collections.deque(maxlen=40)
    # Drain stderr for the child's whole life, so it can never block on a full pipe.
    threading.Thread(target=drain, args=(proc.stderr, errors), daemon=True).start()
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        ready = selector.select(timeout=_STARTUP_TIMEOUT)
    line = proc.stdout.readline() if ready else b""
    if not line:
        proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()
        time.sleep(0.1)  # let the drain thread collect the last words
        detail = b"".join(errors).decode(errors="replace").strip()[-2000:]
        raise RuntimeError(f"the sandbox process did not start: {detail or 'no output'}")
    info = json.loads(line)
    creds = f"{info['account_sid']}:{info['auth_token']}".encode()
    backend = ProcessBackend(proc, info["url"], "Basic " + base64.b64encode(creds).decode())
    CHILDREN.add(backend)
    return Sandbox(
        url=info["url"],
        account_sid=info["account_sid"],
        auth_token=info["auth_token"],
        call_sids=info["call_sids"],
        example_call_sid=info["example_call_sid"],
        backend=backend,
    )
