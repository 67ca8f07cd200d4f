"""The store's columnar copy: Arrow IPC segments of the typed rows, read, built and merged.

Loading a million rows through ``sqlite3`` costs seconds of per-value Python work, so loads of
many calls read these segments instead (see :meth:`~apifonica_nb.cache.CallStore.account_table`).
They are derived data: dropping them loses nothing, they are rebuilt from the rows.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from ._schema import _COLUMNS_SQL, _SEGMENT_SCHEMA

_SEGMENT_CODEC = "zstd" if pa.Codec.is_available("zstd") else None
_FETCH_CHUNK = 50_000


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
