"""The summary functions on lazy frames: the same tables as pandas, on every engine.

Each function runs on a pandas frame and on the same calls handed to Polars, DuckDB and Spark
(the ``to_engine`` fixture); the tables must be equal: counts exactly, floats to 1e-9, same
rows, order, labels and dtypes. Edge frames: missing and undocumented statuses, missing
columns, an empty frame, a DST change in Madrid, calls in progress.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import apifonica_nb as ap
from apifonica_nb import summary
from apifonica_nb.errors import InvalidRequestError


@pytest.fixture(scope="module")
def calls(sandbox: Any) -> pd.DataFrame:
    return ap.calls_to_frame(list(sandbox.client().iter_calls()))


def _odd(calls: pd.DataFrame) -> pd.DataFrame:
    """Missing and undocumented statuses, a literal "unknown" country, missing numbers."""
    df = calls.copy()
    df["status"] = df["status"].cat.add_categories(["weird"])
    df.loc[df.index[::17], "status"] = pd.NA
    df.loc[df.index[5::23], "status"] = "weird"
    df.loc[df.index[::11], "destination_country"] = pd.NA
    df.loc[df.index[3::29], "destination_country"] = "unknown"
    df.loc[df.index[::7], "cost_eur"] = pd.NA
    df.loc[df.index[2::9], "setup_seconds"] = pd.NA
    df.loc[df.index[4::13], "talk_seconds"] = pd.NA
    return df


def _dst(calls: pd.DataFrame) -> pd.DataFrame:
    """The calls moved into the night of 2026-10-25, when Madrid's clocks go back an hour."""
    df = calls.copy()
    base = pd.Timestamp("2026-10-24 21:00", tz="UTC")
    shift = base - df["created"].min()
    for name in ("created", "updated", "started", "ended"):
        df[name] = df[name] + shift
    spread = pd.to_timedelta(np.arange(len(df)) * 97 % (8 * 3600), unit="s").as_unit("us")
    for name in ("created", "updated", "started", "ended"):
        df[name] = df[name] - (df["created"] - base) + spread
    return df


