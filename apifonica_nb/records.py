"""Turn raw call dicts from the API into one typed pandas DataFrame (no I/O here).

:func:`calls_to_frame` is built for a million records in a few seconds, so nothing loops
over rows in Python on the usual path: string-like fields go from the dicts to Arrow in
Arrow's own loop, canonical RFC 2822 dates are parsed arithmetically on a byte matrix,
and ``destination_country`` asks ``phonenumbers`` once per country code or number block.
Python only looks value by value at what those fast paths refuse (odd date spellings,
wrong types), and at the numbers, whose Python types decide what is valid.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import functools
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

_NAT = np.iinfo(np.int64).min  # datetime64's NaT as an int64
_US_PER_S = 1_000_000
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


# --------------------------------------------------------------------------- dates

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_FULL_MONTHS = (
    "january february march april may june july august september october november december"
)
_MONTH_NUMBER: dict[str, int] = {m: i for i, m in enumerate(_MONTHS, 1)}
_MONTH_NUMBER.update({m: i for i, m in enumerate(_FULL_MONTHS.split(), 1)})
_MONTH_NUMBER["sept"] = 9
# Three lower-case ASCII letters packed into one int, sorted, for a vectorised lookup.
_MONTH_CODES = np.array(
    [(ord(m[0]) << 16) | (ord(m[1]) << 8) | ord(m[2]) for m in _MONTHS], dtype=np.int32
)
_MONTH_ORDER = np.argsort(_MONTH_CODES)
_MONTH_SORTED = _MONTH_CODES[_MONTH_ORDER]
# RFC 2822 zone names (including the obsolete US ones) -> offset in minutes.
_ZONES = dict(UT=0, UTC=0, GMT=0, Z=0, EST=-300, EDT=-240, CST=-360, CDT=-300)
_ZONES.update(MST=-420, MDT=-360, PST=-480, PDT=-420)
_DATE_RE = re.compile(
    r"""
    (?:[A-Za-z]{2,9}\.?\s*,?\s*)?                # weekday, ignored (it is sometimes wrong)
    (?P<day>\d{1,2})\s*[\s-]\s*
    (?P<month>[A-Za-z]{3,9})\.?\s*[\s-]\s*
    (?P<year>\d{4})\s+
    (?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?\s*
    (?:(?P<sign>[+-])(?P<oh>\d{2}):?(?P<om>\d{2})|(?P<zone>[A-Za-z]{1,3}))
    """,
    re.VERBOSE,
)
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
# The canonical form's last 26 bytes, "21 Apr 2017 13:01:25 +0000", and the byte range
# allowed at each position (month letters are checked by the lookup, the sign apart).
_TAIL = 26
_TAIL_LOW = np.frombuffer(b"00 AAA 0000 00:00:00 +0000", dtype=np.uint8)
_TAIL_SPAN = np.frombuffer(b"99 zzz 9999 99:99:99 -9999", dtype=np.uint8) - _TAIL_LOW


def _parse_date_text(text: str) -> int | None:
    """Parse one RFC 2822 date (and its common variants) to UTC microseconds; None if invalid.

    The row-wise fallback of :func:`_parse_dates`, and the reference it is tested against.
    """
    s = text.strip().strip("\"'").strip()
    m = _DATE_RE.fullmatch(s)
    if m is None:
        return None
    month = _MONTH_NUMBER.get(m["month"].lower())
    if month is None:
        return None
    if m["zone"] is not None:
        offset = _ZONES.get(m["zone"].upper())
        if offset is None:
            return None
    else:
        oh, om = int(m["oh"]), int(m["om"])
        if oh > 23 or om > 59:
            return None
        offset = (oh * 60 + om) * (-1 if m["sign"] == "-" else 1)
    second = int(m["second"] or 0)
    leap = second == 60  # RFC 2822 allows a leap second; datetime does not
    try:
        stamp = _dt.datetime(
            int(m["year"]),
            month,
            int(m["day"]),
            int(m["hour"]),
            int(m["minute"]),
            59 if leap else second,
            tzinfo=_dt.timezone(_dt.timedelta(minutes=offset)),
        )
    except ValueError:
        return None
    return (stamp - _EPOCH) // _dt.timedelta(microseconds=1) + leap * _US_PER_S


def _days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm)."""
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@functools.cache
def _calendar() -> tuple[np.ndarray, np.ndarray]:
    """Per month of years 1-9999 (index (year - 1) * 12 + month - 1): first day, length."""
    year = np.repeat(np.arange(1, 10001, dtype=np.int64), 12)
    month = np.tile(np.arange(1, 13, dtype=np.int64), 10000)
    first = _days_from_civil(year, month, np.ones_like(year))
    return first[:-12], np.diff(first)[: len(first) - 12]


def _parse_canonical(strings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parse rows of bytes ``[Www, ]DD Mon YYYY HH:MM:SS +HHMM``; return (microseconds, ok).

    ``strings`` is a (n, 31) or (n, 26) uint8 matrix. The weekday must look like one (three
    letters, comma, space) but is otherwise ignored: the vendor's are sometimes wrong.
    """
    # One contiguous row per byte position: numpy is far faster along rows than across
    # the short columns of each string.
    t = np.ascontiguousarray(strings.T)
    ok = np.ones(t.shape[1], dtype=bool)
    if len(t) > _TAIL:
        for i in range(3):
            ok &= ((t[i] | 0x20) - 97) <= 25
        ok &= (t[3] == 44) & (t[4] == 32)
        t = t[5:]
    for i in range(_TAIL):  # uint8 arithmetic: a byte below the range wraps above it
        ok &= (t[i] - _TAIL_LOW[i]) <= _TAIL_SPAN[i]
    sign = t[21]
    ok &= sign != 44  # "," sits between "+" and "-"
    # Lower-case the month letters (| 0x20 maps only A-Z onto a-z) and look them up.
    code = ((t[3] | 0x20).astype(np.int32) << 16) | ((t[4] | 0x20).astype(np.int32) << 8)
    code |= t[5] | 0x20
    pos = np.minimum(np.searchsorted(_MONTH_SORTED, code), 11)
    ok &= _MONTH_SORTED[pos] == code

    def pair(i: int) -> np.ndarray:
        return (t[i].astype(np.int32) - 48) * 10 + (t[i + 1] - 48)

    day, hour, minute, second = pair(0), pair(12), pair(15), pair(18)
    year = pair(7) * 100 + pair(9)
    off_h, off_m = pair(22), pair(24)
    ok &= year >= 1
    month_index = np.where(ok, (year - 1) * 12 + _MONTH_ORDER[pos], 0)
    first_day, month_length = _calendar()
    ok &= (day >= 1) & (day <= month_length[month_index])
    ok &= (hour < 24) & (minute < 60) & (second < 60) & (off_h < 24) & (off_m < 60)
    offset = (off_h * 3600 + off_m * 60) * (44 - sign.astype(np.int32))  # "+" 43, "-" 45
    seconds = (first_day[month_index] + (day - 1)) * 86400 + (
        hour * 3600 + minute * 60 + second - offset
    )
    return seconds * _US_PER_S, ok


def _parse_dates(arr: pa.Array, *, fast: bool = True) -> tuple[np.ndarray, int]:
    """Parse an Arrow string array of dates to int64 UTC microseconds (NaT when invalid).

    Canonical rows (``Fri, 21 Apr 2017 13:01:25 +0000``, with or without the weekday) are
    parsed arithmetically on a uint8 matrix; the rest go one distinct string at a time
    through :func:`_parse_date_text`. Returns the values and the number of invalid strings
    (null and blank ones are missing, not invalid). ``fast=False`` forces the fallback.
    """
    n = len(arr)
    out = np.full(n, _NAT, dtype=np.int64)
    if n == 0 or arr.null_count == n:
        return out, 0
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int64)[arr.offset : arr.offset + n + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    starts, ends = offsets[:-1], offsets[1:]
    lengths = ends - starts
    valid = np.asarray(arr.is_valid())
    todo = valid & (lengths > 0)
    for width in (_TAIL + 5, _TAIL) if fast else ():  # with and without the weekday
        rows = np.flatnonzero(todo & (lengths == width))
        if len(rows):
            windows = np.lib.stride_tricks.sliding_window_view(data, width)
            micros, ok = _parse_canonical(windows[starts[rows]])
            done = rows[ok]
            out[done] = micros[ok]
            todo[done] = False
    bad = 0
    rest = np.flatnonzero(todo)
    if len(rest):
        texts = arr.take(pa.array(rest)).to_pylist()
        parsed: dict[str, int | None] = {}
        values = np.empty(len(rest), dtype=np.int64)
        for i, text in enumerate(texts):
            if text not in parsed:
                parsed[text] = _parse_date_text(text)
            us = parsed[text]
            if us is None:
                values[i] = _NAT
                if text.strip().strip("\"'").strip():
                    bad += 1
            else:
                values[i] = us
        out[rest] = values
    return out, bad


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


def _utc_array(micros: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """Wrap int64 microseconds (NaT = int64 min) as a ``datetime64[us, UTC]`` array."""
    return pd.array(micros.view("M8[us]")).tz_localize("UTC")


# --------------------------------------------------------------------------- phone numbers

# The number types phonenumbers checks a number against, by metadata attribute.
_NUMBER_TYPES: tuple[str, ...] = ("fixed_line", "mobile", "toll_free", "premium_rate")
_NUMBER_TYPES += ("shared_cost", "personal_number", "voip", "pager", "uan", "voicemail")
_DIGITS = "0123456789"
_PREFIX_CAP = 4096  # stop expanding a pattern's prefixes past this many


def _regex_prefixes(pattern: str) -> set[str]:
    """Return the fixed digit prefixes that every number matching ``pattern`` starts with one of.

    libphonenumber's patterns are prefix trees of literal digits and digit classes ending in
    ``\\d{n}`` tails. A prefix stops growing at the first ``\\d``, optional or variable part,
    so each returned prefix is sound (possibly shorter than the real block). On any syntax
    this small parser does not know, return ``{""}``: "could be any number".
    """
    pos = 0

    def peek() -> str:
        return pattern[pos] if pos < len(pattern) else ""

    def concat(left: set[tuple[str, bool]], right: set[tuple[str, bool]]) -> set[tuple[str, bool]]:
        out: set[tuple[str, bool]] = set()
        for p, open_ in left:
            if open_:
                out.update((p + q, o) for q, o in right)
            else:
                out.add((p, False))
        if len(out) > _PREFIX_CAP:
            return {(p, False) for p, _ in left}
        return out

    def alternation() -> set[tuple[str, bool]]:
        result = sequence()
        while peek() == "|":
            nonlocal pos
            pos += 1
            result |= sequence()
        return result

    def sequence() -> set[tuple[str, bool]]:
        nonlocal pos
        result: set[tuple[str, bool]] = {("", True)}
        while peek() not in ("", "|", ")"):
            item = atom()
            low, high = quantifier()
            repeated: set[tuple[str, bool]] = {("", True)}
            for _ in range(low):
                repeated = concat(repeated, item)
            if high != low:  # an optional or variable part ends the fixed prefix
                repeated = {(p, False) for p, _ in repeated}
            result = concat(result, repeated)
        return result

    def atom() -> set[tuple[str, bool]]:
        nonlocal pos
        c = peek()
        if c.isdigit():
            pos += 1
            return {(c, True)}
        if pattern.startswith("\\d", pos):
            pos += 2
            return {("", False)}
        if c == "[":
            end = pattern.index("]", pos)
            body = pattern[pos + 1 : end]
            pos = end + 1
            chars = set(re.findall(r"\d-\d|\d", body))
            digits = {str(x) for r in chars for x in range(int(r[0]), int(r[-1]) + 1)}
            if body.startswith("^"):
                digits = set(_DIGITS) - digits
            if len(digits) == 10 or "\\d" in body:
                return {("", False)}
            return {(d, True) for d in digits}
        if c == "(":
            pos += 3 if pattern.startswith("(?:", pos) else 1
            inner = alternation()
            if peek() != ")":
                raise ValueError(pattern)
            pos += 1
            return inner
        raise ValueError(pattern)

    def quantifier() -> tuple[int, int]:
        nonlocal pos
        c = peek()
        if c == "?":
            pos += 1
            return 0, 1
        if c == "{":
            end = pattern.index("}", pos)
            low, comma, high = pattern[pos + 1 : end].partition(",")
            pos = end + 1
            return int(low), int(high) if high else (-1 if comma else int(low))
        if c in ("*", "+"):
            pos += 1
            return (0 if c == "*" else 1), -1
        return 1, 1

    try:
        result = alternation()
        if pos != len(pattern):
            raise ValueError(pattern)
    except (ValueError, IndexError):
        return {""}
    return {p for p, _ in result}


@functools.cache
def _country_code_plan(
    cc: int,
) -> tuple[str, dict[int, np.ndarray], dict[int, np.ndarray], tuple[str, ...]]:
    """Describe how the region of a shared country code is decided from the digits.

    Returns the main region and two maps depth -> sorted national-number prefixes (as ints)
    of that many digits: prefixes that may belong to a region other than the main one, and
    prefixes of any region's number blocks (the longest one that matches says how many digits
    decide the region), and the regions' trunk prefixes ("0", "1", "8"): phonenumbers strips
    one written after the country code, so such numbers are looked up one by one. Built once
    per country code from phonenumbers' own metadata.
    """
    import phonenumbers

    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[cc]
    minority: dict[int, set[int]] = {}
    every: dict[int, set[int]] = {}
    trunk: set[str] = set()
    for index, region in enumerate(regions):
        meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
        if meta is None:
            continue
        if meta.national_prefix:
            trunk.add(meta.national_prefix)
        # phonenumbers decides by leading digits when a region has them, else by validity.
        if meta.leading_digits:
            patterns = [meta.leading_digits]
        else:
            descs = (getattr(meta, name) for name in _NUMBER_TYPES)
            patterns = [d.national_number_pattern for d in descs if d and d.national_number_pattern]
        for pattern in patterns:
            for prefix in _regex_prefixes(pattern):
                value = int(prefix or 0)
                every.setdefault(len(prefix), set()).add(value)
                if index:
                    minority.setdefault(len(prefix), set()).add(value)

    def arrays(by_depth: dict[int, set[int]]) -> dict[int, np.ndarray]:
        return {d: np.array(sorted(v), dtype=np.int64) for d, v in sorted(by_depth.items())}

    return regions[0], arrays(minority), arrays(every), tuple(sorted(trunk))


@functools.cache
def _country_code_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lookup tables: is this 1-, 2- or 3-digit value a country code?"""
    import phonenumbers

    tables = (np.zeros(10, bool), np.zeros(100, bool), np.zeros(1000, bool))
    for cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
        tables[len(str(cc)) - 1][cc] = True
    return tables


def _region_of(digits: str) -> str | None:
    """Return phonenumbers' region for one E.164 number given as digits, if it knows one."""
    import phonenumbers

    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse("+" + digits))
    except phonenumbers.NumberParseException:
        return None
    return region if region not in (None, "ZZ", "001") else None


