"""Numeric columns: ``duration``, ``timeout`` (Int64) and ``price`` (Float64), no I/O here.

- ``duration``, ``timeout``: non-negative whole numbers. ``18``, ``18.0`` and ``"18"`` are
  18; ``18.5`` is not rounded, and negative numbers, booleans, NaN, infinities and words
  are ruled out.
- ``price``: any finite number, kept raw (a negative one, say a credit, is kept: dropping
  it would make sums wrong). Numeric strings count (``"0.0294"``, ``"1e-3"``), as other
  money fields of the API are strings; a decimal comma (``"1,5"``: one and a half, or
  fifteen hundred?), units (``"0.03 EUR"``), booleans, NaN and infinities are ruled out.

Missing values (None, blank strings) are NA without a finding; what is ruled out becomes NA
and is counted. The usual wire types (int/float/None) take Arrow's vectorised path.
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

from .findings import FindingCounter, example_of

__all__ = ["number_column", "number_of"]

_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_INT64_MAX = 2**63 - 1
_NONE_TYPE = type(None)
_NOT_COUNTS = "values were not whole numbers of 0 or more and became NA"
_NOT_NUMBERS = "values were not finite numbers and became NA"


def number_of(v: Any, integer: bool) -> int | float | None:
    """Return ``v`` as a number (None for missing); raise ValueError when it is ruled out."""
    if isinstance(v, str):
        s = v.strip()
        if not s:
            return None
        if not _NUMBER_RE.fullmatch(s):
            raise ValueError(v)
        x: int | float = int(s) if integer and s.lstrip("+-").isdigit() else float(s)
    elif v is None or v is pd.NA:
        return None
    elif isinstance(v, (bool, np.bool_)):
        raise ValueError(v)  # a flag is not a count or an amount
    elif isinstance(v, numbers.Integral):
        x = int(v)
    elif isinstance(v, (numbers.Real, decimal.Decimal)):
        x = float(v)  # NaN is not JSON: ruled out below, like infinities
    else:
        raise ValueError(v)
    if isinstance(x, float):
        if not math.isfinite(x):
            raise ValueError(v)
        if integer:
            if not x.is_integer():
                raise ValueError(v)  # 18.5 seconds is not a whole count: do not round it
            x = int(x)
    if integer and not 0 <= x <= _INT64_MAX:
        raise ValueError(v)
    return x


def _fast(
    name: str, values: Sequence[Any], integer: bool, found: FindingCounter
) -> tuple[np.ndarray, np.ndarray] | None:
    """Convert plain ints/floats/None in Arrow's loop; None when the types need a closer look."""
    kinds = set(map(type, values))
    if not kinds <= ({int, _NONE_TYPE} if integer else {int, float, _NONE_TYPE}):
        return None
    try:
        arr = pa.array(values, type=pa.int64() if integer else pa.float64())
    except (pa.ArrowException, OverflowError):
        return None
    mask = np.asarray(arr.is_null()) if arr.null_count else np.zeros(len(values), dtype=bool)
    # A copy: pandas may write into it later, and Arrow memory is read-only.
    data = arr.fill_null(0).to_numpy(zero_copy_only=False, writable=True)
    bad = (data < 0) if integer else ~np.isfinite(data)
    if bad.any():
        rows = np.flatnonzero(bad)
        what = _NOT_COUNTS if integer else _NOT_NUMBERS
        found.add(name, len(rows), what, example_of(values[int(rows[0])]))
        mask |= bad
        data[bad] = 0
    return data, mask


def number_column(
    name: str, values: Sequence[Any], integer: bool, found: FindingCounter
) -> tuple[np.ndarray, np.ndarray]:
    """Return (values, missing mask) of a numeric field as int64 or float64 arrays."""
    fast = _fast(name, values, integer, found)
    if fast is not None:
        return fast
    out: list[int | float] = []
    missing: list[bool] = []
    bad = 0
    example = ""
    for v in values:
        if v is None:
            out.append(0)
            missing.append(True)
            continue
        try:
            x = number_of(v, integer)
        except (ValueError, OverflowError, decimal.InvalidOperation):
            x = None
            bad += 1
            example = example or example_of(v)
        out.append(0 if x is None else x)
        missing.append(x is None)
    found.add(name, bad, _NOT_COUNTS if integer else _NOT_NUMBERS, example)
    dtype = np.int64 if integer else np.float64
    return np.array(out, dtype=dtype), np.array(missing, dtype=bool)
