"""Turn raw call dicts from the API into one typed pandas DataFrame (no I/O here).

:func:`calls_to_frame` is built for a million records in a few seconds, so nothing loops
over rows in Python on the usual path: string-like fields go from the dicts to Arrow in
Arrow's own loop, canonical RFC 2822 dates are parsed arithmetically on a byte matrix,
and ``destination_country`` asks ``phonenumbers`` once per country code or number block.
Python only looks value by value at what those fast paths refuse (odd date spellings,
wrong types), and at the numbers, whose Python types decide what is valid. The date parser
lives in :mod:`apifonica_nb._dates` and the phone-number lookup in :mod:`apifonica_nb._phones`;
this module holds the schema, turns each field into a column and builds the frame.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import itertools
import numbers
import operator
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# Dates and phone numbers are parsed in modules of their own. _parse_date_text is imported
# only to keep ``apifonica_nb.records._parse_date_text`` working for the tests that check
# the date parsers against the standard library by that path.
from apifonica_nb._dates import (
    _EPOCH,
    _NAT,
    _US_PER_S,
    _parse_date_text,  # noqa: F401
    _parse_dates,
    _utc_array,
)
from apifonica_nb._phones import _number_regions
from apifonica_nb.errors import DataQualityWarning, ResponseFormatError

__all__ = [
    "CALL_DTYPES",
    "CHANNELS",
    "DIRECTIONS",
    "FINAL_STATUSES",
    "PRICE_UNITS",
    "STATUSES",
    "STATUS_DESCRIPTIONS",
    "calls_to_frame",
]

#: Every status the vendor documents, in lifecycle order. Unknown ones are kept, appended.
STATUSES: tuple[str, ...] = (
    "queued",
    "initiated",
    "ringing",
    "answered",
    "modified",
    "completed",
    "no_answer",
    "canceled",
    "busy",
    "rejected",
    "failed",
)
#: Statuses after which a call never changes again (``modified`` is not one of them).
FINAL_STATUSES: frozenset[str] = frozenset(
    {"completed", "no_answer", "canceled", "busy", "rejected", "failed"}
)
#: The vendor's meaning of each status (from its "Call status" table), in lifecycle order.
STATUS_DESCRIPTIONS: dict[str, str] = {
    "queued": "The call is ready and waiting in line before going out.",
    "initiated": "The call has been started.",
    "ringing": "The call is currently ringing to the number 'to'.",
    "answered": "The call was answered and is currently in progress.",
    "modified": "The call was modified by the API function Modify live call.",
    "completed": "The call was answered and has ended normally.",
    "no_answer": "The call ended without being answered.",
    "canceled": "The call was canceled by the initiating party before getting answered.",
    "busy": "The caller received a busy signal.",
    "rejected": "The call was canceled while queued or ringing.",
    "failed": "The call could not be completed as dialed, most likely a non-existent number.",
}
DIRECTIONS: tuple[str, ...] = ("inbound", "outbound")
CHANNELS: tuple[str, ...] = ("number", "viber")
#: ``price`` unit -> factor that turns it into euros.
PRICE_UNITS: dict[str, float] = {"EUR": 1.0, "cents": 0.01}

_STR = "str"  # pandas 3's default string dtype (Arrow-backed, NaN for missing)
_UTC = "datetime64[us, UTC]"

#: Column -> dtype of the frame :func:`calls_to_frame` returns, in column order.
#: API fields first (as the API names them), then derived columns.
CALL_DTYPES: dict[str, object] = {
    "call_sid": _STR,
    "parent_call_sid": _STR,
    "account_sid": _STR,
    "number_sid": _STR,
    "created": _UTC,
    "updated": _UTC,
    "started": _UTC,
    "ended": _UTC,
    "from": _STR,
    "to": _STR,
    "direction": pd.CategoricalDtype(list(DIRECTIONS)),
    "status": pd.CategoricalDtype(list(STATUSES)),
    "channel": pd.CategoricalDtype(list(CHANNELS)),
    "duration": "Int64",
    "price": "Float64",
    "timeout": "Int64",
    "controller": _STR,
    "method": _STR,
    "record_sid": _STR,
    "tag": _STR,
    # derived
    "cost_eur": "Float64",
    "setup_seconds": "Float64",
    "talk_seconds": "Float64",
    "is_final": "boolean",
    "destination_country": _STR,
}

_DERIVED = ("cost_eur", "setup_seconds", "talk_seconds", "is_final", "destination_country")
_DATE_FIELDS = ("created", "updated", "started", "ended")
_INT_FIELDS = ("duration", "timeout")
_FLOAT_FIELDS = ("price",)
_CATEGORIES: dict[str, tuple[str, ...]] = {
    "direction": DIRECTIONS,
    "status": STATUSES,
    "channel": CHANNELS,
}
_API_FIELDS = tuple(k for k in CALL_DTYPES if k not in _DERIVED)

# Fields converted to Arrow straight from the dicts (everything but the numbers).
_ARROW_FIELDS = tuple(k for k in _API_FIELDS if k not in _INT_FIELDS + _FLOAT_FIELDS)
_ARROW_STRUCT = pa.struct([(k, pa.large_string()) for k in _ARROW_FIELDS])
_ARROW_ERRORS = (pa.ArrowException, TypeError, ValueError, UnicodeError, OverflowError)
_Values: TypeAlias = "Sequence[Any] | pa.Array"  # a list, or already an Arrow array

_LARGE_STR = pa.large_string()
_NONE_TYPE = type(None)
# Bytes that may start or end a string that needs stripping: ASCII whitespace and controls,
# and any byte of a multi-byte UTF-8 character (Unicode spaces such as U+00A0).
_MAYBE_SPACE = np.zeros(256, dtype=bool)
_MAYBE_SPACE[:33] = True
_MAYBE_SPACE[0x7F:] = True


class _Issues:
    """Count, per field, the values that had the wrong type or form and became NA."""

    def __init__(self) -> None:
        self.counts: dict[str, tuple[int, str]] = {}

    def add(self, field: str, count: int, what: str) -> None:
        if count:
            self.counts[field] = (self.counts.get(field, (0, ""))[0] + count, what)

    def warn(self, total: int) -> None:
        # One warning per field, so a million bad prices make one line, not a million.
        for field, (count, what) in self.counts.items():
            warnings.warn(
                f"{field}: {count} of {total} values were not {what} and became NA",
                DataQualityWarning,
                stacklevel=3,
            )


# --------------------------------------------------------------------------- records -> columns


def _as_records(records: Iterable[Any]) -> list[dict[str, Any]]:
    """Return the records as a list of dicts, or raise naming the first record that is not one."""
    if isinstance(records, (str, bytes, Mapping, pd.DataFrame)):
        raise TypeError(
            f"records must be an iterable of call dicts, not a {type(records).__name__}; "
            "for a single call pass [call]"
        )
    items = records if type(records) is list else list(records)
    kinds = set(map(type, items))
    if kinds <= {dict}:
        return items
    out: list[dict[str, Any]] = []
    for i, r in enumerate(items):
        if isinstance(r, dict):
            out.append(r)
        elif isinstance(r, Mapping):
            out.append(dict(r))
        else:
            raise ResponseFormatError(
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
    except _ARROW_ERRORS:
        pass
    else:
        return {name: struct.field(i) for i, name in enumerate(_ARROW_FIELDS)}
    out: dict[str, pa.Array | list[Any]] = {}
    for name in _ARROW_FIELDS:
        try:
            out[name] = pa.array(records, type=pa.struct([(name, _LARGE_STR)])).field(0)
        except _ARROW_ERRORS:
            out[name] = list(map(dict.get, records, itertools.repeat(name)))
    return out


def _fields(records: list[dict[str, Any]]) -> tuple[dict[str, pa.Array | list[Any]], list[str]]:
    """Return field -> values, and the undocumented fields in first-seen order.

    String-like API fields come as Arrow arrays (or lists when they hold other things);
    numbers and undocumented fields as lists, so their Python types can be checked.
    """
    if not records:
        return {}, []
    keys = list(records[0])
    python_keys = [k for k in keys if k not in _ARROW_FIELDS]
    values = _uniform_values(records, keys, python_keys)
    if values is None:  # records differ in their keys: the slower, general way
        keys = list(dict.fromkeys(itertools.chain.from_iterable(records)))
        python_keys = [k for k in keys if k not in _ARROW_FIELDS]
        values = [list(map(dict.get, records, itertools.repeat(k))) for k in python_keys]
    fields: dict[str, pa.Array | list[Any]] = dict(zip(python_keys, values, strict=True))
    fields.update(_arrow_fields(records))
    return fields, [k for k in keys if k not in CALL_DTYPES]


# --------------------------------------------------------------------------- strings


def _one_str(v: Any) -> str | None:
    """Return ``v`` as a string for a string column, or raise ValueError when it is not one."""
    if isinstance(v, str):
        return str(v)
    if isinstance(v, (bool, np.bool_)):
        raise ValueError(v)
    if isinstance(v, numbers.Integral):
        # Phone numbers sometimes arrive as JSON numbers: keep their digits.
        return str(int(v))
    if isinstance(v, (float, decimal.Decimal, numbers.Real)):
        f = float(v)
        if f != f:
            return None
        if not np.isfinite(f):
            raise ValueError(v)
        return str(int(f)) if f.is_integer() else repr(f)
    if isinstance(v, bytes):
        return v.decode("utf-8")
    raise ValueError(v)


def _clean_strings(values: Sequence[Any]) -> tuple[list[str | None], int]:
    """Coerce values to str or None one by one; count those that could not be."""
    out: list[str | None] = []
    bad = 0
    for v in values:
        if v is None or type(v) is str:
            out.append(v)
            continue
        try:
            out.append(_one_str(v))
        except (ValueError, UnicodeDecodeError):
            out.append(None)
            bad += 1
    return out, bad


def _arrow_strings(values: Sequence[Any]) -> pa.Array:
    """Build a large_string array; replace what UTF-8 cannot encode (lone surrogates)."""
    try:
        return pa.array(values, type=_LARGE_STR)
    except (pa.ArrowException, UnicodeError):
        fixed = [
            None if v is None else v.encode("utf-8", "replace").decode("utf-8") for v in values
        ]
        return pa.array(fixed, type=_LARGE_STR)


def _needs_strip(arr: pa.Array) -> bool:
    """Tell cheaply whether any string of ``arr`` may start or end with whitespace.

    Looks only at the first and last byte of each string; nulls and empty strings look at a
    neighbour's byte instead, which at worst triggers a needless (correct) strip.
    """
    bufs = arr.buffers()
    if len(arr) == 0 or bufs[2] is None or bufs[2].size == 0:
        return False
    offsets = np.frombuffer(bufs[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    if len(data) == 0:
        return False
    relative = offsets - offsets[0]
    first = np.minimum(relative[:-1], len(data) - 1)
    last = np.maximum(relative[1:] - 1, 0)
    return bool(_MAYBE_SPACE[data[first]].any() or _MAYBE_SPACE[data[last]].any())


def _string_column(name: str, values: _Values, issues: _Issues) -> pa.Array:
    """Turn a field into a stripped large_string array (numbers become their digits)."""
    try:
        arr = values if isinstance(values, pa.Array) else pa.array(values, type=_LARGE_STR)
    except _ARROW_ERRORS:
        cleaned, bad = _clean_strings(values)
        issues.add(name, bad, "strings")
        arr = _arrow_strings(cleaned)
    if _needs_strip(arr):
        arr = pc.utf8_trim_whitespace(arr)
    return arr


def _str_array(arr: pa.Array) -> pd.api.extensions.ExtensionArray:
    """Wrap an Arrow string array as pandas' ``str`` dtype without copying."""
    return pd.array(arr, dtype=_STR)


