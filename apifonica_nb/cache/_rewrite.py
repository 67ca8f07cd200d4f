"""Rewriting Parquet files: replacing changed calls and compacting a month folder.

Files are never edited: the new file is written (atomically) before the old ones are removed,
so a process killed in between leaves a call in two files, never in none; every read keeps
the most recently stored version (:func:`._files.newest_versions`) and the next compaction
of that folder drops the other. Callers hold the store's lock.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ._files import newest_versions, part_files, read_parts, remove_part, write_part
from ._layout import FILE_SCHEMA

_CHEAP_ROWS = 200_000  # a folder this small is always merged into one file
_COMPARED = [n for n in FILE_SCHEMA.names if n not in ("stored_at", "tie_rank")]


def _same(a: pa.ChunkedArray | pa.Array, b: pa.ChunkedArray | pa.Array) -> pa.Array:
    both_null = pc.and_(pc.is_null(a), pc.is_null(b))
    return pc.or_(both_null, pc.fill_null(pc.equal(a, b), False))


def changed_rows(table: pa.Table, stored: pa.Table) -> tuple[pa.Table, pa.Array]:
    """The rows of ``table`` to write (new calls, and stored ones with a changed value, their
    listing rank kept when the new row has none) and the SIDs whose stored version they
    replace."""
    where = pc.index_in(table.column("call_sid"), value_set=stored.column("call_sid"))
    known = pc.is_valid(where)
    if not pc.any(known).as_py():
        return table, pa.array([], pa.string())
    old = stored.take(pc.fill_null(where, 0))
    same = pa.array([True] * table.num_rows)
    for name in _COMPARED:
        same = pc.and_(same, _same(table.column(name), old.column(name)))
    new_rank, old_rank = table.column("tie_rank"), old.column("tie_rank")
    rank_kept = pc.or_(pc.is_null(new_rank), _same(new_rank, old_rank))
    unchanged = pc.and_(known, pc.and_(same, rank_kept))
    rank = pc.if_else(pc.and_(known, pc.is_null(new_rank)), old_rank, new_rank)
    i = table.schema.get_field_index("tie_rank")
    table = table.set_column(i, "tie_rank", rank)
    write = pc.invert(unchanged)
    replaced = pc.filter(table.column("call_sid"), pc.and_(known, write))
    return table.filter(write), replaced.combine_chunks()


def remove_rows(where: dict[Path, pa.Array], sids: pa.Array) -> None:
    """Rewrite the files of ``where`` without the rows of ``sids`` (written anew elsewhere)."""
    for path in where:
        table = pq.read_table(path, schema=FILE_SCHEMA)
        keep = pc.invert(pc.is_in(table.column("call_sid"), value_set=sids)).combine_chunks()
        if keep.true_count == table.num_rows:
            continue
        if keep.true_count:
            write_part(path.parent, table.filter(keep))
        remove_part(path)


def compact_folder(folder: Path) -> None:
    """Merge a month folder's files into one (one row per call). When one file is much
    bigger than the rest together (and the folder is not small), only the rest are merged:
    rewrites stay cheap."""
    files = part_files([folder])
    if len(files) < 2:
        return
    rows = [pq.ParquetFile(f).metadata.num_rows for f in files]
    biggest = max(range(len(files)), key=rows.__getitem__)
    if sum(rows) > _CHEAP_ROWS and rows[biggest] >= 2 * (sum(rows) - rows[biggest]):
        files = files[:biggest] + files[biggest + 1 :]
        if len(files) < 2:
            return
    try:
        merged = newest_versions(read_parts(files))
    except FileNotFoundError:
        return  # another process compacted it meanwhile
    write_part(folder, merged)
    for path in files:
        remove_part(path)
