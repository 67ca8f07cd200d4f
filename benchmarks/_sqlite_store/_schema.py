"""How the call store lays calls out: storage kind per column, SQL tables, segment schema.

Every other part of :mod:`apifonica_nb.cache` reads the layout from here, and the layout is
derived from :data:`~apifonica_nb.frame.CALL_DTYPES`, so a new column needs no edit here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from apifonica_nb.frame import CALL_DTYPES

#: ``PRAGMA application_id`` of our files ("APNB"), to tell them from other SQLite databases.
APPLICATION_ID = 0x41504E42
SCHEMA_VERSION = 1

_NAT = np.iinfo(np.int64).min

# Column -> storage kind, in CALL_DTYPES order (cost_eur is derived on load).
_KINDS: dict[str, str] = {}
for _name, _dtype in CALL_DTYPES.items():
    if _name == "cost_eur":
        continue
    if isinstance(_dtype, pd.CategoricalDtype):
        _KINDS[_name] = "cat"
    elif str(_dtype).startswith("datetime64"):
        _KINDS[_name] = "time"
    elif _dtype == "Int64":
        _KINDS[_name] = "int"
    elif _dtype == "Float64":
        _KINDS[_name] = "real"
    elif _dtype == "boolean":
        _KINDS[_name] = "bool"
    else:
        _KINDS[_name] = "text"
_SQL_TYPE = {"cat": "TEXT", "text": "TEXT", "time": "INTEGER", "int": "INTEGER"}
_SQL_TYPE.update(real="REAL", bool="INTEGER")
_ARROW_TYPE = {"cat": pa.large_string(), "text": pa.large_string(), "time": pa.int64()}
_ARROW_TYPE.update(int=pa.int64(), real=pa.float64(), bool=pa.int64())
_STORED = list(_KINDS)
#: What a segment holds: the stored columns plus the extra-fields JSON and the listing rank.
_SEGMENT_SCHEMA = pa.schema(
    [(name, _ARROW_TYPE[kind]) for name, kind in _KINDS.items()]
    + [("extra", pa.large_string()), ("tie_rank", pa.int64())]
)
_COLUMNS_SQL = ", ".join(f'"{c}"' for c in [*_STORED, "extra", "tie_rank"])
_CATEGORIES = {
    name: list(dtype.categories)
    for name, dtype in CALL_DTYPES.items()
    if isinstance(dtype, pd.CategoricalDtype)
}


def _schema_sql() -> list[str]:
    columns = ",\n    ".join(f'"{c}" {_SQL_TYPE[k]}' for c, k in _KINDS.items() if c != "call_sid")
    return [
        f"""CREATE TABLE calls (
    account TEXT NOT NULL,
    call_sid TEXT NOT NULL,
    {columns},
    extra TEXT,
    tie_rank INTEGER,
    version INTEGER NOT NULL,
    first_version INTEGER NOT NULL,
    stored_at INTEGER NOT NULL,
    UNIQUE (account, call_sid)
)""",
        "CREATE INDEX calls_by_version ON calls (account, version)",
        "CREATE TABLE segments (id INTEGER PRIMARY KEY, account TEXT NOT NULL, "
        "version_hi INTEGER NOT NULL, rows INTEGER NOT NULL, overlaps INTEGER NOT NULL, "
        "data BLOB NOT NULL)",
        "CREATE INDEX segments_by_account ON segments (account, version_hi)",
        "CREATE TABLE syncs (account TEXT NOT NULL, filters TEXT NOT NULL, "
        "range_start INTEGER NOT NULL, range_end INTEGER NOT NULL, watermark INTEGER NOT NULL, "
        "completed_at INTEGER NOT NULL, PRIMARY KEY (account, filters, range_start, range_end))",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
        "INSERT INTO meta VALUES ('version', 0)",
        f"PRAGMA application_id = {APPLICATION_ID}",
        f"PRAGMA user_version = {SCHEMA_VERSION}",
    ]


def empty_table() -> pa.Table:
    """An Arrow table of the stored columns with no rows."""
    return _SEGMENT_SCHEMA.empty_table()


_UPDATABLE = [*_STORED[1:], "extra"]
_UPSERT = (
    f"INSERT INTO calls (account, {_COLUMNS_SQL}, version, first_version, stored_at) "
    f"VALUES ({','.join('?' * (len(_STORED) + 6))}) "
    "ON CONFLICT (account, call_sid) DO UPDATE SET "
    + ", ".join(f'"{c}" = excluded."{c}"' for c in _UPDATABLE)
    + ", tie_rank = coalesce(excluded.tie_rank, calls.tie_rank)"
    ", version = excluded.version, stored_at = excluded.stored_at "
    # An unchanged call keeps its version, so the columnar segments need not be rebuilt.
    "WHERE ("
    + ", ".join(f'calls."{c}"' for c in _UPDATABLE)
    + ") IS NOT ("
    + ", ".join(f'excluded."{c}"' for c in _UPDATABLE)
    + ") OR (excluded.tie_rank IS NOT NULL AND excluded.tie_rank IS NOT calls.tie_rank)"
)


def _to_python(series: pd.Series, kind: str) -> list[Any]:
    """Turn a typed column into a list of Python values sqlite3 can bind (None for missing)."""
    if kind == "time":
        us = series.dt.as_unit("us").array.asi8
        values = us.astype(object)
        values[us == _NAT] = None
        return list(values.tolist())
    if kind == "cat":
        labels = np.array([*series.cat.categories, None], dtype=object)
        return list(labels[series.cat.codes.to_numpy()].tolist())
    values = series.array.to_numpy(dtype=object, na_value=None)
    if kind == "bool":
        return [None if v is None else int(v) for v in values]
    return list(values.tolist())