# --------------------------------------------------------------------------- categoricals


def _categorical(
    name: str, values: _Values, base: tuple[str, ...], issues: _Issues
) -> pd.Categorical:
    """Factorize a field onto the fixed categories, appending unknown values in seen order."""
    codes: np.ndarray
    uniques: Sequence[Any] | np.ndarray
    try:
        arr = values if isinstance(values, pa.Array) else pa.array(values, type=_LARGE_STR)
        encoded = pc.dictionary_encode(arr)
        codes = np.asarray(encoded.indices.fill_null(-1))
        uniques = encoded.dictionary.to_pylist()
    except _ARROW_ERRORS:
        assert not isinstance(values, pa.Array)
        try:  # not all strings: let pandas hash whatever they are
            codes, uniques = pd.factorize(np.fromiter(values, dtype=object, count=len(values)))
        except TypeError:  # unhashable junk (a dict, a list): clean it first
            cleaned, bad = _clean_strings(values)
            issues.add(name, bad, "strings")
            obj = np.fromiter(cleaned, dtype=object, count=len(cleaned))
            codes, uniques = pd.factorize(obj)
    categories = list(base)
    position = {c: i for i, c in enumerate(categories)}
    remap = np.full(len(uniques) + 1, -1, dtype=np.int64)  # last slot: missing stays missing
    bad_uniques = []
    for i, u in enumerate(uniques):
        try:
            label = _one_str(u)
        except (ValueError, UnicodeDecodeError):
            bad_uniques.append(i)
            continue
        label = label.strip() if label is not None else None
        if not label:  # "" and whitespace mean "not set", like null
            continue
        if not label.isascii():  # lone surrogates cannot become Arrow-backed categories
            label = label.encode("utf-8", "replace").decode("utf-8")
        if label not in position:
            position[label] = len(categories)
            categories.append(label)
        remap[i] = position[label]
    if bad_uniques:
        counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
        issues.add(name, int(counts[bad_uniques].sum()), "strings")
    final = remap[codes]  # codes == -1 picks the last slot, i.e. -1
    return pd.Categorical.from_codes(final, dtype=pd.CategoricalDtype(categories))


