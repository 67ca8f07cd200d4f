"""The local call store: finished calls kept on disk so they are never fetched twice.

A call whose status is final (:data:`~apifonica_nb.records.FINAL_STATUSES`) and that has a
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
  :data:`~apifonica_nb.records.CALL_DTYPES` except ``cost_eur`` (recomputed on load from
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
- **Incremental history.** :class:`HistorySync` remembers complete history listings (the
  ``syncs`` table) so a second ``fetch_history`` over the same range stops paging as soon as
  the pages hold only calls it already has (see its docstring).
- A file that is not this store (corrupt, or another program's SQLite database) raises
  :class:`~apifonica_nb.errors.CacheError` naming the path and how to reset it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from .errors import CacheError
from .records import CALL_DTYPES, FINAL_STATUSES, PRICE_UNITS, calls_to_frame

__all__ = [
    "CACHE_DIR_ENV",
    "CallStore",
    "CallWriter",
    "HistorySync",
    "cache_path",
    "clear",
    "combine_frames",
    "frame_from_table",
    "info",
    "raw_extras",
    "settled_mask",
    "table_extras",
]

logger = logging.getLogger("apifonica_nb")

#: Environment variable naming the directory of the store (read when the store is opened).
CACHE_DIR_ENV = "APIFONICA_NB_CACHE_DIR"
FILE_NAME = "calls.sqlite3"
#: ``PRAGMA application_id`` of our files ("APNB"), to tell them from other SQLite databases.
APPLICATION_ID = 0x41504E42
SCHEMA_VERSION = 1

_NAT = np.iinfo(np.int64).min
_MIN_US = -(2**62)  # "no lower bound" in the syncs table (NULLs would break its primary key)
_MAX_US = 2**62
_DIRECT_LOOKUP = 5000  # up to this many SIDs, look rows up by key instead of loading segments
_MAX_SEGMENTS = 8
_SEGMENT_CODEC = "zstd" if pa.Codec.is_available("zstd") else None
_IN_CHUNK = 500
_FETCH_CHUNK = 50_000

# Column -> storage kind, in CALL_DTYPES order (cost_eur is derived on load).
_KINDS: dict[str, str] = {}
for _name, _dtype in CALL_DTYPES.items():
    if _name == "cost_eur":
        continue
    if isinstance(_dtype, pd.CategoricalDtype):
        _KINDS[_name] = "cat"
    elif str(_dtype).startswith("datetime64"):
        _KINDS[_name] = "time"
    elif _dtype == "Int64":
        _KINDS[_name] = "int"
    elif _dtype == "Float64":
        _KINDS[_name] = "real"
    elif _dtype == "boolean":
        _KINDS[_name] = "bool"
    else:
        _KINDS[_name] = "text"
_SQL_TYPE = {"cat": "TEXT", "text": "TEXT", "time": "INTEGER", "int": "INTEGER"}
_SQL_TYPE.update(real="REAL", bool="INTEGER")
_ARROW_TYPE = {"cat": pa.large_string(), "text": pa.large_string(), "time": pa.int64()}
_ARROW_TYPE.update(int=pa.int64(), real=pa.float64(), bool=pa.int64())
_STORED = list(_KINDS)
#: What a segment holds: the stored columns plus the extra-fields JSON and the listing rank.
_SEGMENT_SCHEMA = pa.schema(
    [(name, _ARROW_TYPE[kind]) for name, kind in _KINDS.items()]
    + [("extra", pa.large_string()), ("tie_rank", pa.int64())]
)
_COLUMNS_SQL = ", ".join(f'"{c}"' for c in [*_STORED, "extra", "tie_rank"])
_CATEGORIES = {
    name: list(dtype.categories)
    for name, dtype in CALL_DTYPES.items()
    if isinstance(dtype, pd.CategoricalDtype)
}

_T = TypeVar("_T")


def _schema_sql() -> list[str]:
    columns = ",\n    ".join(f'"{c}" {_SQL_TYPE[k]}' for c, k in _KINDS.items() if c != "call_sid")
    return [
        f"""CREATE TABLE calls (
    account TEXT NOT NULL,
    call_sid TEXT NOT NULL,
    {columns},
    extra TEXT,
    tie_rank INTEGER,
    version INTEGER NOT NULL,
    first_version INTEGER NOT NULL,
    stored_at INTEGER NOT NULL,
    UNIQUE (account, call_sid)
)""",
        "CREATE INDEX calls_by_version ON calls (account, version)",
        "CREATE TABLE segments (id INTEGER PRIMARY KEY, account TEXT NOT NULL, "
        "version_hi INTEGER NOT NULL, rows INTEGER NOT NULL, overlaps INTEGER NOT NULL, "
        "data BLOB NOT NULL)",
        "CREATE INDEX segments_by_account ON segments (account, version_hi)",
        "CREATE TABLE syncs (account TEXT NOT NULL, filters TEXT NOT NULL, "
        "range_start INTEGER NOT NULL, range_end INTEGER NOT NULL, watermark INTEGER NOT NULL, "
        "completed_at INTEGER NOT NULL, PRIMARY KEY (account, filters, range_start, range_end))",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        "INSERT INTO meta VALUES ('version', 0)",
        f"PRAGMA application_id = {APPLICATION_ID}",
        f"PRAGMA user_version = {SCHEMA_VERSION}",
    ]


def cache_path() -> Path:
    """Return the store's file path: ``$APIFONICA_NB_CACHE_DIR`` or the user cache dir."""
    folder = os.environ.get(CACHE_DIR_ENV)
    if not folder:
        import platformdirs

        folder = platformdirs.user_cache_dir("apifonica_nb")
    return Path(folder).expanduser() / FILE_NAME


