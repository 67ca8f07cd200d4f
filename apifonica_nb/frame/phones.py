"""Tell the country (ISO 3166 region) of E.164 numbers, one lookup per number block (no I/O).

The country code comes from the first 1-3 digits through lookup tables; a code that only
one region uses decides alone. For codes several regions share (1, 7, 44, 61, 358...),
``phonenumbers``' own metadata says which leading digits decide, and one number of each
such block is parsed. ``phonenumbers`` is imported only when first needed: importing the
package stays fast for those who never build a frame.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["number_regions"]

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


def number_regions(numbers: pa.Array) -> pa.Array:
    """ISO region of each E.164 number (a leading "+" allowed), one phonenumbers lookup per block.

    Country codes come from the first 1-3 digits through a lookup table; a code that only one
    region uses decides alone. For shared codes (1, 7, 44, 61, 358...) the number blocks of
    phonenumbers' metadata say how many digits decide, and one number per block is parsed.
    Null, too short, too long or non-digit numbers, and those of no known region, give null.
    """
    import phonenumbers

    n = len(numbers)
    number = pc.utf8_ltrim(numbers, "+")
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
    return pa.array(regions.labels, type=pa.large_string()).take(pa.array(result))
