"""Frames that are not pandas: lazy engines (DuckDB, Polars, Spark, Dask) through narwhals.

Every builder in :mod:`apifonica_nb.summary` and :mod:`apifonica_nb.charts` takes a pandas
frame shaped like :data:`apifonica_nb.frame.CALL_DTYPES` **or** any frame narwhals supports
(``ap.cache.scan()``'s DuckDB relation, a Polars ``LazyFrame`` or ``DataFrame``, a PySpark
``DataFrame``, a Dask frame). For those the aggregation is written as narwhals expressions and
runs inside that engine; only the aggregates (a few rows per group and time bucket) come back
into Python, as a small pandas frame, and the pandas code finishes the table or figure from
there. A pandas frame keeps its eager numpy path, measured to be faster at notebook sizes.

The engines' columns are plain types: text where pandas has categoricals, timestamps in UTC
(a Spark session should run with ``spark.sql.session.timeZone=UTC``). A column the frame lacks
is read as all missing, as for pandas.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import narwhals as nw
import pandas as pd

from ..errors import InvalidRequestError

#: narwhals dtypes of the call columns a lazy frame may lack (added as all-null columns;
#: times naive, as engines disagree on the name of UTC: DuckDB wants "Etc/UTC").
_NULL_TYPES: dict[str, Any] = {
    "created": nw.Datetime("us"),
    "updated": nw.Datetime("us"),
    "started": nw.Datetime("us"),
    "ended": nw.Datetime("us"),
    "duration": nw.Int64(),
    "timeout": nw.Int64(),
    "price": nw.Float64(),
    "cost_eur": nw.Float64(),
    "setup_seconds": nw.Float64(),
    "talk_seconds": nw.Float64(),
    "is_final": nw.Boolean(),
}


def lazy_frame(data: Any) -> nw.LazyFrame[Any] | None:
    """Return ``data`` as a narwhals LazyFrame, or None when it is a pandas DataFrame.

    A pandas frame takes the builders' eager path (None); anything narwhals wraps becomes
    lazy, so the aggregation runs in its engine. Anything else is refused with a message
    that says what is accepted.
    """
    if isinstance(data, pd.DataFrame):
        return None
    if isinstance(data, nw.LazyFrame):
        return data
    if isinstance(data, nw.DataFrame):
        return data.lazy()
    try:
        frame = nw.from_native(data)
    except TypeError:
        raise InvalidRequestError(
            f"expected a pandas DataFrame of calls or a frame narwhals supports (a DuckDB "
            f"relation such as ap.cache.scan(), a Polars or PySpark DataFrame), not "
            f"{type(data).__name__}"
        ) from None
    if isinstance(frame, nw.DataFrame):
        return frame.lazy()
    if isinstance(frame, nw.LazyFrame):
        return frame
    raise InvalidRequestError(
        f"expected a frame of calls, not a {type(data).__name__} (a series or a scalar)"
    )


def ensure_columns(lf: nw.LazyFrame[Any], names: Iterable[str]) -> nw.LazyFrame[Any]:
    """Return ``lf`` with every column of ``names`` present: a missing one is all null."""
    have = set(lf.collect_schema().names())
    missing = [name for name in dict.fromkeys(names) if name not in have]
    if not missing:
        return lf
    return lf.with_columns(
        nw.lit(None, dtype=_NULL_TYPES.get(name, nw.String())).alias(name) for name in missing
    )


def collect_aggregates(lf: nw.LazyFrame[Any]) -> pd.DataFrame:
    """Run the query in its engine and bring the (small) result into pandas."""
    # Through Arrow: every engine hands over Arrow tables (Spark's toPandas trips over pandas
    # 3), and Arrow keeps the UTC time zone of timestamps.
    return lf.collect(backend="pyarrow").to_native().to_pandas()
