"""The local call store: finished calls kept on disk so they are never fetched twice.

A call whose status is final (:data:`~apifonica_nb.frame.FINAL_STATUSES`) and that has a
price never changes again, so :func:`~apifonica_nb.fetch_calls`,
:func:`~apifonica_nb.fetch_history` and :func:`~apifonica_nb.fetch_call` keep such calls here
(``cache=True``, the default) and serve them without a request. Calls still in progress, or
final but not yet billed, are always fetched again. ``cache="refresh"`` fetches everything
again and updates the store; ``cache=False`` neither reads nor writes it.

Where: one SQLite file, ``calls.sqlite3`` under ``platformdirs.user_cache_dir("apifonica_nb")``,
or under ``$APIFONICA_NB_CACHE_DIR`` when that is set (read each time the store is opened, never
at import). Rows are keyed by (account SID, call SID). No credential is ever written.

::

    import apifonica_nb as ap

    ap.cache.info()      # {'path': ..., 'calls': 812, 'accounts': 1, 'size_bytes': ...}
    ap.cache.clear()     # forget every stored call (returns how many)
    ap.cache.clear(account_sid="acc…")  # only one account's

    with ap.cache.CallStore() as store:       # the store itself, for scripts
        df = store.get_frame("acc…", sids)    # cached calls, typed like calls_to_frame

How it keeps its duties:

- **Typed columns.** Each call is one row of typed SQL columns: the columns of
  :data:`~apifonica_nb.frame.CALL_DTYPES` except ``cost_eur`` (recomputed on load from
  ``price`` and the caller's ``price_unit``), datetimes as int64 microseconds UTC, categoricals
  and strings as TEXT; undocumented extra fields as one JSON text column (rare); ``stored_at``.
- **Fast loads.** Reading a million rows through ``sqlite3`` costs seconds of per-value Python
  work, so loads of many calls go through a derived columnar copy kept in the same file: Arrow
  IPC segments (zstd) of the typed rows. Each write bumps a version counter; the fetch verbs
  add the new rows as a segment when they finish, a load adds any rows still missing, and
  small segments are merged. Dropping the segments loses nothing: they are rebuilt from the
  rows. Up to a few thousand SIDs are looked up by key instead.
- **Identical frames.** A frame served from the store equals the one :func:`calls_to_frame`
  gives for the same API records: same columns, dtypes, categories, values and order.
- **Two notebooks at once.** WAL journal, a busy timeout, ``BEGIN IMMEDIATE`` write
  transactions and a retry on "database is locked".
- **Crash-safe.** Calls are written as they arrive, in small transactions; a Ctrl-C or a
  ``kill -9`` loses only the uncommitted last few, and the next run fetches just those.
- **Incremental history.** The ``syncs`` table remembers complete history listings, so a
  second ``fetch_history`` over the same range stops paging as soon as the pages hold only
  calls it already has (the rule is :class:`apifonica_nb.history.HistorySync`'s).
- A file that is not this store (corrupt, or another program's SQLite database) raises
  :class:`~apifonica_nb.errors.CacheError` naming the path and how to reset it.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from ..errors import CacheError
from ._database import CACHE_DIR_ENV, cache_path
from ._database import FILE_NAME as FILE_NAME
from ._frames import (
    combine_frames,
    extras_json,
    frame_from_table,
    parse_records,
    raw_extras,
    settled_mask,
    table_extras,
)
from ._schema import APPLICATION_ID as APPLICATION_ID
from ._schema import SCHEMA_VERSION as SCHEMA_VERSION
from ._schema import empty_table
from ._store import CallStore
from ._writer import CallWriter

__all__ = [
    "CACHE_DIR_ENV",
    "CallStore",
    "CallWriter",
    "cache_path",
    "clear",
    "combine_frames",
    "empty_table",
    "extras_json",
    "frame_from_table",
    "info",
    "parse_records",
    "raw_extras",
    "settled_mask",
    "table_extras",
]


# -- module-level conveniences ----------------------------------------------------------------


def clear(account_sid: str | None = None) -> int:
    """Forget the cached calls (of one account, or all); return how many were removed.

    A store file that cannot be read (corrupt, or not ours) is deleted when clearing all.

    >>> ap.cache.clear()
    812
    """
    path = cache_path()
    if not path.exists():
        return 0
    try:
        store = CallStore(path)
    except CacheError:
        if account_sid is not None:
            raise
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(f"{path}{suffix}")
        return 0
    with store:
        return store.clear(account_sid)


def info() -> dict[str, Any]:
    """Return the cache's ``path``, number of ``calls`` and ``accounts``, and ``size_bytes``.

    >>> ap.cache.info()["calls"]
    812
    """
    path = cache_path()
    if not path.exists():
        return {"path": str(path), "calls": 0, "accounts": 0, "size_bytes": 0}
    with CallStore(path) as store:
        return store.info()