# --------------------------------------------------------------------------- numbers

_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _one_number(v: Any, integer: bool) -> int | float | None:
    """Return ``v`` as a number (None for missing); raise ValueError when it is not one."""
    if isinstance(v, str):
        s = v.strip()
        if not s:
            return None
        if not _NUMBER_RE.fullmatch(s):
            raise ValueError(v)
        if integer and s.lstrip("+-").isdigit():
            x: int | float = int(s)
        else:
            x = float(s)
    elif isinstance(v, (bool, np.bool_)):
        raise ValueError(v)  # a flag is not a count or an amount
    elif isinstance(v, numbers.Integral):
        x = int(v)
    elif isinstance(v, (numbers.Real, decimal.Decimal)):
        x = float(v)
        if x != x:  # NaN is how pandas spells missing
            return None
    else:
        raise ValueError(v)
    if isinstance(x, float):
        if not np.isfinite(x):
            raise ValueError(v)
        if integer:
            if not x.is_integer():
                raise ValueError(v)  # 18.5 seconds is not a whole count: do not round it
            x = int(x)
    if integer and not _INT64_MIN <= x <= _INT64_MAX:
        raise ValueError(v)
    return x


def _number_column(
    name: str, values: Sequence[Any], integer: bool, issues: _Issues
) -> tuple[np.ndarray, np.ndarray]:
    """Return (values, missing mask) of a numeric field as int64 or float64 arrays."""
    n = len(values)
    kinds = set(map(type, values))
    fast_kinds = {int, _NONE_TYPE} if integer else {int, float, _NONE_TYPE}
    if kinds <= fast_kinds:
        try:
            arr = pa.array(values, type=pa.int64() if integer else pa.float64(), from_pandas=True)
        except (pa.ArrowException, OverflowError):
            pass
        else:
            mask = np.asarray(arr.is_null()) if arr.null_count else np.zeros(n, dtype=bool)
            # A copy: pandas may write into it later, and Arrow memory is read-only.
            data = arr.fill_null(0).to_numpy(zero_copy_only=False, writable=True)
            if integer:
                return data, mask
            inf = np.isinf(data)
            if inf.any():
                issues.add(name, int(inf.sum()), "numbers")
                mask = mask | inf
                data = np.where(inf, 0.0, data)
            return data, mask
    out_list: list[int | float] = []
    mask_list: list[bool] = []
    bad = 0
    for v in values:
        if v is None:
            out_list.append(0)
            mask_list.append(True)
            continue
        try:
            x = _one_number(v, integer)
        except (ValueError, OverflowError, decimal.InvalidOperation):
            x = None
            bad += 1
        out_list.append(0 if x is None else x)
        mask_list.append(x is None)
    issues.add(name, bad, "whole numbers" if integer else "numbers")
    dtype = np.int64 if integer else np.float64
    return np.array(out_list, dtype=dtype), np.array(mask_list, dtype=bool)


