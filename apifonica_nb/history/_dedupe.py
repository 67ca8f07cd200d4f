"""One row per call: merge the rows of a frame that hold the same ``call_sid``."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["deduplicate"]


# TODO(phase 2): frame.deduplicate
def deduplicate(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Return ``df`` with one row per ``call_sid``, and how many rows were merged away.

    Of the rows of one call, the most recent version wins (the latest ``updated``; on a tie,
    or without one, the later row), in the place of the call's first row, so a listing keeps
    its order. Rows without a SID are kept as they are. Vectorised; ``df`` itself is returned
    unchanged (same object) when no SID repeats.

    >>> df, merged = deduplicate(df)
    """
    n = len(df)
    if n < 2:
        return df, 0
    codes, uniques = pd.factorize(df["call_sid"], use_na_sentinel=True)
    keyed = np.flatnonzero(codes >= 0)
    if len(uniques) == len(keyed):
        return df, 0
    updated = np.asarray(df["updated"].array.asi8, dtype=np.int64)  # NaT: the oldest
    key = codes[keyed]
    order = keyed[np.lexsort((keyed, updated[keyed], key))]  # by call, then version, then row
    sorted_codes = codes[order]
    winners = order[np.r_[sorted_codes[1:] != sorted_codes[:-1], True]]  # one per call
    first = np.full(len(uniques), n, dtype=np.int64)
    np.minimum.at(first, key, keyed)
    rows = np.r_[winners, np.flatnonzero(codes < 0)]
    places = np.r_[first[codes[winners]], np.flatnonzero(codes < 0)]
    taken = df.take(rows[np.argsort(places, kind="stable")]).reset_index(drop=True)
    taken.attrs = dict(df.attrs)
    return taken, n - len(taken)
