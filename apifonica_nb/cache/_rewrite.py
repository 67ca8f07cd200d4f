"""Rewriting Parquet files: replacing changed calls and compacting a month folder.

Files are never edited, and a rewrite replaces whole files: the new file is written
(atomically), naming in its footer the files it replaces, before they are removed. A process
killed in between leaves a call in two files, never in none; the store's reads keep the most
recently stored version (:func:`._files.newest_versions`), ``scan()`` skips the files named as
replaced, and the next compaction of that folder drops them. Callers hold the store's lock.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ._files import months, newest_versions, part_files, read_parts, remove_part, write_part
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


def rewrite_files(
    where: dict[Path, pa.Array],
    table: pa.Table,
    sids: pa.Array,
    write_rest: Callable[[pa.Table], object],
) -> None:
    """Store ``table``, the new versions of stored calls ``sids`` (held by the files of
    ``where``) and new calls: each file is replaced by one without its old versions, holding
    instead the new versions of the calls it held when they belong to its folder. The other
    rows (new calls, a call whose month changed) go to ``write_rest`` first, so no call is
    ever in no file. Each new file lists the one it replaces (``write_part(replaces=)``): a
    reader seeing both, before the removal or after a crash there, reads one version."""
    placed = pa.array([], pa.string())
    plans = []
    for path in where:
        old = pq.read_table(path, schema=FILE_SCHEMA)
        mask = pc.is_in(old.column("call_sid"), value_set=sids)
        if not pc.any(mask).as_py():
            continue
        held = pc.filter(old.column("call_sid"), mask)
        # The new versions of the calls this file held (each call placed in one file only).
        mine = pc.and_(
            pc.and_(
                pc.is_in(table.column("call_sid"), value_set=held),
                pc.invert(pc.is_in(table.column("call_sid"), value_set=placed)),
            ),
            pc.equal(months(table), path.parent.name.split("=", 1)[1]),
        )
        new = table.filter(mine)
        placed = pa.concat_arrays([placed, new.column("call_sid").combine_chunks()])
        plans.append((path, pa.concat_tables([old.filter(pc.invert(mask)), new])))
    rest = table.filter(pc.invert(pc.is_in(table.column("call_sid"), value_set=placed)))
    if rest.num_rows:
        write_rest(rest)
    for path, replacement in plans:
        if replacement.num_rows:
            write_part(path.parent, replacement, replaces=[path])
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
    write_part(folder, merged, replaces=files)
    for path in files:
        remove_part(path)
