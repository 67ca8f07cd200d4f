"""Check that every chart draws the numbers the frame holds, on small, odd and big frames."""

from __future__ import annotations

import json
from typing import Any, cast

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from apifonica_nb import charts
from apifonica_nb.frame import CALL_DTYPES, FINAL_STATUSES, STATUSES

# ----------------------------------------------------------------- synthetic frames
# A stand-in for calls_to_frame output, built straight from CALL_DTYPES so the charts can be
# tested on any size and shape without a server. Deterministic for a given (n, seed).

UNKNOWN_STATUS = "voicemail"  # a status the vendor never documented
UNKNOWN_CHANNEL = "rcs"
_STATUS_WEIGHTS = {
    "completed": 0.55,
    "no_answer": 0.1,
    "busy": 0.07,
    "failed": 0.05,
    "rejected": 0.03,
    "canceled": 0.03,
    "answered": 0.04,
    "ringing": 0.02,
    "queued": 0.02,
    "initiated": 0.02,
    "modified": 0.02,
    UNKNOWN_STATUS: 0.05,
}
_COUNTRIES = ["NL", "FI", "DE", "GB", "US", "FR", "ES", "IT", "SE", "PL", "LV", "EE", "IN", "BR"]
_PER_MINUTE = np.array(
    [0.02, 0.03, 0.025, 0.015, 0.01, 0.03, 0.035, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.12]
)
# 2024-03-31 is the European spring-forward day: the default period straddles it.
_EPOCH = pd.Timestamp("2024-03-30 00:00", tz="UTC")


