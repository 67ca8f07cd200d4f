"""How the call store lays calls out: storage kind per column and the Parquet schema.

Every other part of :mod:`apifonica_nb.cache` reads the layout from here, and the layout is
derived from :data:`~apifonica_nb.frame.CALL_DTYPES`, so a new column needs no edit here.
The files hold plain Parquet types (strings, ``timestamp[us, tz=UTC]``, int64, float64, bool)
that DuckDB, Polars and Spark read as they are; categoricals are stored as their labels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from ..frame import CALL_DTYPES

#: Version of the dataset's layout, kept in the manifest (``_store.sqlite3``).
SCHEMA_VERSION = 2
#: ``PRAGMA application_id`` of the manifest and of the previous version's store ("APNB").
APPLICATION_ID = 0x41504E42

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
_STORED = list(_KINDS)
_ARROW_TYPE = {"cat": pa.large_string(), "text": pa.large_string(), "time": pa.int64()}
_ARROW_TYPE.update(int=pa.int64(), real=pa.float64(), bool=pa.int64())
#: The in-memory table the store hands to the fetch verbs (``frame_from_table`` reads it):
#: the stored columns, the extra-fields JSON and the listing's tie rank.
_SEGMENT_SCHEMA = pa.schema(
    [(name, _ARROW_TYPE[kind]) for name, kind in _KINDS.items()]
    + [("extra", pa.large_string()), ("tie_rank", pa.int64())]
)
_FILE_TYPE = {"cat": pa.string(), "text": pa.string(), "time": pa.timestamp("us", tz="UTC")}
_FILE_TYPE.update(int=pa.int64(), real=pa.float64(), bool=pa.bool_())
#: What a Parquet file of the dataset holds (the partition columns are in its path).
FILE_SCHEMA = pa.schema(
    [(name, _FILE_TYPE[kind]) for name, kind in _KINDS.items()]
    + [
        ("extra", pa.string()),
        ("tie_rank", pa.int64()),
        ("stored_at", pa.timestamp("us", tz="UTC")),
    ]
)
_CATEGORIES = {
    name: list(dtype.categories)
    for name, dtype in CALL_DTYPES.items()
    if isinstance(dtype, pd.CategoricalDtype)
}


def empty_table() -> pa.Table:
    """An Arrow table of the stored columns with no rows."""
    return _SEGMENT_SCHEMA.empty_table()


def _column(series: pd.Series, kind: str) -> pa.Array:
    """One typed frame column as the Arrow array a file stores (vectorised)."""
    if kind == "time":
        us = series.dt.as_unit("us").array.asi8
        return pa.array(us, pa.int64(), mask=us == _NAT).cast(_FILE_TYPE[kind])
    if kind == "cat":
        codes = series.cat.codes.to_numpy()
        labels = pa.array(list(series.cat.categories), pa.string())
        return pa.DictionaryArray.from_arrays(
            pa.array(codes, pa.int32(), mask=codes < 0), labels
        ).cast(pa.string())
    if kind == "text":
        return pa.array(series.array, pa.string(), from_pandas=True)
    if kind == "bool":
        mask = series.isna().to_numpy()
        return pa.array(series.fillna(False).to_numpy(dtype=bool), pa.bool_(), mask=mask)
    mask = series.isna().to_numpy()
    dtype = np.int64 if kind == "int" else np.float64
    values = series.to_numpy(dtype=dtype, na_value=0)
    return pa.array(values, _FILE_TYPE[kind], mask=mask)


def frame_to_file_table(
    df: pd.DataFrame,
    *,
    extras: Sequence[str | None] | None,
    tie_ranks: Sequence[int | None] | None,
    stored_at_us: int,
) -> pa.Table:
    """A typed call frame (as ``calls_to_frame`` returns) as a table of :data:`FILE_SCHEMA`."""
    n = len(df)
    arrays = [_column(df[name], kind) for name, kind in _KINDS.items()]
    arrays.append(pa.array(list(extras) if extras is not None else [None] * n, pa.string()))
    arrays.append(pa.array(list(tie_ranks) if tie_ranks is not None else [None] * n, pa.int64()))
    stamp = pa.array(np.full(n, stored_at_us, dtype=np.int64)).cast(FILE_SCHEMA.field(-1).type)
    arrays.append(stamp)
    return pa.Table.from_arrays(arrays, schema=FILE_SCHEMA)


def file_to_segment(table: pa.Table) -> pa.Table:
    """A table read from the files (of :data:`FILE_SCHEMA`) as the in-memory stored table.

    Categorical columns read as dictionaries stay dictionaries (``frame_from_table`` turns
    them into codes without decoding a string)."""
    columns, fields = [], []
    for field in _SEGMENT_SCHEMA:
        col = table.column(field.name)
        if pa.types.is_dictionary(col.type) and _KINDS.get(field.name) == "cat":
            columns.append(col)
            fields.append(pa.field(field.name, col.type))
            continue
        if pa.types.is_timestamp(col.type) or pa.types.is_boolean(col.type):
            col = col.cast(pa.int64())
        columns.append(col.cast(field.type))
        fields.append(field)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))
