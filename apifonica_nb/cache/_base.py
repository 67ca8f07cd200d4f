"""The store's folder, manifest and housekeeping: what :class:`~._store.CallStore` builds on.

:class:`StoreBase` opens (and checks, and migrates) a store folder, reads an account's files
newest first, and counts, lists and clears what is stored; the remembered history listings
live in its manifest.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Self, TypeVar
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import CacheError
from ._files import (
    NEWEST_FIRST,
    NO_MONTH,
    account_dir,
    newest_versions,
    part_files,
    partition_folders,
    read_parts,
)
from ._index import SidIndex
from ._layout import FILE_SCHEMA, file_to_segment
from ._manifest import Manifest
from ._paths import CACHE_DIR_ENV, cache_path, legacy_path

_READ_ATTEMPTS = 5
_T = TypeVar("_T")


class StoreBase:
    """A store folder opened and checked (see :class:`~apifonica_nb.cache.CallStore`)."""

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
        if old.is_file() and old != self.path:
            from ._legacy import migrate

            migrate(old, self.put_table, self._manifest.record_sync)

    def put_table(self, account_sid: str, table: pa.Table) -> int:
        """Store a table of settled calls (:class:`~apifonica_nb.cache.CallStore` writes)."""
        raise NotImplementedError

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

    @contextlib.contextmanager
    def _readable(self) -> Iterator[None]:
        """Turn a file that is not Parquet (corrupt, truncated by hand) into a CacheError."""
        try:
            yield
        except FileNotFoundError:
            raise
        except (pa.ArrowException, OSError) as exc:
            raise self._error(f"has a file that cannot be read ({exc})") from None

    def _retrying(self, read: Callable[[], _T]) -> _T:
        """Run a lock-free read, listing the files again if a merge removed one meanwhile."""
        for _ in range(_READ_ATTEMPTS):
            try:
                with self._readable():
                    return read()
            except FileNotFoundError:
                continue
        raise self._error("kept changing while being read; try again")

    def _read_retrying(self, read: Callable[[], pa.Table], *, dedupe: bool = True) -> pa.Table:
        """Read a table (one row per call unless ``dedupe=False``), retrying as above."""
        table = self._retrying(read)
        return newest_versions(table) if dedupe else table

    def account_table(self, account_sid: str, *, dictionaries: bool = False) -> pa.Table:
        """Every stored call of an account, newest first as the history lists them (an Arrow
        table of the stored columns). A month folder of one file is read as it is (its rows
        are in that order already); one of several is merged and sorted on the way.
        ``dictionaries`` keeps the categorical columns dictionary-encoded (for a frame)."""
        folders = partition_folders(self.path, account_sid)
        folders.sort(key=lambda f: f.name, reverse=True)
        folders.sort(key=lambda f: f.name.endswith(f"={NO_MONTH}"))  # no month last

        def read() -> pa.Table:
            parts, run = [], []  # run: files of consecutive one-file folders, read at once
            for folder in folders:
                files = part_files([folder])
                if len(files) == 1:
                    run.extend(files)
                    continue
                if run:
                    parts.append(read_parts(run, dictionaries=dictionaries))
                    run = []
                if files:
                    merged = newest_versions(read_parts(files, dictionaries=dictionaries))
                    parts.append(merged.take(pc.sort_indices(merged, sort_keys=NEWEST_FIRST)))
            if run:
                parts.append(read_parts(run, dictionaries=dictionaries))
            if not parts:
                return FILE_SCHEMA.empty_table()
            return (
                pa.concat_tables(parts).unify_dictionaries()
                if dictionaries
                else (pa.concat_tables(parts))
            )

        return file_to_segment(self._read_retrying(read, dedupe=False))

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

        names = {f.parent.name.split("=", 1)[1] for f in partition_folders(self.path)}
        return sorted(unquote(n) for n in names)

    def count(self, account_sid: str | None = None) -> int:
        """Return how many calls are stored (for one account, or all)."""
        if account_sid is None:
            return self._retrying(lambda: sum(self._index.count(a) for a in self.accounts()))
        return self._retrying(lambda: self._index.count(account_sid))

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