# --------------------------------------------------------------------------- dates and countries


def _date_column(name: str, values: _Values, issues: _Issues) -> np.ndarray:
    """Parse a date field to int64 UTC microseconds with NaT for missing and invalid."""
    direct: dict[int, int] = {}
    bad = 0
    try:
        arr = values if isinstance(values, pa.Array) else pa.array(values, type=_LARGE_STR)
    except _ARROW_ERRORS:
        texts: list[str | None] = []
        for i, v in enumerate(values):
            if v is None or isinstance(v, str):
                texts.append(v)
                continue
            texts.append(None)
            if isinstance(v, _dt.datetime) and v.tzinfo is not None and v.utcoffset() is not None:
                direct[i] = (v - _EPOCH) // _dt.timedelta(microseconds=1)
            elif not (v is pd.NaT or (isinstance(v, float) and v != v)):
                bad += 1  # numbers, naive datetimes (no offset to honour), junk
        arr = _arrow_strings(texts)
    micros, bad_text = _parse_dates(arr)
    for i, us in direct.items():
        micros[i] = us
    issues.add(name, bad + bad_text, "RFC 2822 dates")
    return micros


def _destination_country(
    from_arr: pa.Array, to_arr: pa.Array, direction: pd.Categorical
) -> pa.Array:
    """ISO region of ``to`` for outbound calls and of ``from`` for inbound ones (else null)."""
    codes = np.asarray(direction.codes)
    outbound = codes == DIRECTIONS.index("outbound")
    known = outbound | (codes == DIRECTIONS.index("inbound"))
    return _number_regions(pc.if_else(pa.array(outbound, mask=~known), to_arr, from_arr))


