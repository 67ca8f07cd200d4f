"""Serve the sandbox account over HTTP: the WSGI app, fault injection and the threaded server.

Routes (Basic auth on every ``/v2`` route; user = account SID, password = auth token)::

    GET /v2/accounts/{sid}                          the account object
    GET /v2/accounts/{sid}/calls[?filters|?next=N]  call history, newest first, 20 per page
    GET /v2/accounts/{sid}/calls/{callSID}          one call
    GET /v2/accounts/{sid}/recordings[?next=N]      recordings, newest first
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
to ``/v2`` requests only.
"""

from __future__ import annotations

import base64
import calendar
import contextlib
import datetime as dt
import email.utils
import hmac
import io
import json
import logging
import random
import re
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, quote

import numpy as np
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from apifonica_nb.sandbox.data import Account, CallFilter

__all__ = ["FAULT_DEFAULTS", "FAULT_RATES", "SandboxApp", "ServerThread", "normalize_faults"]

_log = logging.getLogger(__name__)

#: Fault kinds, each a per-request probability; at most one fault hits a request, so the
#: rates are exact shares of requests (their sum must not exceed 1).
FAULT_RATES: tuple[str, ...] = (
    "error_rate",  # 500/502/503 with a JSON error body
    "rate_limit_rate",  # 429 with Retry-After
    "drop_rate",  # connection closed without any response
    "truncate_rate",  # the real response with its body cut short (Content-Length matches)
    "html_rate",  # an HTML page instead of JSON, like a proxy's error page
    "hang_rate",  # wait hang_seconds before answering (client timeout tests)
)
#: Options of the faults and their defaults. ``arrivals_per_page`` is a behaviour, not a
#: rate: that many new calls arrive at the head of the history between two page requests,
#: and the ``next`` cursor is an offset, so the last ``arrivals_per_page`` calls of each call
#: history page are listed again at the top of the next one (as offset-like cursors do when a
#: busy account gets new calls while it is being read). 0 (default): cursors never overlap.
FAULT_DEFAULTS: dict[str, Any] = {
    "error_statuses": (500, 502, 503),
    "retry_after": 1,
    "retry_after_http_date": False,
    "html_status": 200,
    "hang_seconds": 60.0,
    "arrivals_per_page": 0,
}
_PAGE = 20  # the vendor's default and maximum page size
_MAX_CURSORS = 100_000
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_JSON = [("Content-Type", "application/json")]
_Response = tuple[int, list[tuple[str, str]], bytes]
_StartResponse = Callable[..., Any]


