"""Raw recording dicts in, one typed DataFrame out (no I/O): :data:`RECORDING_DTYPES`.

The same rules as the call frame, field by field: SIDs are stripped strings; ``from``/``to``
E.164 digits without ``+``; ``call_created``, ``record_created`` and ``exp_date`` RFC 2822 (or
ISO 8601) with the offset honoured, to UTC; ``direction`` the fixed categories; ``size`` (MB)
and ``price`` (storage, EUR) any finite number or numeric string; ``rec_url`` a string. A
value that does not fit becomes NA, counted as one finding (one warning) per field. One row
per ``record_sid`` (a recording listed twice is one row; ``attrs["duplicates"]`` counts them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from .categories import categorical
from .dates import date_column, utc_array
from .findings import Finding, FindingCounter, example_of, warn_findings
from .numbers import number_column
from .text import arrow_strings, str_array, string_column
from .vocab import DIRECTIONS

__all__ = ["RECORDING_DTYPES", "build_recordings", "recordings_to_frame"]

_STR = "str"
_UTC = "datetime64[us, UTC]"

#: Column -> dtype of :func:`recordings_to_frame`'s frame, in column order.
RECORDING_DTYPES: dict[str, object] = {
    "record_sid": _STR,
    "call_sid": _STR,
    "account_sid": _STR,
    "number_sid": _STR,
    "call_created": _UTC,
    "record_created": _UTC,
    "exp_date": _UTC,
    "from": _STR,
    "to": _STR,
    "direction": pd.CategoricalDtype(list(DIRECTIONS)),
    "size": "Float64",
    "price": "Float64",
    "rec_url": _STR,
}
_IDS = ("record_sid", "call_sid", "account_sid", "number_sid")
_DATES = ("call_created", "record_created", "exp_date")


def _urls(values: list[Any], found: FindingCounter) -> Any:
    texts = [v.strip() or None if isinstance(v, str) else None for v in values]
    wrong = [v for v in values if v is not None and not isinstance(v, str)]
    found.add(
        "rec_url",
        len(wrong),
        "values were not strings and became NA",
        example_of(wrong[0]) if wrong else "",
    )
    return str_array(arrow_strings(texts))


def build_recordings(records: Iterable[dict[str, Any]]) -> tuple[pd.DataFrame, list[Finding]]:
    """Return the typed recordings frame and what was ruled out (never warns)."""
    rows = [r for r in records if isinstance(r, dict)]
    found = FindingCounter(len(rows))
    columns: dict[str, Any] = {}
    for name in RECORDING_DTYPES:
        values = [r.get(name) for r in rows]
        if name in _IDS or name in ("from", "to"):
            columns[name] = str_array(string_column(name, values, found))
        elif name in _DATES:
            columns[name] = utc_array(date_column(name, values, found))
        elif name == "direction":
            columns[name] = categorical(name, values, found)
        elif name == "rec_url":
            columns[name] = _urls(values, found)
        else:
            numbers, missing = number_column(name, values, False, found)
            columns[name] = pd.arrays.FloatingArray(np.where(missing, 0.0, numbers), missing)
    df = pd.DataFrame(columns, index=pd.RangeIndex(len(rows)))
    repeated = df["record_sid"].notna() & df["record_sid"].duplicated()
    df = df[~repeated].reset_index(drop=True)
    df.attrs["duplicates"] = int(repeated.sum())
    return df, found.findings()


def recordings_to_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Turn recording dicts (as the API gives them) into the typed frame; warn once per field.

    >>> df = recordings_to_frame(client.iter_recordings())  # doctest: +SKIP
    >>> df[["record_sid", "record_created", "size"]]  # doctest: +SKIP
    """
    df, findings = build_recordings(records)
    warn_findings(findings, stacklevel=2)
    df.attrs["warnings"] = [f.message() for f in findings]
    return df
