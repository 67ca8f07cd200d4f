"""Typed call frames for the store: which rows may be kept, Arrow to frame, extra fields.

A frame served from the store equals the one :func:`~apifonica_nb.frame.calls_to_frame`
gives for the same API records: same columns, dtypes, categories, values and order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InvalidRequestError
from ..frame import CALL_DTYPES, FINAL_STATUSES, PRICE_UNITS, build_frame, calls_to_frame
from ._layout import _ARROW_TYPE, _CATEGORIES, _KINDS, _NAT


def settled_mask(df: pd.DataFrame) -> np.ndarray:
    """Which rows of a call frame may be stored: a final status and a price."""
    final = df["status"].astype("object").isin(FINAL_STATUSES).to_numpy(dtype=bool)
    priced = df["price"].notna().to_numpy(dtype=bool)
    return final & priced & df["call_sid"].notna().to_numpy(dtype=bool)


def parse_records(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Parse raw records for storing; their data-quality findings belong to the caller's frame.

    The verbs parse the same records again for the frame they return, which warns once.
    """
    return build_frame(records)[0]


def _check_unit(price_unit: str) -> None:
    if price_unit not in PRICE_UNITS:
        raise InvalidRequestError(
            f"unknown price_unit {price_unit!r}: use one of {', '.join(map(repr, PRICE_UNITS))}"
        )


def extras_json(records: list[dict[str, Any]]) -> list[str | None]:
    """Per record, the JSON of its fields that are not in CALL_DTYPES (None when none)."""
    out: list[str | None] = []
    for record in records:
        extra = {k: v for k, v in record.items() if k not in CALL_DTYPES}
        out.append(json.dumps(extra, default=str) if extra else None)
    return out


# -- Arrow -> the typed frame -----------------------------------------------------------------


def _categorical(arr: pa.Array, known: list[str]) -> pd.api.extensions.ExtensionArray:
    """Codes onto the fixed categories; unknown labels appended in order of first appearance."""
    n = len(arr)
    if n == 0:
        return pd.Categorical.from_codes(np.zeros(0, np.int64), dtype=pd.CategoricalDtype(known))
    if pa.types.is_dictionary(arr.type):
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.unify_dictionaries().combine_chunks() if arr.num_chunks > 1 else arr.chunk(0)
        position = {c: i for i, c in enumerate(known)}
        labels = arr.dictionary.to_pylist()
        if all(label in position for label in labels):
            remap = np.array([position[label] for label in labels] + [-1], dtype=np.int64)
            indices = np.asarray(arr.indices.fill_null(-1), dtype=np.int64)
            return pd.Categorical.from_codes(remap[indices], dtype=pd.CategoricalDtype(known))
        arr = arr.cast(arr.type.value_type)  # an unknown label: order of first appearance
    encoded = (
        pc.dictionary_encode(arr).combine_chunks()
        if isinstance(arr, pa.ChunkedArray)
        else pc.dictionary_encode(arr)
    )
    labels = encoded.dictionary.to_pylist()
    indices = np.asarray(encoded.indices.fill_null(-1), dtype=np.int64)
    position = {c: i for i, c in enumerate(known)}
    unknown = [i for i, label in enumerate(labels) if label not in position]
    if unknown:
        # Dictionary order is order of first appearance, as calls_to_frame appends them.
        for i in unknown:
            position[labels[i]] = len(position)
    categories = list(position)
    remap = np.array([position[label] for label in labels] + [-1], dtype=np.int64)
    return pd.Categorical.from_codes(remap[indices], dtype=pd.CategoricalDtype(categories))