def normalize_faults(faults: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate a faults dict and return a plain copy (unknown keys are an error, not ignored)."""
    out = dict(faults or {})
    unknown = set(out) - set(FAULT_RATES) - set(FAULT_DEFAULTS)
    if unknown:
        known = ", ".join((*FAULT_RATES, *FAULT_DEFAULTS))
        raise ValueError(f"unknown fault option(s) {sorted(unknown)}; known: {known}")
    for key in FAULT_RATES:
        rate = float(out.get(key, 0.0))
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{key} must be between 0 and 1, got {rate}")
    if sum(float(out.get(k, 0.0)) for k in FAULT_RATES) > 1.0 + 1e-9:
        raise ValueError("the fault rates add up to more than 1")
    if "error_statuses" in out:
        out["error_statuses"] = [int(s) for s in out["error_statuses"]]
    if "arrivals_per_page" in out:
        arrivals = out["arrivals_per_page"]
        if isinstance(arrivals, bool) or not isinstance(arrivals, int) or not 0 <= arrivals < _PAGE:
            raise ValueError(f"arrivals_per_page must be a whole number from 0 to {_PAGE - 1}")
    return out


def _error(status: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> _Response:
    """Build the JSON error envelope the API's write operations use."""
    phrase = HTTPStatus(status).phrase.upper()
    body = {"status_code": status, "status_message": phrase, "message": message}
    return status, [*_JSON, *headers], json.dumps(body).encode()


def _ok(body: bytes) -> _Response:
    return 200, list(_JSON), body


class _BadRequest(Exception):
    """A query parameter is invalid (answered with 400)."""


class _Cursors:
    """Opaque ``next``/``prev`` cursors: id -> (kind, rows, offset, limit), newest kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[int, tuple[str, np.ndarray, int, int]] = OrderedDict()
        self._next_id = 4771  # the vendor's example cursor; only ever grows

    def add(self, kind: str, rows: np.ndarray, offset: int, limit: int) -> int:
        with self._lock:
            cid = self._next_id
            self._next_id += 1
            self._items[cid] = (kind, rows, offset, limit)
            if len(self._items) > _MAX_CURSORS:
                self._items.popitem(last=False)
            return cid

    def get(self, kind: str, raw: str) -> tuple[np.ndarray, int, int]:
        with self._lock:
            item = self._items.get(int(raw)) if raw.isdigit() else None
        if item is None or item[0] != kind:
            raise _BadRequest(f"the paging cursor {raw!r} is unknown or expired; start again")
        return item[1], item[2], item[3]


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
    ) -> None:
        self.account = account
        self.stopping = threading.Event()  # wakes latency and hang sleeps on shutdown
        self._lock = threading.Lock()
        self._count = 0
        self._latency = 0.0
        self.latency = latency
        self._faults: dict[str, Any] = {}
        self.faults = dict(faults or {})
        self._rng = random.Random(fault_seed)
        self._frozen = now
        self._cursors = _Cursors()
        self._sid = account.account_sid.encode()
        self._token = account.auth_token.encode()
        self._auth_header = b"Basic " + base64.b64encode(self._sid + b":" + self._token)

    # -- state ----------------------------------------------------------------------------
    @property
    def request_count(self) -> int:
        """Requests served so far (the admin endpoint's are not counted)."""
        return self._count

    def reset_request_count(self) -> None:
        """Set the request counter back to zero."""
        with self._lock:
            self._count = 0

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
        if self._latency > 0 and self.stopping.wait(self._latency):
            self._drop(environ)
        if fault == "hang" and self.stopping.wait(float(self._faults_opt("hang_seconds"))):
            self._drop(environ)
        if fault == "drop":
            self._drop(environ)
        if fault in ("error", "rate_limit", "html"):
            return self._send(start_response, self._fault_response(fault, error_status))
        response = self._api(environ, path)
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

    def _api(self, environ: dict[str, Any], path: str) -> _Response:
        if not self._authorized(environ):
            return self._unauthorized()
        parts = path.rstrip("/").split("/")  # "", "v2", "accounts", sid, ...
        if len(parts) < 4 or len(parts) > 6 or parts[2] != "accounts":
            return _error(404, f"No such resource: {path}")
        acc = self.account
        if parts[3] != acc.account_sid:
            return _error(404, f"Account {parts[3]} was not found")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _error(405, "This sandbox serves GET requests only", [("Allow", "GET, HEAD")])
        try:
            if len(parts) == 4:
                return _ok(json.dumps(acc.account_record()).encode())
            if parts[4] == "calls":
                return self._calls(environ, parts)
            if parts[4] == "recordings":
                return self._recordings(environ, parts)
        except _BadRequest as exc:
            return _error(400, str(exc))
        return _error(404, f"No such resource: {path}")

    def _calls(self, environ: dict[str, Any], parts: list[str]) -> _Response:
        acc = self.account
        if len(parts) == 6:
            row = acc.index.get(parts[5])
            if row is None:
                return _error(404, f"Call {parts[5]} was not found in account {acc.account_sid}")
            return _ok(acc.call_bytes(row, self.clock()))
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        if "next" in query:
            rows, offset, limit = self._cursors.get("calls", query["next"])
        else:
            rows, offset, limit = acc.select(_parse_filter(query), self.clock()), 0, _limit(query)
        now = self.clock()
        page = [acc.call_bytes(r, now) for r in rows[offset : offset + limit].tolist()]
        # New calls arriving at the head push an offset cursor's next page back by as many.
        again = min(int(self._faults_opt("arrivals_per_page")), limit - 1)
        prev_uri, next_uri = self._links(environ, "calls", rows, offset, limit, again=again)
        head = f'{{"limit":{limit},"prev":{prev_uri},"next":{next_uri},"calls":['
        return _ok(head.encode() + b",".join(page) + b"]}")

    def _links(
        self,
        environ: dict[str, Any],
        kind: str,
        rows: np.ndarray,
        offset: int,
        limit: int,
        *,
        again: int = 0,
    ) -> tuple[str, str]:
        """Return the JSON values of ``prev`` and ``next``: absolute cursor URLs or null
        (``next`` lists the last ``again`` rows of this page again)."""
        host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
        base = f"{environ.get('wsgi.url_scheme', 'http')}://{host}/v2/accounts/"
        base += f"{quote(self.account.account_sid, safe='')}/{kind}?next="
        links = []
        for start, exists in (
            (offset - limit, offset > 0),
            (offset + limit - again, offset + limit < len(rows)),
        ):
            if exists:
                links.append(
                    json.dumps(base + str(self._cursors.add(kind, rows, max(0, start), limit)))
                )
            else:
                links.append("null")
        return links[0], links[1]

    def _recordings(self, environ: dict[str, Any], parts: list[str]) -> _Response:
        acc = self.account
        host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
        base = f"{environ.get('wsgi.url_scheme', 'http')}://{host}/v2/accounts/"
        base += f"{quote(acc.account_sid, safe='')}/recordings/"

        def item(i: int) -> dict[str, Any]:
            rec = dict(acc.recordings[i])
            rec["rec_url"] = f"{base}{rec['record_sid']}.wav"
            return rec

        if len(parts) == 6:
            rid = parts[5]
            wav = rid.endswith(".wav")
            i = acc.recording_index.get(rid.removesuffix(".wav"))
            if i is None:
                return _error(404, f"Recording {rid} was not found in account {acc.account_sid}")
            if wav:
                return 200, [("Content-Type", "audio/wav")], _silent_wav()
            return _ok(json.dumps(item(i)).encode())
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        if "next" in query:
            rows, offset, limit = self._cursors.get("recordings", query["next"])
        else:
            rows, offset, limit = np.arange(len(acc.recordings)), 0, _limit(query)
        page = [item(i) for i in rows[offset : offset + limit].tolist()]
        prev_uri, next_uri = self._links(environ, "recordings", rows, offset, limit)
        head = f'{{"limit":{limit},"prev":{prev_uri},"next":{next_uri},"recordings":'
        return _ok(head.encode() + json.dumps(page).encode() + b"}")


def _limit(query: Mapping[str, str]) -> int:
    """Parse ``limit``: default and maximum 20, a non-integer or < 1 is a 400."""
    raw = query.get("limit", "").strip()
    if not raw:
        return _PAGE
    if not raw.isdigit() or int(raw) < 1:
        raise _BadRequest(f"limit must be a whole number from 1 to {_PAGE}, got {raw!r}")
    return min(int(raw), _PAGE)


def _day(query: Mapping[str, str], key: str) -> int | None:
    """Parse a ``YYYY-MM-DD`` query value to the epoch second of that UTC midnight."""
    raw = query.get(key, "").strip()
    if not raw:
        return None
    try:
        if not _DATE.fullmatch(raw):
            raise ValueError
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise _BadRequest(f"{key} must be a date as YYYY-MM-DD, got {raw!r}") from None
    return calendar.timegm(day.timetuple())


def _parse_filter(query: Mapping[str, str]) -> CallFilter:
    """Turn history query parameters into a :class:`CallFilter` (empty values mean "any")."""

    def text(key: str) -> str | None:
        value = query.get(key, "").strip()
        return value or None

    def number(key: str) -> str | None:
        # A "+" sent unencoded in a query string arrives as a space: accept both.
        value = query.get(key, "").strip().lstrip("+")
        return value or None

    status = text("status")
    date_to = _day(query, "date_to")
    return CallFilter(
        status=frozenset(s.strip() for s in status.split(",")) if status else None,
        direction=text("direction"),
        channel=text("channel"),
        tag=text("tag"),
        from_=number("from"),
        to=number("to"),
        created_from=_day(query, "date_from"),
        created_before=None if date_to is None else date_to + 86400,  # date_to is inclusive
    )


def _silent_wav() -> bytes:
    """Return one second of 8 kHz 16-bit mono silence as a WAV file."""
    frames = 8000
    header = b"RIFF" + (36 + 2 * frames).to_bytes(4, "little") + b"WAVEfmt "
    header += (16).to_bytes(4, "little") + (1).to_bytes(2, "little") + (1).to_bytes(2, "little")
    header += (8000).to_bytes(4, "little") + (16000).to_bytes(4, "little")
    header += (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
    return header + b"data" + (2 * frames).to_bytes(4, "little") + bytes(2 * frames)


class _Handler(WSGIRequestHandler):
    """werkzeug's request handler with HTTP/1.1 keep-alive and without per-request logging.

    werkzeug's own ``run_wsgi`` sends ``Connection: close`` on every response, which defeats
    connection pooling in clients (and halves throughput); this one keeps the connection open
    whenever the client allows it. The app always sets Content-Length, so that is safe.
    """

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # the response goes out in one write; no 40 ms stalls
    timeout = 300  # idle keep-alive connections are closed eventually
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log nothing per request."""

    def log(self, type: str, message: str, *args: Any) -> None:
        """Send werkzeug's messages (timeouts, errors) to this module's debug log only."""
        _log.debug("sandbox %s: " + message, type, *args)

    def run_wsgi(self) -> None:
        """Run the app and write its response in one piece, keeping the connection alive."""
        if self.headers.get("Expect", "").lower().strip() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = environ = self.make_environ()
        # Read the request body up front, so an unread body never corrupts the next request.
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if "wsgi.input_terminated" in environ:  # chunked: read it all, then close
            environ["wsgi.input"] = io.BytesIO(environ["wsgi.input"].read())
            self.close_connection = True
        else:
            environ["wsgi.input"] = io.BytesIO(self.rfile.read(length) if length > 0 else b"")
        captured: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            captured[:] = [status, headers]
            return None

        try:
            body = b"".join(self.server.app(environ, start_response))
        except ConnectionError:
            self.close_connection = True
            return
        status, headers = captured
        lines = [f"{self.protocol_version} {status}", f"Date: {self.date_time_string()}"]
        lines += [f"{k}: {v}" for k, v in headers]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head if self.command == "HEAD" else head + body)


class _Server(ThreadedWSGIServer):
    """werkzeug's threaded server that remembers its open connections, to close them on stop."""

    def __init__(self, sock: socket.socket, app: SandboxApp) -> None:
        host, port = sock.getsockname()[:2]
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        # Pass a socket we bound ourselves: werkzeug would sys.exit() on a port in use.
        super().__init__(host, port, app, handler=_Handler, fd=sock.fileno())

    def track(self, conn: socket.socket, *, add: bool) -> None:
        with self._conns_lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Keep tracebacks of broken client connections off stderr."""
        _log.debug("sandbox: error while handling a request from %s", client_address, exc_info=True)


class ServerThread:
    """Serve a :class:`SandboxApp` on ``host:port`` from a daemon thread."""

    def __init__(self, app: SandboxApp, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        sock = socket.create_server((host, port), backlog=128)
        try:
            self._server = _Server(sock, app)
        finally:
            sock.close()  # werkzeug serves a duplicate of the descriptor
        self.host = host
        self.port: int = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"apifonica-sandbox-{self.port}",
            daemon=True,
        )
        self._stopped = False
        self._stop_lock = threading.Lock()
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close every connection and free the port (idempotent)."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        self.app.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        self._thread.join(timeout=5)
