"""Turn raw call dicts from the API into one typed pandas DataFrame (no I/O here).

:func:`build_frame` is built for a million records in a few seconds, so nothing loops over
rows in Python on the usual path: string-like fields go from the dicts to Arrow in Arrow's
own loop, canonical RFC 2822 dates are parsed arithmetically on a byte matrix, and
``destination_country`` asks ``phonenumbers`` once per country code or number block. Python
only looks value by value at what those fast paths refuse (odd spellings, wrong types).
It never warns: what it ruled out comes back as findings, and :func:`calls_to_frame`, the
public edge, turns them into one warning per field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .categories import categorical
from .dates import NAT, US_PER_S, date_column, utc_array
from .dedupe import deduplicate, duplicated_example
from .fields import Values, as_records, field_values
from .findings import Finding, FindingCounter, example_of, warn_findings
from .numbers import number_column
from .phones import number_regions
from .schema import API_FIELDS, DATE_FIELDS, DERIVED_FIELDS, FLOAT_FIELDS, INT_FIELDS
from .text import arrow_strings, str_array, string_column
from .vocab import DIRECTIONS, FINAL_STATUSES, VOCABULARIES, check_price_unit

__all__ = ["build_frame", "calls_to_frame"]

_NONE_TYPE = type(None)


def _extra_column(values: list[Any]) -> Any:
    """Type an undocumented field: ``str`` for strings, else a nullable dtype pandas infers."""
    kinds = set(map(type, values)) - {_NONE_TYPE}
    if kinds <= {str}:
        return str_array(arrow_strings(values))
    obj = np.fromiter(values, dtype=object, count=len(values))
    try:
        arr = pd.array(obj)
    except (TypeError, ValueError, OverflowError):
        return pd.arrays.NumpyExtensionArray(obj)
    if isinstance(arr.dtype, pd.StringDtype):
        return arr.astype("str")
    return arr


def _masked_float(values: np.ndarray, mask: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """Wrap float64 values and a missing mask as a ``Float64`` array."""
    return pd.arrays.FloatingArray(np.where(mask, 0.0, values).astype(np.float64), mask)


def _seconds_between(
    start: np.ndarray, end: np.ndarray, field: str, found: FindingCounter, order: str
) -> pd.api.extensions.ExtensionArray:
    """Seconds from ``start`` to ``end`` as Float64: NA where either is missing or end < start."""
    mask = (start == NAT) | (end == NAT)
    delta = np.where(mask, 0, end - start)
    backwards = delta < 0
    if backwards.any():
        example = example_of(float(delta[np.argmax(backwards)] / US_PER_S))
        found.add(
            field, int(backwards.sum()), f"values were negative ({order}) and became NA", example
        )
        mask = mask | backwards
    return _masked_float(delta / US_PER_S, mask)


def _destination_country(
    from_arr: pa.Array, to_arr: pa.Array, direction: pd.Categorical
) -> pa.Array:
    """ISO region of ``to`` for outbound calls and of ``from`` for inbound ones (else null)."""
    codes = np.asarray(direction.codes)
    outbound = codes == DIRECTIONS.index("outbound")
    known = outbound | (codes == DIRECTIONS.index("inbound"))
    return number_regions(pc.if_else(pa.array(outbound, mask=~known), to_arr, from_arr))


def _is_final(status: pd.Categorical) -> pd.api.extensions.ExtensionArray:
    """True for final statuses, False for the others (unknown ones too), NA without status."""
    final_of_category = np.array([c in FINAL_STATUSES for c in status.categories], dtype=bool)
    codes = np.asarray(status.codes)
    return pd.arrays.BooleanArray(final_of_category[np.maximum(codes, 0)] & (codes >= 0), codes < 0)


def build_frame(
    records: Iterable[Mapping[str, Any]], *, price_unit: str = "EUR"
) -> tuple[pd.DataFrame, list[Finding]]:
    """Build the typed call frame, one row per record in order, and say what was ruled out.

    Pure: it never warns and never modifies its input. Returns the frame (columns and dtypes
    of :data:`~apifonica_nb.frame.CALL_DTYPES`, then undocumented fields as extra columns in
    first-seen order) and the :class:`~apifonica_nb.frame.Finding` list: per field, how many
    values were not in the documented form and became NA, with an example. Rows are not
    merged: :func:`calls_to_frame` adds that (see :func:`~apifonica_nb.frame.deduplicate`).
    Raises :class:`~apifonica_nb.errors.InvalidRequestError` for records that are not an
    iterable of dicts and for an unknown ``price_unit``.
    """
    factor = check_price_unit(price_unit)
    rows = as_records(records)
    n = len(rows)
    columns, extras = field_values(rows)
    found = FindingCounter(n)
    nulls: list[Any] = [None] * n

    def field(name: str) -> Values:
        return columns.get(name, nulls)

    out: dict[str, Any] = {}
    arrow: dict[str, pa.Array] = {}
    micros: dict[str, np.ndarray] = {}
    cats: dict[str, pd.Categorical] = {}
    price = price_missing = np.zeros(0)
    for name in API_FIELDS:
        values = field(name)
        if name in DATE_FIELDS:
            micros[name] = date_column(name, values, found)
            out[name] = utc_array(micros[name])
        elif name in VOCABULARIES:
            cats[name] = out[name] = categorical(name, values, found)
        elif name in INT_FIELDS:
            out[name] = pd.arrays.IntegerArray(*number_column(name, values, True, found))
        elif name in FLOAT_FIELDS:
            price, price_missing = number_column(name, values, False, found)
            out[name] = _masked_float(price, price_missing)
        else:
            arrow[name] = string_column(name, values, found)
            out[name] = str_array(arrow[name])

    found.add(
        "call_sid",
        arrow["call_sid"].null_count,
        "records had no call_sid; each is kept as a row of its own, never merged",
    )
    for name in DERIVED_FIELDS:  # a field the API names like a derived column is replaced
        given = [v for v in columns.get(name, ()) if v is not None]
        what = "records carried this field; the derived column replaces it"
        found.add(name, len(given), what, example_of(given[0]) if given else "")
    out["cost_eur"] = _masked_float(price * factor, price_missing)
    out["setup_seconds"] = _seconds_between(
        micros["created"], micros["started"], "setup_seconds", found, "started before created"
    )
    out["talk_seconds"] = _seconds_between(
        micros["started"], micros["ended"], "talk_seconds", found, "ended before started"
    )
    out["is_final"] = _is_final(cats["status"])
    out["destination_country"] = str_array(
        _destination_country(arrow["from"], arrow["to"], cats["direction"])
    )
    for name in extras:
        out[name] = _extra_column(list(columns[name]))
    frame = pd.DataFrame(out, index=pd.RangeIndex(n), copy=False)
    return frame, found.findings()


def calls_to_frame(
    records: Iterable[Mapping[str, Any]], *, price_unit: str = "EUR"
) -> pd.DataFrame:
    """Build the typed call DataFrame from API call dicts, one row per call.

    Columns, in order, with the dtypes of :data:`~apifonica_nb.frame.CALL_DTYPES`:
    ``call_sid``, ``parent_call_sid``, ``account_sid``, ``number_sid`` (str); ``created``,
    ``updated``, ``started``, ``ended`` (``datetime64[us, UTC]``, parsed from RFC 2822 with
    the offset honoured, or ISO 8601 with an offset); ``from``, ``to`` (str, E.164 digits
    without ``+``); ``direction``, ``status``, ``channel`` (categoricals with the documented
    categories, matched ignoring case; unknown values kept as they came, appended, never
    dropped); ``duration``, ``timeout`` (Int64, whole seconds, 0 or more); ``price``
    (Float64, the raw value); ``controller``, ``method`` (``GET``/``POST``), ``record_sid``,
    ``tag`` (str); then the derived ``cost_eur`` (Float64), ``setup_seconds`` (created ->
    started) and ``talk_seconds`` (started -> ended) (Float64; ``duration`` is kept as the
    API gives it), ``is_final`` (boolean, NA without a status) and ``destination_country``
    (ISO 3166 region of ``to`` for outbound calls, of ``from`` for inbound ones, via
    ``phonenumbers``). Fields the API adds later follow as extra columns, in first-seen order.

    Every value is in that documented form or NA: what was ruled out (a word for a number,
    ``"anonymous"`` for a phone number, a date without an offset, a call that ends before it
    starts...) becomes NA with one :class:`~apifonica_nb.errors.DataQualityWarning` per field
    naming the field, the count and an example. See :mod:`apifonica_nb.frame` for the rules
    per column.

    One row per ``call_sid``: rows that repeat one (overlapping pages, a SID asked twice) are
    merged by :func:`~apifonica_nb.frame.deduplicate` (the most recent ``updated`` wins, then
    the later row), ``df.attrs["duplicates"]`` says how many rows were merged (0 when none) and
    a warning says so. A record without a ``call_sid`` is kept as a row of its own, with a
    warning: nothing identifies it, so it is never merged with another.

    Price unit: ``price`` is EUR by default, though the vendor's page says "EURO cents" (every
    other money field of the API is EUR; see apifonica-api.md). ``price_unit="cents"``
    divides by 100 for ``cost_eur``; ``price`` itself always stays raw.

    Records that are not an iterable of dicts and an unknown ``price_unit`` raise
    :class:`~apifonica_nb.errors.InvalidRequestError`. The input is never modified.

    Example::

        df = calls_to_frame(client.iter_calls(status="completed"))
        df.groupby("destination_country")["cost_eur"].sum()
        calls_to_frame([]).dtypes  # the same schema, zero rows
    """
    built, findings = build_frame(records, price_unit=price_unit)
    df, merged = deduplicate(built)
    if merged:
        example = example_of(duplicated_example(built))
        what = "rows repeated a call_sid and were merged (the most recent updated wins)"
        findings.append(Finding("call_sid", merged, len(built), what, example))
    df.attrs["duplicates"] = merged
    warn_findings(findings, stacklevel=2)
    return df
