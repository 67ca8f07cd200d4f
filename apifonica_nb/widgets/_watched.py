"""How the explorer fetches today: the verbs over a watched client (the one swap point).

:func:`fetch` runs :func:`~apifonica_nb.fetch_history` or :func:`~apifonica_nb.fetch_calls`
over a :class:`WatchedClient`, a view of the client that counts progress and stops on cancel
inside the verbs, so the explorer's frame is built by the very code of the verbs. Nothing else
in the explorer knows about it: once the verbs take ``on_progress=`` and ``cancel=``
themselves, this module becomes a direct call of them (no wrapper client, which also turns
the verbs' parallel history reading off).
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

import pandas as pd

from ..client import PAGE_LIMIT, CallBatch, Client
from ..errors import FetchFailuresWarning
from ..fetch import fetch_calls, fetch_history
from ._job import Fetched, FetchRequest

__all__ = ["ReplayClient", "WatchedClient", "fetch"]


def fetch(
    client: Client,
    request: FetchRequest,
    *,
    cancel: threading.Event,
    on_progress: Callable[[int, int | None], None],
    workers: int,
    chunk_size: int,
) -> Fetched:
    """Fetch what ``request`` asks through the verbs, reporting progress, stopping on cancel.

    After a cancel, the history frame is rebuilt from the records read, by ``fetch_history``'s
    own rules; a SID list keeps the chunks fetched before the cancel.
    """
    watched = WatchedClient(
        client,
        cancel=cancel,
        on_progress=lambda done, total: on_progress(done, total or request.expected),
        chunk_size=chunk_size,
    )
    df = _frame(watched, request, workers=workers)
    df.attrs["failures"] = request.refused + watched.failures
    df.attrs["partial"] = watched.cancelled
    note = ""
    if watched.cancelled:
        note = f"partial: cancelled after {watched.done:,} calls were read"
        if watched.skipped:
            note += f"; {len(watched.skipped):,} SIDs were not fetched"
    return Fetched(df, watched.done, watched.cancelled, note)


def _frame(watched: WatchedClient, request: FetchRequest, *, workers: int) -> pd.DataFrame:
    # The explorer lists failures itself; the verbs' warning about them would be printed under
    # whichever cell runs when its thread finishes. Only warnings attributed to this module are
    # ignored (the verbs warn at their caller, stacklevel=3).
    warnings.filterwarnings(
        "ignore", category=FetchFailuresWarning, module=re.escape(__name__) + r"\Z"
    )
    as_client = cast(Client, watched)
    if request.kind == "sids":
        return fetch_calls(
            request.sids, client=as_client, workers=workers, progress=False, cache=request.cache
        )
    try:
        return fetch_history(
            client=as_client, progress=False, cache=request.cache, **request.filters
        )
    except _Cancelled:
        # cache=False: the cut listing must never be recorded as the whole history.
        replay = cast(Client, ReplayClient(watched, watched.records))
        return fetch_history(client=replay, progress=False, cache=False, **request.filters)


class _Cancelled(Exception):
    """Raised inside ``fetch_history`` when the user cancels; :func:`fetch` catches it."""


class WatchedClient:
    """Delegate to a :class:`Client`, reporting progress and stopping cleanly when cancelled.

    The explorer hands this to :func:`~apifonica_nb.fetch_history` and
    :func:`~apifonica_nb.fetch_calls`, so the frames it shows are built by the very same code as
    the verbs' (same filters, dtypes and cache use).

    History: after a cancel the page in hand is finished (the API pages ``PAGE_LIMIT`` calls),
    then :class:`_Cancelled` is raised *inside* ``fetch_history``, so it keeps the pages
    already read in the cache but never takes the cut listing for a complete one; the records
    read are in :attr:`records` (rebuild the frame with :class:`ReplayClient`).

    SID lists: fetched in chunks through :meth:`Client.get_calls`, checking for a cancel
    between chunks. SIDs skipped by a cancel are returned as failures (``fetch_calls`` must know
    every SID it did not get) but kept apart in :attr:`skipped`; real failures are in
    :attr:`failures`.
    """

    def __init__(
        self,
        client: Client,
        *,
        cancel: threading.Event,
        on_progress: Callable[[int, int | None], None],
        chunk_size: int = 40,
    ) -> None:
        self._client = client
        self._cancel = cancel
        self._on_progress = on_progress
        self._chunk_size = max(1, chunk_size)
        #: Calls read: records received plus SIDs that failed.
        self.done = 0
        #: History records read so far, in the order the API listed them.
        self.records: list[dict[str, Any]] = []
        self.failures: list[dict[str, Any]] = []
        #: SIDs never asked for because of a cancel.
        self.skipped: list[str] = []
        #: True when a cancel cut the fetch short.
        self.cancelled = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def __repr__(self) -> str:
        return f"WatchedClient({self._client!r})"

    def iter_calls(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Yield the history like :meth:`Client.iter_calls`; on cancel, end the page and raise."""
        inner = self._client.iter_calls(**filters)
        try:
            for record in inner:
                self.records.append(record)
                self.done += 1
                self._on_progress(self.done, None)
                yield record
                if self._cancel.is_set() and self.done % PAGE_LIMIT == 0:
                    self.cancelled = True
                    raise _Cancelled(f"cancelled after {self.done} calls")
        finally:
            close = getattr(inner, "close", None)  # a generator: release its connection now
            if close is not None:
                close()

    def get_calls(
        self,
        call_sids: Iterable[object],
        *,
        workers: int = 8,
        progress: bool = True,
        on_record: Callable[[dict[str, Any]], None] | None = None,
    ) -> CallBatch:
        """Fetch like :meth:`Client.get_calls`, a chunk at a time, stopping between chunks."""
        sids = list(dict.fromkeys(call_sids))  # get_calls fetches a repeated SID once
        records: list[dict[str, Any]] = []

        def arrived(record: dict[str, Any]) -> None:
            if on_record is not None:
                on_record(record)
            self.done += 1
            self._on_progress(self.done, len(sids))

        for start in range(0, len(sids), self._chunk_size):
            if self._cancel.is_set():
                self.cancelled = True
                self.skipped = [str(s) for s in sids[start:]]
                break
            batch = self._client.get_calls(
                sids[start : start + self._chunk_size],
                workers=workers,
                progress=False,
                on_record=arrived,
            )
            records.extend(batch.records)
            self.failures.extend(batch.failures)
            self.done += len(batch.failures)
            self._on_progress(self.done, len(sids))
        skipped = [
            {"call_sid": sid, "error": "Cancelled", "message": "not fetched: cancelled"}
            for sid in self.skipped
        ]
        return CallBatch(records, self.failures + skipped)


class ReplayClient:
    """Serve recorded history records as the history, so ``fetch_history`` can rebuild a frame
    from what a cancelled fetch had read (with ``cache=False``: nothing is listed again)."""

    def __init__(self, client: Client | WatchedClient, records: list[dict[str, Any]]) -> None:
        self._client = client
        self._records = records

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def iter_calls(self, **_filters: Any) -> Iterator[dict[str, Any]]:
        """Yield the recorded records (they were listed with the same filters)."""
        return iter(self._records)
