"""Reading a call frame for the numbers: missing columns, NA, UTC times and group labels.

Every summary function takes any frame shaped like :data:`apifonica_nb.frame.CALL_DTYPES`,
including ones missing columns or full of NA; these helpers make that safe in one place.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Label of missing values (NA status, channel, country, ...) in every table and chart.
UNKNOWN = "unknown"


def group_codes(series: pd.Series) -> tuple[list[str], np.ndarray]:
    """Split a column into the labels that occur and a label index per row.

    Categoricals keep their category order (the status lifecycle order, undocumented values
    after the documented ones), other columns are sorted; NA becomes :data:`UNKNOWN`, listed
    last (a real "unknown" value merges with it). The charts colour and order their traces
    with it, so charts and tables list groups alike.

    >>> group_codes(pd.Series(["b", None, "a", "b"]))
    (['a', 'b', 'unknown'], array([1, 2, 0, 1]))
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        labels = [str(c) for c in series.cat.categories]
        codes = series.cat.codes.to_numpy().astype(np.int64)
    else:
        codes_, uniques = pd.factorize(series, sort=True)
        codes = np.asarray(codes_, dtype=np.int64)
        labels = [str(u) for u in uniques]
    codes = np.where(codes < 0, len(labels), codes)
    labels.append(UNKNOWN)
    present = np.bincount(codes, minlength=len(labels)) > 0
    # Renumber to the labels that occur; a real "unknown" category merges with NA.
    kept = [label for label, keep in zip(labels, present, strict=True) if keep]
    order = {label: i for i, label in enumerate(dict.fromkeys(kept))}
    remap = np.array([order.get(label, -1) for label in labels], dtype=np.int64)
    return list(order), remap[codes]


def column(df: pd.DataFrame, name: str) -> pd.Series:
    """Return ``df[name]``, or an all-NA column when the frame lacks it."""
    if name in df.columns:
        return df[name]
    return pd.Series(pd.NA, index=df.index, dtype="object")


def numbers(df: pd.DataFrame, name: str) -> np.ndarray:
    """Return a column as float64 with NaN for NA (a missing column: all NaN)."""
    series = column(df, name)
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)  # no parsing needed
    values = pd.to_numeric(series, errors="coerce").astype("float64")
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


def utc(times: pd.Series) -> pd.Series:
    """Return datetimes as tz-aware UTC (a naive column is taken as UTC)."""
    if not isinstance(times.dtype, pd.DatetimeTZDtype):
        return pd.to_datetime(times, utc=True)
    return times.dt.tz_convert("UTC")


def epoch_seconds(df: pd.DataFrame, name: str) -> np.ndarray:
    """Return a time column as float seconds since the epoch (NaN where missing)."""
    times = column(df, name)
    if times.isna().all():
        return np.full(len(df), np.nan)
    micros = utc(times).dt.tz_localize(None).to_numpy().astype("datetime64[us]").astype(np.int64)
    out = micros / 1e6
    out[times.isna().to_numpy()] = np.nan
    return out


def dense_codes(combined: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the sorted distinct values of ``combined`` (ints in [0, size)) and each row's
    index among them: ``np.unique(..., return_inverse=True)`` without sorting the rows."""
    if size > 4 * len(combined) + 1_000_000:  # sparse: a sort is cheaper than a table
        present, inverse = np.unique(combined, return_inverse=True)
        return present, inverse.reshape(-1)
    seen = np.bincount(combined, minlength=size) > 0
    present = np.flatnonzero(seen)
    lookup = np.cumsum(seen) - 1
    return present, lookup[combined]
