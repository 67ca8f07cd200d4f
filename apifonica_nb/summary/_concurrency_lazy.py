"""Calls in progress of a lazy frame: events aggregated per bucket in its engine, one query.

Times are integer microseconds from a bucket edge ``origin``; a call is [s, e) and covers
the buckets ``first = s // w`` to ``last = (e - 1) // w``. The engine returns, per group of
``by`` and bucket, only aggregates:

- per ``first`` bucket: the calls starting there and the sum of ``s - first * w`` (their lead),
  and per key the calls left out (no interval: their ``first`` is missing);
- per ``last`` bucket: the calls ending there and the sum of ``(last + 1) * w - e`` (tail);
- per bucket: the peak level, exactly. Starts (+1) and ends (-1) are summed per instant, the
  level at each instant is their running sum (a window ``cum_sum`` ordered by time), and the
  bucket keeps its maximum. Instants never leave the engine (they are its intermediate
  result), so 10 million calls still bring back a few rows per bucket.

pandas finishes: ``calls`` is the running count of firsts minus lasts, the call-seconds are
``w * calls - lead - tail``, and the peak is the larger of the instants' maximum and the level
as the bucket opens (firsts before it minus lasts before it), as :func:`._concurrency._sweep`
defines them. A bucket no event falls in (inside long calls) is filled in from those counts.
"""

from __future__ import annotations

from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from ..errors import InvalidRequestError
from ._engine import (
    KEY,
    REAL,
    check_utc,
    epoch,
    group_keys,
    key_series,
    offset_at,
    utc_offsets,
    with_epoch,
)
from ._groups import group_rows
from ._lazy import collect_aggregates, ensure_columns

#: One group's buckets: labels of the ``by`` columns, bucket starts (us, UTC), the columns.
Part = tuple[dict[str, str], np.ndarray, dict[str, np.ndarray]]
_FIRST, _LAST, _PEAK = 0, 1, 2
_I64 = nw.Int64()