def _frames(calls: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {
        "sandbox": calls,
        "odd": _odd(calls),
        "dst": _dst(calls),
        "missing": calls.drop(columns=["status", "cost_eur", "setup_seconds", "duration"]),
        "empty": calls.iloc[:0],
    }


FRAMES = ("sandbox", "odd", "dst", "missing", "empty")


def _same(lazy: pd.DataFrame, eager: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(lazy, eager, check_exact=False, rtol=1e-9, atol=0)
    for name in eager.columns:  # counts exactly
        if pd.api.types.is_integer_dtype(eager[name].dtype):
            assert (lazy[name].to_numpy() == eager[name].to_numpy()).all(), name


@pytest.mark.parametrize("frame", FRAMES)
def test_totals_match_pandas(
    calls: pd.DataFrame, to_engine: Callable[[Any], Any], frame: str
) -> None:
    df = _frames(calls)[frame]
    eager = summary.totals(df)
    lazy = summary.totals(to_engine(df))
    assert lazy.calls == eager.calls == len(df)
    assert (lazy.finished, lazy.answered, lazy.priced) == (
        eager.finished,
        eager.answered,
        eager.priced,
    )
    for name in ("cost_eur", "talk_minutes", "billed_minutes"):
        assert getattr(lazy, name) == pytest.approx(getattr(eager, name), rel=1e-9, abs=0)
    assert lazy.period == eager.period


@pytest.mark.parametrize("frame", FRAMES)
@pytest.mark.parametrize("column", ["status", ["channel", "destination_country"]])
def test_by_column_matches_pandas(
    calls: pd.DataFrame, to_engine: Callable[[Any], Any], frame: str, column: Any
) -> None:
    df = _frames(calls)[frame]
    eager = summary.by_column(df, column)
    _same(summary.by_column(to_engine(df), column), eager)
    if frame == "odd" and column == "status":
        assert list(eager.index)[-2:] == ["weird", "unknown"]


def test_a_non_frame_is_refused() -> None:
    for function in (summary.totals, summary.kpis, summary.concurrency, summary.cost_baseline):
        with pytest.raises(InvalidRequestError, match="expected a pandas DataFrame of calls"):
            function([{"status": "completed"}])  # type: ignore[operator]
    with pytest.raises(InvalidRequestError, match="expected a pandas DataFrame of calls"):
        summary.by_column({"status": ["completed"]}, "status")


KPI_CASES = [
    ("sandbox", {}),
    ("sandbox", {"by": ["channel", "direction"], "freq": "D"}),
    ("odd", {"by": "status", "freq": "h"}),
    ("odd", {"by": "destination_country"}),
    ("dst", {"by": "channel", "freq": "h", "tz": "Europe/Madrid"}),
    ("dst", {"freq": "15min", "tz": "Europe/Madrid"}),
    ("sandbox", {"freq": "W", "tz": "America/New_York"}),
    ("sandbox", {"freq": "M", "tz": "Asia/Kolkata"}),
    ("missing", {"by": "status", "freq": "D"}),
    ("empty", {"by": "channel", "freq": "D"}),
    ("empty", {}),
]


@pytest.mark.parametrize(("frame", "options"), KPI_CASES)
def test_kpis_match_pandas(
    calls: pd.DataFrame, to_engine: Callable[[Any], Any], frame: str, options: dict[str, Any]
) -> None:
    df = _frames(calls)[frame]
    eager = summary.kpis(df, **options)
    _same(summary.kpis(to_engine(df), **options), eager)
    if frame != "empty":
        assert len(eager) > 0


BASELINE_CASES = [
    ("sandbox", {}),
    ("sandbox", {"by": ["channel", "direction"], "freq": "h", "min_history": 3}),
    ("odd", {"freq": "D", "tz": "Europe/Madrid", "window": 5, "min_history": 2}),
    ("dst", {"by": "channel", "freq": "h", "tz": "Europe/Madrid", "min_history": 1}),
    ("missing", {}),
    ("empty", {"by": "channel"}),
]


@pytest.mark.parametrize(("frame", "options"), BASELINE_CASES)
def test_cost_baseline_and_anomalies_match_pandas(
    calls: pd.DataFrame, to_engine: Callable[[Any], Any], frame: str, options: dict[str, Any]
) -> None:
    df = _frames(calls)[frame]
    lazy = to_engine(df)
    eager = summary.cost_baseline(df, **options)
    _same(summary.cost_baseline(lazy, **options), eager)
    _same(summary.cost_anomalies(lazy, **options), summary.cost_anomalies(df, **options))
    if frame in ("sandbox", "odd"):
        assert len(eager) > 0


CONCURRENCY_CASES = [
    ("sandbox", {}),
    ("sandbox", {"freq": "h", "by": "channel", "phase": "call"}),
    ("odd", {"freq": "15min", "by": ["status", "destination_country"]}),
    ("dst", {"freq": "h", "tz": "Europe/Madrid", "phase": "call"}),
    ("dst", {"freq": "D", "tz": "Europe/Madrid", "by": "direction"}),
    ("sandbox", {"freq": "s"}),
    ("missing", {"freq": "h"}),
    ("empty", {"by": "channel"}),
]


@pytest.mark.parametrize(("frame", "options"), CONCURRENCY_CASES)
def test_concurrency_matches_pandas(
    calls: pd.DataFrame, to_engine: Callable[[Any], Any], frame: str, options: dict[str, Any]
) -> None:
    df = _frames(calls)[frame]
    eager = summary.concurrency(df, **options)
    lazy = summary.concurrency(to_engine(df), **options)
    _same(lazy, eager)
    assert lazy.attrs == eager.attrs
    if frame in ("sandbox", "dst"):
        assert eager["peak"].max() > 1


def test_kpi_table_matches_pandas(calls: pd.DataFrame, to_engine: Callable[[Any], Any]) -> None:
    df = _odd(calls)
    pd.testing.assert_frame_equal(
        summary.kpi_table(to_engine(df), by="status"), summary.kpi_table(df, by="status")
    )
