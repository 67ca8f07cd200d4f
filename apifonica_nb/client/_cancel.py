"""How a fetch stops: one stop flag per public call, and a caller that never blocks on a socket.

The HTTP exchange runs in a worker thread; the calling thread only waits, in slices of
:data:`POLL_SECONDS`. So a set ``cancel`` event or Ctrl-C (KeyboardInterrupt, which Python
delivers to the main thread) gives control back within a slice whatever the latency, and
:meth:`Stop.halt` makes sure no worker starts a request after the call returned.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import FetchCancelled

#: How long the calling thread waits at a time before it looks at the cancel event again.
POLL_SECONDS = 0.05

T = TypeVar("T")


class Stop:
    """Whether the work of one public call must stop: its ``cancel`` event, or a halt.

    Workers ask :meth:`may_send` before every request and sleep with :meth:`wait`; the calling
    thread forwards the cancel event with :meth:`forward` and halts on any exit. ``may_send``
    and ``halt`` share a lock, so once ``halt()`` has returned no new request starts; a request
    already on the wire is left to finish and its answer is dropped.
    """

    def __init__(self, cancel: threading.Event | None = None) -> None:
        self.cancel = cancel
        self._halted = threading.Event()
        self._lock = threading.Lock()

    def is_set(self) -> bool:
        """Return whether the work must stop (cancelled or halted)."""
        return self._halted.is_set() or (self.cancel is not None and self.cancel.is_set())

    def halt(self) -> None:
        """Stop the work: no request starts after this returns, sleeping workers wake."""
        with self._lock:
            self._halted.set()

    def may_send(self) -> bool:
        """Return whether a worker may start a request now."""
        with self._lock:
            return not self.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; return True at once when the work is halted meanwhile."""
        return self._halted.wait(seconds)

    def forward(self) -> bool:
        """In the calling thread: halt if the cancel event is set; return whether halted."""
        if self.cancel is not None and self.cancel.is_set():
            self.halt()
        return self._halted.is_set()


def cancelled(what: str) -> FetchCancelled:
    """Return the error of a fetch stopped by its cancel event."""
    return FetchCancelled(
        f"Fetching {what} was cancelled; nothing more was requested. What was read before the "
        "cancel is kept where the caller keeps it (a verb returns the partial frame)."
    )


def run_in_worker(fn: Callable[[Stop], T], *, cancel: threading.Event | None, what: str) -> T:
    """Run ``fn(stop)`` in a worker thread and return its result, or raise what it raised.

    The calling thread waits in slices, so a set ``cancel`` raises :class:`FetchCancelled` and
    Ctrl-C raises KeyboardInterrupt within :data:`POLL_SECONDS`; either way the worker is halted
    and sends nothing more.
    """
    stop = Stop(cancel)
    if stop.forward():
        raise cancelled(what)
    box: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()

    def work() -> None:
        try:
            box.put((True, fn(stop)))
        except BaseException as exc:  # handed to the calling thread, which raises it
            box.put((False, exc))

    threading.Thread(target=work, name="apifonica-request", daemon=True).start()
    outcome: tuple[bool, Any] | None = None
    try:
        while outcome is None and not stop.forward():
            try:
                outcome = box.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
    finally:
        stop.halt()  # on every way out, Ctrl-C included: the worker starts nothing more
    if outcome is None:
        raise cancelled(what)
    ok, value = outcome
    if ok:
        return value
    raise value
