"""The call store's SQLite file: where it lives, opening and checking it, transactions.

:class:`Database` holds the connection and the rules that let two notebooks share the file
(WAL journal, busy timeout, ``BEGIN IMMEDIATE`` writes retried while another process holds
the lock); :class:`~apifonica_nb.cache.CallStore` builds what is stored on top of it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self, TypeVar

from apifonica_nb.errors import CacheError

from ._schema import _STORED, APPLICATION_ID, SCHEMA_VERSION, _schema_sql

#: Environment variable naming the directory of the store (read when the store is opened).
CACHE_DIR_ENV = "APIFONICA_NB_CACHE_DIR"
FILE_NAME = "calls.sqlite3"

_T = TypeVar("_T")


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


class Database:
    """One open store file, checked to be a call store; writes wait for other processes.

    ``path`` defaults to :func:`cache_path`. Use it as a context manager (or call
    :meth:`close`).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, timeout: float = 30.0):
        self.path = Path(path) if path is not None else cache_path()
        self.timeout = timeout
        self._lock = threading.RLock()
        self._conn = self._open()

    def __enter__(self) -> Self:
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
