"""Which file holds which call: the call SIDs of each Parquet file, kept per open store.

Files never change once written (a rewrite is a new file), so the index reads a file's SID
column once and, on each refresh, only lists the folders: new files are read, removed ones
dropped. A lookup is then a hash probe of the wanted SIDs against each file's column.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ._files import part_files, partition_folders


class SidIndex:
    """The call SIDs per file, for the accounts looked up so far (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._files: dict[str, dict[Path, pa.Array]] = {}

    def refresh(self, account_sid: str) -> dict[Path, pa.Array]:
        """List the account's files again; read the SIDs of the new ones."""
        known = self._files.setdefault(account_sid, {})
        files = part_files(partition_folders(self.root, account_sid))
        current = set(files)
        for gone in [p for p in known if p not in current]:
            del known[gone]
        for path in files:
            if path not in known:
                try:
                    column = pq.read_table(path, columns=["call_sid"]).column("call_sid")
                except FileNotFoundError:
                    continue  # compacted away meanwhile; its rows are in the new file
                known[path] = column.combine_chunks()
        return known

    def forget(self, account_sid: str | None = None) -> None:
        if account_sid is None:
            self._files.clear()
        else:
            self._files.pop(account_sid, None)

    def locate(self, account_sid: str, sids: pa.Array) -> dict[Path, pa.Array]:
        """Per file holding some of ``sids``: the row positions of those calls in it."""
        found: dict[Path, pa.Array] = {}
        if not len(sids):
            return found
        for path, column in self.refresh(account_sid).items():
            hit = pc.is_in(column, value_set=sids)
            if hit.true_count:
                found[path] = pc.indices_nonzero(hit)
        return found

    def present(self, account_sid: str, sids: pa.Array) -> pa.Array:
        """The distinct SIDs among ``sids`` that are stored."""
        if not len(sids):
            return sids
        parts = [
            pc.filter(column, pc.is_in(column, value_set=sids))
            for column in self.refresh(account_sid).values()
        ]
        if not parts:
            return pa.array([], pa.string())
        return pc.unique(pa.chunked_array(parts).combine_chunks())

    def count(self, account_sid: str) -> int:
        """How many distinct calls the account's files hold."""
        columns = list(self.refresh(account_sid).values())
        if not columns:
            return 0
        if len(columns) == 1:
            return len(columns[0])
        return int(pc.count_distinct(pa.chunked_array(columns)).as_py())
