"""The small fetch verbs: a client plus the parser give one typed DataFrame.

Each verb returns one DataFrame (see :data:`apifonica_nb.CALL_DTYPES`). Calls that could not
be fetched are listed in ``df.attrs["failures"]`` (plain dicts ``call_sid``, ``error``,
``message``) and summarised in one :class:`~apifonica_nb.errors.FetchFailuresWarning`.

Settled calls (final status, priced) are kept in the local store of :mod:`apifonica_nb.cache`
and served from it: ``cache=True`` (default) uses it, ``cache="refresh"`` fetches everything
again and updates it, ``cache=False`` neither reads nor writes it. ``df.attrs["cache"]`` says
``{"hits": n, "misses": m, "path": str}`` (calls served from the store, calls fetched).
"""

from __future__ import annotations

import atexit
import os
import re
import threading
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from ._windows import WindowedListing
from .cache import (
    CallStore,
    CallWriter,
    HistorySync,
    combine_frames,
    frame_from_table,
    raw_extras,
    table_extras,
)
from .client import MAX_SID_LENGTH, PAGE_LIMIT, Client, validate_call_sid
from .errors import FetchFailuresWarning, InvalidRequestError
from .frame import calls_to_frame

if TYPE_CHECKING:
    from .sandbox import Sandbox

__all__ = ["DEMO_NOW", "connect", "fetch_call", "fetch_calls", "fetch_history"]

#: The frozen clock of the sandbox that :func:`connect` starts, so notebooks are reproducible.
DEMO_NOW = "2026-11-01T12:00:00+00:00"
#: Date windows of a history read at once when ``fetch_history(workers=None)``.
HISTORY_WORKERS = 8

_DATE_ONLY = re.compile(r"\s*\d{4}-\d{2}-\d{2}\s*")
#: A SID that validate_call_sid would accept unchanged (checked on whole arrays at once).
_CLEAN_SID = rf"^[A-Za-z0-9][A-Za-z0-9_.:-]{{0,{MAX_SID_LENGTH - 1}}}$"

CacheMode = bool | Literal["refresh"]


def _cache_mode(cache: object) -> str | None:
    """Return "use", "refresh" or None (bypass) for a ``cache=`` argument."""
    if cache is True:
        return "use"
    if cache is False or cache is None:
        return None
    if cache == "refresh":
        return "refresh"
    raise InvalidRequestError(f"cache must be True, False or 'refresh', got {cache!r}")


def _cache_attrs(hits: int, misses: int, store: CallStore | None) -> dict[str, Any]:
    return {"hits": hits, "misses": misses, "path": None if store is None else str(store.path)}


def _with_failures(df: pd.DataFrame, failures: list[dict[str, Any]], total: int) -> pd.DataFrame:
    df.attrs["failures"] = failures
    if failures:
        kinds = Counter(f["error"] for f in failures)
        summary = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
        warnings.warn(
            f"{len(failures)} of {total} calls could not be fetched ({summary}); they are listed "
            'in df.attrs["failures"] (pd.DataFrame(df.attrs["failures"]) shows them).',
            FetchFailuresWarning,
            stacklevel=3,
        )
    return df


def fetch_call(
    call_sid: str, *, client: Client, price_unit: str = "EUR", cache: CacheMode = True
) -> pd.DataFrame:
    """Fetch one call into a one-row DataFrame; raise a typed error if it cannot be fetched.

    A settled call is served from the local store (``cache``: see :mod:`apifonica_nb.fetch`).

    >>> df = ap.fetch_call("cal…", client=client)
    >>> df.loc[0, ["status", "talk_seconds", "cost_eur"]]
    """
    mode = _cache_mode(cache)
    if mode is None:
        df = calls_to_frame([client.get_call(call_sid)], price_unit=price_unit)
        df.attrs.update(failures=[], cache=_cache_attrs(0, 1, None))
        return df
    sid = validate_call_sid(call_sid)
    with CallStore() as store:
        if mode == "use":
            table = store.get_table(client.account_sid, [sid])
            if table.num_rows:
                df = frame_from_table(table, price_unit=price_unit)
                df.attrs.update(failures=[], cache=_cache_attrs(1, 0, store))
                return df
        record = client.get_call(sid)
        store.put_records(client.account_sid, [record])
    df = calls_to_frame([record], price_unit=price_unit)
    df.attrs.update(failures=[], cache=_cache_attrs(0, 1, store))
    return df


