"""The previous version's store (one SQLite file, ``calls.sqlite3``): recognise it, migrate it.

Version 1 of the store kept typed rows in SQLite. Opening a store of this version next to such
a file moves its calls and its remembered history listings into the Parquet dataset, says so
once (a warning on the ``apifonica_nb`` logger), and deletes the old file. A file at that path
that is not such a store raises :class:`~apifonica_nb.errors.CacheError`, never a crash.
:func:`legacy_schema_sql` is the old schema, so tests can build an old store.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from ..errors import CacheError
from ._layout import _KINDS, _SEGMENT_SCHEMA, APPLICATION_ID, FILE_SCHEMA

#: The previous version's file name and schema version.
LEGACY_FILE_NAME = "calls.sqlite3"
LEGACY_SCHEMA_VERSION = 1
_CHUNK = 100_000

logger = logging.getLogger("apifonica_nb")


def legacy_schema_sql() -> list[str]:
    """The statements that created a version-1 store (``calls.sqlite3``)."""
    sql_type = {"cat": "TEXT", "text": "TEXT", "time": "INTEGER", "int": "INTEGER"}
    sql_type.update(real="REAL", bool="INTEGER")
    columns = ",\n    ".join(f'"{c}" {sql_type[k]}' for c, k in _KINDS.items() if c != "call_sid")
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
        f"PRAGMA user_version = {LEGACY_SCHEMA_VERSION}",
    ]


def _error(path: Path, what: str) -> CacheError:
    return CacheError(
        f"The file {path} {what}. apifonica_nb now keeps its call cache as Parquet files next "
        f"to it and cannot use this one: move it away, or delete it (ap.cache.clear() does; it "
        f"only holds copies of calls, which will be fetched again)."
    )


def _rows_table(rows: list[tuple[object, ...]], names: list[str]) -> pa.Table:
    columns = list(zip(*rows, strict=True))
    arrays = []
    for name, values in zip(names, columns, strict=True):
        field = FILE_SCHEMA.field(name)
        if pa.types.is_timestamp(field.type):
            arrays.append(pa.array(values, pa.int64()).cast(field.type))
        elif pa.types.is_boolean(field.type):
            arrays.append(pa.array(values, pa.int64()).cast(pa.bool_()))
        else:
            arrays.append(pa.array(values, field.type))
    return pa.Table.from_arrays(arrays, schema=FILE_SCHEMA)


def migrate(
    path: Path,
    write: Callable[[str, pa.Table], object],
    record_sync: Callable[[str, str, int, int, int, int], None],
) -> int:
    """Move a version-1 store's calls (``write(account, table)``) and listings into the new
    store, then delete the old file; return how many calls moved. Logs one warning."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise _error(path, f"cannot be opened ({exc})") from None
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if app_id != APPLICATION_ID:
            raise _error(path, "is another program's SQLite database, not a call store")
        if version != LEGACY_SCHEMA_VERSION:
            raise _error(path, f"is a call store of an unknown version ({version})")
        names = [*_SEGMENT_SCHEMA.names, "stored_at"]
        cols = ", ".join(f'"{c}"' for c in names)
        moved = 0
        accounts = [r[0] for r in conn.execute("SELECT DISTINCT account FROM calls")]
        for account in accounts:
            cursor = conn.execute(f"SELECT {cols} FROM calls WHERE account = ?", (account,))
            while rows := cursor.fetchmany(_CHUNK):
                write(account, _rows_table(rows, names))
                moved += len(rows)
        for row in conn.execute(
            "SELECT account, filters, range_start, range_end, watermark, completed_at FROM syncs"
        ):
            record_sync(*row)
    except sqlite3.DatabaseError as exc:
        raise _error(path, f"is not a readable call store ({exc})") from None
    finally:
        conn.close()
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(f"{path}{suffix}")
    logger.warning(
        "Moved %d cached calls from the previous version's store %s into the Parquet dataset "
        "at %s (the old file is deleted; nothing needs fetching again).",
        moved,
        path,
        path.with_name("calls"),
    )
    return moved
