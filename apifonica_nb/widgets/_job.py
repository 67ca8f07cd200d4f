"""One fetch at a time: what it asks for, and running it here or in a background thread."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from ..errors import InvalidRequestError
from ..fetch import CacheMode

__all__ = ["FetchJob", "FetchRequest", "Fetched"]


@dataclass(frozen=True)
class FetchRequest:
    """What one fetch asks for, read from the form in the thread that clicked."""

    kind: Literal["history", "sids"]
    #: ``fetch_history`` keyword arguments (history) or nothing (SID list).
    filters: dict[str, Any] = field(default_factory=dict)
    sids: list[str] = field(default_factory=list)
    #: Failure rows for pasted items refused before any request (``../x``, ...).
    refused: list[dict[str, Any]] = field(default_factory=list)
    cache: CacheMode = True

    @property
    def expected(self) -> int | None:
        """How many calls the fetch will read, when that is known beforehand (a SID list).

        A history's length is not known until its last page (``max_calls`` is only a bound:
        a bar drawn against it would stand still at 1% of a large limit).
        """
        return len(self.sids) if self.kind == "sids" else None


@dataclass(frozen=True)
class Fetched:
    """The outcome of one explorer fetch."""

    #: The frame, with ``attrs["failures"]`` (refused SIDs first) and ``attrs["partial"]``.
    frame: pd.DataFrame
    #: Calls read (records received plus SIDs that failed).
    done: int
    cancelled: bool
    #: What the summary says about a cut fetch ("" when complete).
    note: str


Work = Callable[[FetchRequest, threading.Event], BaseException | None]


class FetchJob:
    """Run ``work(request, cancel)`` once at a time, in the caller's thread or a background one.

    ``prepare`` (given to :meth:`start` and :meth:`run`) reads the request from the form and
    readies the display; it runs under the job's lock, so two clicks never start two fetches.
    ``work`` shows its own outcome and returns the error it showed, if any.
    """

    def __init__(self, work: Work) -> None:
        self._work = work
        self._lock = threading.Lock()
        self._running = False
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether a fetch is in progress."""
        return self._running

    def start(self, prepare: Callable[[], FetchRequest]) -> threading.Thread | None:
        """Start a background fetch and return its thread (None when one is running)."""
        with self._lock:
            if self._running:
                return None
            request = self._claim(prepare)
            self._thread = threading.Thread(
                target=self._guarded, args=(request,), name="apifonica-explorer", daemon=True
            )
        self._thread.start()
        return self._thread

    def run(self, prepare: Callable[[], FetchRequest]) -> BaseException | None:
        """Fetch in this thread; return what ``work`` returned."""
        with self._lock:
            if self._running:
                raise InvalidRequestError("A fetch is already running: cancel() it or wait().")
            request = self._claim(prepare)
        return self._guarded(request)

    def cancel(self) -> bool:
        """Ask the running fetch to stop; return whether one was running."""
        if not self._running:
            return False
        self._cancel.set()
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a background fetch to end; return True when none is running."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self._running

    def _claim(self, prepare: Callable[[], FetchRequest]) -> FetchRequest:
        request = prepare()  # may raise: then nothing runs
        self._running = True
        self._cancel = threading.Event()
        return request

    def _guarded(self, request: FetchRequest) -> BaseException | None:
        try:
            return self._work(request, self._cancel)
        finally:
            self._running = False
