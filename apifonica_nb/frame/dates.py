"""Parse dates, as the API writes them, to int64 UTC microseconds (no I/O here).

The canonical RFC 2822 form (``Fri, 21 Apr 2017 13:01:25 +0000``, with or without the
weekday) is parsed arithmetically on a byte matrix, many rows per numpy operation; what that
path refuses goes one distinct string at a time through regexes that also read the common
variants (no weekday, a wrong weekday, full month names, named zones, dashes, a leap second,
fractions of a second, RFC 2822's obsolete two- and three-digit years, stray quotes) and
ISO 8601 with an explicit offset (``2017-04-21T13:01:25Z``). A date without an offset (which
instant would it be?) or one that does not exist is invalid.
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from .fields import ARROW_ERRORS, LARGE_STR, Values
from .findings import FindingCounter, example_of
from .text import arrow_strings

__all__ = [
    "EPOCH",
    "NAT",
    "US_PER_S",
    "date_column",
    "parse_date_text",
    "parse_dates",
    "utc_array",
]

#: datetime64's NaT as an int64: the "missing" value of parsed date arrays.
NAT = np.iinfo(np.int64).min
US_PER_S = 1_000_000

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
    (?P<year>\d{4}|\d{2,3}(?=\s))\s+                # RFC 2822's obsolete 2- and 3-digit years
    (?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?\s*
    (?:(?P<sign>[+-])(?P<oh>\d{2}):?(?P<om>\d{2})|(?P<zone>[A-Za-z]{1,3}))
    """,
    re.VERBOSE | re.ASCII,
)
_ISO_RE = re.compile(
    r"""
    (?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})[Tt\ ]
    (?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?
    \s*(?:(?P<z>[Zz])|(?P<sign>[+-])(?P<oh>\d{2})(?::?(?P<om>\d{2}))?)
    """,
    re.VERBOSE | re.ASCII,
)
EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
# The canonical form's last 26 bytes, "21 Apr 2017 13:01:25 +0000", and the byte range
# allowed at each position (month letters are checked by the lookup, the sign apart).
_TAIL = 26
_TAIL_LOW = np.frombuffer(b"00 AAA 0000 00:00:00 +0000", dtype=np.uint8)
_TAIL_SPAN = np.frombuffer(b"99 zzz 9999 99:99:99 -9999", dtype=np.uint8) - _TAIL_LOW


def parse_date_text(text: str) -> int | None:
    """Parse one date to UTC microseconds; None when it is not a valid date with an offset.

    Reads RFC 2822 and its common variants, and ISO 8601 with ``Z`` or a numeric offset.
    The row-wise fallback of :func:`parse_dates`, and the reference it is tested against.
    """
    s = text.strip().strip("\"'").strip()
    m = _DATE_RE.fullmatch(s)
    if m is not None:
        month = _MONTH_NUMBER.get(m["month"].lower())
        if month is None:
            return None
        if m["zone"] is not None:
            offset = _ZONES.get(m["zone"].upper())
            if offset is None:
                return None
        else:
            offset = _offset(m["sign"], m["oh"], m["om"])
        year = _full_year(m["year"])
    else:
        m = _ISO_RE.fullmatch(s)
        if m is None:
            return None
        month = int(m["month"])
        offset = 0 if m["z"] else _offset(m["sign"], m["oh"], m["om"] or "00")
        year = int(m["year"])
    if offset is None:
        return None
    second = int(m["second"] or 0)
    fraction = (m["fraction"] or "0")[:6].ljust(6, "0")
    leap = second == 60  # RFC 2822 and ISO 8601 allow a leap second; datetime does not
    try:
        stamp = _dt.datetime(
            year,
            month,
            int(m["day"]),
            int(m["hour"]),
            int(m["minute"]),
            59 if leap else second,
            int(fraction),
            tzinfo=_dt.timezone(_dt.timedelta(minutes=offset)),
        )
    except ValueError:
        return None
    return (stamp - EPOCH) // _dt.timedelta(microseconds=1) + leap * US_PER_S


