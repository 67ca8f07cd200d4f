"""Reading the frame for a chart: columns that may be missing, UTC and wall-clock times, text.

Charts take any frame shaped like :data:`apifonica_nb.frame.CALL_DTYPES`, including ones
missing columns or full of NA; these helpers make that safe in one place.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

# plotly measures lengths on a date axis in milliseconds.
MS = 1000.0


def column_or_na(df: pd.DataFrame, name: str) -> pd.Series:
    """Return ``df[name]``, or an all-NA column when the frame lacks it."""
    if name in df.columns:
        return df[name]
    return pd.Series(pd.NA, index=df.index, dtype="object")


def has_values(df: pd.DataFrame, names: Iterable[str]) -> bool:
    """Tell whether every column in ``names`` exists and holds at least one value."""
    return all(name in df.columns and bool(df[name].notna().any()) for name in names)


def as_utc(series: pd.Series) -> pd.Series:
    """Return ``series`` as tz-aware UTC datetimes (a naive column is taken as UTC)."""
    if not isinstance(series.dtype, pd.DatetimeTZDtype):
        series = pd.to_datetime(series, utc=True)
    return series.dt.tz_convert("UTC")


def wall_clock(series: pd.Series, tz: str | None) -> pd.Series:
    """Return UTC datetimes as naive wall-clock times in ``tz`` (plotly ignores offsets)."""
    series = as_utc(series)
    if tz is not None:
        series = series.dt.tz_convert(tz)
    return series.dt.tz_localize(None)


def epoch_seconds(series: pd.Series) -> np.ndarray:
    """Return UTC datetimes as whole seconds since the epoch (int64)."""
    naive = as_utc(series).dt.tz_localize(None).to_numpy()
    return naive.astype("datetime64[s]").astype(np.int64)


def zone_label(tz: str | None) -> str:
    return tz or "UTC"


def escape_text(series: pd.Series) -> pd.Series:
    """HTML-escape a text column for plotly hover labels (which read a little HTML)."""
    text = series.astype("str").fillna("–")
    return text.str.replace("&", "&amp;").str.replace("<", "&lt;").str.replace(">", "&gt;")
