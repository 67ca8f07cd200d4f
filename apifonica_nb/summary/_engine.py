"""Engine-side building blocks of the lazy path: times as integers, wall clocks, outcomes, keys.

The summary functions, given a lazy frame (see :mod:`._lazy`), reduce it inside its engine
with narwhals expressions made here, then finish the table in pandas with the code the pandas
path uses. Three choices keep the engines' numbers identical to pandas':

- **Times are integers.** A timestamp becomes microseconds since the epoch (DuckDB's
  ``epoch_us``, Spark's ``unix_micros``, narwhals' ``timestamp`` elsewhere), so buckets are
  integer floor divisions: exact, and alike on every engine.
- **Time zones come from pandas.** DuckDB and Spark keep the zone in the session, not in the
  data, so no engine converts zones alike. The UTC offsets of ``tz`` and the instants they
  change (1970 to 2100, to the second) are read from pandas' own time-zone database and
  written into the query as a balanced ``when/then`` tree (only the offsets in force between
  the data's first and last ``created``, read by one small query first); a wall-clock time
  is the UTC time plus that offset, as ``tz_convert`` gives it. Timestamps with a zone must
  therefore be read in UTC (DuckDB ``SET TimeZone='UTC'``, Spark
  ``spark.sql.session.timeZone=UTC``).
- **Labels are finished in pandas.** Keys come back as the engine's text; :func:`key_series`
  types them as :data:`~apifonica_nb.frame.CALL_DTYPES` does (status, direction and channel
  as categoricals in the documented order, undocumented values after them, sorted: an engine
  has no "first seen" order) so :func:`~apifonica_nb.summary.group_codes` orders them as it
  orders a pandas frame. A missing text key is grouped with the value ``"unknown"`` in the
  engine (the two share one label in pandas too) and its non-missing count says which it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from ..errors import InvalidRequestError
from ..frame import CALL_DTYPES
from ._frame import UNKNOWN
from ._groups import _floor
from ._lazy import collect_aggregates
from ._outcomes import _STATUS_OUTCOME, OUTCOMES

US = 1_000_000
DAY_US = 86_400 * US
_UTC_NAMES = {"UTC", "Etc/UTC", "Etc/GMT", "GMT", "Etc/UCT", "UCT", "Z", "+00:00", "Etc/Zulu"}
#: Suffix of the per-key count of non-missing values (see :func:`group_keys`).
REAL = "__real_"


def check_utc(lf: nw.LazyFrame[Any], names: Iterable[str]) -> None:
    """Refuse time columns read in a session zone other than UTC (their fields would shift)."""
    schema = lf.collect_schema()
    for name in names:
        dtype = schema.get(name)
        zone = getattr(dtype, "time_zone", None)
        if isinstance(dtype, nw.Datetime) and zone is not None and zone not in _UTC_NAMES:
            raise InvalidRequestError(
                f"column {name!r} is read in the time zone {zone!r}; read it in UTC "
                "(DuckDB: SET TimeZone='UTC'; Spark: spark.sql.session.timeZone=UTC) and "
                "pass tz= for local days and hours"
            )


def with_epoch(lf: nw.LazyFrame[Any], names: Sequence[str]) -> nw.LazyFrame[Any]:
    """Add ``__us_<name>`` (microseconds since the epoch, UTC) and ``__year_<name>``,
    ``__month_<name>``, ``__day_<name>`` (the UTC date) of each datetime column.

    narwhals has no ``timestamp()`` on DuckDB or Spark, and writing it from calendar fields
    made DuckDB's planner inline the arithmetic exponentially (seconds for 300 calls): those two
    get their own function (``epoch_us``, ``unix_micros``), the others narwhals'.
    """
    names = list(dict.fromkeys(names))
    if not names:
        return lf
    lf = lf.with_columns(
        getattr(nw.col(n).dt, f)().cast(nw.Int64).alias(f"__{f}_{n}")
        for n in names
        for f in ("year", "month", "day")
    )
    impl = lf.implementation
    if impl.is_duckdb():
        columns = ", ".join(f'epoch_us("{n}") AS "__us_{n}"' for n in names)
        return nw.from_native(lf.to_native().project(f"*, {columns}"))
    if impl.is_pyspark() or impl.is_pyspark_connect():
        from pyspark.sql import functions as F

        native = lf.to_native()
        for n in names:
            native = native.withColumn(f"__us_{n}", F.unix_micros(F.col(n).cast("timestamp")))
        return nw.from_native(native)
    return lf.with_columns(nw.col(n).dt.timestamp("us").alias(f"__us_{n}") for n in names)


def epoch(name: str) -> nw.Expr:
    """The column :func:`with_epoch` added for ``name``."""
    return nw.col(f"__us_{name}")


# --------------------------------------------------------------------------- time zones


def utc_offsets(tz: str, span: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return the instants (us, UTC) from which each UTC offset (us) of ``tz`` holds.

    Read from pandas' time-zone database, 1970 to 2100: hourly, then each change found to the
    minute and to the second. The first offset also holds before 1970, the last after 2100.
    ``span`` (first and last UTC instant of the data) reads only the hours of that span (the
    same changes within 1970 to 2100, the zone's own ones outside; a span longer than 1970 to
    2100 reads those years): the first offset holds before it, the last after it.
    """
    first, last = pd.Timestamp("1970-01-01", tz="UTC"), pd.Timestamp("2100-01-01", tz="UTC")
    if span is not None:
        low, high = (pd.Timestamp(t, unit="us", tz="UTC").floor("h") for t in span)
        if high - low < last - first:
            first, last = low, high + pd.Timedelta(hours=1)
    hours = pd.date_range(first, last, freq="h", unit="s")
    offsets = _offset_us(hours, tz)
    changes = np.flatnonzero(np.diff(offsets)) + 1
    starts = [int(hours[0].value // 1000)]
    values = [int(offsets[0])]
    for i in changes:
        instant = hours[int(i) - 1]
        for step in ("min", "s"):  # the first minute, then second, of the new offset
            probe = pd.date_range(instant, periods=61, freq=step)
            after = np.flatnonzero(_offset_us(probe, tz) == offsets[i])
            instant = probe[max(int(after[0]) - 1, 0)] if step == "min" else probe[after[0]]
        starts.append(int(instant.value // 1000))
        values.append(int(offsets[i]))
    return np.array(starts, dtype=np.int64), np.array(values, dtype=np.int64)


def _offset_us(times: pd.DatetimeIndex, tz: str) -> np.ndarray:
    wall = times.tz_convert(tz).tz_localize(None).as_unit("us")
    return (wall.asi8 - times.as_unit("us").asi8).astype(np.int64)


def wall_us(utc: nw.Expr, tz: str | None, span: tuple[int, int] | None = None) -> nw.Expr:
    """Wall-clock microseconds in ``tz`` (naive, as ``tz_convert(tz).tz_localize(None)``).

    ``span`` (first and last UTC instant of the data) keeps only the offsets in force then:
    a few ``when`` instead of some 250 (DuckDB's planner slows down on deep trees).
    """
    if tz is None:
        return utc
    starts, offsets = utc_offsets(tz, span)
    if span is not None:
        low, high = (int(np.searchsorted(starts, t, side="right")) - 1 for t in span)
        low = max(low, 0)
        starts, offsets = starts[low : high + 1], offsets[low : high + 1]
    return utc + _tree(utc, starts, offsets)


def _tree(utc: nw.Expr, starts: np.ndarray, values: np.ndarray) -> nw.Expr:
    """The offset in force at ``utc``: a balanced ``when/then`` over the change instants."""
    if len(values) == 1:
        return nw.lit(int(values[0]), dtype=nw.Int64())
    mid = len(values) // 2
    left = _tree(utc, starts[:mid], values[:mid])
    right = _tree(utc, starts[mid:], values[mid:])
    return nw.when(utc < int(starts[mid])).then(left).otherwise(right)


def offsets_at(
    utc_us: np.ndarray, tz: str | None, span: tuple[int, int] | None = None
) -> np.ndarray:
    """The UTC offsets (us) of ``tz`` at instants ``utc_us`` (us), as :func:`wall_us` with the
    same ``span`` applies them."""
    micros = np.asarray(utc_us, dtype=np.int64)
    if tz is None:
        return np.zeros(micros.shape, dtype=np.int64)
    starts, offsets = utc_offsets(tz, span)
    return offsets[np.maximum(np.searchsorted(starts, micros, side="right") - 1, 0)]


def offset_at(utc_us: int, tz: str | None) -> int:
    """The UTC offset (us) of ``tz`` at one instant, as :func:`wall_us` applies it."""
    if tz is None:
        return 0
    starts, offsets = utc_offsets(tz)
    return int(offsets[max(int(np.searchsorted(starts, utc_us, side="right")) - 1, 0)])


# --------------------------------------------------------------------------- outcomes, keys


def outcome_flags(status: str = "status") -> dict[str, nw.Expr]:
    """One 0/1 Int64 expression per outcome of :data:`OUTCOMES` but ``unclassified``.

    Statuses are compared in lower case, as pandas compares a text status; a missing status
    is in none (its call is ``unclassified``: calls minus the others).
    """
    text = nw.col(status).cast(nw.String()).str.to_lowercase()
    flags = {}
    for outcome in OUTCOMES[:-1]:
        statuses = [s for s, o in _STATUS_OUTCOME.items() if o == outcome]
        flags[outcome] = flag(text.is_in(statuses))
    return flags


def flag(condition: nw.Expr) -> nw.Expr:
    """1 where ``condition`` holds, 0 where it fails or is missing (an Int64 to sum)."""
    return nw.when(condition).then(nw.lit(1)).otherwise(nw.lit(0)).cast(nw.Int64)


#: Prefix of the key columns :func:`group_keys` adds.
KEY = "__key_"


def group_keys(
    lf: nw.LazyFrame[Any], names: Sequence[str]
) -> tuple[nw.LazyFrame[Any], list[str], list[nw.Expr]]:
    """Return ``lf`` with a key column per name of ``names``, their names, and the aggregates
    that go with them (one per text key).

    Text keys are grouped with missing values as ``"unknown"`` (pandas gives both one label),
    and each carries its count of non-missing values, so that :func:`key_series` can tell a
    real ``"unknown"`` from missing values.
    """
    schema = lf.collect_schema()
    keys, extra, columns = [], [], []
    for name in names:
        if schema[name] == nw.String():
            columns.append(nw.col(name).fill_null(UNKNOWN).alias(KEY + name))
            extra.append(nw.col(name).count().alias(REAL + name))
        else:
            columns.append(nw.col(name).alias(KEY + name))
        keys.append(KEY + name)
    return (lf.with_columns(columns) if columns else lf), keys, extra


def key_series(table: pd.DataFrame, name: str) -> pd.Series:
    """Return the collected key of ``name`` (see :func:`group_keys`) typed as the call frame
    types the column."""
    values = table[KEY + name]
    if REAL + name in table.columns:
        values = values.astype("str").where(table[REAL + name].to_numpy() > 0, None)
    return as_call_dtype(values, name)


def as_call_dtype(values: pd.Series, name: str) -> pd.Series:
    """Return an engine's values of column ``name`` typed as the call frame types it: status,
    direction and channel as categoricals (documented values first, in their order, then the
    others sorted), numbers and flags nullable; other columns as they are."""
    dtype = CALL_DTYPES.get(name)
    if isinstance(dtype, pd.CategoricalDtype):
        documented = [str(c) for c in dtype.categories]
        extra = sorted({str(v) for v in values.dropna()} - set(documented))
        return values.astype(pd.CategoricalDtype([*documented, *extra]))
    if dtype in ("Int64", "Float64", "boolean"):
        try:
            return values.astype(dtype)
        except (TypeError, ValueError):
            return values
    return values


# --------------------------------------------------------------------------- buckets

_MONTHS = {"M": 1, "ME": 1, "MS": 1, "Q": 3, "QE": 3, "QS": 3, "Q-DEC": 3}
_MONTHS.update({"Y": 12, "YE": 12, "YS": 12, "Y-DEC": 12, "A": 12, "AS": 12})


def with_bucket(
    lf: nw.LazyFrame[Any],
    freq: str,
    tz: str | None,
    *,
    wall: nw.Expr | None = None,
    sums: bool = False,
) -> tuple[nw.LazyFrame[Any], Any]:
    """Add ``__bucket``: the ``freq`` bucket of ``created`` on the wall clock of ``tz`` (an
    integer; needs :func:`with_epoch` of ``created``), and return the function turning those
    integers into bucket starts (naive ``datetime64[us]``), as
    :func:`~apifonica_nb.summary._groups.bucket_starts` floors them in pandas.

    ``wall``: that wall clock (:func:`wall_us`) when the caller has it (no span query).
    ``sums``: the aggregates add up (counts, sums), so a calendar ``freq`` the engine cannot
    bucket is bucketed by day there and the days floored to ``freq`` in pandas.
    """
    if wall is None:
        span = None
        if tz is not None and len(utc_offsets(tz)[1]) > 1:  # the data's span: one small query
            created = epoch("created")
            ends = collect_aggregates(lf.select(created.min().alias("a"), created.max().alias("b")))
            if ends["a"].notna().all():
                span = (int(ends["a"].iloc[0]), int(ends["b"].iloc[0]))
        wall = wall_us(epoch("created"), tz, span)
    lf = lf.with_columns(wall.alias("__wall"))
    wall = nw.col("__wall")
    try:
        step = int(pd.tseries.frequencies.to_offset(freq).nanos // 1000)
    except ValueError:
        step = 0
    if step:  # fixed length: floored from the epoch, as Series.dt.floor does
        return lf.with_columns(((wall // step) * step).alias("__bucket")), _micro_starts
    lf = lf.with_columns((wall // DAY_US).alias("__days"))
    days = nw.col("__days")
    if freq in _MONTHS:
        months = nw.col("__months")
        per = _MONTHS[freq]
        lf = _with_months(lf)
        return lf.with_columns((months - months % per).alias("__bucket")), _month_starts
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except ValueError:  # a period alias only ("Q-JAN"): no offset, no engine bucket
        offset = None
    weekday = getattr(offset, "weekday", None)
    if isinstance(offset, pd.offsets.Week) and weekday is not None:
        first = (int(weekday) + 1) % 7  # the period ends on `weekday`: starts the day after
        start = days - (days + 3 - first) % 7  # 1970-01-01 was a Thursday (weekday 3)
        return lf.with_columns((start * DAY_US).alias("__bucket")), _micro_starts
    if sums:  # day totals, floored in pandas as the pandas path floors the calls

        def day_starts(values: pd.Series) -> np.ndarray:
            floored = _floor(pd.Series(_micro_starts(values)), freq)
            return floored.to_numpy().astype("datetime64[us]")

        return lf.with_columns((days * DAY_US).alias("__bucket")), day_starts
    raise InvalidRequestError(
        f"freq {freq!r} cannot be bucketed inside an engine; use a fixed length ('min', 'h', "
        "'D'), a week ('W', 'W-MON'), 'M', 'Q' or 'Y', or pass a pandas frame"
    )


def _with_months(lf: nw.LazyFrame[Any]) -> nw.LazyFrame[Any]:
    """Add ``__months`` (year * 12 + month - 1) of the wall clock ``__wall``.

    From the UTC calendar fields :func:`with_epoch` made: the wall date is at most a day off
    the UTC date, so the month moves only on the first or the last day of a UTC month. (A
    civil-from-days in engine arithmetic made DuckDB's planner inline it exponentially.)
    """
    year, month, day = (nw.col(f"__{f}_created") for f in ("year", "month", "day"))
    lf = lf.with_columns(
        ((nw.col("__wall") // DAY_US) - (epoch("created") // DAY_US)).alias("__shift"),
    )
    lf = lf.with_columns(
        (((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)).alias("__leap")
    )
    leap = nw.col("__leap")
    short = month.is_in([4, 6, 9, 11])
    last = (
        nw.when(month == 2)
        .then(nw.when(leap).then(nw.lit(29)).otherwise(nw.lit(28)))
        .otherwise(nw.when(short).then(nw.lit(30)).otherwise(nw.lit(31)))
    )
    shift = nw.col("__shift")
    move = (
        nw.when((shift > 0) & (day == last))
        .then(nw.lit(1))
        .otherwise(nw.when((shift < 0) & (day == 1)).then(nw.lit(-1)).otherwise(nw.lit(0)))
    )
    return lf.with_columns((year * 12 + month - 1 + move).alias("__months"))


def _known(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NaT everywhere, which rows have a bucket, and their buckets as int64."""
    ints = pd.array(values.to_numpy(dtype=object), dtype="Int64")
    known = ~np.asarray(ints.isna(), dtype=bool)
    out = np.full(len(ints), np.datetime64("NaT"), dtype="datetime64[us]")
    return out, known, np.asarray(ints[known], dtype=np.int64)


def _micro_starts(values: pd.Series) -> np.ndarray:
    out, known, micros = _known(values)
    out[known] = micros.astype("datetime64[us]")
    return out


def _month_starts(values: pd.Series) -> np.ndarray:
    out, known, m = _known(values)
    out[known] = ((m // 12 - 1970) * 12 + m % 12).astype("datetime64[M]").astype("datetime64[us]")
    return out