def _now_us() -> int:
    return time.time_ns() // 1000


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def settled_mask(df: pd.DataFrame) -> np.ndarray:
    """Which rows of a call frame may be stored: a final status and a price."""
    final = df["status"].astype("object").isin(FINAL_STATUSES).to_numpy(dtype=bool)
    priced = df["price"].notna().to_numpy(dtype=bool)
    return final & priced & df["call_sid"].notna().to_numpy(dtype=bool)


def _quiet_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Parse records for storing; data-quality warnings are reported on the caller's frame."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return calls_to_frame(records)


class CallStore:
    """The on-disk store of settled calls (one SQLite file; see the module docstring).

    ``path`` defaults to :func:`cache_path`. Opening creates the file if needed and checks that
    it is this store; use it as a context manager (or call :meth:`close`).

    >>> with CallStore() as store:
    ...     store.put_records(client.account_sid, records)
    ...     df = store.get_frame(client.account_sid, sids, price_unit="EUR")
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, timeout: float = 30.0):
        self.path = Path(path) if path is not None else cache_path()
        self.timeout = timeout
        self._lock = threading.RLock()
        self._conn = self._open()

    def __repr__(self) -> str:
        return f"CallStore(path={str(self.path)!r})"

    def __enter__(self) -> CallStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (committed data is already on disk)."""
        self._conn.close()

    # -- opening ----------------------------------------------------------------------------

    def _error(self, what: str) -> CacheError:
        return CacheError(
            f"The call cache at {self.path} {what}. Reset it with ap.cache.clear() (it only "
            f"holds copies of calls, which will be fetched again) or delete that file; set "
            f"{CACHE_DIR_ENV} to keep the cache elsewhere."
        )

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                # Created by us, owner-only: the rows hold customers' phone numbers.
                with contextlib.suppress(FileExistsError):
                    os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            conn = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.OperationalError) as exc:
            raise CacheError(
                f"The call cache cannot be created at {self.path} ({exc}). Set {CACHE_DIR_ENV} "
                "to a folder you can write to, or pass cache=False to fetch without it."
            ) from None
        try:
            self._prepare(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
                locked = f"stayed locked by another process for {self.timeout:.0f} s"
                raise self._error(locked) from None
            raise self._error(f"is not a readable call store ({exc})") from None
        except CacheError:
            conn.close()
            raise
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if app_id == 0 and version == 0:
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if tables:
                raise self._error("is another program's SQLite database, not a call store")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Another process may have created it between our check and our lock.
                if conn.execute("PRAGMA application_id").fetchone()[0] == 0:
                    for statement in _schema_sql():
                        conn.execute(statement)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        if app_id != APPLICATION_ID:
            raise self._error("is another program's SQLite database, not a call store")
        if version != SCHEMA_VERSION:
            raise self._error(
                f"was written by another version of apifonica_nb (store schema {version}, "
                f"this one reads {SCHEMA_VERSION})"
            )
        have = [row[1] for row in conn.execute("PRAGMA table_info(calls)")]
        want = ["account", *_STORED, "extra", "tie_rank", "version", "first_version", "stored_at"]
        if have != want:
            raise self._error("has calls columns this version of apifonica_nb does not expect")
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        # WAL with NORMAL sync survives a crashed process (not a power cut): right for a cache.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA temp_store = MEMORY")

    # -- transactions -----------------------------------------------------------------------

    def _write(self, body: Callable[[sqlite3.Connection], _T], *, patient: bool = True) -> _T:
        """Run ``body`` in one write transaction, retrying while another process holds the lock.

        ``patient=False`` gives up at once (returns None) when the store is busy: for optional
        work such as refreshing the columnar segments.
        """
        delay = 0.05
        deadline = time.monotonic() + self.timeout
        with self._lock:
            conn = self._conn
            while True:
                try:
                    if not patient:
                        conn.execute("PRAGMA busy_timeout = 50")
                    conn.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc):
                        raise
                    if not patient:
                        return None  # type: ignore[return-value]
                    if time.monotonic() > deadline:
                        raise self._error(
                            f"stayed locked by another process for {self.timeout:.0f} s"
                        ) from None
                    time.sleep(delay)
                    delay = min(delay * 2, 1.0)
                    continue
                finally:
                    if not patient:
                        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
                try:
                    result = body(conn)
                    conn.execute("COMMIT")
                    return result
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise

    def _read(self, body: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``body`` in one read transaction (one consistent snapshot of the file)."""
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN")
            try:
                return body(conn)
            finally:
                conn.execute("COMMIT")

    # -- writing ----------------------------------------------------------------------------

    def put_records(
        self,
        account_sid: str,
        records: Sequence[Mapping[str, Any]],
        *,
        tie_ranks: Sequence[int | None] | None = None,
    ) -> int:
        """Store the settled calls among raw API ``records``; return how many were stored."""
        recs = [dict(r) for r in records]
        if not recs:
            return 0
        return self.put_frame(
            account_sid, _quiet_frame(recs), extras=_extras_json(recs), tie_ranks=tie_ranks
        )

    def put_frame(
        self,
        account_sid: str,
        df: pd.DataFrame,
        *,
        extras: Sequence[str | None] | None = None,
        tie_ranks: Sequence[int | None] | None = None,
    ) -> int:
        """Store the settled rows of a typed call frame (as :func:`calls_to_frame` returns).

        ``extras`` holds, per row, the JSON of the record's undocumented fields (or None);
        ``tie_ranks`` the order of the row among calls created in the same instant, as the
        history listed them. A call already stored is updated only if a value changed.
        """
        keep = settled_mask(df)
        if not keep.any():
            return 0
        idx = np.flatnonzero(keep).tolist()
        part = df.iloc[idx]
        n = len(part)
        columns = [_to_python(part[name], kind) for name, kind in _KINDS.items()]
        extra_col = [extras[i] for i in idx] if extras is not None else [None] * n
        tie_col = [tie_ranks[i] for i in idx] if tie_ranks is not None else [None] * n
        stamp = _now_us()

        def body(conn: sqlite3.Connection) -> int:
            version = conn.execute(
                "UPDATE meta SET value = value + 1 WHERE key = 'version' RETURNING value"
            ).fetchone()[0]
            rows = zip(
                [account_sid] * n,
                *columns,
                extra_col,
                tie_col,
                [version] * n,
                [version] * n,
                [stamp] * n,
                strict=True,
            )
            conn.executemany(_UPSERT, rows)
            return n

        return self._write(body)

    # -- reading ----------------------------------------------------------------------------

    def cached_sids(self, account_sid: str, call_sids: Iterable[str]) -> set[str]:
        """Return which of ``call_sids`` are stored for the account."""
        sids = list(dict.fromkeys(call_sids))
        found: set[str] = set()

        def body(conn: sqlite3.Connection) -> None:
            for lo in range(0, len(sids), _IN_CHUNK):
                chunk = sids[lo : lo + _IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                found.update(
                    r[0]
                    for r in conn.execute(
                        f"SELECT call_sid FROM calls WHERE account = ? AND call_sid IN ({marks})",
                        (account_sid, *chunk),
                    )
                )

        self._read(body)
        return found

    def get_table(
        self, account_sid: str, call_sids: Iterable[str] | pa.Array | None = None
    ) -> pa.Table:
        """Return stored calls as an Arrow table of the stored columns (see :meth:`get_frame`)."""
        if call_sids is None:
            return _sort_newest_first(self.account_table(account_sid))
        given = (
            call_sids
            if isinstance(call_sids, pa.Array)
            else pa.array(list(call_sids), pa.large_string())
        )
        wanted = pc.unique(given.cast(pa.large_string()).drop_null())
        if len(wanted) <= _DIRECT_LOOKUP or len(wanted) * 20 < self._approx_rows(account_sid):
            table = self._lookup(account_sid, wanted.to_pylist())
        else:
            table = self.account_table(account_sid)
        # Put the rows in the order asked for (vectorised: a hash join in Arrow).
        where = pc.index_in(wanted, value_set=table.column("call_sid"))
        return table.take(where.filter(where.is_valid()))

    def get_frame(
        self,
        account_sid: str,
        call_sids: Iterable[str] | pa.Array | None = None,
        *,
        price_unit: str = "EUR",
    ) -> pd.DataFrame:
        """Return stored calls as a typed frame (the columns and dtypes of calls_to_frame).

        With ``call_sids``: those calls, in that order, skipping SIDs not stored (and
        duplicates). Without: every stored call of the account, newest first.
        """
        _check_unit(price_unit)
        return frame_from_table(self.get_table(account_sid, call_sids), price_unit=price_unit)

    def history_table(
        self, account_sid: str, *, since_us: int | None, upto_us: int, exclude: Iterable[str]
    ) -> pa.Table:
        """Return stored calls created in ``[since_us, upto_us]``, not in ``exclude``, newest
        first in the order the history lists them (Arrow table of the stored columns)."""
        table = self.account_table(account_sid)
        created = table.column("created")
        keep = pc.less_equal(created, upto_us)
        if since_us is not None:
            keep = pc.and_(keep, pc.greater_equal(created, since_us))
        skip = pa.array(list(exclude), pa.large_string())
        if len(skip):
            keep = pc.and_(keep, pc.invert(pc.is_in(table.column("call_sid"), value_set=skip)))
        return _sort_newest_first(table.filter(keep.fill_null(False)))

    def _approx_rows(self, account_sid: str) -> int:
        row = self._conn.execute(
            "SELECT coalesce(sum(rows), 0) FROM segments WHERE account = ?", (account_sid,)
        ).fetchone()
        return int(row[0])

    def _lookup(self, account_sid: str, sids: list[str]) -> pa.Table:
        """Read the rows of some SIDs straight from the typed table."""

        def body(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            rows: list[tuple[Any, ...]] = []
            for lo in range(0, len(sids), _IN_CHUNK):
                chunk = sids[lo : lo + _IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows += conn.execute(
                    f"SELECT {_COLUMNS_SQL} FROM calls WHERE account = ? AND call_sid IN ({marks})",
                    (account_sid, *chunk),
                ).fetchall()
            return rows

        return _rows_to_table(self._read(body))

    def account_table(self, account_sid: str) -> pa.Table:
        """Return every stored call of an account as an Arrow table of the stored columns.

        Reads the columnar segments plus the rows written since they were built, and saves
        those rows as a new segment (merging segments when there are many) for the next load.
        """

        def body(conn: sqlite3.Connection) -> tuple[list[tuple[Any, ...]], pa.Table, int, int]:
            segs = conn.execute(
                "SELECT id, version_hi, overlaps, data FROM segments WHERE account = ? "
                "ORDER BY version_hi",
                (account_sid,),
            ).fetchall()
            seen = segs[-1][1] if segs else 0
            delta, version_hi, first_lo = _read_delta(conn, account_sid, seen)
            return segs, delta, version_hi, first_lo

        segs, delta, version_hi, first_lo = self._read(body)
        seen = segs[-1][1] if segs else 0
        parts: list[tuple[pa.Table, bool]] = [
            (ipc.open_stream(data).read_all(), bool(overlaps)) for _, _, overlaps, data in segs
        ]
        if not delta.num_rows:
            return _merge_parts(parts)
        # Rows first written at or before ``seen`` are updates of rows in the segments.
        parts.append((delta, first_lo <= seen))
        table = _merge_parts(parts)
        ids = [s[0] for s in segs]
        if len(parts) <= _MAX_SEGMENTS:
            self._save_segment(account_sid, ids, [], delta, version_hi, parts[-1][1])
        elif parts[0][0].num_rows >= 2 * sum(t.num_rows for t, _ in parts[1:]):
            # Merge the small recent segments, leaving the big old one alone (cheap rewrites).
            self._save_segment(account_sid, ids, ids[1:], _merge_parts(parts[1:]), version_hi, True)
        else:
            self._save_segment(account_sid, ids, ids, table, version_hi, False)
        return table

    def update_segments(self, account_sid: str) -> int:
        """Add the rows written since the last segment as a new one; return how many.

        The fetch verbs call this after storing calls, so that the next load reads segments
        only (the cost, per new row, is small next to the request that brought it).
        """

        def body(conn: sqlite3.Connection) -> tuple[list[int], int, pa.Table, int, int]:
            segs = conn.execute(
                "SELECT id, version_hi FROM segments WHERE account = ? ORDER BY version_hi",
                (account_sid,),
            ).fetchall()
            seen = segs[-1][1] if segs else 0
            delta, version_hi, first_lo = _read_delta(conn, account_sid, seen)
            return [r[0] for r in segs], seen, delta, version_hi, first_lo

        ids, seen, delta, version_hi, first_lo = self._read(body)
        if not delta.num_rows:
            return 0
        if len(ids) + 1 > _MAX_SEGMENTS:
            self.account_table(account_sid)  # merges segments while it is at it
        else:
            self._save_segment(account_sid, ids, [], delta, version_hi, first_lo <= seen)
        return int(delta.num_rows)

    def _save_segment(
        self,
        account_sid: str,
        expected: list[int],
        delete: list[int],
        table: pa.Table,
        version_hi: int,
        overlaps: bool,
    ) -> None:
        """Save a segment (replacing the ``delete`` ones), unless another process changed the
        account's segments since we read them; optional work, skipped when the store is busy."""
        blob = _segment_blob(table)

        def body(conn: sqlite3.Connection) -> None:
            now = conn.execute("SELECT id FROM segments WHERE account = ?", (account_sid,))
            if sorted(r[0] for r in now) != sorted(expected):
                return  # someone else saved segments since we read: theirs are as good
            conn.executemany("DELETE FROM segments WHERE id = ?", [(i,) for i in delete])
            conn.execute(
                "INSERT INTO segments (account, version_hi, rows, overlaps, data) "
                "VALUES (?, ?, ?, ?, ?)",
                (account_sid, version_hi, table.num_rows, int(overlaps), blob),
            )

        try:
            self._write(body, patient=False)
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise

    # -- syncs (for HistorySync) -------------------------------------------------------------

    def syncs(self, account_sid: str) -> list[dict[str, Any]]:
        """Return the complete history listings remembered for an account."""
        rows = self._conn.execute(
            "SELECT filters, range_start, range_end, watermark, completed_at FROM syncs "
            "WHERE account = ?",
            (account_sid,),
        ).fetchall()
        keys = ("filters", "range_start", "range_end", "watermark", "completed_at")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def record_sync(
        self, account_sid: str, filters: str, range_start: int, range_end: int, watermark: int
    ) -> None:
        """Remember a complete listing of a range (see :class:`HistorySync`)."""

        def body(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO syncs VALUES (?, ?, ?, ?, ?, ?)",
                (account_sid, filters, range_start, range_end, watermark, _now_us()),
            )

        self._write(body)

    # -- housekeeping -----------------------------------------------------------------------

    def count(self, account_sid: str | None = None) -> int:
        """Return how many calls are stored (for one account, or all)."""
        if account_sid is None:
            row = self._conn.execute("SELECT count(*) FROM calls").fetchone()
        else:
            row = self._conn.execute(
                "SELECT count(*) FROM calls WHERE account = ?", (account_sid,)
            ).fetchone()
        return int(row[0])

    def clear(self, account_sid: str | None = None) -> int:
        """Forget the stored calls (of one account, or all); return how many were removed."""

        def body(conn: sqlite3.Connection) -> int:
            where, args = ("WHERE account = ?", (account_sid,)) if account_sid else ("", ())
            removed = conn.execute(f"DELETE FROM calls {where}", args).rowcount
            conn.execute(f"DELETE FROM segments {where}", args)
            conn.execute(f"DELETE FROM syncs {where}", args)
            return int(removed)

        removed = self._write(body)
        if account_sid is None:
            try:  # give the space back; another process reading at this moment may prevent it
                self._conn.execute("VACUUM")
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
        return removed

    def info(self) -> dict[str, Any]:
        """Return where the store is, how many calls and accounts it holds, and its size."""
        calls, accounts = self._conn.execute(
            "SELECT count(*), count(DISTINCT account) FROM calls"
        ).fetchone()
        return {
            "path": str(self.path),
            "calls": int(calls),
            "accounts": int(accounts),
            "size_bytes": _size_on_disk(self.path),
        }


_UPDATABLE = [*_STORED[1:], "extra"]
_UPSERT = (
    f"INSERT INTO calls (account, {_COLUMNS_SQL}, version, first_version, stored_at) "
    f"VALUES ({','.join('?' * (len(_STORED) + 6))}) "
    "ON CONFLICT (account, call_sid) DO UPDATE SET "
    + ", ".join(f'"{c}" = excluded."{c}"' for c in _UPDATABLE)
    + ", tie_rank = coalesce(excluded.tie_rank, calls.tie_rank)"
    ", version = excluded.version, stored_at = excluded.stored_at "
    # An unchanged call keeps its version, so the columnar segments need not be rebuilt.
    "WHERE ("
    + ", ".join(f'calls."{c}"' for c in _UPDATABLE)
    + ") IS NOT ("
    + ", ".join(f'excluded."{c}"' for c in _UPDATABLE)
    + ") OR (excluded.tie_rank IS NOT NULL AND excluded.tie_rank IS NOT calls.tie_rank)"
)


def _check_unit(price_unit: str) -> None:
    if price_unit not in PRICE_UNITS:
        raise ValueError(
            f"unknown price_unit {price_unit!r}: use one of {', '.join(map(repr, PRICE_UNITS))}"
        )


def _size_on_disk(path: Path) -> int:
    total = 0
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            total += os.path.getsize(f"{path}{suffix}")
    return total


def _extras_json(records: list[dict[str, Any]]) -> list[str | None]:
    """Per record, the JSON of its fields that are not in CALL_DTYPES (None when none)."""
    out: list[str | None] = []
    for record in records:
        extra = {k: v for k, v in record.items() if k not in CALL_DTYPES}
        out.append(json.dumps(extra, default=str) if extra else None)
    return out


def _to_python(series: pd.Series, kind: str) -> list[Any]:
    """Turn a typed column into a list of Python values sqlite3 can bind (None for missing)."""
    if kind == "time":
        us = series.dt.as_unit("us").array.asi8
        values = us.astype(object)
        values[us == _NAT] = None
        return list(values.tolist())
    if kind == "cat":
        labels = np.array([*series.cat.categories, None], dtype=object)
        return list(labels[series.cat.codes.to_numpy()].tolist())
    values = series.array.to_numpy(dtype=object, na_value=None)
    if kind == "bool":
        return [None if v is None else int(v) for v in values]
    return list(values.tolist())


def _read_delta(conn: sqlite3.Connection, account_sid: str, seen: int) -> tuple[pa.Table, int, int]:
    """Read an account's rows of versions after ``seen``; return them with their highest
    version and lowest first version."""
    cursor = conn.execute(
        f"SELECT {_COLUMNS_SQL}, version, first_version FROM calls "
        "WHERE account = ? AND version > ?",
        (account_sid, seen),
    )
    # In chunks: a million rows of Python tuples at once would take gigabytes.
    chunks, version_hi, first_lo = [], 0, seen + 1
    while rows := cursor.fetchmany(_FETCH_CHUNK):
        version_hi = max(version_hi, max(r[-2] for r in rows))
        first_lo = min(first_lo, min(r[-1] for r in rows))
        chunks.append(_rows_to_table([r[:-2] for r in rows]))
    delta = pa.concat_tables(chunks) if chunks else _SEGMENT_SCHEMA.empty_table()
    return delta, version_hi, first_lo


def _segment_blob(table: pa.Table) -> bytes:
    """Serialise a table of stored columns as a compressed Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    options = ipc.IpcWriteOptions(compression=_SEGMENT_CODEC)
    with ipc.new_stream(sink, _SEGMENT_SCHEMA, options=options) as writer:
        writer.write_table(table.cast(_SEGMENT_SCHEMA))
    return bytes(sink.getvalue().to_pybytes())


def _rows_to_table(rows: list[tuple[Any, ...]]) -> pa.Table:
    """Build an Arrow table of the stored columns from sqlite3 rows."""
    if not rows:
        return _SEGMENT_SCHEMA.empty_table()
    columns = list(zip(*rows, strict=True))
    arrays = [
        pa.array(col, type=field.type) for col, field in zip(columns, _SEGMENT_SCHEMA, strict=True)
    ]
    return pa.Table.from_arrays(arrays, schema=_SEGMENT_SCHEMA)


def _merge_parts(parts: list[tuple[pa.Table, bool]]) -> pa.Table:
    """Concatenate segments oldest first; a part that overlaps replaces the rows it updates."""
    kept: list[pa.Table] = []
    for table, overlaps in parts:
        if overlaps and kept:
            newer = table.column("call_sid")
            kept = [
                t.filter(pc.invert(pc.is_in(t.column("call_sid"), value_set=newer))) for t in kept
            ]
        kept.append(table)
    if not kept:
        return _SEGMENT_SCHEMA.empty_table()
    return pa.concat_tables(kept).combine_chunks()


def _sort_newest_first(table: pa.Table) -> pa.Table:
    """Order rows as the history lists them: created descending, then the listing's tie rank."""
    if table.num_rows < 2:
        return table
    keys = [
        ("created", "descending", "at_end"),
        ("tie_rank", "ascending", "at_end"),
        ("call_sid", "ascending", "at_end"),
    ]
    order = pc.sort_indices(table, sort_keys=keys)
    return table.take(order)


# -- Arrow -> the typed frame -----------------------------------------------------------------


def _categorical(arr: pa.Array, known: list[str]) -> pd.api.extensions.ExtensionArray:
    """Codes onto the fixed categories; unknown labels appended in order of first appearance."""
    n = len(arr)
    if n == 0:
        return pd.Categorical.from_codes(np.zeros(0, np.int64), dtype=pd.CategoricalDtype(known))
    encoded = (
        pc.dictionary_encode(arr).combine_chunks()
        if isinstance(arr, pa.ChunkedArray)
        else pc.dictionary_encode(arr)
    )
    labels = encoded.dictionary.to_pylist()
    indices = np.asarray(encoded.indices.fill_null(-1), dtype=np.int64)
    position = {c: i for i, c in enumerate(known)}
    unknown = [i for i, label in enumerate(labels) if label not in position]
    if unknown:
        # Dictionary order is order of first appearance, as calls_to_frame appends them.
        for i in unknown:
            position[labels[i]] = len(position)
    categories = list(position)
    remap = np.array([position[label] for label in labels] + [-1], dtype=np.int64)
    return pd.Categorical.from_codes(remap[indices], dtype=pd.CategoricalDtype(categories))


def _ints(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    mask = np.asarray(arr.is_null(), dtype=bool)
    values = np.array(arr.fill_null(0), dtype=np.int64)  # a writable copy
    return values, mask


def frame_from_table(table: pa.Table, *, price_unit: str = "EUR") -> pd.DataFrame:
    """Turn an Arrow table of stored columns into the typed call frame, vectorised.

    The result has exactly the columns and dtypes of :func:`calls_to_frame` (``cost_eur``
    from ``price`` and ``price_unit``), then the undocumented extra fields, if any.
    """
    _check_unit(price_unit)
    table = table.combine_chunks()
    n = table.num_rows
    out: dict[str, Any] = {}
    for name, kind in _KINDS.items():
        arr = (
            table.column(name).chunk(0)
            if table.column(name).num_chunks
            else pa.array([], _ARROW_TYPE[kind])
        )
        if kind == "text":
            out[name] = pd.array(arr, dtype="str")
        elif kind == "cat":
            out[name] = _categorical(arr, _CATEGORIES[name])
        elif kind == "time":
            values, mask = _ints(arr)
            values[mask] = _NAT
            out[name] = pd.array(values.view("M8[us]")).tz_localize("UTC")
        elif kind == "int":
            out[name] = pd.arrays.IntegerArray(*_ints(arr))
        elif kind == "bool":
            values, mask = _ints(arr)
            out[name] = pd.arrays.BooleanArray(values.astype(bool), mask)
        else:
            mask = np.asarray(arr.is_null(), dtype=bool)
            values = np.asarray(arr.fill_null(0.0), dtype=np.float64)
            out[name] = pd.arrays.FloatingArray(values, mask)
            if name == "price":
                # The same arithmetic as calls_to_frame, so values match to the last bit.
                out["cost_eur"] = pd.arrays.FloatingArray(values * PRICE_UNITS[price_unit], mask)
    frame = pd.DataFrame({c: out[c] for c in CALL_DTYPES}, index=pd.RangeIndex(n), copy=False)
    if table.column("extra").null_count < n:
        frame = _with_extras(frame, table_extras(table))
    return frame


def _with_extras(frame: pd.DataFrame, extras: list[dict[str, Any]]) -> pd.DataFrame:
    """Append the undocumented fields as columns, typed exactly as calls_to_frame types them."""
    if not any(extras):
        return frame
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        typed = calls_to_frame(extras)
    extra_cols = typed.iloc[:, len(CALL_DTYPES) :]
    return pd.concat([frame, extra_cols.set_axis(frame.index)], axis=1)


def combine_frames(
    parts: Sequence[pd.DataFrame],
    *,
    order: np.ndarray | None = None,
    extras: Sequence[Sequence[Mapping[str, Any]]] | None = None,
) -> pd.DataFrame:
    """Concatenate typed call frames (then take rows in ``order``), keeping the dtypes.

    Categoricals get one set of categories: the fixed ones of CALL_DTYPES first, then unknown
    labels in order of first appearance in the result, as :func:`calls_to_frame` orders them.
    ``extras`` (per part, per row, the undocumented fields) rebuilds the extra columns exactly
    as :func:`calls_to_frame` would type them for all rows together; without it, extra
    columns are concatenated as they are. The index is a fresh RangeIndex.
    """
    if not parts:
        return calls_to_frame([])
    width = len(CALL_DTYPES)
    if extras is not None:
        parts = [p.iloc[:, :width] for p in parts]
    pieces = []
    for part in parts:
        fixed = {}
        for name, known in _CATEGORIES.items():
            seen = (c for p in parts for c in p[name].cat.categories)
            fixed[name] = part[name].cat.set_categories(list(dict.fromkeys([*known, *seen])))
        pieces.append(part.assign(**fixed))
    with warnings.catch_warnings():
        # An extra column absent from a part is all-NA there; pandas warns about its dtype.
        warnings.simplefilter("ignore", FutureWarning)
        frame = pd.concat(pieces, ignore_index=True)
    if order is not None:
        frame = frame.take(order).reset_index(drop=True)
    for name, known in _CATEGORIES.items():
        frame[name] = _canonical_categories(frame[name], known)
    if extras is not None:
        rows = [dict(e) for part_extras in extras for e in part_extras]
        if order is not None:
            rows = [rows[i] for i in order.tolist()]
        frame = _with_extras(frame, rows)
    return frame


def table_extras(table: pa.Table) -> list[dict[str, Any]]:
    """Per row of a stored-columns table, its undocumented fields (empty dicts when none)."""
    column = table.column("extra")
    if column.null_count == table.num_rows:
        return [{} for _ in range(table.num_rows)]
    return [json.loads(t) if t else {} for t in column.to_pylist()]


def raw_extras(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per raw API record, its fields that are not in CALL_DTYPES."""
    return [{k: v for k, v in r.items() if k not in CALL_DTYPES} for r in records]


def _canonical_categories(series: pd.Series, known: list[str]) -> pd.api.extensions.ExtensionArray:
    """Keep the fixed categories, then only the unknown ones present, by first appearance."""
    cat = series.array
    codes = np.asarray(cat.codes)
    k = len(known)
    uniq, first = np.unique(codes[codes >= k], return_index=True)
    ordered = uniq[np.argsort(first)]
    remap = np.full(len(cat.categories) + 1, -1, dtype=np.int64)  # the last slot keeps -1
    remap[:k] = np.arange(k)
    remap[ordered] = np.arange(k, k + len(ordered))
    categories = [*known, *(cat.categories[i] for i in ordered)]
    return pd.Categorical.from_codes(remap[codes], dtype=pd.CategoricalDtype(categories))


# -- writing as records arrive -----------------------------------------------------------------


class CallWriter:
    """Buffer raw call dicts as they arrive and store the settled ones in small transactions.

    Pass :meth:`add` as ``on_record`` to :meth:`Client.get_calls`; call :meth:`flush` at the
    end (also on Ctrl-C) so that what was fetched is kept.
    """

    def __init__(
        self, store: CallStore, account_sid: str, *, every: int = 200, seconds: float = 0.5
    ) -> None:
        self.store = store
        self.account_sid = account_sid
        self.every = every
        self.seconds = seconds
        self.stored = 0
        self._buffer: list[dict[str, Any]] = []
        self._last = time.monotonic()

    def add(self, record: Mapping[str, Any]) -> None:
        """Buffer one record; commit the buffer when it is full or old enough."""
        self._buffer.append(dict(record))
        if len(self._buffer) >= self.every or time.monotonic() - self._last >= self.seconds:
            self.flush()

    def flush(self) -> None:
        """Store what is buffered (its settled calls) in one transaction."""
        batch, self._buffer = self._buffer, []
        self._last = time.monotonic()
        if batch:
            self.stored += self.store.put_records(self.account_sid, batch)


# -- incremental history -----------------------------------------------------------------------

_IMMUTABLE_FILTERS = ("direction", "channel", "tag")
_warned_untrusted: set[str] = set()


def _filters_key(equal: Mapping[str, Sequence[str]]) -> str | None:
    """Canonical text of the filters a listing used, or None if one can change over time."""
    if any(name not in _IMMUTABLE_FILTERS for name in equal):
        return None  # a call may move into a status filter later: such a listing proves little
    return json.dumps({k: sorted(set(v)) for k, v in sorted(equal.items())})


def _covers(outer: str, inner: Mapping[str, Sequence[str]]) -> bool:
    """Does a listing made with filters ``outer`` include every call ``inner`` selects?"""
    for name, allowed in json.loads(outer).items():
        if name not in inner or not set(inner[name]) <= set(allowed):
            return False
    return True


class HistorySync:
    """Read a history listing page by page and tell when the rest can come from the store.

    Feed every record the API lists (newest first) to :meth:`add`; it returns True when paging
    can stop. The rule: stop after a page (20 records) whose calls were all already stored as
    settled, when an earlier *complete* listing of this account, with a range and filters that
    contain this one, saw every call older than that page settled (its ``watermark``: calls
    created before it were all final and priced). Calls created up to that page's oldest one
    then come from the store (:meth:`rest`). Status filters are not immutable (a call moves
    into ``completed``), so listings made with one are never remembered, though they may use
    one made without. The first pages are checked: created must not increase and must lie in
    the requested days; if not, this server is not trusted, every page is read, and a log
    line says so once. Settled calls are stored as their page arrives.
    """

    page_size = 20

    def __init__(
        self,
        store: CallStore,
        account_sid: str,
        *,
        since: pd.Timestamp | None,
        until: pd.Timestamp | None,
        equal: Mapping[str, Sequence[str]],
        refresh: bool = False,
        origin: str = "",
    ) -> None:
        self.store = store
        self.account_sid = account_sid
        self.since_us = None if since is None else int(since.value // 1000)
        self.until_us = None if until is None else int(until.value // 1000)
        # The API's date filters are whole days: what a server honouring them may return.
        self._day_lo = None if since is None else int(since.floor("D").value // 1000)
        self._day_hi = (
            None
            if until is None
            else int(
                ((until - pd.Timedelta(microseconds=1)).floor("D") + pd.Timedelta(days=1)).value
                // 1000
            )
        )
        self.equal = {k: list(v) for k, v in equal.items()}
        self.refresh = refresh
        self.origin = origin
        self.key = _filters_key(self.equal)
        self.trusted = True
        self.stopped_at: int | None = None  # created (µs) of the oldest call read, on a stop
        self.read_sids: list[str] = []
        self.hits = 0
        self.stored = 0
        self._page: list[dict[str, Any]] = []
        self._last_created: int | None = None
        self._tie: tuple[int | None, int] = (None, -1)
        self._newest: int | None = None
        self._oldest_unsettled: int | None = None
        self._saw_null_created = False
        lo = _MIN_US if self.since_us is None else self.since_us
        self._candidates = (
            []
            if refresh
            else [
                s
                for s in store.syncs(account_sid)
                if s["range_start"] <= lo and _covers(s["filters"], self.equal)
            ]
        )

    def add(self, record: Mapping[str, Any]) -> bool:
        """Take the next listed record; return True when the rest can come from the store."""
        self._page.append(dict(record))
        if len(self._page) < self.page_size:
            return False
        return self._close_page(can_stop=True)

    def flush(self) -> None:
        """Store the records of an unfinished page (the listing ended, or was interrupted)."""
        if self._page:
            self._close_page(can_stop=False)

    def _close_page(self, *, can_stop: bool) -> bool:
        page, self._page = self._page, []
        frame = _quiet_frame(page)
        sids = frame["call_sid"].array.to_numpy(dtype=object, na_value=None).tolist()
        created = frame["created"].array.asi8.copy()
        self._check(created)
        settled = settled_mask(frame)
        for c, ok in zip(created.tolist(), settled.tolist(), strict=True):
            if c == _NAT:
                self._saw_null_created = True
            elif not ok and (self._oldest_unsettled is None or c < self._oldest_unsettled):
                self._oldest_unsettled = c
        valid = created[created != _NAT]
        if len(valid):
            top = int(valid.max())
            self._newest = top if self._newest is None else max(self._newest, top)
        # Which calls were stored before this run (checked before storing this page).
        before = (
            set()
            if self.refresh
            else self.store.cached_sids(self.account_sid, [s for s in sids if s])
        )
        self.hits += len(before)
        ranks = self._tie_ranks(created)
        new = [i for i, s in enumerate(sids) if s not in before or self.refresh]
        if new:
            self.stored += self.store.put_frame(
                self.account_sid,
                frame.iloc[new].reset_index(drop=True),
                extras=[_extras_json([page[i]])[0] for i in new],
                tie_ranks=[ranks[i] for i in new],
            )
        self.read_sids.extend(s for s in sids if s)
        if not (can_stop and self.trusted and self._candidates):
            return False
        if len(before) < len(page) or self._saw_null_created or not settled.all():
            return False
        oldest = int(created.min())
        for sync in self._candidates:
            if oldest < sync["watermark"] and sync["range_end"] > oldest:
                self.stopped_at = oldest
                return True
        return False

    def _tie_ranks(self, created: np.ndarray) -> list[int | None]:
        """Rank of each call among those listed with the same created instant, in list order."""
        ranks: list[int | None] = []
        last, rank = self._tie
        for c in created.tolist():
            if c == _NAT:
                ranks.append(None)
                continue
            rank = rank + 1 if c == last else 0
            last = c
            ranks.append(rank)
        self._tie = (last, rank)
        return ranks

    def _check(self, created: np.ndarray) -> None:
        """Distrust the server if it does not list newest first within the requested days."""
        if not self.trusted:
            return
        valid = created[created != _NAT]
        if not len(valid):
            return
        seq = valid if self._last_created is None else np.r_[self._last_created, valid]
        problem = None
        if (np.diff(seq) > 0).any():
            problem = "does not list calls newest first"
        elif self._day_lo is not None and (valid < self._day_lo).any():
            problem = "ignores the date_from filter"
        elif self._day_hi is not None and (valid >= self._day_hi).any():
            problem = "ignores the date_to filter"
        self._last_created = int(valid[-1])
        if problem:
            self.trusted = False
            if self.origin not in _warned_untrusted:
                _warned_untrusted.add(self.origin)
                logger.warning(
                    "The call history at %s %s, so fetch_history reads every page instead of "
                    "stopping at calls it has cached (results stay correct, only slower).",
                    self.origin or "this server",
                    problem,
                )

    def finish(self, *, complete: bool) -> None:
        """Remember this listing when it covered the whole range (read, or read plus store)."""
        self.flush()
        if self.stored and self.stopped_at is None:
            self.store.update_segments(self.account_sid)  # (after a stop, rest() does it)
        if not complete or not self.trusted or self.key is None or self._saw_null_created:
            return
        if self._newest is None:
            return  # nothing listed: nothing proven about calls that may appear later
        watermark = self._newest
        if self._oldest_unsettled is not None:
            watermark = min(watermark, self._oldest_unsettled)
        start = _MIN_US if self.since_us is None else self.since_us
        end = _MAX_US if self.until_us is None else self.until_us
        self.store.record_sync(self.account_sid, self.key, start, end, watermark)

    def rest(self) -> pa.Table:
        """The stored calls older than the last page read (after a stop), newest first."""
        if self.stopped_at is None:
            return _SEGMENT_SCHEMA.empty_table()
        table = self.store.history_table(
            self.account_sid,
            since_us=self.since_us,
            upto_us=self.stopped_at,
            exclude=self.read_sids,
        )
        self.hits += table.num_rows
        return table


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