def make_frame(n: int, seed: int = 0, *, days: float = 3.0) -> pd.DataFrame:
    """Return ``n`` synthetic calls with exactly the dtypes of CALL_DTYPES (plus odd values).

    Statuses follow a realistic mix (including an undocumented one), some calls are still in
    progress (no ``ended``), never-answered ones have no ``started``, about 5% of rows have
    most optional fields NA, and an undocumented channel shows up now and then.
    """
    rng = np.random.default_rng(seed)
    status = rng.choice(list(_STATUS_WEIGHTS), size=n, p=list(_STATUS_WEIGHTS.values()))
    created = _EPOCH + pd.to_timedelta(np.sort(rng.uniform(0, days * 86400, n)), unit="s")
    created = created.floor("s")
    setup = pd.to_timedelta(rng.gamma(3.0, 4.0, n).round(), unit="s")
    talk = pd.to_timedelta(rng.lognormal(4.0, 1.0, n).round(), unit="s")
    answered = np.isin(status, ["completed", "answered", "modified", UNKNOWN_STATUS])
    final = np.isin(status, list(FINAL_STATUSES))
    live = ~final & (status != UNKNOWN_STATUS)
    started = pd.Series(created + setup).where(answered)
    ended = pd.Series(created + setup + talk).where(status == "completed")
    ended = ended.where(~(final & ~answered), pd.Series(created + setup))
    # Live calls were last updated a little after their latest event.
    updated = pd.Series(created + setup + talk + pd.Timedelta(30, "s"))
    updated = updated.where(~live, pd.Series(created + setup + talk // 2))
    country_idx = rng.choice(
        len(_COUNTRIES),
        size=n,
        p=np.linspace(2, 0.2, len(_COUNTRIES)) / np.linspace(2, 0.2, len(_COUNTRIES)).sum(),
    )
    duration = ((ended - pd.Series(created)).dt.total_seconds()).round().astype("Int64")
    duration = duration.where(~(final & ~answered), 0)
    price = np.ceil(duration.astype("float64").to_numpy() / 60) * _PER_MINUTE[country_idx]
    price = pd.Series(price).round(4).where(rng.random(n) > 0.02)  # billing lag: no price yet
    direction = rng.choice(["inbound", "outbound"], size=n, p=[0.3, 0.7])
    channel = rng.choice(["number", "viber", UNKNOWN_CHANNEL], size=n, p=[0.8, 0.17, 0.03])
    hexes = rng.bytes(16 * n).hex()
    sids = [
        f"cal{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
        for h in (hexes[i * 32 : (i + 1) * 32] for i in range(n))
    ]
    country = np.array(_COUNTRIES, dtype=object)[country_idx]
    number = rng.integers(10**10, 10**11, n).astype(str)
    frame = pd.DataFrame(
        {
            "call_sid": sids,
            "parent_call_sid": pd.Series(sids).where(rng.random(n) < 0.1),
            "account_sid": "acc00000000-0000-0000-0000-000000000001",
            "number_sid": "num00000000-0000-0000-0000-000000000002",
            "created": created,
            "updated": updated,
            "started": started,
            "ended": ended,
            "from": np.char.add("31", number),
            "to": np.char.add("358", number),
            "direction": direction,
            "status": status,
            "channel": channel,
            "duration": duration,
            "price": price,
            "timeout": 30,
            "controller": "https://example.com/voice",
            "method": "POST",
            "record_sid": None,
            "tag": rng.choice(["campaign_a", "campaign_b", "support"], size=n),
            "cost_eur": price,
            "setup_seconds": (started - pd.Series(created)).dt.total_seconds(),
            "talk_seconds": (ended - started).dt.total_seconds(),
            "is_final": pd.Series(final).where(status != UNKNOWN_STATUS),
            "destination_country": country,
        }
    )
    # NA-heavy rows: only the fields set at creation survive.
    sparse = rng.random(n) < 0.05
    for column in (
        "from",
        "to",
        "direction",
        "status",
        "channel",
        "duration",
        "price",
        "tag",
        "cost_eur",
        "destination_country",
        "started",
        "ended",
        "updated",
        "setup_seconds",
        "talk_seconds",
        "is_final",
    ):
        frame[column] = frame[column].where(~sparse)
    return _typed(frame)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Cast to CALL_DTYPES, appending undocumented statuses/channels as extra categories."""
    dtypes = dict(CALL_DTYPES)
    for column in ("status", "channel", "direction"):
        known = list(dtypes[column].categories)  # type: ignore[attr-defined]
        extra = sorted(set(frame[column].dropna()) - set(known))
        dtypes[column] = pd.CategoricalDtype([*known, *extra])
    return frame.astype(cast(Any, dtypes))[list(CALL_DTYPES)]


def test_make_frame_has_the_exact_schema() -> None:
    df = make_frame(500, seed=1)
    assert list(df.columns) == list(CALL_DTYPES)
    for column, dtype in CALL_DTYPES.items():
        if isinstance(dtype, pd.CategoricalDtype):
            assert list(df[column].cat.categories[: len(dtype.categories)]) == list(
                dtype.categories
            )
        else:
            assert df[column].dtype == dtype, column
    assert UNKNOWN_STATUS in df["status"].cat.categories
    assert df["ended"].isna().any() and df["status"].isna().any()
    pd.testing.assert_frame_equal(df, make_frame(500, seed=1))


# ----------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_frame(1500, seed=3)


@pytest.fixture(scope="module")
def short_frame() -> pd.DataFrame:
    """Calls over a few hours: long enough, against the period, for the timeline's bars."""
    return make_frame(1500, seed=3, days=0.2)


@pytest.fixture(scope="module")
def big() -> pd.DataFrame:
    return make_frame(100_000, seed=11, days=30)


def _empty() -> pd.DataFrame:
    return _typed(pd.DataFrame({c: pd.Series([], dtype=object) for c in CALL_DTYPES}))


def _labels(series: pd.Series) -> pd.Series:
    return series.astype("str").fillna(charts.UNKNOWN)


def _is_empty_figure(fig: go.Figure, message: str) -> bool:
    return len(fig.data) == 0 and fig.layout.annotations[0].text == message


ALL_BUILDERS = [
    charts.status_timeline,
    charts.status_counts,
    charts.duration_histogram,
    charts.cost_by_channel,
    charts.cost_over_time,
    charts.cost_by_destination,
]


def _frame_without(df: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """Return a copy of ``df`` with ``columns`` set to NA (dtypes kept)."""
    out = df.copy()
    for column in columns:
        out[column] = out[column].where(pd.Series(False, index=out.index))
    return out


def _traces(fig: go.Figure, phase: str | None = None) -> list[go.Bar]:
    return [t for t in fig.data if phase is None or (t.meta or {}).get("phase") == phase]


def _counts_by_trace(fig: go.Figure) -> dict[tuple[str, pd.Timestamp], float]:
    """Return {(trace name, x as Timestamp): y} over every trace of a bucketed chart."""
    out: dict[tuple[str, pd.Timestamp], float] = {}
    for trace in fig.data:
        if trace.type != "bar":
            continue
        for x, y in zip(trace.x, trace.y, strict=True):
            out[(trace.name, pd.Timestamp(x))] = float(y)
    return out


# ----------------------------------------------------------------- shared conventions


def test_every_documented_status_and_channel_has_its_own_colour() -> None:
    assert set(charts.STATUS_COLORS) == set(STATUSES)
    assert set(charts.CHANNEL_COLORS) == {"number", "viber"}
    colours = list(charts.STATUS_COLORS.values())
    assert len(set(colours)) == len(colours)
    assert charts.FALLBACK_COLOR not in colours
    assert charts.FALLBACK_COLOR not in charts.CHANNEL_COLORS.values()
    assert charts.status_color("voicemail") == charts.FALLBACK_COLOR
    assert charts.channel_color(None) == charts.FALLBACK_COLOR


@pytest.mark.parametrize("build", ALL_BUILDERS, ids=lambda b: b.__name__)
def test_builders_leave_the_input_frame_alone(build, frame: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    df = frame.copy(deep=True)
    df.attrs["failures"] = [{"call_sid": "calx", "error": "NotFoundError", "message": "gone"}]
    before = df.copy(deep=True)
    build(df)
    pd.testing.assert_frame_equal(df, before)
    assert df.attrs == before.attrs


def _empty_cases() -> list[tuple[str, pd.DataFrame]]:
    base = make_frame(40, seed=2)
    return [
        ("empty", _empty()),
        ("no columns", pd.DataFrame(index=range(3))),
        ("only sids", pd.DataFrame({"call_sid": pd.Series(["cal1", "cal2"], dtype="str")})),
        ("all NA", _frame_without(base, *[c for c in CALL_DTYPES if c != "call_sid"])),
    ]


@pytest.mark.parametrize("build", ALL_BUILDERS, ids=lambda b: b.__name__)
@pytest.mark.parametrize("case", _empty_cases(), ids=lambda c: c[0])
def test_nothing_to_draw_gives_an_explaining_figure(build, case) -> None:  # type: ignore[no-untyped-def]
    _name, df = case
    fig = build(df)
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == 0
    assert fig.layout.annotations[0].text in ("No calls to show", "No cost data")
    assert fig.layout.title.text


@pytest.mark.parametrize("build", ALL_BUILDERS, ids=lambda b: b.__name__)
def test_a_single_call_is_drawn(build) -> None:  # type: ignore[no-untyped-def]
    base = make_frame(60, seed=4)
    one = base.loc[base["status"].eq("completed") & base["cost_eur"].notna()].head(1)
    fig = build(one)
    assert len(fig.data) >= 1
    assert not fig.layout.annotations or fig.layout.annotations[0].text not in (
        "No calls to show",
        "No cost data",
    )


@pytest.mark.parametrize("build", ALL_BUILDERS, ids=lambda b: b.__name__)
def test_every_chart_has_a_title_and_units(build, frame: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    layout = build(frame).to_plotly_json()["layout"]
    assert layout["title"]["text"]
    axis_titles = " ".join(
        str(v.get("title", {}).get("text", ""))
        for k, v in layout.items()
        if k.startswith(("xaxis", "yaxis"))
    )
    assert any(unit in axis_titles for unit in ("EUR", "seconds", "calls", "UTC", "minutes"))


# ----------------------------------------------------------------- status timeline


def test_timeline_draws_setup_and_talk_per_call_in_a_few_traces(short_frame: pd.DataFrame) -> None:
    df = short_frame.head(300)
    fig = charts.status_timeline(df)
    statuses = _labels(df["status"]).nunique()
    assert len(fig.data) <= 3 * statuses + 1  # never one trace per call
    talk = _traces(fig, "talk")
    answered = df["created"].notna() & df["started"].notna()
    assert sum(len(t.x) for t in talk) == int(answered.sum())
    # Talk bars are as long as started -> ended (or -> updated while the call goes on).
    expected = (df["ended"].fillna(df["updated"]) - df["started"]).dt.total_seconds()
    drawn = sorted(x for t in talk for x in t.x)
    assert drawn == pytest.approx(sorted(expected[answered].clip(lower=0) * 1000))
    # Every call without an end gets exactly one open-end mark.
    (marks,) = _traces(fig, "open")
    assert len(marks.x) == int((df["created"].notna() & df["ended"].isna()).sum())
    # Colours follow the status, the undocumented one falls back.
    for trace in fig.data:
        status = (trace.meta or {}).get("status")
        if status is not None:
            assert trace.marker.color == charts.status_color(status)
    assert any((t.meta or {}).get("status") == UNKNOWN_STATUS for t in fig.data)


def test_timeline_hover_names_the_call_and_escapes_user_text() -> None:
    df = make_frame(5, seed=9, days=0.01)
    df["tag"] = pd.Series(["<script>alert(1)</script>"] * 5, dtype="str")
    fig = charts.status_timeline(df)
    assert fig.layout.hovermode == "y unified"  # one label per row, titled by the SID
    rows = {y for t in fig.data for y in t.y}
    assert rows == set(df["call_sid"])
    # Rows run in creation order, whatever the status of each call.
    in_order = df.sort_values("created", kind="stable")["call_sid"]
    assert list(fig.layout.yaxis.categoryarray) == list(in_order)
    assert fig.layout.yaxis.categoryorder == "array"
    texts = [text for t in _traces(fig, "created") for text in t.hovertext]
    assert len(texts) == len(df)
    assert all("<script>" not in text and "&lt;script&gt;" in text for text in texts)
    first = df.iloc[0]
    assert any(f"{first['from']} → {first['to']}" in text for text in texts)


def test_timeline_rows_stay_apart_when_sids_repeat() -> None:
    df = make_frame(4, seed=9, days=0.01)
    df["call_sid"] = pd.Series(["<b>cal1</b>", "<b>cal1</b>", None, None], dtype="str")
    rows = {y for t in charts.status_timeline(df).data for y in t.y}
    assert rows == {"&lt;b&gt;cal1&lt;/b&gt;", "&lt;b&gt;cal1&lt;/b&gt; #2", "–", "– #2"}


def test_timeline_keeps_true_durations_across_a_dst_change() -> None:
    df = make_frame(3, seed=1).iloc[[0]].copy()
    # 2024-03-31 01:00 UTC: Berlin jumps from 02:00 CET to 03:00 CEST.
    df["created"] = pd.Series([pd.Timestamp("2024-03-31 00:59:30", tz="UTC")], index=df.index)
    df["started"] = pd.Series([pd.Timestamp("2024-03-31 00:59:50", tz="UTC")], index=df.index)
    df["ended"] = pd.Series([pd.Timestamp("2024-03-31 01:00:50", tz="UTC")], index=df.index)
    df["updated"] = df["ended"]
    df["status"] = pd.Categorical(["completed"], dtype=CALL_DTYPES["status"])  # type: ignore[call-overload]
    utc = charts.status_timeline(df)
    berlin = charts.status_timeline(df, tz="Europe/Berlin")
    for phase in ("setup", "talk"):
        (a,), (b,) = _traces(utc, phase), _traces(berlin, phase)
        assert list(a.x) == list(b.x)
    (talk,) = _traces(berlin, "talk")
    assert list(talk.x) == [60_000.0]  # one real minute, although the wall clock jumps an hour
    assert pd.Timestamp(talk.base[0]) == pd.Timestamp("2024-03-31 01:59:50")
    assert "Europe/Berlin" in berlin.layout.xaxis.title.text


def test_timeline_tz_changes_positions_not_lengths(short_frame: pd.DataFrame) -> None:
    df = short_frame.head(200)
    utc, riga = charts.status_timeline(df), charts.status_timeline(df, tz="Europe/Riga")
    for a, b in zip(utc.data, riga.data, strict=True):
        if a.type == "bar":
            assert list(a.x) == list(b.x)
            shift = {pd.Timestamp(y) - pd.Timestamp(x) for x, y in zip(a.base, b.base, strict=True)}
            assert shift <= {pd.Timedelta(hours=2), pd.Timedelta(hours=3)}


def test_timeline_aggregates_above_max_calls(short_frame: pd.DataFrame) -> None:
    df = short_frame.head(600)
    fig = charts.status_timeline(df, max_calls=500)
    assert "aggregated" in fig.layout.title.text
    assert "max_calls=500" in fig.layout.title.subtitle.text
    # One trace per status with a call to count (the legend lists only what is drawn).
    countable = df["ended"].fillna(df["updated"]) > df["created"]
    assert len(fig.data) == _labels(df["status"])[countable].nunique()
    # Each call counts once in every bucket its [created, end-or-update) span touches.
    width = fig.layout.meta["bucket_seconds"]
    end = df["ended"].fillna(df["updated"])
    counted = df.loc[end > df["created"]]
    created, end = counted["created"], end[end > df["created"]]
    origin = created.min().floor(f"{width}s")
    step = pd.Timedelta(seconds=width)
    touched = -((origin - end) // step) - (created - origin) // step
    assert sum(float(np.sum(t.y)) for t in fig.data) == touched.sum()
    left_out = len(df) - len(counted)
    assert f"{left_out:,} calls not counted (no end, no update" in fig.layout.title.subtitle.text
    # Below the threshold the same frame gets the per-call view.
    assert "aggregated" not in charts.status_timeline(df, max_calls=600).layout.title.text


# ----------------------------------------------------------------- status counts


def test_status_counts_match_the_frame(frame: pd.DataFrame) -> None:
    fig = charts.status_counts(frame, freq="h")
    expected = pd.DataFrame(
        {
            "status": _labels(frame["status"]),
            "bucket": frame["created"].dt.floor("h").dt.tz_localize(None),
        }
    ).value_counts()
    drawn = _counts_by_trace(fig)
    assert drawn == {key: float(n) for key, n in expected.items()}
    assert sum(drawn.values()) == len(frame)
    # Lifecycle order, then undocumented statuses, then NA as "unknown".
    names = [t.name for t in fig.data]
    assert names == [
        s for s in [*frame["status"].cat.categories, charts.UNKNOWN] if s in set(names)
    ]
    assert names[-2:] == [UNKNOWN_STATUS, charts.UNKNOWN]
    assert fig.data[names.index(UNKNOWN_STATUS)].marker.color == charts.FALLBACK_COLOR


def test_status_counts_use_local_days_with_tz(frame: pd.DataFrame) -> None:
    fig = charts.status_counts(frame, freq="D", tz="America/New_York")
    local = frame["created"].dt.tz_convert("America/New_York").dt.tz_localize(None)
    expected = local.dt.floor("D").value_counts().sort_index()
    per_day: dict[pd.Timestamp, float] = {}
    for (_name, x), y in _counts_by_trace(fig).items():
        per_day[x] = per_day.get(x, 0) + y
    assert per_day == {k: float(v) for k, v in expected.items()}
    assert "America/New_York" in fig.layout.xaxis.title.text


def test_status_counts_coarsen_too_fine_buckets() -> None:
    df = make_frame(1000, seed=6, days=30)
    fig = charts.status_counts(df, freq="min")
    assert "coarsened" in fig.layout.title.text
    buckets = {x for t in fig.data for x in t.x}
    assert len(buckets) <= 1500
    assert sum(float(np.sum(t.y)) for t in fig.data) == len(df)


def test_status_counts_accept_calendar_frequencies(frame: pd.DataFrame) -> None:
    fig = charts.status_counts(frame, freq="W")
    assert {pd.Timestamp(x).day_of_week for t in fig.data for x in t.x} == {0}  # Mondays
    assert sum(float(np.sum(t.y)) for t in fig.data) == len(frame)


# ----------------------------------------------------------------- duration histogram


@pytest.mark.parametrize("by", ["status", "channel"])
@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("column", ["talk_seconds", "duration"])
def test_histogram_counts_every_value_once(
    frame: pd.DataFrame, by: str, log: bool, column: str
) -> None:
    fig = charts.duration_histogram(frame, by=by, log=log, column=column)
    present = frame[column].notna()
    assert sum(int(np.sum(t.y)) for t in fig.data) == int(present.sum())
    expected = _labels(frame.loc[present, by]).value_counts().to_dict()
    assert {t.name: int(np.sum(t.y)) for t in fig.data} == expected
    assert fig.layout.xaxis.type == ("log" if log else "linear")
    assert "seconds" in fig.layout.xaxis.title.text
    colour = charts.status_color if by == "status" else charts.channel_color
    assert all(t.marker.color == colour(t.name) for t in fig.data)


@pytest.mark.parametrize("log", [False, True])
def test_histogram_bins_are_shared_contiguous_and_few(frame: pd.DataFrame, log: bool) -> None:
    fig = charts.duration_histogram(frame, by="channel", log=log)
    assert len({tuple(t.x) for t in fig.data}) == 1
    x, width = np.asarray(fig.data[0].x), np.asarray(fig.data[0].width)
    assert len(x) <= 60
    # Bars are given in data units on both axis types and tile the range without gaps.
    lows, highs = x - width / 2, x + width / 2
    assert highs[:-1] == pytest.approx(lows[1:])
    if log:
        assert lows[0] == pytest.approx(1.0)
        assert highs[1:] / lows[1:] == pytest.approx(highs[0] / lows[0])  # equal on a log axis


def test_histogram_rejects_unknown_options(frame: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="by must be"):
        charts.duration_histogram(frame, by="tag")
    with pytest.raises(ValueError, match="column must be"):
        charts.duration_histogram(frame, column="price")


# ----------------------------------------------------------------- costs


def test_cost_by_channel_matches_the_frame(frame: pd.DataFrame) -> None:
    fig = charts.cost_by_channel(frame)
    expected = (
        pd.DataFrame(
            {
                "channel": _labels(frame["channel"]),
                "direction": _labels(frame["direction"]),
                "cost": frame["cost_eur"].astype("float64"),
            }
        )
        .dropna(subset=["cost"])
        .groupby(["channel", "direction"])["cost"]
        .sum()
    )
    drawn = {(t.meta["channel"], t.meta["direction"]): t.y[0] for t in fig.data}
    assert drawn == pytest.approx(expected.to_dict())
    for trace in fig.data:
        assert trace.marker.color == charts.channel_color(trace.meta["channel"])
    totals = expected.groupby(level="channel").sum()
    labels = {a.x: a.text for a in fig.layout.annotations}
    assert set(labels) == set(totals.index)
    for channel, total in totals.items():
        assert labels[channel] == f"<b>{total:,.2f} EUR</b>" or f"{total:.4f}" in labels[channel]
    assert UNKNOWN_CHANNEL in labels  # undocumented channel kept, in the fallback colour


def test_cost_over_time_matches_the_frame(frame: pd.DataFrame) -> None:
    fig = charts.cost_over_time(frame, freq="D")
    priced = frame.loc[frame["cost_eur"].notna()]
    expected = (
        pd.DataFrame(
            {
                "channel": _labels(priced["channel"]),
                "bucket": priced["created"].dt.floor("D").dt.tz_localize(None),
                "cost": priced["cost_eur"].astype("float64"),
            }
        )
        .groupby(["channel", "bucket"])["cost"]
        .sum()
    )
    assert _counts_by_trace(fig) == pytest.approx(expected.to_dict())
    (line,) = [t for t in fig.data if t.type == "scatter"]
    assert line.y[-1] == pytest.approx(float(priced["cost_eur"].sum()))
    assert list(line.y) == sorted(line.y)  # cumulative
    assert line.yaxis == "y2"
    assert "EUR" in fig.layout.yaxis.title.text and "EUR" in fig.layout.yaxis2.title.text


def test_cost_by_destination_top_and_other_add_up(frame: pd.DataFrame) -> None:
    df = frame.copy()
    # Some priced calls whose country could not be read.
    lost = df.index[df["cost_eur"].notna()][:25]
    df.loc[lost, "destination_country"] = pd.NA
    fig = charts.cost_by_destination(df, top=5)
    cost = [t for t in fig.data if t.meta["measure"] == "cost"]
    minutes = [t for t in fig.data if t.meta["measure"] == "minutes"]
    countries = list(cost[0].y)
    assert countries[-2:] == ["other", charts.UNKNOWN]
    assert len(countries) == 7
    per_country = pd.Series(
        {c: sum(t.x[i] for t in cost) for i, c in enumerate(countries)}, dtype="float64"
    )
    assert per_country.sum() == pytest.approx(float(df["cost_eur"].sum()))
    assert sum(float(np.sum(t.x)) for t in minutes) == pytest.approx(
        float(df["duration"].sum()) / 60
    )
    known = df.groupby("destination_country")["cost_eur"].sum().astype("float64")
    top = known[countries[:5]]
    assert top.to_numpy() == pytest.approx(per_country[countries[:5]].to_numpy())
    assert list(top) == sorted(top, reverse=True)
    assert known.drop(countries[:5]).max() <= top.min() + 1e-9  # ties may go either way
    assert per_country[charts.UNKNOWN] == pytest.approx(float(df.loc[lost, "cost_eur"].sum()))
    assert "billed minutes" in " ".join(a.text for a in fig.layout.annotations)


def test_cost_by_destination_needs_a_positive_top(frame: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="top"):
        charts.cost_by_destination(frame, top=0)


# ----------------------------------------------------------------- size at scale


@pytest.mark.slow
@pytest.mark.parametrize("build", ALL_BUILDERS, ids=lambda b: b.__name__)
def test_figures_stay_small_at_100k_calls(build, big: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    fig = build(big)
    assert len(fig.data) >= 1
    size = len(fig.to_json())
    assert size < 5_000_000, size
    # No trace carries a value per call.
    assert all(len(json.dumps(t.to_plotly_json(), default=str)) < 2_000_000 for t in fig.data)


def test_the_largest_per_call_timeline_stays_under_the_bound() -> None:
    df = make_frame(2000, seed=8, days=0.1)
    fig = charts.status_timeline(df, max_calls=2000)
    assert "aggregated" not in fig.layout.title.text
    assert len(fig.to_json()) < 5_000_000


def _with_a_stray_old_call(df: pd.DataFrame) -> pd.DataFrame:
    """Add a call from years before the others (the sandbox has the vendor's 2017 example)."""
    old = df.iloc[[0]].copy()
    shift = pd.Timedelta(days=7 * 365)
    for column in ("created", "updated", "started", "ended"):
        old[column] = old[column] - shift
    return pd.concat([old, df], ignore_index=True)


@pytest.mark.parametrize(
    "build",
    [charts.status_timeline, charts.status_counts, charts.cost_over_time],
    ids=lambda b: b.__name__,
)
def test_a_stray_old_call_does_not_squash_the_time_axis(build, frame: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    df = _with_a_stray_old_call(frame.head(400))
    fig = build(df)
    start, end = (pd.Timestamp(t) for t in fig.layout.xaxis.range)
    assert start > pd.Timestamp("2024-01-01") and end < pd.Timestamp("2024-05-01")
    assert "1 call outside this window" in fig.layout.title.subtitle.text
    # Nothing is dropped from the figure: zooming out shows the old call.
    if build is charts.status_counts:
        assert sum(float(np.sum(t.y)) for t in fig.data) == len(df)
        assert "hour" in fig.layout.title.text  # not coarsened to weeks by the outlier
    # Without the outlier the axis is left to autorange.
    assert build(frame.head(400)).layout.xaxis.range is None


def test_the_aggregated_timeline_counts_inside_the_window(frame: pd.DataFrame) -> None:
    df = _with_a_stray_old_call(frame.head(600))  # buckets follow the window, not 2017
    fig = charts.status_timeline(df, max_calls=500)
    assert fig.layout.meta["bucket_seconds"] <= 3600
    assert "1 call outside this window" in fig.layout.title.subtitle.text


# -- charts that fit the span -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "word"), [(0.9, "hour"), (30, "day"), (360, "week"), (3000, "month")]
)
def test_without_freq_the_bucket_follows_the_span(days: float, word: str) -> None:
    df = make_frame(400, seed=5, days=days)
    counts = charts.status_counts(df)
    assert counts.layout.title.text == f"Calls per {word} by status"
    over_time = charts.cost_over_time(df)
    assert over_time.layout.title.text.startswith(f"Cost per {word} by channel")
    # Every call is in one bar: the buckets split the calls, they drop none.
    assert sum(int(np.sum(t.y)) for t in counts.data) == len(df)


def test_count_axes_tick_whole_numbers() -> None:
    few = make_frame(4, seed=3, days=0.5)
    for fig in (charts.status_counts(few), charts.duration_histogram(few)):
        assert fig.layout.yaxis.tickformat == ",d"
        assert fig.layout.yaxis.dtick == 1  # 0, 1, 2, ... never 0.2, 0.4
    many = make_frame(2000, seed=3, days=0.5)
    fig = charts.status_counts(many)
    assert fig.layout.yaxis.tickformat == ",d" and fig.layout.yaxis.dtick is None


def test_small_bar_labels_are_hidden_not_shrunk(frame: pd.DataFrame) -> None:
    fig = charts.cost_by_channel(frame)
    assert fig.layout.uniformtext.mode == "hide"
    assert fig.layout.uniformtext.minsize >= 10


def test_chart_totals_round_as_the_report_does() -> None:
    from apifonica_nb.reporting import format_value

    # 25.215 is 25.214999... in binary: printf rounding would say 25.21, the report 25.22.
    df = make_frame(3, seed=1).assign(cost_eur=pd.array([25.0, 0.2, 0.015], dtype="Float64"))
    fig = charts.cost_by_channel(df)
    assert f"total {format_value(25.215, 'money')}" in fig.layout.title.subtitle.text
    assert "25.22 EUR" in fig.layout.title.subtitle.text


def test_the_timeline_picks_its_view_by_call_length_against_the_period(
    frame: pd.DataFrame, short_frame: pd.DataFrame
) -> None:
    # Minute-long calls over days: bars would be dots, so calls in progress, and it says why.
    days = charts.status_timeline(frame.head(300))
    assert "aggregated" in days.layout.title.text and days.layout.meta["aggregated"]
    assert "bars would not show" in days.layout.title.subtitle.text
    # Over an hour the same kind of calls are bars, one row per call.
    hour = charts.status_timeline(short_frame.head(300))
    assert "one row per call" in hour.layout.title.text
    assert {"setup", "talk"} <= {(t.meta or {}).get("phase") for t in hour.data}


def test_the_timeline_legend_describes_only_the_marks_drawn(short_frame: pd.DataFrame) -> None:
    df = short_frame.head(200)
    finished = df.loc[df["ended"].notna()]
    fig = charts.status_timeline(finished)
    subtitle = fig.layout.title.subtitle.text
    assert "solid bar: talk" in subtitle and "no end yet" not in subtitle
    assert not _traces(fig, "open")
    with_open = charts.status_timeline(df).layout.title.subtitle.text
    assert "hatched ▸: no end yet" in with_open
    agg = charts.status_timeline(make_frame(300, seed=3))
    assert "bar" not in " ".join(t.type for t in agg.data if t.type != "bar")
    assert "pale thin bar" not in agg.layout.title.subtitle.text
