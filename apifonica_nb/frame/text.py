"""String columns: identifiers, phone numbers, method, controller and tag (no I/O here).

Strings are stripped of surrounding whitespace. What each field accepts beyond that:

- identifiers (``*_sid``): any string; a JSON integer becomes its decimal digits (nothing
  is lost); blank means not set (NA). Floats, booleans and containers are ruled out.
- ``from``/``to``: E.164 digits without ``+`` (1 to 15 digits, the first not 0). A leading
  ``+`` and single spaces, dashes or dots between digit groups are written forms of the same
  number and are removed; integers (and integral floats) become their digits. Anything
  else (``"anonymous"``, ``"sip:..."``, ``"0031..."``) is ruled out.
- ``method``: ``GET`` or ``POST``, in any case.
- ``controller``: any string (the URL as the API gives it); blank means not set.
- ``tag``: free text, kept as given (an empty tag stays empty); integers become digits.

What is ruled out becomes NA and is counted, per field, as a finding.
"""

from __future__ import annotations

import decimal
import math
import numbers
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .fields import ARROW_ERRORS, LARGE_STR, Values
from .findings import FindingCounter, example_of
from .schema import ID_FIELDS, PHONE_FIELDS
from .vocab import METHODS

__all__ = ["arrow_strings", "str_array", "string_column", "text_of"]

_E164_DIGITS = 15
# A phone number as people write it: digits, a leading "+", single separators between groups.
_WRITTEN_NUMBER = re.compile(r"\+?\d+(?:[ .-]\d+)*", re.ASCII)
_SEPARATORS = re.compile(r"[+ .-]")
# Bytes that may start or end a string that needs stripping: ASCII whitespace and controls,
# and any byte of a multi-byte UTF-8 character (Unicode spaces such as U+00A0).
_MAYBE_SPACE = np.zeros(256, dtype=bool)
_MAYBE_SPACE[:33] = True
_MAYBE_SPACE[0x7F:] = True
_NOT_STRINGS = "values were not strings and became NA"
_NOT_PHONES = "values were not E.164 phone numbers (digits, no '+') and became NA"
_NOT_METHODS = f"values were not {' or '.join(METHODS)} and became NA"


def _what_is_refused(name: str) -> str:
    if name in PHONE_FIELDS:
        return _NOT_PHONES
    return _NOT_METHODS if name == "method" else _NOT_STRINGS


def text_of(v: Any, name: str) -> str | None:
    """Return ``v`` as the text of field ``name`` (None: missing); raise ValueError if ruled out."""
    if isinstance(v, str):
        return str(v)
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (bool, np.bool_)) or name in ("controller", "method"):
        raise ValueError(v)
    if isinstance(v, numbers.Integral):
        # A JSON integer for a SID, a tag or a phone number: its digits say the same.
        if name in PHONE_FIELDS and v < 0:
            raise ValueError(v)
        return str(int(v))
    if name in PHONE_FIELDS and isinstance(v, (numbers.Real, decimal.Decimal)):
        f = float(v)
        if math.isfinite(f) and f.is_integer() and 0 < f < 10**_E164_DIGITS:
            return str(int(f))  # below 2**53, so every digit is exact
        raise ValueError(v)
    if isinstance(v, bytes):
        return v.decode("utf-8")
    raise ValueError(v)  # floats (a rounded SID?), containers, other objects


def _clean_strings(name: str, values: Sequence[Any], found: FindingCounter) -> list[str | None]:
    """Coerce values to str or None one by one; count those that are ruled out."""
    out: list[str | None] = []
    bad = 0
    example = ""
    for v in values:
        if v is None or type(v) is str:
            out.append(v)
            continue
        try:
            out.append(text_of(v, name))
        except (ValueError, UnicodeDecodeError, OverflowError):
            out.append(None)
            bad += 1
            example = example or example_of(v, mask_digits=name in PHONE_FIELDS)
    found.add(name, bad, _what_is_refused(name), example)
    return out