# --------------------------------------------------------------------------- extra fields


def _extra_column(values: list[Any]) -> Any:
    """Type an undocumented field: ``str`` for strings, else a nullable dtype pandas infers."""
    kinds = set(map(type, values)) - {_NONE_TYPE}
    if kinds <= {str}:
        return _str_array(_arrow_strings(values))
    obj = np.fromiter(values, dtype=object, count=len(values))
    try:
        arr = pd.array(obj)
    except (TypeError, ValueError, OverflowError):
        return pd.arrays.NumpyExtensionArray(obj)
    if isinstance(arr.dtype, pd.StringDtype):
        return arr.astype(_STR)
    return arr


# --------------------------------------------------------------------------- the frame


def _masked_float(values: np.ndarray, mask: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """Wrap float64 values and a missing mask as a ``Float64`` array."""
    return pd.arrays.FloatingArray(np.where(mask, 0.0, values).astype(np.float64), mask)


def _seconds_between(start: np.ndarray, end: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """Seconds from ``start`` to ``end`` (int64 microseconds) as Float64, NA where either is NaT."""
    mask = (start == _NAT) | (end == _NAT)
    delta = np.where(mask, 0, end - start)
    return _masked_float(delta / _US_PER_S, mask)


def calls_to_frame(
    records: Iterable[Mapping[str, Any]], *, price_unit: str = "EUR"
) -> pd.DataFrame:
    """Build the typed call DataFrame from API call dicts, one row per call.

    Columns, in order, with the dtypes of :data:`CALL_DTYPES`: ``call_sid``,
    ``parent_call_sid``, ``account_sid``, ``number_sid`` (str); ``created``, ``updated``,
    ``started``, ``ended`` (``datetime64[us, UTC]``, parsed from RFC 2822 with the offset
    honoured); ``from``, ``to`` (str, E.164 digits as given); ``direction``, ``status``,
    ``channel`` (categoricals with the documented categories, unknown values appended, never
    dropped); ``duration``, ``timeout`` (Int64); ``price`` (Float64, the raw value);
    ``controller``, ``method``, ``record_sid``, ``tag`` (str); then the derived
    ``cost_eur`` (Float64), ``setup_seconds`` (created -> started) and ``talk_seconds``
    (started -> ended) (Float64; ``duration`` is kept as the API gives it), ``is_final``
    (boolean, NA without a status) and ``destination_country`` (ISO 3166 region of ``to`` for
    outbound calls, of ``from`` for inbound ones, via ``phonenumbers``). Fields the API adds
    later follow as extra columns, in first-seen order.

    Price unit: ``price`` is EUR by default, though the vendor's page says "EURO cents" (every
    other money field of the API is EUR; see apifonica-api.md). ``price_unit="cents"``
    divides by 100 for ``cost_eur``; ``price`` itself always stays raw.

    Missing keys and nulls become NA. Strings are stripped of surrounding whitespace; numbers
    given for strings (phone numbers) become their digits; numeric strings count as numbers.
    Values of the wrong type become NA with one :class:`~apifonica_nb.errors.DataQualityWarning`
    per field giving the count. A record that is not a dict raises
    :class:`~apifonica_nb.errors.ResponseFormatError`. The input is never modified.

    Example::

        df = calls_to_frame(client.iter_calls(status="completed"))
        df.groupby("destination_country")["cost_eur"].sum()
        calls_to_frame([]).dtypes  # the same schema, zero rows
    """
    if price_unit not in PRICE_UNITS:
        raise ValueError(
            f"unknown price_unit {price_unit!r}: use one of {', '.join(map(repr, PRICE_UNITS))}"
        )
    rows = _as_records(records)
    n = len(rows)
    columns, extras = _fields(rows)
    issues = _Issues()
    nulls: list[Any] = [None] * n

    def field(name: str) -> _Values:
        return columns.get(name, nulls)

    out: dict[str, Any] = {}
    arrow: dict[str, pa.Array] = {}
    micros: dict[str, np.ndarray] = {}
    cats: dict[str, pd.Categorical] = {}
    numeric: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in _API_FIELDS:
        values = field(name)
        if name in _DATE_FIELDS:
            micros[name] = _date_column(name, values, issues)
            out[name] = _utc_array(micros[name])
        elif name in _CATEGORIES:
            cats[name] = _categorical(name, values, _CATEGORIES[name], issues)
            out[name] = cats[name]
        elif name in _INT_FIELDS or name in _FLOAT_FIELDS:
            integer = name in _INT_FIELDS
            data, mask = _number_column(name, values, integer, issues)
            numeric[name] = (data, mask)
            out[name] = pd.arrays.IntegerArray(data, mask) if integer else _masked_float(data, mask)
        else:
            arrow[name] = _string_column(name, values, issues)
            out[name] = _str_array(arrow[name])

    price, price_missing = numeric["price"]
    out["cost_eur"] = _masked_float(price * PRICE_UNITS[price_unit], price_missing)
    out["setup_seconds"] = _seconds_between(micros["created"], micros["started"])
    out["talk_seconds"] = _seconds_between(micros["started"], micros["ended"])
    status = cats["status"]
    final_of_category = np.array([c in FINAL_STATUSES for c in status.categories], dtype=bool)
    status_codes = np.asarray(status.codes)
    out["is_final"] = pd.arrays.BooleanArray(
        final_of_category[np.maximum(status_codes, 0)] & (status_codes >= 0), status_codes < 0
    )
    out["destination_country"] = _str_array(
        _destination_country(arrow["from"], arrow["to"], cats["direction"])
    )
    for name in extras:
        out[name] = _extra_column(list(columns[name]))

    issues.warn(n)
    return pd.DataFrame(out, index=pd.RangeIndex(n), copy=False)
