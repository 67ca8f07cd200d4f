"""The dataset's Parquet files: where a call's file goes, writing one atomically, reading many.

Layout under the store's root (:func:`~apifonica_nb.cache.cache_path`)::

    account=<account SID>/month=<YYYY-MM of created, UTC>/part-<µs>-<random>.parquet

Hive-style partition folders, so DuckDB, Polars and Spark read the folder as one table with
``account`` and ``month`` columns. Each write is a new file (zstd, rows sorted by call SID)
written under a dot-name that every engine skips, then renamed into place: a reader sees a
whole file or none, and a killed writer leaves at most a dot-file that is swept later.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ._layout import FILE_SCHEMA

ACCOUNT_KEY = "account"
MONTH_KEY = "month"
NO_MONTH = "unknown"  # a settled call without a creation date (rare): its own partition
_ROW_GROUP = 65_536
_STALE_TMP_S = 3600.0


def account_dir(root: Path, account_sid: str) -> Path:
    """The folder of one account's partitions (the SID escaped as Hive escapes values)."""
    return root / f"{ACCOUNT_KEY}={quote(account_sid, safe='-_.~')}"


def months(table: pa.Table) -> pa.Array:
    """Per row, the month partition it belongs to ("2026-10"; ``unknown`` without created)."""
    text = pc.strftime(table.column("created"), format="%Y-%m")
    return pc.fill_null(text, NO_MONTH).combine_chunks()


def write_part(folder: Path, table: pa.Table) -> Path:
    """Write ``table`` as a new file of ``folder``, atomically; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"part-{time.time_ns() // 1000:016d}-{secrets.token_hex(6)}.parquet"
    tmp = folder / f".{name}.tmp"
    order = pc.sort_indices(table, sort_keys=[("call_sid", "ascending")])
    data = table.take(order).cast(FILE_SCHEMA)
    # Owner-only: the rows hold customers' phone numbers.
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    try:
        with os.fdopen(fd, "wb") as sink:
            pq.write_table(
                data,
                sink,
                compression="zstd",
                row_group_size=_ROW_GROUP,
                use_dictionary=[c for c in FILE_SCHEMA.names if c not in ("call_sid",)],
                write_statistics=["call_sid", "created"],
            )
        os.replace(tmp, folder / name)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    return folder / name


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
    for p in _scan(folder):
        if p.name.startswith(".") and p.name.endswith(".tmp"):
            with contextlib.suppress(OSError):
                if now - p.stat().st_mtime > _STALE_TMP_S:
                    p.unlink()


def read_parts(files: list[Path], columns: list[str] | None = None) -> pa.Table:
    """Read files into one table of :data:`FILE_SCHEMA` (raises FileNotFoundError if one was
    removed meanwhile: the caller lists again)."""
    if not files:
        schema = (
            FILE_SCHEMA if columns is None else pa.schema([FILE_SCHEMA.field(c) for c in columns])
        )
        return schema.empty_table()
    dataset = ds.dataset([str(f) for f in files], schema=FILE_SCHEMA, format="parquet")
    return dataset.to_table(columns=columns)


def newest_versions(table: pa.Table) -> pa.Table:
    """One row per call SID: the most recently stored version (rows oldest file first)."""
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
    return table.take(pc.filter(order, keep))
