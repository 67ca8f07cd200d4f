"""Categorical columns: ``direction``, ``status``, ``channel`` (no I/O here).

Each value is matched against the documented vocabulary ignoring case, surrounding
whitespace and ``_``/``-``/space differences (``"COMPLETED"``, ``" Busy "``, ``"no-answer"``
are ``completed``, ``busy``, ``no_answer``). Strings outside the vocabulary are kept as they
came (stripped), appended as categories in first-seen order, never turned into NA. Blank
strings mean "not set" (NA); values that are not strings (numbers, booleans, containers)
are ruled out: NA, counted as a finding.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .fields import ARROW_ERRORS, LARGE_STR, Values
from .findings import FindingCounter, shorten
from .vocab import VOCABULARIES, canonical_label

__all__ = ["categorical"]

_NOT_STRINGS = "values were not strings and became NA"


def _codes_and_uniques(values: Values) -> tuple[np.ndarray, list[Any]]:
    """Factorize: codes (-1 for null) and the distinct values, in first-seen order."""
    try:
        arr = values if isinstance(values, pa.Array) else pa.array(values, type=LARGE_STR)
        encoded = pc.dictionary_encode(arr)
        return np.asarray(encoded.indices.fill_null(-1)), encoded.dictionary.to_pylist()
    except ARROW_ERRORS:
        assert not isinstance(values, pa.Array)
    # Not all strings: each non-string stands in as (type, repr), so pandas never hashes a
    # dict and 1 and True stay apart; strings keep their own codes.
    keys = [_key(v) for v in values]
    codes, uniques = pd.factorize(np.fromiter(keys, dtype=object, count=len(keys)))
    return np.asarray(codes), list(uniques)


def _key(v: Any) -> Any:
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    return v if isinstance(v, str) else (type(v).__name__, repr(v))


def _label(name: str, value: Any) -> str | None:
    """Return the category of one distinct value; None for "not set"; raise if ruled out."""
    if value is None:
        return None
    if not isinstance(value, str):  # a (type, repr) stand-in: not a string
        raise ValueError(value)
    text = value.strip()
    if not text:
        return None
    known = canonical_label(name, text)
    if known is not None:
        return known
    if not text.isascii():  # lone surrogates cannot become Arrow-backed categories
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def categorical(name: str, values: Values, found: FindingCounter) -> pd.Categorical:
    """Factorize field ``name`` onto its fixed categories, appending unknown labels."""
    codes, uniques = _codes_and_uniques(values)
    categories: list[str] = list(VOCABULARIES[name])
    position = {c: i for i, c in enumerate(categories)}
    remap = np.full(len(uniques) + 1, -1, dtype=np.int64)  # last slot: missing stays missing
    bad: list[int] = []
    for i, u in enumerate(uniques):
        try:
            label = _label(name, u)
        except ValueError:
            bad.append(i)
            continue
        if label is None:
            continue
        if label not in position:
            position[label] = len(categories)
            categories.append(label)
        remap[i] = position[label]
    if bad:
        counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
        shown = uniques[bad[0]][1]
        found.add(name, int(counts[bad].sum()), _NOT_STRINGS, shorten(shown))
    final = remap[codes]  # codes == -1 picks the last slot, i.e. -1
    result = pd.Categorical.from_codes(final, dtype=pd.CategoricalDtype(categories))
    return cast(pd.Categorical, result)