def arrow_strings(values: Sequence[Any]) -> pa.Array:
    """Build a large_string array; replace what UTF-8 cannot encode (lone surrogates)."""
    try:
        return pa.array(values, type=LARGE_STR)
    except (pa.ArrowException, UnicodeError):
        fixed = [
            None if v is None else v.encode("utf-8", "replace").decode("utf-8") for v in values
        ]
        return pa.array(fixed, type=LARGE_STR)


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


def _blank_to_null(arr: pa.Array) -> pa.Array:
    """Turn empty strings into nulls: a blank SID, number or URL means "not set"."""
    empty = pc.equal(pc.binary_length(arr), 0)
    if not pc.any(empty).as_py():
        return arr
    return pc.if_else(empty, pa.scalar(None, LARGE_STR), arr)


def _replace_rows(
    name: str, arr: pa.Array, odd: pa.Array, fix: Any, found: FindingCounter
) -> pa.Array:
    """Replace the rows where ``odd`` is true by ``fix(text)`` (None: ruled out, counted)."""
    if not pc.any(odd).as_py():
        return arr
    texts = arr.filter(odd).to_pylist()
    fixed: dict[str, str | None] = {}
    for text in texts:
        if text not in fixed:
            fixed[text] = fix(text)
    new = [fixed[t] for t in texts]
    bad = [t for t, f in zip(texts, new, strict=True) if f is None]
    if bad:
        example = example_of(bad[0], mask_digits=name in PHONE_FIELDS)
        found.add(name, len(bad), _what_is_refused(name), example)
    return pc.replace_with_mask(arr, odd, pa.array(new, type=LARGE_STR))


def _e164(text: str) -> str | None:
    """Return the E.164 digits a written phone number stands for, or None."""
    if not _WRITTEN_NUMBER.fullmatch(text):
        return None
    digits = _SEPARATORS.sub("", text)
    return digits if len(digits) <= _E164_DIGITS and digits[0] != "0" else None


def _phone_numbers(name: str, arr: pa.Array, found: FindingCounter) -> pa.Array:
    """Keep E.164 digit strings; normalise the written forms of one; rule out the rest."""
    if arr.null_count == len(arr):
        return arr
    canonical = pc.and_(
        pc.ascii_is_decimal(arr),
        pc.and_(
            pc.less_equal(pc.binary_length(arr), _E164_DIGITS),
            pc.invert(pc.starts_with(arr, "0")),
        ),
    )
    odd = pc.invert(canonical.fill_null(True))
    return _replace_rows(name, arr, odd, _e164, found)


def _methods(arr: pa.Array, found: FindingCounter) -> pa.Array:
    """Keep ``GET``/``POST`` (upper-casing other spellings); rule out other methods."""
    known = pc.is_in(arr, value_set=pa.array(METHODS, type=LARGE_STR))
    odd = pc.and_(pc.invert(known), pc.is_valid(arr))

    def fix(text: str) -> str | None:
        return text.upper() if text.upper() in METHODS else None

    return _replace_rows("method", arr, odd, fix, found)


def string_column(name: str, values: Values, found: FindingCounter) -> pa.Array:
    """Turn field ``name`` into a stripped large_string array in its documented form."""
    try:
        arr = values if isinstance(values, pa.Array) else pa.array(values, type=LARGE_STR)
    except ARROW_ERRORS:
        arr = arrow_strings(_clean_strings(name, values, found))
    if _needs_strip(arr):
        arr = pc.utf8_trim_whitespace(arr)
    if name == "tag":
        return arr
    arr = _blank_to_null(arr)
    if name in PHONE_FIELDS:
        return _phone_numbers(name, arr, found)
    if name == "method":
        return _methods(arr, found)
    assert name in ID_FIELDS or name == "controller", name
    return arr


def str_array(arr: pa.Array) -> pd.api.extensions.ExtensionArray:
    """Wrap an Arrow string array as pandas' ``str`` dtype without copying."""
    return pd.array(arr, dtype="str")
