"""The SIDs a list of inputs means, checked on whole arrays at once."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..client import MAX_SID_LENGTH, validate_call_sid
from ..errors import InvalidRequestError

#: A SID that validate_call_sid would accept unchanged (checked on whole arrays at once).
_CLEAN_SID = rf"^[A-Za-z0-9][A-Za-z0-9_.:-]{{0,{MAX_SID_LENGTH - 1}}}$"


def normalise_sids(raw: list[Any]) -> pa.Array:
    """The SID each input means (stripped), null where it is invalid; vectorised."""
    try:
        arr = pa.array(raw, type=pa.large_string())
    except (pa.ArrowException, TypeError, ValueError):
        odd = np.arange(len(raw))
        values: list[Any] = [None] * len(raw)
    else:
        clean = pc.and_(
            pc.match_substring_regex(arr, _CLEAN_SID),
            pc.invert(pc.match_substring(arr, "..")),
        ).fill_null(False)
        odd = np.flatnonzero(~np.asarray(clean, dtype=bool))
        if not len(odd):
            return arr
        values = arr.to_pylist()
    for i in odd.tolist():  # only the SIDs that need stripping, or are invalid
        try:
            values[i] = validate_call_sid(raw[i])
        except InvalidRequestError:
            values[i] = None
    return pa.array(values, type=pa.large_string())
