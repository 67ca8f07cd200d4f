"""The dataset's Parquet files: where a call's file goes, writing one atomically, reading many.

Layout under the store's root (:func:`~apifonica_nb.cache.cache_path`)::

    account=<account SID>/month=<YYYY-MM of created, UTC>/part-<µs>-<random>.parquet

Hive-style partition folders, so DuckDB, Polars and Spark read the folder as one table with
``account`` and ``month`` columns. Each write is a new file (zstd, rows newest first, as the
history lists them) written under a dot-name that every engine skips, then renamed into place:
a reader sees a whole file or none, and a killed writer leaves at most a dot-file that is swept
later. Next to each file of more than 8,192 calls, ``.part-….sids`` (a dot-file: engines skip
it) holds its call SIDs sorted, with their row numbers, in small row groups: a lookup of a few
SIDs reads a few kB. (A smaller file is read whole for its SIDs.)
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ._layout import _KINDS, FILE_SCHEMA

ACCOUNT_KEY = "account"
MONTH_KEY = "month"
NO_MONTH = "unknown"  # a settled call without a creation date (rare): its own partition
# Small row groups: a lookup of one SID decodes one data row group and one sidecar row group.
_ROW_GROUP = 16_384
_SID_GROUP = 1_024
# Per column, how a data file encodes it. Timestamps (created sorted, the others close to it)
# as deltas, values of nearly one per call (SIDs, numbers) plain: smaller and quicker to decode
# than dictionaries that overflow; every other column as a dictionary.
_DELTA = ("created", "updated", "started", "ended")
_PLAIN = ("call_sid", "record_sid", "from", "to")
_FEW_VALUES = [
    name
    for name, kind in _KINDS.items()
    if kind == "cat" or name in ("account_sid", "number_sid", "controller", "method", "tag")
] + ["destination_country", "extra"]
_CATEGORICAL = frozenset(name for name, kind in _KINDS.items() if kind == "cat")
NEWEST_FIRST = [
    ("created", "descending", "at_end"),
    ("tie_rank", "ascending", "at_end"),
    ("call_sid", "ascending", "at_end"),
]
_STALE_TMP_S = 3600.0
#: Key of a data file's footer metadata naming the files it replaces (one name a line).
REPLACES_KEY = "apifonica_nb.replaces"
#: Key of a sidecar's footer metadata listing the highest SID of each of its row groups.
HIGHS_KEY = "apifonica_nb.sid_highs"


def account_dir(root: Path, account_sid: str) -> Path:
    """The folder of one account's partitions (the SID escaped as Hive escapes values)."""
    return root / f"{ACCOUNT_KEY}={quote(account_sid, safe='-_.~')}"


def months(table: pa.Table) -> pa.Array:
    """Per row, the month partition it belongs to ("2026-10"; ``unknown`` without created)."""
    text = pc.strftime(table.column("created"), format="%Y-%m")
    return pc.fill_null(text, NO_MONTH).combine_chunks()


def sids_path(part: Path) -> Path:
    """The SID sidecar of a data file."""
    return part.with_name(f".{part.stem}.sids")


