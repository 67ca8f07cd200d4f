"""Which file holds which call: read from the files' SID sidecars (``.part-….sids``).

A sidecar holds a data file's call SIDs sorted, with their row numbers, in row groups of 1,024
whose highest SIDs its footer lists: a lookup of a few SIDs reads the sidecars' footers and the
one row group per file whose SID range can hold each, then the data file's rows by number.
Many SIDs read whole sidecars. A data file without a sidecar (one row group, or written by
another tool) is read for its SIDs.
"""

from __future__ import annotations

import bisect
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ._files import HIGHS_KEY, part_files, partition_folders, sids_path

_FEW = 64  # up to this many SIDs, read only the sidecar row groups that can hold them


def _sidecar(path: Path, sids: pa.Array) -> pa.Table:
    """The (call_sid, row) pairs of a data file that may hold ``sids`` (a superset)."""
    side = sids_path(path)
    try:
        handle = pq.ParquetFile(side)
    except FileNotFoundError:
        column = pq.read_table(path, columns=["call_sid"]).column(0)
        return pa.table({"call_sid": column, "row": pa.array(range(len(column)), pa.int32())})
    meta = handle.metadata
    if len(sids) > _FEW or meta.num_row_groups < 2:
        return handle.read()
    highs = _highs(meta)
    if highs is None:
        return handle.read()
    groups = sorted({bisect.bisect_left(highs, s) for s in sids.to_pylist()})
    groups = [g for g in groups if g < meta.num_row_groups]
    if not groups:
        return pa.table({"call_sid": pa.array([], pa.string()), "row": pa.array([], pa.int32())})
    return handle.read_row_groups(groups)


def _highs(meta: pq.FileMetaData) -> list[str] | None:
    """The highest SID of each row group of a sidecar (None if a statistic is missing)."""
    listed = (meta.metadata or {}).get(HIGHS_KEY.encode())
    if listed is not None:
        highs = listed.decode().split("\n")
        if len(highs) == meta.num_row_groups:
            return highs
    # A sidecar written before the list was kept: the row groups' statistics.
    out = []
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(0).statistics
        if stats is None or not stats.has_min_max:
            return None
        out.append(stats.max)
    return out


class SidIndex:
    """Look calls up by SID in one account's files (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def files(self, account_sid: str) -> list[Path]:
        return part_files(partition_folders(self.root, account_sid))

    def locate(self, account_sid: str, sids: pa.Array) -> dict[Path, pa.Array]:
        """Per file holding some of ``sids``: the row numbers of those calls in it."""
        found: dict[Path, pa.Array] = {}
        if not len(sids):
            return found
        for path in self.files(account_sid):
            pairs = _sidecar(path, sids)
            hit = pc.is_in(pairs.column("call_sid"), value_set=sids)
            if pc.any(hit).as_py():
                found[path] = pc.filter(pairs.column("row"), hit).combine_chunks()
        return found

    def present(self, account_sid: str, sids: pa.Array) -> pa.Array:
        """The distinct SIDs among ``sids`` that are stored."""
        parts = []
        for path in self.files(account_sid):
            column = _sidecar(path, sids).column("call_sid")
            parts.append(pc.filter(column, pc.is_in(column, value_set=sids)))
        if not parts:
            return pa.array([], pa.string())
        return pc.unique(pa.chunked_array(parts, pa.string()).combine_chunks())

    def count(self, account_sid: str) -> int:
        """How many distinct calls the account's files hold."""
        total = 0
        for folder in partition_folders(self.root, account_sid):
            files = part_files([folder])
            if len(files) == 1:
                total += pq.ParquetFile(files[0]).metadata.num_rows
            elif files:
                column = pa.chunked_array(
                    [pq.read_table(f, columns=["call_sid"]).column(0) for f in files]
                )
                total += int(pc.count_distinct(column).as_py())
        return total

    def forget(self, account_sid: str | None = None) -> None:
        """Nothing is cached between calls; kept for the store's clear()."""
