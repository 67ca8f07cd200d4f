"""One row per call: merge the rows that share a ``call_sid`` (vectorised, no I/O here)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InvalidRequestError
from .dates import NAT

__all__ = ["deduplicate", "duplicated_example"]

_FINGERPRINT_BYTES = 64  # SIDs are ~40 bytes; longer strings take the exact path
_MIX = np.uint64(0x100000001B3)  # the 64-bit FNV prime


def _sid_array(df: pd.DataFrame) -> pa.Array:
    """The ``call_sid`` column as one large_string Arrow array (zero-copy for ``str``)."""
    if not isinstance(df, pd.DataFrame) or "call_sid" not in df.columns:
        raise InvalidRequestError("deduplicate needs a call frame: a DataFrame with call_sid")
    try:
        arr = pa.array(df["call_sid"].array, from_pandas=True)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        return arr if arr.type == pa.large_string() else arr.cast(pa.large_string())
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise InvalidRequestError(
            f"call_sid must hold strings, not {df['call_sid'].dtype}"
        ) from exc


def _surely_unique(arr: pa.Array) -> bool:
    """Tell cheaply that no two valid strings of ``arr`` are equal (False: maybe some are).

    Each string gets a 64-bit fingerprint of its bytes and length, computed on a byte
    matrix; distinct fingerprints prove distinct strings. A hash table of the strings
    themselves costs several times more, and most frames have no duplicate at all.
    """
    n = len(arr)
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int64)[arr.offset : arr.offset + n + 1]
    valid = np.asarray(arr.is_valid(), dtype=bool)
    starts, lengths = offsets[:-1][valid], np.diff(offsets)[valid]
    if not len(lengths) or lengths.max() > _FINGERPRINT_BYTES:
        return not len(lengths)
    width = max(8, -(-int(lengths.max()) // 8) * 8)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    data = np.concatenate([data[: offsets[-1]], np.zeros(width, dtype=np.uint8)])
    rows = np.lib.stride_tricks.sliding_window_view(data, width)[starts]  # a copy
    # The bytes after a string are its neighbour's: zero them (only the columns past the
    # shortest string can hold any).
    shortest = int(lengths.min())
    rows[:, shortest:] *= np.arange(shortest, width) < lengths[:, None]
    words = rows.view(np.uint64)
    fingerprint = lengths.astype(np.uint64)
    for j in range(words.shape[1]):
        fingerprint = (fingerprint ^ words[:, j]) * _MIX
    fingerprint.sort()  # faster than a hash table of a million random keys
    return not (fingerprint[1:] == fingerprint[:-1]).any()


def _updated(df: pd.DataFrame) -> np.ndarray:
    """``updated`` as int64 microseconds, :data:`NAT` (the smallest) where unknown."""
    if "updated" not in df.columns:
        return np.full(len(df), NAT, dtype=np.int64)
    column = df["updated"]
    if isinstance(column.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(column):
        return np.asarray(column.array.as_unit("us").asi8, dtype=np.int64)
    return np.full(len(df), NAT, dtype=np.int64)


def deduplicate(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Keep one row per ``call_sid``; return the frame and how many rows were merged away.

    Of the rows that share a ``call_sid``, the most recent version wins: the latest
    ``updated`` (an unknown ``updated`` is older than any known one), then, on a tie, the
    later row. The winner takes the place of the call's first row, so the order of first
    appearance is kept (``fetch_calls`` keeps input order, a history its page order). Rows
    without a ``call_sid`` cannot be told apart and are all kept. The index is a fresh
    RangeIndex; the frame's ``attrs`` are kept. Vectorised: no Python loop over rows.

    Example::

        df, merged = deduplicate(pd.concat([older_pages, newer_pages]))
    """
    sids = _sid_array(df)
    if len(df) < 2:
        return df, 0
    if _surely_unique(sids):
        return df, 0
    # Dictionary codes number the SIDs in order of first appearance.
    codes = np.asarray(pc.dictionary_encode(sids).indices.fill_null(-1), dtype=np.int64)
    rows = np.flatnonzero(codes >= 0)
    loose = np.flatnonzero(codes < 0)
    code = codes[rows]
    order = np.lexsort((rows, _updated(df)[rows], code))  # by SID, then updated, then row
    ranked, grouped = rows[order], code[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    winners = ranked[np.r_[starts[1:] - 1, len(ranked) - 1]]
    first_rows = np.minimum.reduceat(ranked, starts)
    slots = np.concatenate([first_rows, loose])
    keep = np.concatenate([winners, loose])[np.argsort(slots, kind="stable")]
    out = df.take(keep).reset_index(drop=True)
    return out, len(rows) - len(winners)


def duplicated_example(df: pd.DataFrame) -> str | None:
    """Return one ``call_sid`` that appears more than once in ``df``, if any."""
    sids = df["call_sid"]
    repeated = sids[sids.duplicated() & sids.notna()]
    return None if repeated.empty else str(repeated.iloc[0])
