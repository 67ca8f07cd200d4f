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
from apifonica_nb.errors import InvalidRequestError


def _plain(value: Any) -> Any:
    """Turn figure values into comparable Python/numpy forms (datetimes as ns integers)."""
    if isinstance(value, dict) and "bdata" in value:  # plotly's packed numpy arrays
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape")
        if isinstance(shape, str):  # "rows, columns"
            shape = tuple(int(n) for n in shape.split(","))
        return flat.reshape(shape) if shape is not None else flat
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
def records(sandbox: Any) -> list[dict[str, Any]]:
    return list(sandbox.client().iter_calls())


@pytest.fixture(scope="module")
def calls(records: list[dict[str, Any]]) -> pd.DataFrame:
    return ap.calls_to_frame(records)


def _odd_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sixty calls with gaps: no status, channel, country, price or times; an undocumented
    status; and one call from years before the rest (the vendor's example call)."""
    odd = [dict(r) for r in records[:60]]
    for i, record in enumerate(odd):
        if i % 7 == 0:
            record["status"] = None
        if i % 5 == 0:
            record["channel"] = None
        if i % 4 == 0:
            record["price"] = None
        if i % 6 == 0:
            record["to"] = record["from"] = None
        if i % 9 == 0:
            record["ended"] = record["started"] = None
        if i % 11 == 0:
            record["duration"] = None
    odd[3]["status"] = odd[8]["status"] = "transferred"
    odd[13]["created"] = None
    odd[20]["created"] = "Mon, 03 Apr 2017 09:00:00 +0000"
    return odd


EDGES = ("odd", "missing_columns", "empty", "one_call")


@pytest.fixture(scope="module", params=EDGES)
def edge(request: pytest.FixtureRequest, records: list[dict[str, Any]]) -> pd.DataFrame:
    """Hand-made frames the builders must survive alike on every engine."""
    frame = ap.calls_to_frame(_odd_records(records) if request.param == "odd" else records)
    frame.attrs["edge"] = request.param
    if request.param == "missing_columns":
        return frame.drop(columns=["channel", "cost_eur", "started", "status", "talk_seconds"])
    if request.param == "empty":
        return frame.iloc[:0]
    if request.param == "one_call":
        return frame.iloc[:1]
    return frame


Engine = Callable[[Any], Any]


def _not_on_spark(to_engine: Engine) -> None:
    """Views whose numbers are summary.concurrency's take minutes a test on Spark; that
    function is checked on Spark in test_summary_engines, and the charts' own part (the
    window) is the one status_counts runs there."""
    if getattr(to_engine, "engine", "") == "spark":
        pytest.skip("summary.concurrency on Spark takes minutes; checked in test_summary_engines")


def _once_on_spark(to_engine: Engine, first: bool) -> None:
    """Spark takes seconds a query: it runs the first case of a parametrized test only."""
    if getattr(to_engine, "engine", "") == "spark" and not first:
        pytest.skip("one case per builder on Spark keeps the run short")


@pytest.mark.parametrize("kwargs", [{}, {"freq": "D"}, {"tz": "America/New_York", "freq": "W"}])
def test_status_counts(to_engine: Engine, calls: pd.DataFrame, kwargs: dict[str, Any]) -> None:
    _once_on_spark(to_engine, kwargs == {})
    assert_same_figure(
        charts.status_counts(to_engine(calls), **kwargs), charts.status_counts(calls, **kwargs)
    )


def test_cost_over_time(to_engine: Engine, calls: pd.DataFrame) -> None:
    lazy = to_engine(calls)
    for kwargs in ({}, {"freq": "h", "tz": "Europe/Riga"}):
        assert_same_figure(
            charts.cost_over_time(lazy, **kwargs), charts.cost_over_time(calls, **kwargs)
        )


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
    _not_on_spark(to_engine)
    fig = charts.status_timeline(to_engine(calls), max_calls=100, tz="Europe/Berlin")
    assert_same_figure(fig, charts.status_timeline(calls, max_calls=100, tz="Europe/Berlin"))
    assert fig.layout.meta["aggregated"] is True


_EDGE_BUILDERS: list[tuple[str, dict[str, Any]]] = [
    ("status_counts", {}),
    ("status_counts", {"tz": "Europe/Berlin", "freq": "M"}),
    ("cost_over_time", {"tz": "Australia/Sydney"}),
    ("cost_by_channel", {}),
    ("cost_by_destination", {"top": 4}),
    ("duration_histogram", {}),
    ("duration_histogram", {"by": "channel", "log": True, "column": "duration"}),
    ("status_timeline", {"tz": "Europe/Berlin"}),
    ("call_legs", {}),
]


def test_edge_frames_draw_alike(to_engine: Engine, edge: pd.DataFrame) -> None:
    _once_on_spark(to_engine, edge.attrs.get("edge") == "odd")
    lazy = to_engine(edge)
    for name, kwargs in _EDGE_BUILDERS:
        builder = getattr(charts, name)
        if name == "call_legs" and len(edge) > 5:
            continue
        try:
            assert_same_figure(builder(lazy, **kwargs), builder(edge, **kwargs))
        except AssertionError as e:
            raise AssertionError(f"{name}({kwargs}): {e}") from e


_BUILDERS = sorted(
    n for n in charts.__all__ if n.islower() and n not in ("channel_color", "status_color")
)


@pytest.mark.parametrize("name", _BUILDERS)
def test_a_non_frame_is_refused(name: str) -> None:
    builder = getattr(charts, name)
    with pytest.raises(InvalidRequestError, match="expected"):
        builder([{"call_sid": "x"}])


def test_concurrency_and_cost_anomalies(to_engine: Engine, calls: pd.DataFrame) -> None:
    """These draw summary's numbers: the lazy frame goes to summary, the window is found in
    the engine."""
    _not_on_spark(to_engine)
    lazy = to_engine(calls)
    for kwargs in ({}, {"freq": "h", "tz": "Europe/Berlin", "phase": "call"}):
        assert_same_figure(charts.concurrency(lazy, **kwargs), charts.concurrency(calls, **kwargs))
    for kwargs in ({}, {"by": ["channel", "direction"], "tz": "Asia/Tokyo"}):
        assert_same_figure(
            charts.cost_anomalies(lazy, **kwargs), charts.cost_anomalies(calls, **kwargs)
        )


def test_charts_over_the_store_scan(sandbox: Any) -> None:
    """ap.cache.scan() (the store's DuckDB relation) draws what its calls draw in pandas."""
    df = ap.fetch_history(client=sandbox.client(), progress=False)
    scan = ap.cache.scan()
    stored = {sid for (sid,) in scan.project("call_sid").fetchall()}
    assert 0 < len(stored) <= len(df)
    same = df.loc[df["call_sid"].isin(stored)]
    for name in ("status_counts", "cost_over_time", "duration_histogram", "cost_by_destination"):
        builder = getattr(charts, name)
        assert_same_figure(builder(scan), builder(same))


def test_calendar_buckets_the_engine_cannot_floor_are_summed_by_day(
    to_engine: Engine, calls: pd.DataFrame
) -> None:
    """summary.with_bucket(sums=True): day totals from the engine, floored in pandas."""
    for builder in (charts.status_counts, charts.cost_over_time):
        kwargs = {"freq": "Q-JAN", "tz": "Europe/Madrid"}
        assert_same_figure(builder(to_engine(calls), **kwargs), builder(calls, **kwargs))
