"""Calls in progress (``ap.concurrency``): the sweep equals a brute-force count per bucket."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import apifonica_nb as ap
from apifonica_nb.errors import InvalidRequestError

T0 = 1_790_000_000  # 2026-09-21 14:13:20 UTC: not on a bucket edge, buckets start on the clock


def frame(starts: list[int], lengths: list[int], groups: list[str] | None = None) -> pd.DataFrame:
    s = np.array(starts, dtype=np.int64) + T0
    e = s + np.array(lengths, dtype=np.int64)
    times = {
        name: pd.Series(pd.to_datetime(values, unit="s", utc=True)).astype("datetime64[us, UTC]")
        for name, values in (("created", s - 5), ("started", s), ("ended", e))
    }
    df = pd.DataFrame(times)
    df["updated"] = df["ended"]
    if groups is not None:
        df["channel"] = pd.Series(groups, dtype="str")
    return df


def brute_force(s: np.ndarray, e: np.ndarray, lo: float, width: float) -> tuple[int, int, float]:
    """Calls, peak and Erlangs of the bucket [lo, lo + width), one call at a time."""
    hi = lo + width
    live = [(a, b) for a, b in zip(s.tolist(), e.tolist(), strict=True) if b > a]
    calls = sum(1 for a, b in live if a < hi and b > lo)
    moments = [lo, *(a for a, _ in live if lo <= a < hi)]
    peak = max(sum(1 for a, b in live if a <= t < b) for t in moments)
    seconds = sum(max(0.0, min(b, hi) - max(a, lo)) for a, b in live)
    return calls, peak, seconds / width


@settings(max_examples=60, deadline=None)
@given(
    calls=st.lists(
        st.one_of(
            st.tuples(st.integers(0, 4 * 3600), st.integers(0, 2 * 3600)),
            # Whole minutes: calls that start and end together, and on bucket edges.
            st.tuples(
                st.integers(0, 240).map(lambda m: 60 * m), st.integers(0, 20).map(lambda m: 60 * m)
            ),
        ),
        min_size=1,
        max_size=40,
    ),
    freq=st.sampled_from(["min", "15min", "h", "7min"]),
)
def test_the_sweep_equals_a_brute_force_count(calls: list[tuple[int, int]], freq: str) -> None:
    starts, lengths = zip(*calls, strict=True)
    assume(any(lengths))  # a frame of zero-length calls only is the warning's case, below
    df = frame(list(starts), list(lengths))
    got = ap.concurrency(df, freq=freq)
    width = pd.Timedelta(pd.tseries.frequencies.to_offset(freq).nanos, "ns").total_seconds()
    s = (df["started"].astype("int64") // 10**6).to_numpy().astype(float)
    e = (df["ended"].astype("int64") // 10**6).to_numpy().astype(float)
    lows = (got["period"].astype("int64") // 10**6).to_numpy().astype(float)
    for lo, row in zip(lows, got.itertuples(), strict=True):
        calls_, peak, erlangs = brute_force(s, e, lo, width)
        assert (row.calls, row.peak) == (calls_, peak)
        assert row.erlangs == pytest.approx(erlangs, abs=1e-9)
    # Every bucket with a call in progress is a row, and no other.
    positive = e > s
    if positive.any():
        first = np.floor(s[positive].min() / width) * width
        edges = np.arange(first, e.max() + width, width)
        busy = [lo for lo in edges if brute_force(s, e, lo, width)[0] > 0]
        assert lows.tolist() == busy
    assert got.attrs["left_out"] == int((~positive).sum())


def test_erlangs_and_peak_of_three_calls_by_hand() -> None:
    # 10:00-10:30, 10:15-11:15, 10:20-10:25 (minutes after T0's hour)
    hour = T0 - T0 % 3600
    df = frame([hour - T0, hour - T0 + 900, hour - T0 + 1200], [1800, 3600, 300])
    got = ap.concurrency(df, freq="h")
    assert got["calls"].tolist() == [3, 1]
    assert got["peak"].tolist() == [3, 1]
    assert got["erlangs"].tolist() == pytest.approx([(1800 + 2700 + 300) / 3600, 900 / 3600])
    # The setup phase (created 5 s earlier) lengthens every call by 5 s.
    setup = ap.concurrency(df, freq="h", phase="call")
    assert setup["erlangs"].sum() * 3600 == pytest.approx(got["erlangs"].sum() * 3600 + 15)


def test_by_group_and_back_to_back_calls() -> None:
    # Back to back: one ends when the next starts, so never two at once.
    df = frame([0, 60, 120, 0], [60, 60, 60, 180], ["a", "a", "a", "b"])
    got = ap.concurrency(df, freq="h", by="channel")
    assert got[["channel", "calls", "peak"]].values.tolist() == [["a", 3, 1], ["b", 1, 1]]
    assert ap.concurrency(df, freq="h")["peak"].tolist() == [2]


def test_calls_ending_together_are_never_counted_twice() -> None:
    # Two calls end at the same second while a third goes on: never 2 at once after that.
    df = frame([40, 100, 70], [300, 60, 90])  # 14:14:00-14:19, two end at 14:16:00 sharp
    got = ap.concurrency(df, freq="min")
    assert (got["peak"] <= got["calls"]).all()
    minute = T0 - T0 % 60  # 14:13
    third = got.loc[got["period"] == pd.Timestamp(minute + 180, unit="s", tz="UTC")]
    assert third[["calls", "peak"]].values.tolist() == [[1, 1]]


def test_calls_without_an_end_count_to_their_last_update() -> None:
    df = frame([0], [600])
    df["ended"] = pd.NaT
    df["updated"] = df["started"] + pd.Timedelta(120, "s")
    got = ap.concurrency(df, freq="h")
    assert got["erlangs"].item() == pytest.approx(120 / 3600)


def test_time_zone_buckets_start_on_the_local_clock() -> None:
    df = frame([0], [60])  # India is UTC+05:30: its hours start at :30 UTC
    got = ap.concurrency(df, freq="h", tz="Asia/Kolkata")
    assert got["period"].item().minute == 0 and str(got["period"].dt.tz) == "Asia/Kolkata"


def test_empty_and_na_frames_give_an_empty_result() -> None:
    empty = ap.concurrency(frame([], []).iloc[0:0], freq="min", by="channel")
    assert empty.empty and list(empty.columns) == ["channel", "period", "calls", "peak", "erlangs"]
    assert ap.concurrency(pd.DataFrame()).empty
    nat = frame([0, 10], [5, 5]).assign(started=pd.NaT)
    with pytest.warns(UserWarning, match="none of the 2 calls"):
        assert ap.concurrency(nat).empty


def test_bad_arguments_are_invalid_requests() -> None:
    df = frame([0], [60])
    for kwargs in ({"freq": "M"}, {"freq": "nonsense"}, {"by": "nope"}, {"phase": "ringing"}):
        with pytest.raises(InvalidRequestError):
            ap.concurrency(df, **kwargs)  # type: ignore[arg-type]
