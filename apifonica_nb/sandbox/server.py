"""Serve the sandbox account over HTTP: the WSGI app, fault injection and the threaded server.

Routes (Basic auth on every ``/v2`` route; user = account SID, password = auth token)::

    GET /v2/accounts/{sid}                          the account object
    GET /v2/accounts/{sid}/calls[?filters|?next=N]  call history, newest first, 20 per page
    GET /v2/accounts/{sid}/calls/{callSID}          one call (seeded or placed)
    POST /v2/accounts/{sid}/calls                   place a live call (201; see sandbox.live)
    GET /v2/accounts/{sid}/recordings[?next=N]      recordings, newest first (sandbox.recordings)
    GET /v2/accounts/{sid}/recordings/{recordSID}   one recording ({recordSID}.wav: the audio)
    GET|POST /_sandbox/state                        admin: request count, latency, faults, clock

Choices where the vendor is silent: wrong or missing credentials get one identical 401 whichever
part was wrong; an account SID in the path other than the sandbox's gets 404 (the caller is
authenticated, the account just is not theirs to see); unknown query parameters are ignored;
an unknown status, direction or channel value matches nothing rather than failing; ``next``
cursors live in server memory (the newest 100,000 are kept; an unknown one is a 400). With
the ``arrivals_per_page`` fault option, the history behaves like an offset cursor on a busy
account: the last calls of each page are listed again at the top of the next. Every
request is counted in ``request_count`` except the admin endpoint's; latency and faults apply
to ``/v2`` requests only. With ``rate_limit=`` each account's ``/v2`` requests go through a
token bucket first (:mod:`apifonica_nb.sandbox.ratelimit`): beyond it, a 429 with the JSON
error envelope and ``Retry-After`` = the seconds until the next token, after the latency.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import email.utils
import hmac
import json
import random
import socket
import threading
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

from apifonica_nb.sandbox.data import Account
from apifonica_nb.sandbox.faults import FAULT_DEFAULTS, FAULT_RATES, normalize_faults
from apifonica_nb.sandbox.ratelimit import RateLimiter, format_retry_after
from apifonica_nb.sandbox.routes import Response as _Response
from apifonica_nb.sandbox.routes import Routes
from apifonica_nb.sandbox.routes import error as _error
from apifonica_nb.sandbox.routes import ok as _ok
from apifonica_nb.sandbox.serving import ServerThread

__all__ = ["FAULT_DEFAULTS", "FAULT_RATES", "SandboxApp", "ServerThread", "normalize_faults"]

_StartResponse = Callable[..., Any]


def _account_of(path: str) -> str:
    """The account SID a ``/v2/accounts/{sid}/...`` path names ("" for other paths)."""
    parts = path.split("/", 4)
    return parts[3] if len(parts) > 3 and parts[2] == "accounts" else ""


def _limited(wait: float) -> _Response:
    """The 429 of the rate limit: the API's error envelope, Retry-After until the next token."""
    after = format_retry_after(wait)
    return _error(
        429,
        f"Too many requests for this account; retry after {after} s (sandbox rate limit)",
        [("Retry-After", after)],
    )