def _ints(arr: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    mask = np.asarray(arr.is_null(), dtype=bool)
    values = np.asarray(arr.fill_null(0), dtype=np.int64)
    if not values.flags.writeable:
        values = values.copy()
    return values, mask


def frame_from_table(table: pa.Table, *, price_unit: str = "EUR") -> pd.DataFrame:
    """Turn an Arrow table of stored columns into the typed call frame, vectorised.

    The result has exactly the columns and dtypes of :func:`calls_to_frame` (``cost_eur``
    from ``price`` and ``price_unit``), then the undocumented extra fields, if any.
    """
    _check_unit(price_unit)
    n = table.num_rows
    out: dict[str, Any] = {}
    for name, kind in _KINDS.items():
        # Chunks as read (one per file and row group): strings stay Arrow's, zero-copy;
        # numbers are copied once, into numpy.
        column = table.column(name)
        arr = column if column.num_chunks else pa.array([], _ARROW_TYPE[kind])
        if kind == "text":
            out[name] = pd.array(arr, dtype="str")
        elif kind == "cat":
            out[name] = _categorical(arr, _CATEGORIES[name])
        elif kind == "time":
            values, mask = _ints(arr)
            values[mask] = _NAT
            out[name] = pd.array(values.view("M8[us]")).tz_localize("UTC")
        elif kind == "int":
            out[name] = pd.arrays.IntegerArray(*_ints(arr))
        elif kind == "bool":
            values, mask = _ints(arr)
            out[name] = pd.arrays.BooleanArray(values.astype(bool), mask)
        else:
            mask = np.asarray(arr.is_null(), dtype=bool)
            values = np.asarray(arr.fill_null(0.0), dtype=np.float64)
            out[name] = pd.arrays.FloatingArray(values, mask)
            if name == "price":
                # The same arithmetic as calls_to_frame, so values match to the last bit.
                out["cost_eur"] = pd.arrays.FloatingArray(values * PRICE_UNITS[price_unit], mask)
    frame = pd.DataFrame({c: out[c] for c in CALL_DTYPES}, index=pd.RangeIndex(n), copy=False)
    if table.column("extra").null_count < n:
        frame = _with_extras(frame, table_extras(table))
    return frame


def _with_extras(frame: pd.DataFrame, extras: list[dict[str, Any]]) -> pd.DataFrame:
    """Append the undocumented fields as columns, typed exactly as calls_to_frame types them."""
    if not any(extras):
        return frame
    typed = build_frame(extras)[0]  # no documented field in them: no finding to report
    extra_cols = typed.iloc[:, len(CALL_DTYPES) :]
    return pd.concat([frame, extra_cols.set_axis(frame.index)], axis=1)


def combine_frames(
    parts: Sequence[pd.DataFrame],
    *,
    extras: Sequence[Sequence[Mapping[str, Any]]],
    order: np.ndarray | None = None,
) -> pd.DataFrame:
    """Concatenate typed call frames (then take rows in ``order``), keeping the dtypes.

    Categoricals get one set of categories: the fixed ones of CALL_DTYPES first, then unknown
    labels in order of first appearance in the result, as :func:`calls_to_frame` orders them.
    ``extras`` (per part, per row, the undocumented fields: :func:`raw_extras`,
    :func:`table_extras`) rebuilds the extra columns exactly as :func:`calls_to_frame` would
    type them for all rows together. The index is a fresh RangeIndex.
    """
    if not parts:
        return calls_to_frame([])
    width = len(CALL_DTYPES)
    parts = [p.iloc[:, :width] for p in parts]
    pieces = []
    for part in parts:
        fixed = {}
        for name, known in _CATEGORIES.items():
            seen = (c for p in parts for c in p[name].cat.categories)
            fixed[name] = part[name].cat.set_categories(list(dict.fromkeys([*known, *seen])))
        pieces.append(part.assign(**fixed))
    frame = pd.concat(pieces, ignore_index=True)  # the same columns and dtypes in every part
    if order is not None:
        frame = frame.take(order).reset_index(drop=True)
    for name, known in _CATEGORIES.items():
        frame[name] = _canonical_categories(frame[name], known)
    rows = [dict(e) for part_extras in extras for e in part_extras]
    if order is not None:
        rows = [rows[i] for i in order.tolist()]
    return _with_extras(frame, rows)


def table_extras(table: pa.Table) -> list[dict[str, Any]]:
    """Per row of a stored-columns table, its undocumented fields (empty dicts when none)."""
    column = table.column("extra")
    if column.null_count == table.num_rows:
        return [{} for _ in range(table.num_rows)]
    return [json.loads(t) if t else {} for t in column.to_pylist()]


def raw_extras(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per raw API record, its fields that are not in CALL_DTYPES."""
    return [{k: v for k, v in r.items() if k not in CALL_DTYPES} for r in records]


def _canonical_categories(series: pd.Series, known: list[str]) -> pd.api.extensions.ExtensionArray:
    """Keep the fixed categories, then only the unknown ones present, by first appearance."""
    cat = series.array
    codes = np.asarray(cat.codes)
    k = len(known)
    uniq, first = np.unique(codes[codes >= k], return_index=True)
    ordered = uniq[np.argsort(first)]
    remap = np.full(len(cat.categories) + 1, -1, dtype=np.int64)  # the last slot keeps -1
    remap[:k] = np.arange(k)
    remap[ordered] = np.arange(k, k + len(ordered))
    categories = [*known, *(cat.categories[i] for i in ordered)]
    return pd.Categorical.from_codes(remap[codes], dtype=pd.CategoricalDtype(categories))