def _full_year(text: str) -> int:
    """The year an RFC 2822 date means: 2-digit years below 50 are 20xx, the other 2- and
    3-digit ones 1900 + the number (RFC 2822, section 4.3, "obs-year")."""
    year = int(text)
    if len(text) == 2 and year < 50:
        return 2000 + year
    return 1900 + year if len(text) < 4 else year


def _offset(sign: str, hours: str, minutes: str) -> int | None:
    """Minutes east of UTC of a numeric zone offset, or None when it is out of range."""
    oh, om = int(hours), int(minutes)
    if oh > 23 or om > 59:
        return None
    return (oh * 60 + om) * (-1 if sign == "-" else 1)


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
    return seconds * US_PER_S, ok


def parse_dates(arr: pa.Array, *, fast: bool = True) -> tuple[np.ndarray, int]:
    """Parse an Arrow string array of dates to int64 UTC microseconds (:data:`NAT` if invalid).

    Canonical rows (``Fri, 21 Apr 2017 13:01:25 +0000``, with or without the weekday) are
    parsed arithmetically on a uint8 matrix; the rest go one distinct string at a time
    through :func:`parse_date_text`. Returns the values and the number of invalid strings
    (null and blank ones are missing, not invalid). ``fast=False`` forces the fallback.
    """
    n = len(arr)
    out = np.full(n, NAT, dtype=np.int64)
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
                parsed[text] = parse_date_text(text)
            us = parsed[text]
            if us is None:
                values[i] = NAT
                if text.strip().strip("\"'").strip():
                    bad += 1
            else:
                values[i] = us
        out[rest] = values
    return out, bad


def utc_array(micros: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """Wrap int64 microseconds (NaT = int64 min) as a ``datetime64[us, UTC]`` array."""
    return pd.array(micros.view("M8[us]")).tz_localize("UTC")


_NOT_DATES = "values were not dates with an offset (RFC 2822) and became NA"


def _blank(text: str) -> bool:
    return not text.strip().strip("\"'").strip()


def _objects(values: Any) -> tuple[list[str | None], dict[int, int], list[Any]]:
    """Split values that are not all strings: texts, aware datetimes (as micros), the refused."""
    texts: list[str | None] = []
    direct: dict[int, int] = {}
    refused: list[Any] = []
    for i, v in enumerate(values):
        if v is None or isinstance(v, str):
            texts.append(v)
            continue
        texts.append(None)
        if isinstance(v, _dt.datetime) and v.tzinfo is not None and v.utcoffset() is not None:
            direct[i] = (v - EPOCH) // _dt.timedelta(microseconds=1)
        elif not (v is pd.NaT or v is pd.NA):
            refused.append(v)  # numbers (seconds? ms?), NaN, naive datetimes, junk
    return texts, direct, refused


def date_column(name: str, values: Values, found: FindingCounter) -> np.ndarray:
    """Parse date field ``name`` to int64 UTC microseconds, :data:`NAT` for missing and invalid.

    Strings are parsed by :func:`parse_dates`; timezone-aware datetimes are taken as they
    are; blank strings mean not set. Anything else is ruled out: NA, counted as a finding.
    """
    direct: dict[int, int] = {}
    refused: list[Any] = []
    try:
        arr = values if isinstance(values, pa.Array) else pa.array(values, type=LARGE_STR)
    except ARROW_ERRORS:
        texts, direct, refused = _objects(values)
        arr = arrow_strings(texts)
    micros, bad_text = parse_dates(arr)
    for i, us in direct.items():
        micros[i] = us
    example = example_of(refused[0]) if refused else ""
    if bad_text:
        unread = np.flatnonzero((micros == NAT) & np.asarray(arr.is_valid()))
        example = next(  # the first unread text that is not blank, read 1,024 at a time
            example_of(text)
            for start in range(0, len(unread), 1024)
            for text in arr.take(pa.array(unread[start : start + 1024])).to_pylist()
            if not _blank(text)
        )
    found.add(name, len(refused) + bad_text, _NOT_DATES, example)
    return micros
