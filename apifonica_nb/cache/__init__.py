"""The local call store: finished calls kept on disk as an open Parquet dataset.

A call whose status is final (:data:`~apifonica_nb.frame.FINAL_STATUSES`) and that has a
price never changes again, so :func:`~apifonica_nb.fetch_calls`,
:func:`~apifonica_nb.fetch_history` and :func:`~apifonica_nb.fetch_call` keep such calls here
(``cache=True``, the default) and serve them without a request. Calls still in progress, or
final but not yet billed, are always fetched again. ``cache="refresh"`` fetches everything
again and updates the store; ``cache=False`` neither reads nor writes it.

Where: the folder ``calls/`` under ``platformdirs.user_cache_dir("apifonica_nb")``, or under
``$APIFONICA_NB_CACHE_DIR`` when that is set (read each time the store is opened, never at
import)::

    calls/
      _store.sqlite3                                   the manifest: layout version, listings
      account=<SID>/month=2026-10/part-<µs>-<id>.parquet   the calls (zstd Parquet)

Rows are keyed by (account SID, call SID). No credential is ever written.

::

    import apifonica_nb as ap

    ap.cache.info()      # {'path': ..., 'calls': 812, 'accounts': 1, 'size_bytes': ...}
    ap.cache.scan()      # a DuckDB relation over every stored call
    ap.cache.clear()     # forget every stored call (returns how many)
    ap.cache.clear(account_sid="acc…")  # only one account's

    with ap.cache.CallStore() as store:       # the store itself, for scripts
        df = store.get_frame("acc…", sids)    # cached calls, typed like calls_to_frame

How it keeps its duties:

- **An open dataset.** Plain Hive-partitioned Parquet (``account=``, ``month=`` of
  ``created``): DuckDB, Polars and Spark read the folder with no code of ours. Each column of
  :data:`~apifonica_nb.frame.CALL_DTYPES` except ``cost_eur`` (recomputed from ``price`` and
  the caller's ``price_unit``) is a plain Parquet column (timestamps in µs UTC, categoricals
  as their labels), then ``extra`` (undocumented fields, JSON), ``tie_rank`` and ``stored_at``.
  ``docs/store.md`` says why this format and not Delta Lake or Iceberg, with the numbers.
- **Each write its own file.** A page of a history, a batch of ``fetch_calls``: a new file,
  written under a dot-name and renamed into place, never rewriting the rest. Month folders
  with many small files are merged after each fetch (a big file is left alone).
- **Identical frames.** A frame served from the store equals the one :func:`calls_to_frame`
  gives for the same API records: same columns, dtypes, categories, values and order.
- **Two notebooks at once.** Writes take the manifest's lock (a SQLite write transaction,
  released even if the process dies), so two writers never store the same call twice; reads
  take no lock and list the files again if a merge removed one meanwhile.
- **Crash-safe.** A call is stored once its file is renamed into place; a ``kill -9`` loses at
  most the batch being written, and the next run fetches just those. A rewrite (a merge, a
  changed call) writes the new file before removing the old ones, and names them in its
  footer (:data:`REPLACES_KEY`): :func:`scan` skips them, so it reads one row per call at the
  speed of a plain scan; the store's own reads keep the newest version of a call.
- **Incremental history.** The manifest's ``syncs`` table remembers complete history
  listings, so a second ``fetch_history`` over the same range stops paging as soon as the
  pages hold only calls it already has (the rule is :class:`apifonica_nb.history.HistorySync`'s).
- **The previous version's store** (``calls.sqlite3`` next to the folder) is migrated when the
  store is opened, with one warning saying so; a file there that is not a call store, or a
  folder that is not this store, raises :class:`~apifonica_nb.errors.CacheError` naming the
  path and how to reset it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from typing import TYPE_CHECKING, Any

from ..errors import CacheError, InvalidRequestError
from ..frame import CALL_DTYPES, PRICE_UNITS
from ._export import write_dataset
from ._files import REPLACES_KEY, account_dir, part_files, partition_folders
from ._frames import (
    combine_frames,
    extras_json,
    frame_from_table,
    parse_records,
    raw_extras,
    settled_mask,
    table_extras,
)
from ._layout import APPLICATION_ID as APPLICATION_ID
from ._layout import FILE_SCHEMA, empty_table, frame_to_file_table
from ._layout import SCHEMA_VERSION as SCHEMA_VERSION
from ._legacy import LEGACY_FILE_NAME, legacy_schema_sql
from ._paths import CACHE_DIR_ENV, cache_path, legacy_path
from ._store import CallStore
from ._writer import CallWriter

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "CACHE_DIR_ENV",
    "FILE_SCHEMA",
    "LEGACY_FILE_NAME",
    "REPLACES_KEY",
    "CallStore",
    "CallWriter",
    "cache_path",
    "clear",
    "combine_frames",
    "empty_table",
    "extras_json",
    "frame_from_table",
    "frame_to_file_table",
    "info",
    "legacy_schema_sql",
    "parse_records",
    "raw_extras",
    "scan",
    "settled_mask",
    "table_extras",
    "write_dataset",
]


# -- module-level conveniences ----------------------------------------------------------------


def clear(account_sid: str | None = None) -> int:
    """Forget the cached calls (of one account, or all); return how many were removed.

    A store that cannot be read (corrupt, or not ours) is deleted when clearing all.

    >>> ap.cache.clear()
    812
    """
    path = cache_path()
    if not path.exists() and not legacy_path(path).exists():
        return 0
    try:
        store = CallStore(path)
    except CacheError:
        if account_sid is not None:
            raise
        shutil.rmtree(path, ignore_errors=True)
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(f"{legacy_path(path)}{suffix}")
        return 0
    with store:
        return store.clear(account_sid)


def info() -> dict[str, Any]:
    """Return the cache's ``path``, number of ``calls`` and ``accounts``, and ``size_bytes``.

    >>> ap.cache.info()["calls"]
    812
    """
    path = cache_path()
    if not path.exists() and not legacy_path(path).exists():
        return {"path": str(path), "calls": 0, "accounts": 0, "size_bytes": 0}
    with CallStore(path) as store:
        return store.info()


def scan(account_sid: str | None = None, *, price_unit: str = "EUR") -> duckdb.DuckDBPyRelation:
    """Return a DuckDB relation over every stored call (of one account, or of all).

    Nothing is loaded: DuckDB reads the Parquet files when the relation is evaluated, so
    aggregates over more calls than memory holds work. The columns are those of
    :data:`~apifonica_nb.CALL_DTYPES` (``cost_eur`` from ``price`` and ``price_unit``), plain
    SQL types (categoricals as text), one row per call even while a merge is between writing
    its file and removing the ones it replaces. Needs the ``duckdb`` package.

    >>> ap.cache.scan().aggregate("status, count(*) AS calls").df()
    """
    import duckdb

    if price_unit not in PRICE_UNITS:
        raise InvalidRequestError(
            f"unknown price_unit {price_unit!r}: use one of {', '.join(map(repr, PRICE_UNITS))}"
        )
    with CallStore() as store:  # creates the folder, migrates an old store
        base = store.path if account_sid is None else account_dir(store.path, account_sid)
        some = bool(part_files(partition_folders(store.path, account_sid)))
    columns = []
    for name in CALL_DTYPES:
        if name == "cost_eur":
            columns.append(f"CAST(price * {PRICE_UNITS[price_unit]!r} AS DOUBLE) AS cost_eur")
        else:
            columns.append(f'"{name}"')
    select = ", ".join(columns)
    con = duckdb.connect()
    # Timestamps come back in UTC whatever the machine's zone, as the frames have them (and
    # as the charts and summary read an engine's times: tz= is theirs to apply).
    con.execute("SET TimeZone = 'UTC'")
    if not some:
        return con.from_arrow(FILE_SCHEMA.empty_table()).project(select)
    # A glob, read when the relation runs: files merged meanwhile are not missed.
    pattern = str(
        base / ("" if account_sid is not None else "account=*") / "month=*" / "part-*.parquet"
    )
    # A merge or rewrite writes its file before it removes the ones it replaces (a crash may
    # leave both); the new file's footer names them, so their rows are skipped here: one row
    # per call, read at the speed of a plain scan (no dedupe over every call).
    literal = "'" + pattern.replace("'", "''") + "'"
    replaced = (
        f"SELECT parse_dirpath(file_name) || '/' || unnest(string_split(decode(value), chr(10))) "
        f"FROM parquet_kv_metadata({literal}) WHERE decode(key) = '{REPLACES_KEY}'"
    )
    return con.sql(
        f"SELECT {select} FROM read_parquet({literal}, hive_partitioning = true, "
        f"hive_types_autocast = false, filename = true) WHERE filename NOT IN ({replaced})"
    )
