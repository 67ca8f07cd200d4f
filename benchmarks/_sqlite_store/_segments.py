"""The store's columnar copy: Arrow IPC segments of the typed rows, read, built and merged.

Loading a million rows through ``sqlite3`` costs seconds of per-value Python work, so loads of
many calls read these segments instead (:meth:`SegmentedDatabase.account_table`). They are
derived data: dropping them loses nothing, they are rebuilt from the rows.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from ._database import Database, _is_busy
from ._schema import _COLUMNS_SQL, _SEGMENT_SCHEMA

_MAX_SEGMENTS = 8

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


class SegmentedDatabase(Database):
    """The store file plus its columnar segments: whole-account loads, kept current.

    :class:`~apifonica_nb.cache.CallStore` builds the rows' reading and writing on top.
    """

    def _approx_rows(self, account_sid: str) -> int:
        row = self._conn.execute(
            "SELECT coalesce(sum(rows), 0) FROM segments WHERE account = ?", (account_sid,)
        ).fetchone()
        return int(row[0])

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
