"""Records in, one list (or Arrow array) of values per field out, in Arrow's C++ loop where
the values allow it (no I/O here)."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import InvalidRequestError
from .schema import CALL_DTYPES, STRING_FIELDS

__all__ = ["ARROW_ERRORS", "Values", "as_records", "field_values"]

LARGE_STR = pa.large_string()
#: What Arrow raises when values are not of the type asked for.
ARROW_ERRORS = (pa.ArrowException, TypeError, ValueError, UnicodeError, OverflowError)
#: A field's values: a list, or already an Arrow array.
Values: TypeAlias = "Sequence[Any] | pa.Array"

_ARROW_STRUCT = pa.struct([(k, LARGE_STR) for k in STRING_FIELDS])


def as_records(records: object) -> list[dict[str, Any]]:
    """Return the records as a list of dicts, or refuse them naming the first that is not one.

    Raises :class:`~apifonica_nb.errors.InvalidRequestError` when ``records`` is not an
    iterable of call dicts (a single dict, a string, a DataFrame, a number, None).
    """
    if isinstance(records, (str, bytes, Mapping, pd.DataFrame)) or not isinstance(
        records, Iterable
    ):
        hint = "; for a single call pass [call]" if isinstance(records, Mapping) else ""
        raise InvalidRequestError(
            f"records must be an iterable of call dicts, not a {type(records).__name__}{hint}"
        )
    items = records if type(records) is list else list(records)
    if set(map(type, items)) <= {dict}:
        return items
    out: list[dict[str, Any]] = []
    for i, r in enumerate(items):
        if isinstance(r, dict):
            out.append(r)
        elif isinstance(r, Mapping):
            out.append(dict(r))
        else:
            raise InvalidRequestError(
                f"record {i} is a {type(r).__name__}, not a call object (a dict); "
                "pass the dicts the API returned, one per call"
            )
    return out


def _uniform_values(
    records: list[dict[str, Any]], keys: list[str], wanted: list[str]
) -> list[list[Any]] | None:
    """Values of the ``wanted`` keys, if every record has exactly ``keys``; else None."""
    n, k = len(records), len(keys)
    if k < 2 or set(map(len, records)) != {k}:
        return None
    # Same length and every key present means the same key set. One row-wise pass, each
    # dict visited once while it is in cache; padding keeps ``pick`` returning a tuple.
    positions = [keys.index(w) for w in wanted]
    positions += [0] * max(0, 2 - len(positions))
    pick = operator.itemgetter(*positions)
    try:
        flat = np.fromiter(
            itertools.chain.from_iterable(map(pick, map(operator.itemgetter(*keys), records))),
            dtype=object,
            count=n * len(positions),
        )
    except KeyError:
        return None
    table = flat.reshape(n, len(positions))
    return [table[:, j].tolist() for j in range(len(wanted))]


def _arrow_fields(records: list[dict[str, Any]]) -> dict[str, pa.Array | list[Any]]:
    """Convert the string-like API fields straight from the dicts, in Arrow's C++ loop.

    A field holding something else than strings (a number, a dict) makes the conversion
    fail; then each field is tried alone and the failing ones come back as Python lists.
    """
    try:
        struct = pa.array(records, type=_ARROW_STRUCT)
    except ARROW_ERRORS:
        pass
    else:
        return {name: struct.field(i) for i, name in enumerate(STRING_FIELDS)}
    out: dict[str, pa.Array | list[Any]] = {}
    for name in STRING_FIELDS:
        try:
            out[name] = pa.array(records, type=pa.struct([(name, LARGE_STR)])).field(0)
        except ARROW_ERRORS:
            out[name] = list(map(dict.get, records, itertools.repeat(name)))
    return out


def field_values(
    records: list[dict[str, Any]],
) -> tuple[dict[str, pa.Array | list[Any]], list[str]]:
    """Return field -> values, and the undocumented fields in first-seen order.

    String-like API fields come as Arrow arrays (or lists when they hold other things);
    numbers and undocumented fields as lists, so their Python types can be checked.
    """
    if not records:
        return {}, []
    keys = list(records[0])
    python_keys = [k for k in keys if k not in STRING_FIELDS]
    values = _uniform_values(records, keys, python_keys)
    if values is None:  # records differ in their keys: the slower, general way
        keys = list(dict.fromkeys(itertools.chain.from_iterable(records)))
        python_keys = [k for k in keys if k not in STRING_FIELDS]
        values = [list(map(dict.get, records, itertools.repeat(k))) for k in python_keys]
    fields: dict[str, pa.Array | list[Any]] = dict(zip(python_keys, values, strict=True))
    fields.update(_arrow_fields(records))
    return fields, [k for k in keys if k not in CALL_DTYPES]
