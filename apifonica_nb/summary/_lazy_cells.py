"""The spend of a lazy frame per group and bucket, summed in its engine (for the baseline).

One query: the priced calls with a creation time, grouped by the ``by`` keys and the ``freq``
bucket of ``created`` on the wall clock of ``tz`` (see :mod:`._engine`), each group's spend
and calls. :mod:`._anomalies` scores them as it scores a pandas frame's calls.
"""

from __future__ import annotations

from typing import Any

import narwhals as nw
import numpy as np

from ._engine import check_utc, group_keys, key_series, with_bucket, with_epoch
from ._groups import Grouping, group_rows
from ._lazy import collect_aggregates, ensure_columns


def lazy_cells(
    lf: nw.LazyFrame[Any], names: list[str], freq: str, tz: str | None
) -> tuple[Grouping, np.ndarray, np.ndarray, np.ndarray]:
    """Return the groups of the (group, bucket) rows, their bucket starts (naive wall
    clock), their spend and their calls."""
    lf = ensure_columns(lf, [*names, "cost_eur", "created"])
    check_utc(lf, ["created"])
    cost = nw.col("cost_eur").cast(nw.Float64)
    priced = lf.filter(~cost.is_null(), ~nw.col("created").is_null())
    priced, to_starts = with_bucket(with_epoch(priced, ["created"]), freq, tz)
    priced, keys, extra = group_keys(priced, names)
    table = collect_aggregates(
        priced.group_by(*keys, "__bucket").agg(
            cost.sum().alias("spend"), nw.len().alias("calls"), *extra
        )
    )
    parts = [key_series(table, name) for name in names]
    groups = group_rows(len(table), parts, names, None, None, None)
    spend = table["spend"].to_numpy(dtype=np.float64, na_value=0.0)
    calls = table["calls"].to_numpy(dtype=np.float64)
    return groups, to_starts(table["__bucket"]), spend, calls
