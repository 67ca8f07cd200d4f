"""The numbers the report, the explorer and the CLI share: totals, KPIs, concurrency, costs.

One home for "how many calls, how many answered, what they cost", so the HTML report, the
explorer's summary line and ``apifonica-nb summary`` can never disagree::

    from apifonica_nb import summary

    t = summary.totals(df)            # Totals(calls=500, answered=325, ...)
    t.answer_rate                     # the ASR, or None when no call has finished
    summary.by_column(df, "status")   # calls, answered, cost, minutes per status
    summary.kpis(df, by="channel")    # ASR, NER, ACD, time to answer, costs (ap.kpis)
    summary.concurrency(df, freq="h")  # calls in progress, peak, Erlangs (ap.concurrency)
    summary.cost_anomalies(df)        # spend far above its own baseline (ap.cost_anomalies)

Each function takes a pandas call frame **or a lazy frame** (``ap.cache.scan()``'s DuckDB
relation, a Polars ``LazyFrame``/``DataFrame``, a PySpark ``DataFrame``, a Dask frame): the
aggregation then runs inside that engine (narwhals expressions, one query per function, two
with a ``tz=`` that changes its UTC offset) and only aggregates come back, a few rows per group
and time bucket, never one per call. The same pandas code finishes both paths, so the tables
are the same: same rows, order, labels and dtypes (undocumented statuses, which an engine sees
as plain text, are ordered alphabetically after the documented ones). Engine timestamps with
a zone must be read in UTC; ``tz=`` uses pandas' own time-zone database on every engine.

Everything is vectorised and NA-safe: a missing value counts as nothing (no cost, no
minutes), a missing label is grouped as :data:`UNKNOWN`, a missing column is all missing, and
an empty frame gives zero totals and an empty table, never an exception.

One module per concept: ``_outcomes`` (how statuses map onto answered, busy, no answer,
network failure and in progress), ``_totals`` (:func:`totals`, :func:`by_column`), ``_kpis``
(and ``_display``: :func:`kpi_table`), ``_concurrency``, ``_anomalies``, over ``_frame``
(reading columns), ``_lazy`` (frames of other engines, through narwhals) and ``_groups``
(grouping by columns and time buckets). The engines' side: ``_engine`` (integer times, wall
clocks, outcome flags, typed keys) and the reductions ``_kpis_lazy``, ``_concurrency_lazy``
and ``_lazy_cells`` (the spend per group and bucket of the anomaly baseline).

The engine-side building blocks are exported for :mod:`apifonica_nb.charts`, whose lazy
paths reduce in the engine the same way (one home for each):

- :func:`with_epoch` adds a datetime column's microseconds since the epoch (and its UTC
  date), :func:`epoch_us` names that column: the one time representation every engine
  computes alike. :func:`check_utc` refuses time columns read in another session zone.
- :func:`wall_us` turns those into wall-clock microseconds in ``tz`` in the engine, from the
  offsets and change instants :func:`utc_offsets` reads from pandas' time-zone database;
  :func:`offsets_at` gives the same offsets in Python for given instants.
- :func:`with_bucket` adds the ``freq`` bucket of ``created`` (``__bucket``) and returns the
  function that turns the collected keys into the pandas path's bucket starts.
- :func:`group_keys` adds group keys (missing text as :data:`UNKNOWN`, with its count of
  real values), :func:`key_series` types the collected keys as the call frame types them
  (:func:`as_call_dtype`), so :func:`group_codes` labels and orders them as in pandas.
"""

from __future__ import annotations

from ._anomalies import cost_anomalies, cost_baseline
from ._concurrency import concurrency
from ._display import kpi_table
from ._engine import (
    as_call_dtype,
    check_utc,
    group_keys,
    key_series,
    offsets_at,
    utc_offsets,
    wall_us,
    with_bucket,
    with_epoch,
)
from ._engine import epoch as epoch_us
from ._frame import UNKNOWN, group_codes
from ._kpis import KPI_COLUMNS, kpis
from ._lazy import collect_aggregates, ensure_columns, lazy_frame
from ._outcomes import OUTCOMES
from ._totals import Totals, by_column, totals

__all__ = [
    "KPI_COLUMNS",
    "OUTCOMES",
    "UNKNOWN",
    "Totals",
    "as_call_dtype",
    "by_column",
    "check_utc",
    "collect_aggregates",
    "concurrency",
    "cost_anomalies",
    "cost_baseline",
    "ensure_columns",
    "epoch_us",
    "group_codes",
    "group_keys",
    "key_series",
    "kpi_table",
    "kpis",
    "lazy_frame",
    "offsets_at",
    "totals",
    "utc_offsets",
    "wall_us",
    "with_bucket",
    "with_epoch",
]