def _normalise_sids(raw: list[Any]) -> pa.Array:
    """The SID each input means (stripped), null where it is invalid; vectorised."""
    try:
        arr = pa.array(raw, type=pa.large_string())
    except (pa.ArrowException, TypeError, ValueError):
        odd = np.arange(len(raw))
        values: list[Any] = [None] * len(raw)
    else:
        clean = pc.and_(
            pc.match_substring_regex(arr, _CLEAN_SID),
            pc.invert(pc.match_substring(arr, "..")),
        ).fill_null(False)
        odd = np.flatnonzero(~np.asarray(clean, dtype=bool))
        if not len(odd):
            return arr
        values = arr.to_pylist()
    for i in odd.tolist():  # only the SIDs that need stripping, or are invalid
        try:
            values[i] = validate_call_sid(raw[i])
        except InvalidRequestError:
            values[i] = None
    return pa.array(values, type=pa.large_string())


def fetch_calls(
    call_sids: Iterable[str],
    *,
    client: Client,
    workers: int = 8,
    progress: bool = True,
    price_unit: str = "EUR",
    cache: CacheMode = True,
) -> pd.DataFrame:
    """Fetch many calls concurrently into one DataFrame, in input order.

    A SID given twice is fetched once. Invalid SIDs and calls that could not be fetched do not
    stop the batch: they are listed in ``df.attrs["failures"]`` with a warning. Settled calls
    come from the local store without a request (``cache``: see :mod:`apifonica_nb.fetch`);
    fetched ones are stored as they arrive, so an interrupted batch resumes where it stopped.

    >>> df = ap.fetch_calls(sids, client=client, workers=8)
    >>> pd.DataFrame(df.attrs["failures"]), df.attrs["cache"]
    """
    sids = list(call_sids)
    mode = _cache_mode(cache)
    if mode is None:
        batch = client.get_calls(sids, workers=workers, progress=progress)
        df = calls_to_frame(batch.records, price_unit=price_unit)
        df.attrs["cache"] = _cache_attrs(0, len(batch.records) + len(batch.failures), None)
        return _with_failures(df, batch.failures, len(sids))

    account = client.account_sid
    wanted = _normalise_sids(sids)
    order = pc.unique(wanted.drop_null())  # what get_calls would fetch, in its order
    with CallStore() as store:
        cached = store.get_table(account, order if mode == "use" else [])
        hit = np.asarray(pc.is_in(wanted, value_set=cached.column("call_sid")), dtype=bool)
        hit &= np.asarray(wanted.is_valid(), dtype=bool)
        misses = [sids[i] for i in np.flatnonzero(~hit).tolist()]
        n_miss = len(order) - cached.num_rows
        writer = CallWriter(store, account)
        label = f"Fetching calls ({cached.num_rows} cached)" if cached.num_rows else None
        bar = tqdm(
            total=n_miss,
            unit="call",
            desc=label or "Fetching calls",
            disable=not progress or not misses,
            leave=False,
        )

        def arrived(record: dict[str, Any]) -> None:
            writer.add(record)
            bar.update(1)

        try:
            batch = client.get_calls(misses, workers=workers, progress=False, on_record=arrived)
        finally:
            # Keep what arrived, also on Ctrl-C: the next run fetches only the rest.
            writer.flush()
            bar.close()
        if writer.stored:
            store.update_segments(account)  # so that the next load of many calls is fast
    fetched = calls_to_frame(batch.records, price_unit=price_unit)
    if not cached.num_rows:
        df = fetched
    elif not batch.records:
        df = frame_from_table(cached, price_unit=price_unit)
    else:
        failed = {f["call_sid"] for f in batch.failures}
        miss_order = pc.unique(wanted.filter(pa.array(~hit)).drop_null())
        got = [s for s in miss_order.to_pylist() if s not in failed]
        keys = pa.concat_arrays(
            [cached.column("call_sid").combine_chunks(), pa.array(got, pa.large_string())]
        )
        rank = np.asarray(pc.index_in(keys, value_set=order), dtype=np.int64)
        df = combine_frames(
            [frame_from_table(cached, price_unit=price_unit), fetched],
            order=np.argsort(rank, kind="stable"),
            extras=[table_extras(cached), raw_extras(batch.records)],
        )
    df.attrs["cache"] = _cache_attrs(cached.num_rows, n_miss, store)
    return _with_failures(df, batch.failures, len(sids))


