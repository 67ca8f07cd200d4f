"""Every chart builder on a lazy frame (Polars, DuckDB, Spark) draws the pandas figure.

Each test hands the same calls to pandas and to one engine (the ``to_engine`` fixture) and
compares the figures' data and titles: counts exactly, floats to a relative 1e-9.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import apifonica_nb as ap
from apifonica_nb import charts


def _plain(value: Any) -> Any:
    """Turn figure values into comparable Python/numpy forms (datetimes as ns integers)."""
    if isinstance(value, dict) and "bdata" in value:  # plotly's packed numpy arrays
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        return flat.reshape(value["shape"]) if "shape" in value else flat
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not (value and isinstance(value[0], dict)):
        value = np.asarray(value, dtype=object if value and isinstance(value[0], str) else None)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        if np.issubdtype(value.dtype, np.datetime64):
            return value.astype("datetime64[ns]").astype(np.int64)
        if value.dtype == object and len(value) and isinstance(value[0], pd.Timestamp):
            return np.array([v.as_unit("ns").value for v in value], dtype=np.int64)
        return value
    if isinstance(value, pd.Timestamp):
        return value.as_unit("ns").value
    return value


def assert_same(a: Any, b: Any, where: str = "") -> None:
    """Compare two plain figure structures: arrays elementwise, floats to rtol 1e-9."""
    a, b = _plain(a), _plain(b)
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{where}: keys {set(a) ^ set(b)}"
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{where}: {len(a)} vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        x, y = np.asarray(a), np.asarray(b)
        assert x.shape == y.shape, f"{where}: shape {x.shape} vs {y.shape}"
        if x.dtype.kind in "iufb" and y.dtype.kind in "iufb":
            np.testing.assert_allclose(x.astype(float), y.astype(float), rtol=1e-9, err_msg=where)
        else:
            assert x.tolist() == y.tolist(), where
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9), where
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


def assert_same_figure(lazy: Any, eager: Any) -> None:
    assert_same(lazy.to_dict()["data"], eager.to_dict()["data"], "data")
    a, b = lazy.to_dict()["layout"], eager.to_dict()["layout"]
    for key in ("title", "xaxis", "yaxis", "annotations", "legend", "meta", "height"):
        assert_same(a.get(key), b.get(key), key)


@pytest.fixture(scope="module")
def calls(sandbox: Any) -> pd.DataFrame:
    return ap.calls_to_frame(list(sandbox.client().iter_calls()))


Engine = Callable[[Any], Any]


@pytest.mark.parametrize("kwargs", [{}, {"freq": "D"}, {"tz": "America/New_York", "freq": "W"}])
def test_status_counts(to_engine: Engine, calls: pd.DataFrame, kwargs: dict[str, Any]) -> None:
    assert_same_figure(
        charts.status_counts(to_engine(calls), **kwargs), charts.status_counts(calls, **kwargs)
    )


def test_cost_over_time(to_engine: Engine, calls: pd.DataFrame) -> None:
    lazy = to_engine(calls)
    for kwargs in ({}, {"freq": "h", "tz": "Europe/Riga"}):
        assert_same_figure(charts.cost_over_time(lazy, **kwargs), charts.cost_over_time(calls, **kwargs))


def test_cost_by_channel_and_destination(to_engine: Engine, calls: pd.DataFrame) -> None:
    lazy = to_engine(calls)
    assert_same_figure(charts.cost_by_channel(lazy), charts.cost_by_channel(calls))
    for top in (3, 10):
        assert_same_figure(
            charts.cost_by_destination(lazy, top=top), charts.cost_by_destination(calls, top=top)
        )


def test_duration_histogram(to_engine: Engine, calls: pd.DataFrame) -> None:
    lazy = to_engine(calls)
    for kwargs in (
        {},
        {"by": "channel", "log": True, "column": "duration"},
        {"column": "setup_seconds"},
    ):
        assert_same_figure(
            charts.duration_histogram(lazy, **kwargs), charts.duration_histogram(calls, **kwargs)
        )


def test_status_timeline_few_calls_draws_the_collected_rows(
    to_engine: Engine, calls: pd.DataFrame
) -> None:
    day = calls.loc[calls["created"] >= calls["created"].max() - pd.Timedelta(hours=3)]
    lazy = to_engine(day)
    for kwargs in ({}, {"tz": "Asia/Kolkata"}):
        fig = charts.status_timeline(lazy, **kwargs)
        assert_same_figure(fig, charts.status_timeline(day, **kwargs))
    # A month of minute-long calls: too thin for bars, so calls in progress per bucket.
    assert_same_figure(charts.status_timeline(to_engine(calls)), charts.status_timeline(calls))


def test_status_timeline_many_calls_aggregates_in_the_engine(
    to_engine: Engine, calls: pd.DataFrame
) -> None:
    fig = charts.status_timeline(to_engine(calls), max_calls=100, tz="Europe/Berlin")
    assert_same_figure(fig, charts.status_timeline(calls, max_calls=100, tz="Europe/Berlin"))
    assert fig.layout.meta["aggregated"] is True