def _atomic_parquet(path: Path, table: pa.Table, **options: object) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    # Owner-only: the rows hold customers' phone numbers.
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        with os.fdopen(fd, "wb") as sink:
            pq.write_table(table, sink, compression="zstd", **options)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def write_part(folder: Path, table: pa.Table, *, replaces: Sequence[Path] = ()) -> Path:
    """Write ``table`` as a new file of ``folder`` (and its SID sidecar), atomically.

    ``replaces`` names files of the folder this one supersedes whole (the caller removes them
    next): its footer lists them (:data:`REPLACES_KEY`), so a reader that sees both, between
    the write and the removal or after a crash there, reads only this one (``scan()``)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"part-{time.time_ns() // 1000:016d}-{secrets.token_hex(6)}.parquet"
    data = table.take(pc.sort_indices(table, sort_keys=NEWEST_FIRST)).cast(FILE_SCHEMA)
    if replaces:
        data = data.replace_schema_metadata({REPLACES_KEY: "\n".join(p.name for p in replaces)})
    if data.num_rows > _ROW_GROUP:  # a file of one row group is its own index
        sids = data.column("call_sid")
        by_sid = pc.sort_indices(sids)
        ordered = sids.take(by_sid)
        # The highest SID of each row group, in the footer: a lookup picks its row group
        # without walking the row groups' statistics.
        highs = ordered.take(pa.array(range(_SID_GROUP - 1, len(ordered), _SID_GROUP)))
        if len(ordered) % _SID_GROUP:
            highs = pa.chunked_array([highs, ordered.slice(len(ordered) - 1)])
        sidecar = pa.table({"call_sid": ordered, "row": by_sid.cast(pa.int32())})
        listed = highs.to_pylist()
        if not any("\n" in h for h in listed):
            sidecar = sidecar.replace_schema_metadata({HIGHS_KEY: "\n".join(listed)})
        _atomic_parquet(sids_path(path), sidecar, row_group_size=_SID_GROUP, use_dictionary=False)
    _atomic_parquet(
        path,
        data,
        row_group_size=_ROW_GROUP,
        use_dictionary=[c for c in FILE_SCHEMA.names if c not in _DELTA + _PLAIN],
        column_encoding=dict.fromkeys(_DELTA, "DELTA_BINARY_PACKED"),
        write_statistics=["created", "updated", "started", "ended", "duration", "price"],
    )
    return path


def remove_part(path: Path) -> None:
    """Remove a data file, then its sidecar (a reader may meanwhile miss the file: it retries)."""
    for p in (path, sids_path(path)):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def partition_folders(root: Path, account_sid: str | None = None) -> list[Path]:
    """Every month folder (of one account, or all)."""
    if account_sid is not None:
        bases = [account_dir(root, account_sid)]
    else:
        bases = [p for p in _scan(root) if p.is_dir() and p.name.startswith(f"{ACCOUNT_KEY}=")]
    return [m for b in bases for m in _scan(b) if m.is_dir() and m.name.startswith(f"{MONTH_KEY}=")]


def _scan(folder: Path) -> list[Path]:
    try:
        return sorted(Path(e.path) for e in os.scandir(folder))
    except FileNotFoundError:
        return []


def part_files(folders: Iterable[Path]) -> list[Path]:
    """The data files of these folders, oldest first (names start with their write time)."""
    return sorted(
        (p for f in folders for p in _scan(f) if p.name.startswith("part-")),
        key=lambda p: p.name,
    )


def sweep_tmp(folder: Path) -> None:
    """Remove dot-files left by a writer killed mid-write (old enough not to be in use)."""
    now = time.time()
    names = {p.name for p in _scan(folder)}
    for p in _scan(folder):
        orphan = p.name.endswith(".sids") and f"{p.name[1:-5]}.parquet" not in names
        if (p.name.startswith(".") and p.name.endswith(".tmp")) or orphan:
            with contextlib.suppress(OSError):
                if now - p.stat().st_mtime > _STALE_TMP_S:
                    p.unlink()


def read_parts(
    files: list[Path], columns: list[str] | None = None, *, dictionaries: bool = False
) -> pa.Table:
    """Read files into one table of :data:`FILE_SCHEMA` (raises FileNotFoundError if one was
    removed meanwhile: the caller lists again). With ``dictionaries`` (for a frame), the
    categorical columns stay dictionary-encoded as Parquet stores them (a frame's codes, with
    no decoding) and text columns are large strings (what pandas' ``str`` dtype holds)."""
    if not files:
        schema = (
            FILE_SCHEMA if columns is None else pa.schema([FILE_SCHEMA.field(c) for c in columns])
        )
        return schema.empty_table()
    # Columns of few distinct values are read as dictionaries and decoded by Arrow: about
    # twice as fast as Parquet's own decoding of each value.
    options = ds.ParquetReadOptions(dictionary_columns=_FEW_VALUES)
    fmt = ds.ParquetFileFormat(read_options=options)
    table = ds.dataset([str(f) for f in files], format=fmt).to_table(columns=columns)
    wanted = FILE_SCHEMA if columns is None else pa.schema([FILE_SCHEMA.field(c) for c in columns])
    if table.schema.names != wanted.names:  # written by another tool: let the cast say
        return _decoded(table).cast(wanted)
    fields, arrays = [], []
    for field, column in zip(wanted, table.columns, strict=True):
        target = field.type
        if dictionaries and field.name in _CATEGORICAL:
            target = pa.dictionary(pa.int32(), field.type)
        elif dictionaries and target == pa.string():
            target = pa.large_string()  # what a frame's text columns hold: cast once, here
        # Only what differs is cast (a dictionary decodes straight into its target type).
        arrays.append(column if column.type == target else column.cast(target))
        fields.append(pa.field(field.name, target))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _decoded(table: pa.Table) -> pa.Table:
    columns = [
        c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns
    ]
    return pa.Table.from_arrays(columns, names=table.column_names)


def newest_versions(table: pa.Table) -> pa.Table:
    """One row per call SID: the most recently stored version (rows oldest file first).

    The kept row takes the listing rank (``tie_rank``) of the newest version that has one: a
    call listed twice in one batch (a repeat carries no rank) keeps the rank of its first
    listing, as a repeat stored in a later batch does (:func:`._rewrite.changed_rows`).
    """
    sids = table.column("call_sid")
    if pc.count_distinct(sids).as_py() == table.num_rows:
        return table
    n = table.num_rows
    order = pc.sort_indices(
        table.append_column("_pos", pa.array(range(n), pa.int64())),
        sort_keys=[("call_sid", "ascending"), ("stored_at", "descending"), ("_pos", "descending")],
    )
    ordered = sids.take(order)
    first = pc.not_equal(ordered.slice(1), ordered.slice(0, n - 1))
    keep = pa.concat_arrays([pa.array([True]), first.combine_chunks()])
    kept = table.take(pc.filter(order, keep))
    ranks = table.column("tie_rank").take(order)
    if ranks.null_count == 0:
        return kept
    valid = np.asarray(ranks.is_valid())
    values = np.asarray(ranks.fill_null(0), dtype=np.int64)
    starts = np.flatnonzero(np.asarray(keep))
    # Per call, the first version (newest first) with a rank; n where none has one.
    at = np.minimum.reduceat(np.where(valid, np.arange(n), n), starts)
    has = at < n
    rank = pa.array(values[np.minimum(at, n - 1)], pa.int64(), mask=~has)
    return kept.set_column(kept.schema.get_field_index("tie_rank"), "tie_rank", rank)


def read_rows(where: dict[Path, pa.Array]) -> pa.Table:
    """The rows of each file at the given row numbers (reading only their row groups)."""
    parts = []
    for path, rows in where.items():
        # Few-valued columns as dictionaries (quicker to decode), decoded after the take.
        handle = pq.ParquetFile(path, read_dictionary=_FEW_VALUES)
        meta = handle.metadata
        starts = np.cumsum([0] + [meta.row_group(i).num_rows for i in range(meta.num_row_groups)])
        wanted = np.asarray(rows, dtype=np.int64)
        group = np.searchsorted(starts, wanted, side="right") - 1
        groups = np.unique(group).tolist()
        table = handle.read_row_groups(groups)
        offset = np.cumsum([0] + [int(starts[g + 1] - starts[g]) for g in groups])
        local = offset[np.searchsorted(groups, group)] + wanted - starts[group]
        parts.append(_decoded(table.take(pa.array(local))).cast(FILE_SCHEMA))
    return pa.concat_tables(parts) if parts else FILE_SCHEMA.empty_table()