def _bound(value: object, *, end: bool) -> pd.Timestamp | None:
    """Turn ``since``/``until`` into a UTC instant; a bare date means its whole day."""
    if value is None:
        return None
    date_only = (isinstance(value, date) and not isinstance(value, datetime)) or (
        isinstance(value, str) and _DATE_ONLY.fullmatch(value) is not None
    )
    try:
        ts = pd.Timestamp(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        which = "until" if end else "since"
        raise InvalidRequestError(
            f"{which}={value!r} is not a date or datetime (try '2026-10-01' or a Timestamp)"
        ) from exc
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if date_only and end:
        ts += pd.Timedelta(days=1)
    return ts


def _as_list(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def _history_mask(
    df: pd.DataFrame,
    since: pd.Timestamp | None,
    until: pd.Timestamp | None,
    equal: dict[str, list[str]],
) -> pd.Series:
    """Which rows match the filters (vectorised), so results are right whatever the server did."""
    mask = pd.Series(True, index=df.index)
    if since is not None:
        mask &= (df["created"] >= since).fillna(False).astype(bool)
    if until is not None:
        mask &= (df["created"] < until).fillna(False).astype(bool)
    for column, allowed in equal.items():
        mask &= df[column].astype("str").isin(allowed).astype(bool)
    return mask


def fetch_history(
    *,
    client: Client,
    since: object = None,
    until: object = None,
    status: str | Sequence[str] | None = None,
    direction: str | None = None,
    channel: str | Sequence[str] | None = None,
    tag: str | Sequence[str] | None = None,
    max_calls: int | None = None,
    progress: bool = True,
    price_unit: str = "EUR",
    cache: CacheMode = True,
    workers: int | None = None,
) -> pd.DataFrame:
    """Fetch the account's call history into one DataFrame, newest first.

    ``since`` and ``until`` take dates, datetimes or ISO strings (naive means UTC): calls created
    at or after ``since`` and before ``until`` (a bare date includes that whole day). ``status``,
    ``channel`` and ``tag`` take one value or a list. The filters are sent to the API **and**
    applied to what comes back, so the result is right even if the server ignores one.
    ``max_calls`` stops after that many matching calls.

    ``workers`` date windows of the period are read at once, each paged on its own, and put
    back in order: the frame is the one following ``next`` page by page gives, only sooner
    (see :mod:`apifonica_nb._windows` for how the period is split when it has no start).
    ``None`` (default) uses :data:`HISTORY_WORKERS` when the first two pages show a remote
    server (each took over 15 ms; a local sandbox without latency is read as one listing);
    ``1`` always follows ``next`` alone; a number above 1 always uses windows. A server that
    ignores the date filters is read page by page, said once in a log line.
    ``df.attrs["paging"]`` says how it was read (``mode``, ``workers``, ``windows``, ``note``).

    With the cache (see :mod:`apifonica_nb.fetch`), settled calls are stored page by page, and a
    second run over a range already listed in full stops paging at the first page made only
    of calls it has, taking the older ones from the store (:class:`~apifonica_nb.cache.
    HistorySync` says when that is safe). ``df.attrs["cache"]`` counts calls from the store
    (hits) and calls listed by the API (misses). Windows are used only when the store cannot
    shorten the listing (no earlier complete listing contains this one, ``cache="refresh"``
    or ``cache=False``); their calls are stored in listing order, as one listing's would be,
    so the next run is incremental. Otherwise the history is paged one page at a time.

    >>> df = ap.fetch_history(client=client, since="2026-10-01", status=["failed", "busy"])
    """
    if max_calls is not None and max_calls < 0:
        raise InvalidRequestError(f"max_calls must be 0 or more, got {max_calls}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)):
        raise InvalidRequestError(f"workers must be a whole number or None, got {workers!r}")
    if workers is not None and workers < 1:
        raise InvalidRequestError(f"workers must be at least 1, got {workers}")
    start, end = _bound(since, end=False), _bound(until, end=True)
    if start is not None and end is not None and start >= end:
        raise InvalidRequestError(f"since ({since!r}) must be before until ({until!r})")
    equal = {
        name: values
        for name, values in (
            ("status", _as_list(status)),
            ("direction", _as_list(direction)),
            ("channel", _as_list(channel)),
            ("tag", _as_list(tag)),
        )
        if values is not None
    }
    query: dict[str, Any] = dict(equal)
    if start is not None:
        query["date_from"] = start.date()
    if end is not None:
        # The API's date_to is an inclusive day: the day of the last instant before ``end``.
        query["date_to"] = (end - pd.Timedelta(microseconds=1)).date()

    mode = _cache_mode(cache)
    store = CallStore() if mode is not None else None
    try:
        sync = None
        if store is not None:
            sync = HistorySync(
                store,
                client.account_sid,
                since=start,
                until=end,
                equal=equal,
                refresh=mode == "refresh",
                origin=client.base_url,
            )
        listing, paging = _listing(client, query, sync, workers=workers, max_calls=max_calls)
        records, rest = _list_history(
            listing, sync, max_calls=max_calls, progress=progress, filters=(start, end, equal)
        )
    finally:
        if store is not None:
            store.close()
    df = calls_to_frame(records, price_unit=price_unit)
    listed = len(df)
    if rest is not None and rest.num_rows:
        df = combine_frames(
            [df, frame_from_table(rest, price_unit=price_unit)],
            extras=[raw_extras(records), table_extras(rest)],
        )
    mask = _history_mask(df, start, end, equal)
    kept = np.flatnonzero(mask.to_numpy())[:max_calls]
    if len(kept) < len(df):
        df = df.take(kept).reset_index(drop=True)
    df.attrs["failures"] = []
    # Rows the server sent that the filters exclude (not rows of the store outside them).
    df.attrs["filtered_locally"] = int((~mask.to_numpy()[:listed]).sum())
    hits = int((kept >= listed).sum())  # rows of the result that came from the store
    df.attrs["cache"] = _cache_attrs(hits, len(records), store)
    df.attrs["paging"] = paging if isinstance(paging, dict) else dict(paging.info)
    return df


def _listing(
    client: Client,
    query: dict[str, Any],
    sync: HistorySync | None,
    *,
    workers: int | None,
    max_calls: int | None,
) -> tuple[Iterable[dict[str, Any]], dict[str, Any] | WindowedListing]:
    """Choose how to list the history: date windows in parallel, or following ``next``."""
    plain: dict[str, Any] = {"mode": "sequential", "workers": 1, "windows": 0, "note": None}
    if sync is not None:
        if sync.can_stop_early:
            # An earlier complete listing lets paging stop at the first page already stored:
            # follow next, page by page (windows would read what the store has).
            return client.iter_calls(**query), plain
        # Paging cannot stop early: store the listing in chunks of 1,000 calls instead of
        # pages of 20 (each costs a parse and a transaction: half the time of a cold run
        # here); an interrupted run still stores what it read.
        sync.page_size = 50 * PAGE_LIMIT
    n = HISTORY_WORKERS if workers is None else workers
    # Only our own Client: a wrapper (the explorer's, which counts pages to cancel between
    # them, or replays them) expects one listing.
    if n < 2 or not isinstance(client, Client):
        return client.iter_calls(**query), plain
    if max_calls is not None and max_calls <= PAGE_LIMIT * n:
        return client.iter_calls(**query), plain  # the first pages are all it takes
    client._ensure_pool(n + 1)
    windowed = WindowedListing(client, query, workers=n, auto=workers is None, limit=max_calls)
    return iter(windowed), windowed


def _list_history(
    listing: Iterable[dict[str, Any]],
    sync: HistorySync | None,
    *,
    max_calls: int | None,
    progress: bool,
    filters: tuple[pd.Timestamp | None, pd.Timestamp | None, dict[str, list[str]]],
) -> tuple[list[dict[str, Any]], pa.Table | None]:
    """Page through the history; return the records listed and, after an early stop, the
    older calls from the store."""
    records: list[dict[str, Any]] = []
    next_check = max_calls or 0
    complete = max_calls != 0
    rest = None
    bar = tqdm(
        total=max_calls, unit="call", desc="Fetching history", disable=not progress, leave=False
    )
    try:
        if max_calls != 0:
            for record in listing:
                records.append(record)
                bar.update(1)
                if sync is not None and sync.add(record):
                    break  # the rest of the range is in the store
                if max_calls is not None and len(records) >= next_check:
                    with warnings.catch_warnings():  # reported once, on the final frame
                        warnings.simplefilter("ignore")
                        partial = calls_to_frame(records)
                    matched = int(_history_mask(partial, *filters).sum())
                    if matched >= max_calls:
                        complete = False
                        break
                    # The server ignored a filter: read on until enough rows could match.
                    next_check = len(records) + max_calls - matched
        if sync is not None:
            sync.finish(complete=complete)
            if sync.stopped_at is not None:
                rest = sync.rest()
                bar.set_description(f"Fetching history ({rest.num_rows} cached)")
    except BaseException:
        if sync is not None:
            sync.flush()  # keep the pages already read (Ctrl-C, a network error)
        raise
    finally:
        bar.close()
        close = getattr(listing, "close", None)
        if close is not None:
            close()  # a generator left early (max_calls, a cache stop): end its workers now
    return records, rest


# -- connect ------------------------------------------------------------------------------------

_demo_lock = threading.Lock()
_demo: dict[tuple[int, int, str | None], Sandbox] = {}


def connect(
    *, calls: int = 500, seed: int = 7, now: str | None = DEMO_NOW, quiet: bool = False
) -> Client:
    """Return a client for the real API if credentials are set, else for a seeded sandbox.

    With ``APIFONICA_ACCOUNT_SID`` in the environment this is :meth:`Client.from_env`.
    Otherwise a sandbox with ``calls`` calls (seeded, clock frozen at ``now``; ``now=None``
    for a live clock) starts in the background, once per process, and stops at exit.
    One line says which was chosen.

    >>> client = ap.connect()
    """
    if os.environ.get("APIFONICA_ACCOUNT_SID"):
        client = Client.from_env()
        if not quiet:
            print(
                f"apifonica_nb: using the Apifonica API at {client.base_url} as account "
                f"{client.account_sid} (APIFONICA_* environment variables)."
            )
        return client
    from . import sandbox  # deferred: the server is only needed when there are no credentials

    key = (calls, seed, now)
    with _demo_lock:
        sb = _demo.get(key)
        if sb is None:
            sb = sandbox.start(calls=calls, seed=seed, now=now)
            _demo[key] = sb
            atexit.register(sb.stop)
    if not quiet:
        clock = f"clock frozen at {now}" if now else "live clock"
        print(
            f"apifonica_nb: APIFONICA_ACCOUNT_SID is not set, so this runs on the bundled sandbox "
            f"({calls} seeded calls, {clock}) at {sb.url}."
        )
    return sb.client()
