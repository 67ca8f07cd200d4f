"""The call store: write settled calls, read them back, keep the columnar segments current.

:class:`CallStore` adds to the store file and its Arrow segments that make large loads fast
(:class:`._segments.SegmentedDatabase`) what is stored: typed rows keyed by (account SID, call
SID), the remembered history listings, and housekeeping.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from apifonica_nb.cache._frames import (
    _check_unit,
    extras_json,
    frame_from_table,
    parse_records,
    settled_mask,
)

from ._database import _is_busy, _now_us
from ._schema import _COLUMNS_SQL, _KINDS, _UPSERT, _to_python
from ._segments import SegmentedDatabase, _rows_to_table, _sort_newest_first

_DIRECT_LOOKUP = 5000  # up to this many SIDs, look rows up by key instead of loading segments
_IN_CHUNK = 500


class CallStore(SegmentedDatabase):
    """The on-disk store of settled calls (one SQLite file; see the module docstring).

    ``path`` defaults to :func:`cache_path`. Opening creates the file if needed and checks that
    it is this store; use it as a context manager (or call :meth:`close`).

    >>> with CallStore() as store:
    ...     store.put_records(client.account_sid, records)
    ...     df = store.get_frame(client.account_sid, sids, price_unit="EUR")
    """

    def __repr__(self) -> str:
        return f"CallStore(path={str(self.path)!r})"

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
        history listed them. A call already stored is updated only if a value changed.
        """
        keep = settled_mask(df)
        if not keep.any():
            return 0
        idx = np.flatnonzero(keep).tolist()
        part = df.iloc[idx]
        n = len(part)
        columns = [_to_python(part[name], kind) for name, kind in _KINDS.items()]
        extra_col = [extras[i] for i in idx] if extras is not None else [None] * n
        tie_col = [tie_ranks[i] for i in idx] if tie_ranks is not None else [None] * n
        stamp = _now_us()

        def body(conn: sqlite3.Connection) -> int:
            version = conn.execute(
                "UPDATE meta SET value = value + 1 WHERE key = 'version' RETURNING value"
            ).fetchone()[0]
            rows = zip(
                [account_sid] * n,
                *columns,
                extra_col,
                tie_col,
                [version] * n,
                [version] * n,
                [stamp] * n,
                strict=True,
            )
            conn.executemany(_UPSERT, rows)
            return n

        return self._write(body)

    # -- reading ----------------------------------------------------------------------------

    def cached_sids(self, account_sid: str, call_sids: Iterable[str]) -> set[str]:
        """Return which of ``call_sids`` are stored for the account."""
        sids = list(dict.fromkeys(call_sids))
        found: set[str] = set()

        def body(conn: sqlite3.Connection) -> None:
            for lo in range(0, len(sids), _IN_CHUNK):
                chunk = sids[lo : lo + _IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                found.update(
                    r[0]
                    for r in conn.execute(
                        f"SELECT call_sid FROM calls WHERE account = ? AND call_sid IN ({marks})",
                        (account_sid, *chunk),
                    )
                )

        self._read(body)
        return found

    def get_table(
        self, account_sid: str, call_sids: Iterable[str] | pa.Array | None = None
    ) -> pa.Table:
        """Return stored calls as an Arrow table of the stored columns (see :meth:`get_frame`)."""
        if call_sids is None:
            return _sort_newest_first(self.account_table(account_sid))
        given = (
            call_sids
            if isinstance(call_sids, pa.Array)
            else pa.array(list(call_sids), pa.large_string())
        )
        wanted = pc.unique(given.cast(pa.large_string()).drop_null())
        if len(wanted) <= _DIRECT_LOOKUP or len(wanted) * 20 < self._approx_rows(account_sid):
            table = self._lookup(account_sid, wanted.to_pylist())
        else:
            table = self.account_table(account_sid)
        # Put the rows in the order asked for (vectorised: a hash join in Arrow).
        where = pc.index_in(wanted, value_set=table.column("call_sid"))
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
        return _sort_newest_first(table.filter(keep.fill_null(False)))

    def _lookup(self, account_sid: str, sids: list[str]) -> pa.Table:
        """Read the rows of some SIDs straight from the typed table."""

        def body(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            rows: list[tuple[Any, ...]] = []
            for lo in range(0, len(sids), _IN_CHUNK):
                chunk = sids[lo : lo + _IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows += conn.execute(
                    f"SELECT {_COLUMNS_SQL} FROM calls WHERE account = ? AND call_sid IN ({marks})",
                    (account_sid, *chunk),
                ).fetchall()
            return rows

        return _rows_to_table(self._read(body))

    # -- syncs (for apifonica_nb.history.HistorySync) --------------------------------------

    def syncs(self, account_sid: str) -> list[dict[str, Any]]:
        """Return the complete history listings remembered for an account."""
        rows = self._conn.execute(
            "SELECT filters, range_start, range_end, watermark, completed_at FROM syncs "
            "WHERE account = ?",
            (account_sid,),
        ).fetchall()
        keys = ("filters", "range_start", "range_end", "watermark", "completed_at")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def record_sync(
        self, account_sid: str, filters: str, range_start: int, range_end: int, watermark: int
    ) -> None:
        """Remember a complete listing of a range (see ``apifonica_nb.history.HistorySync``)."""

        def body(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO syncs VALUES (?, ?, ?, ?, ?, ?)",
                (account_sid, filters, range_start, range_end, watermark, _now_us()),
            )

        self._write(body)

    # -- housekeeping -----------------------------------------------------------------------

    def count(self, account_sid: str | None = None) -> int:
        """Return how many calls are stored (for one account, or all)."""
        if account_sid is None:
            row = self._conn.execute("SELECT count(*) FROM calls").fetchone()
        else:
            row = self._conn.execute(
                "SELECT count(*) FROM calls WHERE account = ?", (account_sid,)
            ).fetchone()
        return int(row[0])

    def clear(self, account_sid: str | None = None) -> int:
        """Forget the stored calls (of one account, or all); return how many were removed."""

        def body(conn: sqlite3.Connection) -> int:
            where, args = ("WHERE account = ?", (account_sid,)) if account_sid else ("", ())
            removed = conn.execute(f"DELETE FROM calls {where}", args).rowcount
            conn.execute(f"DELETE FROM segments {where}", args)
            conn.execute(f"DELETE FROM syncs {where}", args)
            return int(removed)

        removed = self._write(body)
        if account_sid is None:
            try:  # give the space back; another process reading at this moment may prevent it
                self._conn.execute("VACUUM")
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
        return removed

    def info(self) -> dict[str, Any]:
        """Return where the store is, how many calls and accounts it holds, and its size."""
        calls, accounts = self._conn.execute(
            "SELECT count(*), count(DISTINCT account) FROM calls"
        ).fetchone()
        return {
            "path": str(self.path),
            "calls": int(calls),
            "accounts": int(accounts),
            "size_bytes": _size_on_disk(self.path),
        }


def _size_on_disk(path: Path) -> int:
    total = 0
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            total += os.path.getsize(f"{path}{suffix}")
    return total