class _Regions:
    """Region labels and the int code of each (0 is "unknown")."""

    def __init__(self) -> None:
        self.labels: list[str | None] = [None]
        self._codes: dict[str, int] = {}

    def code(self, region: str | None) -> int:
        if region is None or region in ("ZZ", "001"):  # unknown, non-geographic
            return 0
        if region not in self._codes:
            self._codes[region] = len(self.labels)
            self.labels.append(region)
        return self._codes[region]


_PHONE_WIDTH = 16  # E.164 numbers have at most 15 digits


def _shared_code_regions(
    cc: int, national: np.ndarray, lengths: np.ndarray, sample: Any, regions: _Regions
) -> np.ndarray:
    """Region codes of numbers whose country code several regions share, one lookup per block.

    ``national`` holds the national digits (uint8 matrix), ``lengths`` how many are real;
    ``sample(i)`` gives the full digits of row ``i`` to ask phonenumbers about.
    """
    main, minority, every, trunk = _country_code_plan(cc)
    n = len(national)
    depth = np.zeros(n, dtype=np.int64)
    head = np.zeros(n, dtype=np.int64)
    maybe_minority = np.zeros(n, dtype=bool)
    for d in range(max(every, default=0) + 1):
        if d:
            head = head * 10 + national[:, d - 1]
        long_enough = lengths >= d
        if d in every:
            depth[np.isin(head, every[d]) & long_enough] = d
        if d in minority:
            maybe_minority |= np.isin(head, minority[d]) & long_enough
    for trunk_prefix in trunk:  # "+1 1 212...": not E.164, but phonenumbers reads it; so do we
        size = len(trunk_prefix)
        written = (national[:, :size] == [int(c) for c in trunk_prefix]).all(axis=1)
        written &= lengths >= size
        depth[written] = lengths[written]
        maybe_minority |= written
    result = np.full(n, regions.code(main), dtype=np.int64)
    rows = np.flatnonzero(maybe_minority)
    if not len(rows):
        return result
    # Numbers of one block (same deciding prefix and length) share a region: ask phonenumbers
    # about one of them, or a few when it does not recognise the first.
    deciding = depth[rows]
    prefix = np.zeros(len(rows), dtype=np.int64)  # the deciding digits, zero-padded
    for d in range(int(deciding.max())):
        prefix = prefix * 10 + np.where(deciding > d, national[rows, d], 0)
    key = (prefix * 20 + lengths[rows]) * 20 + deciding
    _, first, groups = np.unique(key, return_index=True, return_inverse=True)
    group_code = np.empty(len(first), dtype=np.int64)
    for g, i in enumerate(first):
        found = _region_of(sample(rows[i]))
        if found is None:
            for j in np.flatnonzero(groups == g)[1:3]:
                found = _region_of(sample(rows[j]))
                if found:
                    break
        group_code[g] = regions.code(found or main)
    result[rows] = group_code[groups]
    return result


