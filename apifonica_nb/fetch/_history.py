"""The history verb: :func:`fetch_history` reads the account's call history into one frame.

The listing itself (windows, paging, the incremental sync and its trust check) is
:mod:`apifonica_nb.history`'s; this verb adds the store, the filters applied to what comes back,
one row per call, and the attrs every verb's frame carries (:mod:`._outcome`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..cache import (
    CallStore,
    combine_frames,
    frame_from_table,
    raw_extras,
    table_extras,
)
from ..client import Client
from ..errors import InvalidRequestError
from ..frame import Finding, deduplicate
from ..history import HistoryQuery, HistorySync, Trust, read_history
from ._outcome import (
    CacheMode,
    ProgressCallback,
    cache_attrs,
    cache_mode,
    finish,
    provenance,
    stopped,
    typed_frame,
)

__all__ = ["fetch_history"]


def fetch_history(
    *,
    client: Client,
    since: object = None,
    until: object = None,
    status: str | Sequence[str] | None = None,
    direction: str | Sequence[str] | None = None,
    channel: str | Sequence[str] | None = None,
    tag: str | Sequence[str] | None = None,
    max_calls: int | None = None,
    progress: bool = True,
    price_unit: str = "EUR",
    cache: CacheMode = True,
    workers: int = 8,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    warn: bool = True,
) -> pd.DataFrame:
    """Fetch the account's call history into one DataFrame, newest first, one row per call.

    ``since`` and ``until`` take dates, datetimes or ISO strings: calls created at or after
    ``since`` and before ``until`` (a bare date includes that whole day; a naive datetime is
    UTC, one with an offset is converted to UTC before its date is sent). ``status``,
    ``direction``, ``channel`` and ``tag`` take one value or a list; the first three must be
    documented values (matched case-insensitively: ``"Completed"`` works), anything else is an
    :class:`~apifonica_nb.errors.InvalidRequestError` listing the valid ones. The filters are
    sent to the API **and** applied to what comes back, so the result is right even if the
    server ignores one (``df.attrs["filtered_locally"]`` counts the calls it sent that they
    exclude). ``max_calls`` keeps that many matching calls; when more match, the frame says
    so: ``df.attrs["complete"]`` is False and ``df.attrs["stopped_at"]`` is ``max_calls``.

    ``workers`` (default 8) date windows of the period are read at once, each paged on its
    own, and put back in order: the frame is the one following ``next`` page by page gives,
    only sooner (see :mod:`apifonica_nb.history`). ``workers=1``, a ``max_calls`` that a few
    pages hold, or a server that does not honour the date filters (found by the one trust
    check, said once in a log line) follow ``next`` instead. ``df.attrs["paging"]`` says how
    it was read (``mode``, ``workers``, ``windows``, ``note``). A call the server lists twice
    (offset-like cursors repeat calls when new ones arrive between pages) is one row, its
    most recent version; ``df.attrs["duplicates"]`` says how many were merged.

    With the cache (see :mod:`apifonica_nb.fetch`), settled calls are stored page by page, and a
    second run over a range already listed in full stops paging at the first page made only
    of calls it has, taking the older ones from the store (:class:`~apifonica_nb.history.
    HistorySync` says when that is safe). ``df.attrs["cache"]`` counts calls from the store
    (hits) and calls listed by the API (misses). Windows are used only when the store cannot
    shorten the listing (no earlier complete listing contains this one, ``cache="refresh"``
    or ``cache=False``); their calls are stored in listing order, as one listing's would be,
    so the next run is incremental.

    ``on_progress`` receives a :class:`~apifonica_nb.client.Progress` (``total`` None: the
    length of a history is not known ahead) as pages arrive; a set ``cancel`` event, or Ctrl-C,
    returns the calls listed so far within a second with ``df.attrs["cancelled"] = True`` (a
    cut listing is never recorded as complete in the store). A 401/403 or an over-budget 429
    stops at once, with the calls listed so far as the exception's ``.frame``.
    ``warn=False`` keeps the warnings' texts in ``df.attrs["warnings"]`` only.

    >>> df = ap.fetch_history(client=client, since="2026-10-01", status=["failed", "busy"])
    """
    if max_calls is not None and (isinstance(max_calls, bool) or not isinstance(max_calls, int)):
        raise InvalidRequestError(f"max_calls must be a whole number or None, got {max_calls!r}")
    if max_calls is not None and max_calls < 0:
        raise InvalidRequestError(f"max_calls must be 0 or more, got {max_calls}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidRequestError(f"workers must be a whole number of at least 1, got {workers!r}")
    query = HistoryQuery.of(
        since=since, until=until, status=status, direction=direction, channel=channel, tag=tag
    )
    mode = cache_mode(cache)
    trust = Trust(client.base_url)  # what this run learns about the server, said once
    store = CallStore() if mode is not None else None
    try:
        sync = None
        if store is not None:
            sync = HistorySync(
                store,
                client.account_sid,
                since=query.since,
                until=query.until,
                equal=query.equal,
                refresh=mode == "refresh",
                trust=trust,
            )
        read = read_history(
            client,
            query,
            sync=sync,
            workers=workers,
            max_calls=max_calls,
            progress=progress,
            trust=trust,
            on_progress=on_progress,
            cancel=cancel,
        )
    finally:
        if store is not None:
            store.close()
    found: list[Finding] = []
    df = typed_frame(read.records, price_unit, found)
    if read.rest is not None and read.rest.num_rows:
        df = combine_frames(
            [df, frame_from_table(read.rest, price_unit=price_unit)],
            extras=[raw_extras(read.records), table_extras(read.rest)],
        )
    sids = df["call_sid"].iloc[: len(read.records)]
    listed = int(sids.nunique() + sids.isna().sum())  # calls the listing held
    df, duplicates = deduplicate(df)  # calls listed twice, or listed and in the store
    matched = query.mask(df)
    kept = np.flatnonzero(matched)[:max_calls]
    # The listing reads one matching call past max_calls: more than max_calls means cut.
    capped = max_calls is not None and (max_calls == 0 or int(matched.sum()) > max_calls)
    if len(kept) < len(df):
        df = df.take(kept).reset_index(drop=True)
    # Calls the server sent that the filters exclude (not calls of the store outside them).
    df.attrs["filtered_locally"] = int((~matched[:listed]).sum())
    df.attrs["duplicates"] = duplicates
    hits = int((kept >= listed).sum())  # rows of the result that came from the store
    df.attrs["cache"] = cache_attrs(hits, listed, store)
    df.attrs["paging"] = read.paging
    asked = {"since": since, "until": until, "status": status, "direction": direction}
    asked.update(channel=channel, tag=tag, max_calls=max_calls)
    provenance(df, client=client, price_unit=price_unit, asked=asked)
    if read.stopped is not None:
        stopped(read.stopped, finish(df, total=len(df), warn=False))
        raise read.stopped
    return finish(
        df,
        total=len(df),
        found=found,
        cancelled=read.cancelled,
        stopped_at=max_calls if capped else None,
        warn=warn,
    )