class SandboxApp:
    """The WSGI application: the sandbox account behind the Apifonica routes, with faults."""

    def __init__(
        self,
        account: Account,
        *,
        latency: float = 0.0,
        faults: Mapping[str, Any] | None = None,
        fault_seed: int = 0,
        now: float | None = None,
        rate_limit: float | None = None,
        burst: float | None = None,
    ) -> None:
        self.account = account
        self.limiter = RateLimiter(rate_limit, burst)
        self.stopping = threading.Event()  # wakes latency and hang sleeps on shutdown
        self._lock = threading.Lock()
        self._count = 0
        self._latency = 0.0
        self.latency = latency
        self._faults: dict[str, Any] = {}
        self.faults = dict(faults or {})
        self._rng = random.Random(fault_seed)
        self._frozen = now
        self._routes = Routes(account, clock=self.clock, faults_opt=self._faults_opt)
        self._sid = account.account_sid.encode()
        self._token = account.auth_token.encode()
        self._auth_header = b"Basic " + base64.b64encode(self._sid + b":" + self._token)

    # -- state ----------------------------------------------------------------------------
    @property
    def request_count(self) -> int:
        """Requests served so far (the admin endpoint's are not counted)."""
        return self._count

    def reset_request_count(self) -> None:
        """Set the request counter back to zero (and the rate limit's counts)."""
        with self._lock:
            self._count = 0
        self.limiter.reset_counts()

    @property
    def latency(self) -> float:
        """Seconds every API request waits before it is answered."""
        return self._latency

    @latency.setter
    def latency(self, value: float) -> None:
        if not float(value) >= 0.0:
            raise ValueError(f"latency must be >= 0 seconds, got {value}")
        self._latency = float(value)

    @property
    def faults(self) -> dict[str, Any]:
        """The fault settings in force (a copy)."""
        return dict(self._faults)

    @faults.setter
    def faults(self, value: Mapping[str, Any] | None) -> None:
        self._faults = normalize_faults(value)

    def clock(self) -> float:
        """Return the sandbox time in epoch seconds: frozen, or the real time."""
        return time.time() if self._frozen is None else self._frozen

    @property
    def frozen(self) -> bool:
        """Whether the clock is frozen."""
        return self._frozen is not None

    def set_clock(self, now: float | None) -> None:
        """Freeze the clock at ``now`` (epoch seconds), or let it run with ``None``."""
        self._frozen = now

    def state(self) -> dict[str, Any]:
        """Return the admin view: counter, latency, faults and clock."""
        now = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        return {
            "request_count": self.request_count,
            "latency": self.latency,
            "faults": self.faults,
            "now": now.isoformat(),
            "frozen": self.frozen,
            "rate_limit": self.limiter.rate,
            "burst": self.limiter.burst,
            "rate_limited": self.limiter.refused,
            "early_requests": self.limiter.early,
        }

    # -- WSGI -----------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: _StartResponse) -> list[bytes]:
        """Answer one request."""
        path = environ.get("PATH_INFO", "")
        if path == "/_sandbox/state":
            return self._send(start_response, self._admin(environ))
        with self._lock:
            self._count += 1
            fault, error_status = self._draw_fault() if path.startswith("/v2/") else (None, 0)
        if not path.startswith("/v2/"):
            return self._send(start_response, _error(404, f"No such resource: {path}"))
        account = _account_of(path)
        wait = self.limiter.admit(account)
        if self._latency > 0 and self.stopping.wait(self._latency):
            self._drop(environ)
        if wait > 0:
            return self._send(start_response, _limited(wait))
        if fault == "hang" and self.stopping.wait(float(self._faults_opt("hang_seconds"))):
            self._drop(environ)
        if fault == "drop":
            self._drop(environ)
        if fault in ("error", "rate_limit", "html"):
            if fault == "rate_limit":
                self.limiter.announce(account, float(self._faults_opt("retry_after")))
            return self._send(start_response, self._fault_response(fault, error_status))
        if not self._authorized(environ):
            response = self._unauthorized()
        else:
            response = self._routes.api(environ, path)
        if fault == "truncate":
            status, headers, body = response
            response = status, headers, body[: max(1, len(body) // 2)]
        return self._send(start_response, response)

    def _faults_opt(self, key: str) -> Any:
        return self._faults.get(key, FAULT_DEFAULTS[key])

    def _draw_fault(self) -> tuple[str | None, int]:
        """Pick this request's fault, if any, and the status of an error fault (under the lock)."""
        if not self._faults:
            return None, 0
        u = self._rng.random()
        for key in FAULT_RATES:
            u -= float(self._faults.get(key, 0.0))
            if u < 0:
                fault = key.removesuffix("_rate")
                statuses = list(self._faults_opt("error_statuses"))
                return fault, self._rng.choice(statuses) if fault == "error" else 0
        return None, 0

    def _fault_response(self, fault: str, error_status: int) -> _Response:
        if fault == "error":
            return _error(error_status, "Injected server error (sandbox fault)")
        if fault == "rate_limit":
            wait = self._faults_opt("retry_after")
            value = (
                email.utils.formatdate(time.time() + float(wait), usegmt=True)
                if self._faults_opt("retry_after_http_date")
                else str(wait)
            )
            msg = f"Too many requests; retry after {wait} s (sandbox fault)"
            return _error(429, msg, [("Retry-After", value)])
        status = int(self._faults_opt("html_status"))
        title = f"{status} {HTTPStatus(status).phrase}" if status != 200 else "Maintenance"
        page = (
            f"<!DOCTYPE html><html><head><title>{title}</title></head><body>"
            f"<center><h1>{title}</h1></center><hr><center>nginx</center></body></html>\n"
        )
        return status, [("Content-Type", "text/html; charset=utf-8")], page.encode()

    @staticmethod
    def _drop(environ: dict[str, Any]) -> None:
        """Close the connection without any response (the handler then stays quiet)."""
        sock = environ.get("werkzeug.socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        raise ConnectionAbortedError("sandbox fault: connection dropped")

    @staticmethod
    def _send(start_response: _StartResponse, response: _Response) -> list[bytes]:
        status, headers, body = response
        headers = [*headers, ("Content-Length", str(len(body)))]
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [body]

    def _authorized(self, environ: dict[str, Any]) -> bool:
        header = environ.get("HTTP_AUTHORIZATION", "").encode("latin-1")
        if hmac.compare_digest(header, self._auth_header):
            return True
        scheme, _, encoded = header.partition(b" ")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except ValueError:
            decoded = b""
        user, sep, password = decoded.partition(b":")
        # Compare both parts every time, so a wrong SID and a wrong token take the same path.
        user_ok = hmac.compare_digest(user, self._sid)
        password_ok = hmac.compare_digest(password, self._token)
        return scheme.lower() == b"basic" and bool(sep) and user_ok and password_ok

    def _admin(self, environ: dict[str, Any]) -> _Response:
        if not self._authorized(environ):
            return self._unauthorized()
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "POST":
            try:
                change = json.loads(environ["wsgi.input"].read() or b"{}")
                if "latency" in change:
                    self.latency = float(change["latency"])
                if "faults" in change:
                    self.faults = change["faults"]
                if "now" in change:
                    raw = change["now"]
                    self.set_clock(
                        None if raw is None else dt.datetime.fromisoformat(raw).timestamp()
                    )
                if "rate_limit" in change:
                    limit = change["rate_limit"] or {}
                    self.limiter.set(limit.get("rate"), limit.get("burst"))
                if change.get("reset_request_count"):
                    self.reset_request_count()
            except (ValueError, TypeError, AttributeError) as exc:
                return _error(400, f"Bad admin request: {exc}")
        elif method != "GET":
            return _error(405, "Use GET or POST", [("Allow", "GET, POST")])
        return _ok(json.dumps(self.state()).encode())

    @staticmethod
    def _unauthorized() -> _Response:
        return _error(
            401,
            "Authentication failed: check the account SID and the auth token",
            [("WWW-Authenticate", 'Basic realm="Apifonica"')],
        )