def _destination_country(
    from_arr: pa.Array, to_arr: pa.Array, direction: pd.Categorical
) -> pa.Array:
    """ISO region of ``to`` (outbound) or ``from`` (inbound), one phonenumbers lookup per block.

    Country codes come from the first 1-3 digits through a lookup table; a code that only one
    region uses decides alone. For shared codes (1, 7, 44, 61, 358...) the number blocks of
    phonenumbers' metadata say how many digits decide, and one number per block is parsed.
    """
    import phonenumbers

    n = len(direction)
    codes = np.asarray(direction.codes)
    outbound = codes == DIRECTIONS.index("outbound")
    known = outbound | (codes == DIRECTIONS.index("inbound"))
    number = pc.utf8_ltrim(pc.if_else(pa.array(outbound, mask=~known), to_arr, from_arr), "+")
    size = pc.utf8_length(number)
    usable = pc.and_kleene(
        pc.ascii_is_decimal(number),
        pc.and_kleene(pc.greater_equal(size, 4), pc.less(size, _PHONE_WIDTH)),
    )
    rows = np.flatnonzero(np.asarray(usable.fill_null(False)))
    regions = _Regions()
    result = np.zeros(n, dtype=np.int64)
    if len(rows):
        bufs = number.buffers()
        offsets = np.frombuffer(bufs[1], dtype=np.int64)[number.offset : number.offset + n + 1]
        data = np.concatenate([np.frombuffer(bufs[2], np.uint8), np.zeros(_PHONE_WIDTH, np.uint8)])
        starts = offsets[:-1][rows]
        lengths = offsets[1:][rows] - starts
        digits = np.lib.stride_tricks.sliding_window_view(data, _PHONE_WIDTH)[starts] - 48
        one, two, three = _country_code_tables()
        c1 = digits[:, 0].astype(np.int64)
        c2 = c1 * 10 + digits[:, 1]
        c3 = c2 * 10 + digits[:, 2]
        cc_len = np.where(one[c1], 1, np.where(two[c2], 2, np.where(three[c3], 3, 0)))
        cc_rows = np.where(cc_len == 1, c1, np.where(cc_len == 2, c2, np.where(cc_len, c3, 0)))

        def sample(i: int) -> str:
            return str(number[int(rows[i])].as_py())

        for cc in np.unique(cc_rows):
            shared = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(cc), ())
            members = np.flatnonzero(cc_rows == cc)
            if len(shared) == 1:
                result[rows[members]] = regions.code(shared[0])
            elif shared:
                width = len(str(cc))
                national = np.zeros((len(members), _PHONE_WIDTH), dtype=np.int64)
                national[:, : _PHONE_WIDTH - width] = digits[members, width:]
                result[rows[members]] = _shared_code_regions(
                    int(cc),
                    national,
                    lengths[members] - width,
                    lambda i, m=members: sample(m[i]),
                    regions,
                )
    return pa.array(regions.labels, type=_LARGE_STR).take(pa.array(result))


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
