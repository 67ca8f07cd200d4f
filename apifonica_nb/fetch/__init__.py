"""The fetch verbs: a client plus the parser give one typed DataFrame (the history verb lives
in :mod:`._history`, the investigation verbs in ``_watch``, ``_family`` and ``_recordings``).

Each verb returns one DataFrame (see :data:`apifonica_nb.CALL_DTYPES`) with one row per
``call_sid``: a call listed twice, asked for twice, or both listed and in the store is one
row (the most recent version), and ``df.attrs["duplicates"]`` says how many were merged.
Calls that could not be fetched are listed in ``df.attrs["failures"]`` (plain dicts
``call_sid``, ``error``, ``message``) and summarised in one
:class:`~apifonica_nb.errors.FetchFailuresWarning`.

Settled calls (final status, priced) are kept in the local store of :mod:`apifonica_nb.cache`
and served from it: ``cache=True`` (default) uses it, ``cache="refresh"`` fetches everything
again and updates it, ``cache=False`` neither reads nor writes it. ``df.attrs["cache"]`` says
``{"hits": n, "misses": m, "path": str}`` (calls served from the store, calls fetched).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from ..cache import (
    CallStore,
    CallWriter,
    combine_frames,
    frame_from_table,
    raw_extras,
    table_extras,
)
from ..client import CallBatch, Client, Progress, validate_call_sid
from ..errors import (
    AuthenticationError,
    RateLimitedError,
)
from ..frame import Finding, deduplicate
from ._family import call_family
from ._history import fetch_history
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
from ._recordings import fetch_recording_audio, fetch_recordings
from ._sids import normalise_sids
from ._watch import watch_call

__all__ = [
    "CacheMode",
    "call_family",
    "fetch_call",
    "fetch_calls",
    "fetch_history",
    "fetch_recording_audio",
    "fetch_recordings",
    "watch_call",
]


def fetch_call(
    call_sid: str,
    *,
    client: Client,
    price_unit: str = "EUR",
    cache: CacheMode = True,
    warn: bool = True,
) -> pd.DataFrame:
    """Fetch one call into a one-row DataFrame; raise a typed error if it cannot be fetched.

    A settled call is served from the local store (``cache``: see :mod:`apifonica_nb.fetch`).
    ``warn=False`` keeps data-quality warnings in ``df.attrs["warnings"]`` only.

    >>> df = ap.fetch_call("cal…", client=client)
    >>> df.loc[0, ["status", "talk_seconds", "cost_eur"]]
    """
    mode = cache_mode(cache)
    found: list[Finding] = []
    sid = validate_call_sid(call_sid)
    df = _one_call(client, sid, mode, price_unit, found)
    provenance(df, client=client, price_unit=price_unit, asked={"call_sid": sid})
    return finish(df, total=1, found=found, warn=warn)


def _one_call(
    client: Client, sid: str, mode: str | None, price_unit: str, found: list[Finding]
) -> pd.DataFrame:
    """Return the one-row frame of ``sid``: from the store when settled there, else fetched."""
    if mode is None:
        df = typed_frame([client.get_call(sid)], price_unit, found)
        df.attrs.update(duplicates=0, cache=cache_attrs(0, 1, None))
        return df
    with CallStore() as store:
        if mode == "use":
            table = store.get_table(client.account_sid, [sid])
            if table.num_rows:
                df = frame_from_table(table, price_unit=price_unit)
                df.attrs.update(duplicates=0, cache=cache_attrs(1, 0, store))
                return df
        record = client.get_call(sid)
        store.put_records(client.account_sid, [record])
    df = typed_frame([record], price_unit, found)
    df.attrs.update(duplicates=0, cache=cache_attrs(0, 1, store))
    return df


def fetch_calls(
    call_sids: Iterable[str],
    *,
    client: Client,
    workers: int = 8,
    progress: bool = True,
    price_unit: str = "EUR",
    cache: CacheMode = True,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    warn: bool = True,
) -> pd.DataFrame:
    """Fetch many calls concurrently into one DataFrame, in input order.

    A SID given twice is fetched once and is one row (``df.attrs["duplicates"]`` counts the
    repeats). Invalid SIDs and calls that could not be fetched do not stop the batch: they
    are listed in ``df.attrs["failures"]`` with a warning. Settled calls
    come from the local store without a request (``cache``: see :mod:`apifonica_nb.fetch`);
    fetched ones are stored as they arrive, so an interrupted batch resumes where it stopped.

    A wrong token (401/403) or a 429 asking for a longer wait than the retry budget stops the
    batch at once: the :class:`~apifonica_nb.errors.AuthenticationError` or
    :class:`~apifonica_nb.errors.RateLimitedError` carries the calls fetched so far as
    ``.frame``. ``on_progress`` receives a :class:`~apifonica_nb.client.Progress` per call;
    a set ``cancel`` event, or Ctrl-C, returns the partial frame within a second with
    ``df.attrs["cancelled"] = True``. ``warn=False`` keeps the warnings' texts in
    ``df.attrs["warnings"]`` only.

    >>> df = ap.fetch_calls(sids, client=client, workers=8)
    >>> pd.DataFrame(df.attrs["failures"]), df.attrs["cache"]
    """
    sids = list(call_sids)
    mode = cache_mode(cache)
    wanted = normalise_sids(sids)
    order = pc.unique(wanted.drop_null())  # what get_calls would fetch, in its order
    repeats = len(wanted) - wanted.null_count - len(order)
    found: list[Finding] = []
    store = CallStore() if mode is not None else None
    try:
        empty = pa.table({"call_sid": pa.array([], pa.large_string())})
        cached = (
            empty if store is None or mode != "use" else store.get_table(client.account_sid, order)
        )
        hit = np.asarray(pc.is_in(wanted, value_set=cached.column("call_sid")), dtype=bool)
        hit &= np.asarray(wanted.is_valid(), dtype=bool)
        misses = [sids[i] for i in np.flatnonzero(~hit).tolist()]
        n_miss = len(order) - cached.num_rows
        try:
            batch = _get_calls(
                client,
                store,
                misses,
                workers,
                progress,
                n_miss,
                cached.num_rows,
                on_progress,
                cancel,
            )
        except (AuthenticationError, RateLimitedError) as exc:
            partial = exc.batch or CallBatch([], [])
            df = _combine(partial, cached, order, price_unit, found)
            stopped(exc, finish(df, failures=partial.failures, total=len(sids), warn=False))
            raise
    finally:
        if store is not None:
            store.close()
    df = _combine(batch, cached, order, price_unit, found)
    df.attrs["cache"] = cache_attrs(cached.num_rows, n_miss, store)
    df = _one_row_per_call(df, repeats)
    provenance(df, client=client, price_unit=price_unit, asked={"call_sids": len(sids)})
    return finish(
        df,
        failures=batch.failures,
        total=len(sids),
        found=found,
        cancelled=batch.cancelled,
        warn=warn,
    )


def _get_calls(
    client: Client,
    store: CallStore | None,
    misses: list[Any],
    workers: int,
    progress: bool,
    n_miss: int,
    n_cached: int,
    on_progress: ProgressCallback | None,
    cancel: threading.Event | None,
) -> CallBatch:
    """Fetch the calls the store did not have, storing each as it arrives."""
    writer = None if store is None else CallWriter(store, client.account_sid)
    label = f"Fetching calls ({n_cached} cached)" if n_cached else "Fetching calls"
    bar = tqdm(
        total=n_miss, unit="call", desc=label, disable=not progress or not misses, leave=False
    )
    total = n_miss + n_cached

    def arrived(record: dict[str, Any]) -> None:
        if writer is not None:
            writer.add(record)
        bar.update(1)

    def advanced(p: Progress) -> None:
        if p.rate is not None:
            bar.set_postfix_str(f"{p.rate:.0f} req/s", refresh=False)
        if on_progress is not None:
            on_progress(p._replace(done=p.done + n_cached, total=total, cached=n_cached))

    if on_progress is not None:
        on_progress(Progress(n_cached, total, n_cached, 0))
    try:
        return client.get_calls(
            misses,
            workers=workers,
            progress=False,
            on_record=arrived,
            on_progress=advanced,
            cancel=cancel,
        )
    finally:
        # Keep what arrived, also on Ctrl-C or a stop: the next run fetches only the rest.
        if writer is not None:
            writer.flush()
            if writer.stored and store is not None:
                store.update_segments(client.account_sid)  # the next load of many is fast
        bar.close()


def _combine(
    batch: CallBatch,
    cached: pa.Table,
    order: pa.Array,
    price_unit: str,
    found: list[Finding],
) -> pd.DataFrame:
    """The frame of the calls from the store and the calls fetched, in input order."""
    fetched = typed_frame(batch.records, price_unit, found)
    if not cached.num_rows:
        return fetched
    if not batch.records:
        return frame_from_table(cached, price_unit=price_unit)
    # The client checked that each body is the call asked for, so its SID places it.
    got = [r.get("call_sid") for r in batch.records]
    keys = pa.concat_arrays(
        [cached.column("call_sid").combine_chunks(), pa.array(got, pa.large_string())]
    )
    rank = np.asarray(pc.index_in(keys, value_set=order), dtype=np.int64)
    return combine_frames(
        [frame_from_table(cached, price_unit=price_unit), fetched],
        order=np.argsort(rank, kind="stable"),
        extras=[table_extras(cached), raw_extras(batch.records)],
    )


def _one_row_per_call(df: pd.DataFrame, repeats: int) -> pd.DataFrame:
    """Merge rows of the same call (a server that answered one call for two SIDs), and say
    how many duplicates there were, ``repeats`` (SIDs asked for twice) included."""
    df, merged = deduplicate(df)
    df.attrs["duplicates"] = repeats + merged
    return df
