"""Read one history: choose the listing (date windows or following ``next``), then page it.

The rule: date windows whenever ``workers > 1`` and the server honours the date filters (the
windows' own trust check finds out, and falls back to following ``next``); following ``next``
when ``workers == 1``, when a few pages are all ``max_calls`` needs, or when the store can
stop the listing early (windows would read what it has).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from tqdm.auto import tqdm

from ..client import PAGE_LIMIT, Client, Progress
from ..errors import AuthenticationError, FetchCancelled, RateLimitedError
from ._query import HistoryQuery
from ._sync import HistorySync
from ._trust import Trust
from ._windows import WindowedListing

__all__ = ["HistoryRead", "read_history"]


@dataclass
class HistoryRead:
    """What :func:`read_history` read: the records listed, in listing order (a call the server
    listed twice is there twice), the older calls taken from the store after an early stop
    (or None), and how the history was read (``df.attrs["paging"]``)."""

    records: list[dict[str, Any]]
    rest: pa.Table | None
    paging: dict[str, Any]
    #: A cancel or Ctrl-C cut the listing short (what was read is in ``records``).
    cancelled: bool = False
    #: The error that stopped the listing at once (401/403, an over-budget 429), to raise
    #: once the caller has built the frame of ``records``.
    stopped: AuthenticationError | RateLimitedError | None = None


def _listing(
    client: Client,
    query: HistoryQuery,
    sync: HistorySync | None,
    *,
    workers: int,
    max_calls: int | None,
    trust: Trust,
    cancel: threading.Event,
) -> tuple[Iterable[dict[str, Any]], WindowedListing | None]:
    """Choose how to list the history: date windows in parallel, or following ``next``."""
    # Every listing, the windows' too, passes cancel on to Client.iter_calls.
    params = {**query.params(), "cancel": cancel}
    if sync is not None:
        if sync.can_stop_early:
            # An earlier complete listing lets paging stop at the first page already stored:
            # follow next, page by page (windows would read what the store has).
            return client.iter_calls(**params), None
        # Paging cannot stop early: store the listing in chunks of 1,000 calls instead of
        # pages of 20 (each costs a parse and a transaction: half the time of a cold run
        # here); an interrupted run still stores what it read.
        sync.page_size = 50 * PAGE_LIMIT
    # Only our own Client: a wrapper (the explorer's, which counts pages to cancel between
    # them, or replays them) expects one listing.
    if workers < 2 or not isinstance(client, Client):
        return client.iter_calls(**params), None
    if max_calls is not None and max_calls < PAGE_LIMIT * workers:
        return client.iter_calls(**params), None  # the first pages are all it takes
    client.ensure_pool(workers + 1)
    # One call past max_calls tells whether more match (the frame then says it is cut).
    limit = None if max_calls is None else max_calls + 1
    windowed = WindowedListing(client, params, workers=workers, limit=limit, trust=trust)
    return windowed, windowed


def read_history(
    client: Client,
    query: HistoryQuery,
    *,
    sync: HistorySync | None,
    workers: int,
    max_calls: int | None,
    progress: bool,
    trust: Trust,
    on_progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
) -> HistoryRead:
    """Page through the history until its end, one matching call more than ``max_calls``
    (so the caller can tell that more calls match), or an early stop of ``sync`` (then the
    older calls come from the store).

    A set ``cancel`` or Ctrl-C ends the listing with ``cancelled``; a 401/403 or an
    over-budget 429 ends it with ``stopped``: in both cases the pages read are kept (and
    stored), and the listing is not recorded as complete.
    """
    stop = cancel if cancel is not None else threading.Event()
    listing, windowed = _listing(
        client, query, sync, workers=workers, max_calls=max_calls, trust=trust, cancel=stop
    )
    records: list[dict[str, Any]] = []
    # Read until one call more than max_calls matches: that one says the frame is cut.
    wanted = None if max_calls is None else max_calls + 1
    next_check = wanted or 0
    complete = max_calls != 0
    rest = None
    cancelled = False
    stopped: AuthenticationError | RateLimitedError | None = None
    bar = tqdm(
        total=max_calls, unit="call", desc="Fetching history", disable=not progress, leave=False
    )
    iterator = iter(listing)
    try:
        if max_calls != 0:
            for record in iterator:
                records.append(record)
                bar.update(1)
                if len(records) % PAGE_LIMIT == 0:
                    rate = getattr(client, "request_rate", None)  # a wrapper may have none
                    if rate is not None:
                        bar.set_postfix_str(f"{rate:.0f} req/s", refresh=False)
                    if on_progress is not None:
                        on_progress(Progress(len(records), None, rate=rate))
                if stop.is_set():  # pages already read by the windows are not taken in
                    raise FetchCancelled("the history listing was cancelled")
                if sync is not None and sync.add(record):
                    break  # the rest of the range is in the store
                if wanted is not None and len(records) >= next_check:
                    matched = query.matching(records)
                    if matched >= wanted:
                        complete = False
                        break
                    # Filtered here (or listed twice): read on until enough calls could match.
                    next_check = len(records) + wanted - matched
        if sync is not None:
            sync.finish(complete=complete)
            if sync.stopped_at is not None:
                rest = sync.rest()
                bar.set_description(f"Fetching history ({rest.num_rows} cached)")
    except (FetchCancelled, KeyboardInterrupt, AuthenticationError, RateLimitedError) as exc:
        stop.set()  # the windows' workers send nothing more
        if sync is not None:
            sync.flush()  # keep the pages already read; the listing is not complete
        if isinstance(exc, AuthenticationError | RateLimitedError):
            stopped = exc
        else:
            cancelled = True
    except BaseException:
        stop.set()
        if sync is not None:
            sync.flush()  # keep the pages already read (a network error)
        raise
    finally:
        bar.close()
        close = getattr(iterator, "close", None)
        if close is not None:
            close()  # a generator left early (max_calls, a cache stop): end its workers now
    plain = {"mode": "sequential", "workers": 1, "windows": 0, "note": None}
    paging = dict(windowed.info) if windowed is not None else plain
    if paging["note"] is None and trust.problem is not None:
        paging["note"] = f"the server {trust.problem}"
    if on_progress is not None:
        on_progress(Progress(len(records), None, rate=getattr(client, "request_rate", None)))
    return HistoryRead(records, rest, paging, cancelled=cancelled, stopped=stopped)
