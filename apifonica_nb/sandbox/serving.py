"""Serve the sandbox's WSGI app on a loopback port from a thread, and stop it cleanly."""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import threading
from typing import TYPE_CHECKING, Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

if TYPE_CHECKING:
    from apifonica_nb.sandbox.server import SandboxApp

__all__ = ["ServerThread"]

_log = logging.getLogger(__name__)


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
