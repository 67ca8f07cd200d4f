"""The call store: write settled calls as Parquet files, read them back, keep it compact.

:class:`CallStore` is the one writer and reader of the dataset (see :mod:`apifonica_nb.cache`
for its layout and duties); the Parquet side is :mod:`._files`, the lock and the remembered
history listings are the manifest's (:mod:`._manifest`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import CacheError
from ._files import (
    NEWEST_FIRST,
    NO_MONTH,
    account_dir,
    months,
    newest_versions,
    part_files,
    partition_folders,
    read_parts,
    sweep_tmp,
    write_part,
)
from ._frames import _check_unit, extras_json, frame_from_table, parse_records, settled_mask
from ._index import SidIndex
from ._layout import FILE_SCHEMA, file_to_segment, frame_to_file_table
from ._manifest import Manifest
from ._paths import CACHE_DIR_ENV, cache_path, legacy_path
from ._rewrite import changed_rows, compact_folder, remove_rows

_DIRECT_LOOKUP = 5000  # up to this many SIDs, read only the files holding them
_MAX_FILES = 8  # a month folder with more files than this is compacted
_READ_ATTEMPTS = 5


class CallStore:
    """The on-disk store of settled calls: a folder of Parquet files plus a small manifest.

    ``path`` (the dataset's root folder) defaults to :func:`cache_path`. Opening creates it if
    needed, checks it is this store and migrates the previous version's ``calls.sqlite3``
    next to it. Use it as a context manager (or call :meth:`close`).

    >>> with CallStore() as store:
    ...     store.put_records(client.account_sid, records)
    ...     df = store.get_frame(client.account_sid, sids, price_unit="EUR")
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, timeout: float = 30.0):
        self.path = Path(path) if path is not None else cache_path()
        self.timeout = timeout
        try:
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise CacheError(
                f"The call cache cannot be created at {self.path} ({exc}). Set {CACHE_DIR_ENV} "
                "to a folder you can write to, or pass cache=False to fetch without it."
            ) from None
        self._manifest = Manifest(self.path, timeout=timeout, error=self._error)
        self._index = SidIndex(self.path)
        old = legacy_path(self.path)
        if old.exists():
            from ._legacy import migrate

            migrate(old, self.put_table, self._manifest.record_sync)

    def __repr__(self) -> str:
        return f"CallStore(path={str(self.path)!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the manifest (every stored call is already in its file)."""
        self._manifest.close()

    def _error(self, what: str) -> CacheError:
        return CacheError(
            f"The call cache at {self.path} {what}. Reset it with ap.cache.clear() (it only "
            f"holds copies of calls, which will be fetched again) or delete that folder; set "
            f"{CACHE_DIR_ENV} to keep the cache elsewhere."
        )

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
            stored = newest_versions(self._read_located(where))
            table, replaced = changed_rows(table, stored)
        else:
            replaced = pa.array([], pa.string())
        if not table.num_rows:
            return
        folders = self._write_partitions(account_sid, table)
        if len(replaced):
            remove_rows(where, replaced)  # the new versions are written: drop the old
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

    def _read_located(self, where: dict[Path, pa.Array]) -> pa.Table:
        """The rows of each file at the given row numbers (reading only their row groups)."""
        parts = []
        for path, rows in where.items():
            handle = pq.ParquetFile(path)
            meta = handle.metadata
            starts = np.cumsum(
                [0] + [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
            )
            wanted = np.asarray(rows, dtype=np.int64)
            group = np.searchsorted(starts, wanted, side="right") - 1
            groups = np.unique(group).tolist()
            table = handle.read_row_groups(groups).cast(FILE_SCHEMA)
            offset = np.cumsum([0] + [int(starts[g + 1] - starts[g]) for g in groups])
            local = offset[np.searchsorted(groups, group)] + wanted - starts[group]
            parts.append(table.take(pa.array(local)))
        return pa.concat_tables(parts) if parts else FILE_SCHEMA.empty_table()

    @contextlib.contextmanager
    def _readable(self) -> Iterator[None]:
        """Turn a file that is not Parquet (corrupt, truncated by hand) into a CacheError."""
        try:
            yield
        except FileNotFoundError:
            raise
        except (pa.ArrowException, OSError) as exc:
            raise self._error(f"has a file that cannot be read ({exc})") from None

    def _read_retrying(self, read: Callable[[], pa.Table], *, dedupe: bool = True) -> pa.Table:
        """Run a read, listing the files again if a compaction removed one meanwhile."""
        for _ in range(_READ_ATTEMPTS):
            try:
                with self._readable():
                    table = read()
                    return newest_versions(table) if dedupe else table
            except FileNotFoundError:
                continue
        raise self._error("kept changing while being read; try again")

    def account_table(self, account_sid: str) -> pa.Table:
        """Every stored call of an account, newest first as the history lists them (an Arrow
        table of the stored columns). A month folder of one file is read as it is (its rows
        are in that order already); one of several is merged and sorted on the way."""
        folders = partition_folders(self.path, account_sid)
        folders.sort(key=lambda f: f.name, reverse=True)
        folders.sort(key=lambda f: f.name.endswith(f"={NO_MONTH}"))  # no month last

        def read() -> pa.Table:
            parts = []
            for folder in folders:
                files = part_files([folder])
                if len(files) == 1:
                    parts.append(read_parts(files))
                elif files:
                    merged = newest_versions(read_parts(files))
                    parts.append(merged.take(pc.sort_indices(merged, sort_keys=NEWEST_FIRST)))
            return pa.concat_tables(parts) if parts else FILE_SCHEMA.empty_table()

        return file_to_segment(self._read_retrying(read, dedupe=False))

    def cached_sids(self, account_sid: str, call_sids: Iterable[str]) -> set[str]:
        """Return which of ``call_sids`` are stored for the account."""
        sids = pa.array(list(dict.fromkeys(call_sids)), pa.string())
        with self._readable():
            return set(self._index.present(account_sid, sids).to_pylist())

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
                lambda: self._read_located(self._index.locate(account_sid, wanted))
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
        return frame_from_table(self.get_table(account_sid, call_sids), price_unit=price_unit)

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

    # -- syncs (for apifonica_nb.history.HistorySync) --------------------------------------

    def syncs(self, account_sid: str) -> list[dict[str, Any]]:
        """Return the complete history listings remembered for an account."""
        return self._manifest.syncs(account_sid)

    def record_sync(
        self, account_sid: str, filters: str, range_start: int, range_end: int, watermark: int
    ) -> None:
        """Remember a complete listing of a range (see ``apifonica_nb.history.HistorySync``)."""
        now = time.time_ns() // 1000
        self._manifest.record_sync(account_sid, filters, range_start, range_end, watermark, now)

    # -- housekeeping -----------------------------------------------------------------------

    def accounts(self) -> list[str]:
        """The account SIDs with stored calls."""
        from urllib.parse import unquote

        names = {f.parent.name.split("=", 1)[1] for f in partition_folders(self.path)}
        return sorted(unquote(n) for n in names)

    def count(self, account_sid: str | None = None) -> int:
        """Return how many calls are stored (for one account, or all)."""
        with self._readable():
            if account_sid is None:
                return sum(self._index.count(a) for a in self.accounts())
            return self._index.count(account_sid)

    def clear(self, account_sid: str | None = None) -> int:
        """Forget the stored calls (of one account, or all); return how many were removed."""
        with self._manifest.exclusive():
            try:
                removed = self.count(account_sid)
            except CacheError:
                removed = 0  # a file that cannot be read: removed all the same
            targets = (
                [account_dir(self.path, account_sid)]
                if account_sid is not None
                else [account_dir(self.path, a) for a in self.accounts()]
            )
            for folder in targets:
                shutil.rmtree(folder, ignore_errors=True)
        self._manifest.clear(account_sid)
        self._index.forget(account_sid)
        return removed

    def info(self) -> dict[str, Any]:
        """Return where the store is, how many calls and accounts it holds, and its size."""
        return {
            "path": str(self.path),
            "calls": self.count(),
            "accounts": len(self.accounts()),
            "size_bytes": sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file()),
        }
