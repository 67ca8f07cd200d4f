"""The call store: write settled calls as Parquet files, read them back, keep it compact.

:class:`CallStore` is the one writer and reader of the dataset (see :mod:`apifonica_nb.cache`
for its layout and duties); the Parquet side is :mod:`._files`, the lock and the remembered
history listings are the manifest's (:mod:`._manifest`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._base import StoreBase
from ._files import (
    account_dir,
    months,
    newest_versions,
    part_files,
    partition_folders,
    read_rows,
    sweep_tmp,
    write_part,
)
from ._frames import _check_unit, extras_json, frame_from_table, parse_records, settled_mask
from ._layout import FILE_SCHEMA, file_to_segment, frame_to_file_table
from ._rewrite import changed_rows, compact_folder, rewrite_files

_DIRECT_LOOKUP = 5000  # up to this many SIDs, read only the files holding them
_MAX_FILES = 8  # a month folder with more files than this is compacted
_READ_ATTEMPTS = 5


class CallStore(StoreBase):
    """The on-disk store of settled calls: a folder of Parquet files plus a small manifest.

    ``path`` (the dataset's root folder) defaults to :func:`cache_path`. Opening creates it if
    needed, checks it is this store and migrates the previous version's ``calls.sqlite3``
    next to it. Use it as a context manager (or call :meth:`close`).

    >>> with CallStore() as store:
    ...     store.put_records(client.account_sid, records)
    ...     df = store.get_frame(client.account_sid, sids, price_unit="EUR")
    """

    # -- writing ----------------------------------------------------------------------------

    def put_records(
        self,
        account_sid: str,
        records: Sequence[Mapping[str, Any]],
        *,
        tie_ranks: Sequence[int | None] | None = None,
    ) -> int:
        """Store the settled calls among raw API ``records``; return how many were stored."""
        recs = [dict(r) for r in records]
        if not recs:
            return 0
        return self.put_frame(
            account_sid, parse_records(recs), extras=extras_json(recs), tie_ranks=tie_ranks
        )

    def put_frame(
        self,
        account_sid: str,
        df: pd.DataFrame,
        *,
        extras: Sequence[str | None] | None = None,
        tie_ranks: Sequence[int | None] | None = None,
    ) -> int:
        """Store the settled rows of a typed call frame (as :func:`calls_to_frame` returns).

        ``extras`` holds, per row, the JSON of the record's undocumented fields (or None);
        ``tie_ranks`` the order of the row among calls created in the same instant, as the
        history listed them. A call already stored is rewritten only if a value changed.
        Once this returns, the calls are in a file of their own: a killed process keeps them.
        """
        keep = settled_mask(df)
        if not keep.any():
            return 0
        idx = [int(i) for i in keep.nonzero()[0]]
        table = frame_to_file_table(
            df.iloc[idx],
            extras=[extras[i] for i in idx] if extras is not None else None,
            tie_ranks=[tie_ranks[i] for i in idx] if tie_ranks is not None else None,
            stored_at_us=time.time_ns() // 1000,
        )
        table = newest_versions(table)  # a call twice in one batch: its last version
        with self._manifest.exclusive(), self._readable():
            self._write_locked(account_sid, table)
        return len(idx)

    def _write_locked(self, account_sid: str, table: pa.Table) -> None:
        """Add the new and changed calls of ``table`` (the caller holds the lock)."""
        sids = table.column("call_sid").combine_chunks()
        where = self._index.locate(account_sid, sids)
        if where:
            stored = newest_versions(read_rows(where))
            table, replaced = changed_rows(table, stored)
        else:
            replaced = pa.array([], pa.string())
        if not table.num_rows:
            return
        folders: list[Path] = []
        if len(replaced):
            rewrite_files(
                where,
                table,
                replaced,
                lambda rest: folders.extend(self._write_partitions(account_sid, rest)),
            )
        else:
            folders = self._write_partitions(account_sid, table)
        for folder in folders:
            if len(part_files([folder])) > _MAX_FILES:
                compact_folder(folder)

    def _write_partitions(self, account_sid: str, table: pa.Table) -> list[Path]:
        base = account_dir(self.path, account_sid)
        month = months(table)
        folders = []
        for value in pc.unique(month).to_pylist():
            folder = base / f"month={value}"
            write_part(folder, table.filter(pc.equal(month, value)))
            folders.append(folder)
        return folders

    def put_table(self, account_sid: str, table: pa.Table) -> int:
        """Store settled calls given as an Arrow table of :data:`FILE_SCHEMA` (bulk loads: a
        migration, a generated benchmark store); return how many rows it held."""
        table = newest_versions(table.select(FILE_SCHEMA.names).cast(FILE_SCHEMA))
        with self._manifest.exclusive(), self._readable():
            self._write_locked(account_sid, table)
        return table.num_rows

    def update_segments(self, account_sid: str) -> int:
        """Compact the account's month folders that hold many small files; return how many.

        The fetch verbs call this after storing calls, so that the next load opens few files.
        Optional work: skipped when another process holds the store's lock.
        """
        busy = [f for f in partition_folders(self.path, account_sid) if len(part_files([f])) > 1]
        if not busy:
            return 0
        try:
            with self._manifest.exclusive(wait=False):
                for folder in busy:
                    compact_folder(folder)
                    sweep_tmp(folder)
        except BlockingIOError:
            return 0
        return len(busy)

    # -- reading ----------------------------------------------------------------------------

    # -- reading ----------------------------------------------------------------------------

    def cached_sids(self, account_sid: str, call_sids: Iterable[str]) -> set[str]:
        """Return which of ``call_sids`` are stored for the account."""
        sids = pa.array(list(dict.fromkeys(call_sids)), pa.string())
        return set(self._retrying(lambda: self._index.present(account_sid, sids)).to_pylist())

    def get_table(
        self, account_sid: str, call_sids: Iterable[str] | pa.Array | None = None
    ) -> pa.Table:
        """Return stored calls as an Arrow table of the stored columns (see :meth:`get_frame`)."""
        if call_sids is None:
            return self.account_table(account_sid)
        given = (
            call_sids
            if isinstance(call_sids, pa.Array)
            else pa.array(list(call_sids), pa.large_string())
        )
        wanted = pc.unique(given.cast(pa.string()).drop_null())
        if len(wanted) <= _DIRECT_LOOKUP:
            located = self._read_retrying(
                lambda: read_rows(self._index.locate(account_sid, wanted))
            )
            table = file_to_segment(located)
        else:
            table = self.account_table(account_sid)
        # Put the rows in the order asked for (vectorised: a hash join in Arrow).
        where = pc.index_in(wanted.cast(pa.large_string()), value_set=table.column("call_sid"))
        return table.take(where.filter(where.is_valid()))

    def get_frame(
        self,
        account_sid: str,
        call_sids: Iterable[str] | pa.Array | None = None,
        *,
        price_unit: str = "EUR",
    ) -> pd.DataFrame:
        """Return stored calls as a typed frame (the columns and dtypes of calls_to_frame).

        With ``call_sids``: those calls, in that order, skipping SIDs not stored (and
        duplicates). Without: every stored call of the account, newest first.
        """
        _check_unit(price_unit)
        if call_sids is None:  # the categoricals' codes straight from Parquet's dictionaries
            table = self.account_table(account_sid, dictionaries=True)
        else:
            table = self.get_table(account_sid, call_sids)
        return frame_from_table(table, price_unit=price_unit)

    def history_table(
        self, account_sid: str, *, since_us: int | None, upto_us: int, exclude: Iterable[str]
    ) -> pa.Table:
        """Return stored calls created in ``[since_us, upto_us]``, not in ``exclude``, newest
        first in the order the history lists them (Arrow table of the stored columns)."""
        table = self.account_table(account_sid)
        created = table.column("created")
        keep = pc.less_equal(created, upto_us)
        if since_us is not None:
            keep = pc.and_(keep, pc.greater_equal(created, since_us))
        skip = pa.array(list(exclude), pa.large_string())
        if len(skip):
            keep = pc.and_(keep, pc.invert(pc.is_in(table.column("call_sid"), value_set=skip)))
        return table.filter(keep.fill_null(False))  # still newest first
