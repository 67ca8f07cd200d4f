"""The concurrency and cost-anomaly charts draw the numbers of ``ap.concurrency`` and
``ap.cost_anomalies``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_anomalies import daily
from test_concurrency import frame

import apifonica_nb as ap


@pytest.fixture(scope="module")
def sandbox_frame(sandbox: Any) -> pd.DataFrame:
    return ap.fetch_history(client=sandbox.client(), progress=False, cache=False)


def test_the_concurrency_chart_draws_the_peaks_and_erlangs() -> None:
    df = frame([0, 900, 4000], [1800, 3600, 60])
    fig = ap.charts.concurrency(df, freq="h")
    erlangs, peak = fig.data
    table = ap.concurrency(df, freq="h")
    assert list(peak.y) == table["peak"].tolist()
    assert list(erlangs.y) == pytest.approx(table["erlangs"].tolist())
    assert table["peak"].tolist() == [2, 2]
    assert "peak 2 at once" in fig.layout.title.subtitle.text


def test_the_concurrency_chart_fills_quiet_buckets_and_coarsens(
    sandbox_frame: pd.DataFrame,
) -> None:
    gap = frame([0, 5 * 3600], [60, 60])
    fig = ap.charts.concurrency(gap, freq="h")
    assert list(fig.data[1].y) == [1, 0, 0, 0, 0, 1]  # quiet hours drawn as 0
    month = ap.charts.concurrency(sandbox_frame)  # per minute over a month: too many bars
    assert month.layout.meta["freq"] != "min" and "coarsened" in month.layout.title.text
    assert max(month.data[1].y) == ap.concurrency(sandbox_frame, freq="min")["peak"].max()


def test_the_anomaly_chart_marks_the_flags(sandbox_frame: pd.DataFrame) -> None:
    fig = ap.charts.cost_anomalies(sandbox_frame)
    flags = ap.cost_anomalies(sandbox_frame)
    (marks,) = [t for t in fig.data if (t.meta or {}).get("mark") == "flag"]
    assert list(marks.y) == pytest.approx(flags["observed_eur"].tolist())
    group = flags["destination_country"].iloc[0]
    assert f"{len(flags)} flagged: {group}" in fig.layout.title.text
    spend = [t for t in fig.data if (t.meta or {}).get("mark") == "spend"]
    assert group in {t.name for t in spend} and len(spend) <= 7
    # Every line is the group's spend per day, in full over the window drawn (the vendor's
    # 2017 example call is outside it, and the subtitle says so).
    assert "1 call outside this window not drawn" in fig.layout.title.subtitle.text
    recent = sandbox_frame.loc[sandbox_frame["created"] > pd.Timestamp("2020-01-01", tz="UTC")]
    for trace in spend:
        mine = recent["destination_country"].fillna("unknown") == trace.name
        assert float(np.sum(trace.y)) == pytest.approx(recent.loc[mine, "cost_eur"].sum())


def test_a_quiet_account_says_so_and_empty_frames_get_a_message() -> None:
    fig = ap.charts.cost_anomalies(daily({"FI": [2.0] * 20}))
    assert "no anomaly flagged" in fig.layout.title.text
    assert not [t for t in fig.data if (t.meta or {}).get("mark") == "flag"]
    for build in (ap.charts.cost_anomalies, ap.charts.concurrency):
        empty = build(pd.DataFrame())
        assert empty.layout.annotations and not empty.data