def lazy_concurrency(
    lf: nw.LazyFrame[Any], names: list[str], start_name: str, step: int, tz: str | None
) -> tuple[list[Part], int, int, int]:
    """Return per group its buckets, then the calls left out, the calls in all and the
    bucket count (checked by the caller)."""
    lf = ensure_columns(lf, [*names, start_name, "ended", "updated"])
    check_utc(lf, [start_name, "ended", "updated"])
    lf = with_epoch(lf, [start_name, "ended", "updated"])
    lf = lf.with_columns(
        epoch(start_name).alias("__start"),
        nw.coalesce(epoch("ended"), epoch("updated")).alias("__end"),
    )
    start, end = nw.col("__start"), nw.col("__end")
    lf = lf.with_columns((~start.is_null() & ~end.is_null() & (end > start)).alias("__ok"))
    ok = nw.col("__ok")
    origin = _origin(lf, start, ok, step, tz)
    s, e = start - origin, end - origin
    timed, keys, extra = group_keys(
        lf.with_columns(
            nw.when(ok).then(s // step).alias("__first"),
            nw.when(ok).then(s).alias("__s"),
            nw.when(ok).then(e).alias("__e"),
        ),
        names,
    )
    timed = timed.with_columns(((nw.col("__e") - 1) // step).alias("__last"))
    usable = timed.filter(~nw.col("__first").is_null())
    schema = lf.collect_schema()
    reals = [n for n in names if schema[n] == nw.String()]  # as group_keys counts them

    def shaped(frame: nw.LazyFrame[Any], kind: int, b: str) -> nw.LazyFrame[Any]:
        zero = [nw.lit(0, dtype=_I64).alias(REAL + n) for n in reals]
        have = frame.collect_schema().names()
        return frame.select(
            *keys,
            nw.lit(kind, dtype=_I64).alias("kind"),
            nw.col(b).cast(_I64).alias("b"),
            nw.col("n").cast(_I64),
            nw.col("x").cast(_I64) if "x" in have else nw.lit(0, dtype=_I64).alias("x"),
            *(
                nw.col(REAL + n).cast(_I64) if REAL + n in have else z
                for n, z in zip(reals, zero, strict=True)
            ),
        )

    lead = nw.col("__s") - nw.col("__first") * step
    firsts = timed.group_by(*keys, "__first").agg(
        nw.len().alias("n"), lead.sum().alias("x"), *extra
    )
    tail = (nw.col("__last") + 1) * step - nw.col("__e")
    lasts = usable.group_by(*keys, "__last").agg(nw.len().alias("n"), tail.sum().alias("x"))
    one = nw.lit(1, dtype=_I64)
    events = nw.concat(
        [
            usable.select(*keys, nw.col("__s").alias("__t"), one.alias("__d")),
            usable.select(*keys, nw.col("__e").alias("__t"), (-one).alias("__d")),
        ],
        how="vertical",
    )
    instants = events.group_by(*keys, "__t").agg(nw.col("__d").sum().alias("__net"))
    running = nw.col("__net").cum_sum()
    level = running.over(*keys, order_by="__t") if keys else running.over(order_by="__t")
    instants = instants.with_columns(level.alias("__level"), (nw.col("__t") // step).alias("__b"))
    peaks = instants.group_by(*keys, "__b").agg(nw.col("__level").max().alias("n"))
    table = collect_aggregates(
        nw.concat(
            [
                shaped(firsts, _FIRST, "__first"),
                shaped(lasts, _LAST, "__last"),
                shaped(peaks, _PEAK, "__b"),
            ],
            how="vertical",
        )
    )
    return _finish(table, names, reals, origin, step)


def _origin(lf: nw.LazyFrame[Any], start: nw.Expr, ok: nw.Expr, step: int, tz: str | None) -> int:
    """A bucket edge as :func:`._concurrency._origin` places it: on the wall clock of ``tz``
    at the first start. Only the first start's UTC offset modulo the bucket matters, so the
    first start is read (one more query) only when the offsets of ``tz`` disagree on it."""
    if tz is None:
        return 0
    choices = {int(-o) % step for o in utc_offsets(tz)[1]}
    if len(choices) == 1:
        return choices.pop()
    first = collect_aggregates(lf.select(nw.when(ok).then(start).min().alias("m")))["m"].iloc[0]
    return 0 if pd.isna(first) else int(-offset_at(int(first), tz)) % step


def _finish(
    table: pd.DataFrame, names: list[str], reals: list[str], origin: int, step: int
) -> tuple[list[Part], int, int, int]:
    for name in reals:  # a key's non-missing count is carried by its "first" rows only
        table[REAL + name] = table.groupby([KEY + n for n in names], dropna=False)[
            REAL + name
        ].transform("sum")
    bucket = table["b"].to_numpy(dtype=np.float64, na_value=np.nan)
    first_rows = table["kind"].to_numpy() == _FIRST
    left_out = int(table["n"].to_numpy()[first_rows & np.isnan(bucket)].sum())
    total = int(table["n"].to_numpy()[first_rows].sum())
    table = table.loc[~np.isnan(bucket)].reset_index(drop=True)
    parts_ = [key_series(table, name) for name in names]
    groups = group_rows(len(table), parts_, names, None, None, None)
    out: list[Part] = []
    n_buckets = 0
    for g in range(groups.size):
        mine = table.loc[groups.row == g]
        labels = {name: str(groups.keys[name].iloc[g]) for name in names}
        buckets, columns = _sweep(mine, step)
        n_buckets += len(buckets)
        out.append((labels, origin + buckets * step, columns))
    return out, left_out, total, n_buckets


def _sweep(rows: pd.DataFrame, step: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    def kind(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        part = rows.loc[rows["kind"] == k].sort_values("b")
        return (
            part["b"].to_numpy(np.int64),
            part["n"].to_numpy(np.int64),
            part["x"].to_numpy(np.int64),
        )

    fb, fn, lead = kind(_FIRST)
    lb, ln, tail = kind(_LAST)
    pb, pv, _ = kind(_PEAK)
    points = np.concatenate([fb, lb + 1])
    deltas = np.concatenate([fn, -ln])
    order = np.argsort(points, kind="stable")
    points, deltas = points[order], deltas[order]
    edges, where = np.unique(points, return_index=True)
    cover = np.cumsum(np.add.reduceat(deltas, where)) if len(points) else np.zeros(0, np.int64)
    covered = cover[:-1] > 0
    lengths = np.diff(edges)[covered]
    if int(lengths.sum()) > 20_000_000:
        raise InvalidRequestError(
            f"concurrency would give {int(lengths.sum()):,} buckets; use a coarser freq"
        )
    starts = edges[:-1][covered]
    buckets = np.repeat(starts - np.r_[0, np.cumsum(lengths)[:-1]], lengths) + np.arange(
        int(lengths.sum())
    )
    calls = np.repeat(cover[:-1][covered], lengths)

    def at(b: np.ndarray, values: np.ndarray, default: int) -> np.ndarray:
        out = np.full(len(buckets), default, dtype=np.int64)
        pos = np.searchsorted(buckets, b)
        inside = (
            (pos < len(buckets)) & (buckets[np.minimum(pos, len(buckets) - 1)] == b)
            if len(buckets)
            else np.zeros(len(b), bool)
        )
        out[pos[inside]] = values[inside]
        return out

    def before(b: np.ndarray, n: np.ndarray) -> np.ndarray:
        return np.r_[0, np.cumsum(n)][np.searchsorted(b, buckets, side="left")]

    opening = before(fb, fn) - before(lb, ln)
    peak = np.maximum(opening, at(pb, pv, np.iinfo(np.int64).min))
    busy = step * calls - at(fb, lead, 0) - at(lb, tail, 0)
    return buckets, {"calls": calls.astype(np.int64), "peak": peak, "busy_us": busy}
