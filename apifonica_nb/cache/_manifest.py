"""The dataset's small manifest: ``_store.sqlite3`` in its root (its version, the listings).

It holds what is not calls: the layout version (``PRAGMA user_version``), the complete history
listings remembered for :class:`apifonica_nb.history.HistorySync` (``syncs``), and the lock
that rewrites of Parquet files take (:meth:`Manifest.exclusive`): a write transaction, so a
killed process releases it. Engines reading the dataset skip it (its name starts with ``_``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from ..errors import CacheError
from ._layout import APPLICATION_ID, SCHEMA_VERSION

MANIFEST_NAME = "_store.sqlite3"
_T = TypeVar("_T")

_SCHEMA = [
    "CREATE TABLE syncs (account TEXT NOT NULL, filters TEXT NOT NULL, "
    "range_start INTEGER NOT NULL, range_end INTEGER NOT NULL, watermark INTEGER NOT NULL, "
    "completed_at INTEGER NOT NULL, PRIMARY KEY (account, filters, range_start, range_end))",
    f"PRAGMA application_id = {APPLICATION_ID}",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
]


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class Manifest:
    """The manifest file of a dataset root, created if missing and checked to be ours."""

    def __init__(self, root: Path, *, timeout: float, error: Callable[[str], CacheError]):
        self.path = root / MANIFEST_NAME
        self.timeout = timeout
        self._error = error
        self._lock = threading.RLock()
        self.created = not self.path.exists()
        if self.created:
            with contextlib.suppress(FileExistsError):
                os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        self._conn = sqlite3.connect(
            self.path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        try:
            self._prepare_patiently()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise self._error(
                f"has a manifest {self.path.name} that is unreadable ({exc})"
            ) from None
        except CacheError:
            self._conn.close()
            raise

    def close(self) -> None:
        self._conn.close()

    def _prepare_patiently(self) -> None:
        """Prepare the file, waiting while another process is creating it at the same time
        (switching a new file to WAL needs it to itself)."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return self._prepare()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _prepare(self) -> None:
        conn = self._conn
        if conn.execute("PRAGMA application_id").fetchone()[0] == 0:
            if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise self._error(f"has a {self.path.name} that is not this store's manifest")
            conn.execute("PRAGMA page_size = 1024")  # a few listings: keep the file small
            conn.execute("PRAGMA journal_mode = WAL")
            with self.exclusive() as c:
                if c.execute("PRAGMA application_id").fetchone()[0] == 0:
                    for statement in _SCHEMA:
                        c.execute(statement)
        if conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
            raise self._error(f"has a {self.path.name} that is not this store's manifest")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            raise self._error(
                f"was written by another version of apifonica_nb (store layout {version}, "
                f"this one reads {SCHEMA_VERSION})"
            )
        conn.execute("PRAGMA synchronous = NORMAL")

    @contextlib.contextmanager
    def exclusive(self, *, wait: bool = True) -> Iterator[sqlite3.Connection]:
        """Hold the store's write lock (a SQLite write transaction) for the block.

        ``wait=False`` raises :class:`BlockingIOError` at once when another process holds it.
        """
        delay = 0.02
        deadline = time.monotonic() + (self.timeout if wait else 0.0)
        with self._lock:
            conn = self._conn
            conn.execute(f"PRAGMA busy_timeout = {50 if not wait else int(self.timeout * 1000)}")
            while True:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc):
                        raise
                    if not wait:
                        raise BlockingIOError("the store is busy") from None
                    if time.monotonic() > deadline:
                        raise self._error(
                            f"stayed locked by another process for {self.timeout:.0f} s"
                        ) from None
                    time.sleep(delay)
                    delay = min(delay * 2, 0.5)
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def read(self, body: Callable[[sqlite3.Connection], _T]) -> _T:
        with self._lock:
            return body(self._conn)

    def syncs(self, account_sid: str) -> list[dict[str, Any]]:
        rows = self.read(
            lambda c: c.execute(
                "SELECT filters, range_start, range_end, watermark, completed_at FROM syncs "
                "WHERE account = ?",
                (account_sid,),
            ).fetchall()
        )
        keys = ("filters", "range_start", "range_end", "watermark", "completed_at")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def record_sync(self, *row: Any) -> None:
        """Insert (or replace) one listing: account, filters, start, end, watermark, at."""
        with self.exclusive() as conn:
            conn.execute("INSERT OR REPLACE INTO syncs VALUES (?, ?, ?, ?, ?, ?)", row)

    def clear(self, account_sid: str | None) -> None:
        with self.exclusive() as conn:
            if account_sid is None:
                conn.execute("DELETE FROM syncs")
            else:
                conn.execute("DELETE FROM syncs WHERE account = ?", (account_sid,))
