"""The shared numbers (``apifonica_nb.summary``), checked against sums done by hand."""

from __future__ import annotations

import pandas as pd
import pytest
from test_charts import make_frame

from apifonica_nb import summary
from apifonica_nb.errors import InvalidRequestError
from apifonica_nb.frame import CALL_DTYPES

NA = None
STATUS = pd.CategoricalDtype([*CALL_DTYPES["status"].categories, "voicemail"])  # type: ignore[attr-defined]


@pytest.fixture
def calls() -> pd.DataFrame:
    """Seven calls whose numbers are easy to add up by hand."""
    rows = [
        # status, channel, direction, is_final, cost, talk s, billed s, created
        ("completed", "number", "outbound", True, 0.10, 60, 62, "2026-10-01 10:00"),
        ("completed", "viber", "inbound", True, 0.02, 30, 30, "2026-10-01 11:00"),
        ("busy", "number", "outbound", True, 0.00, NA, 0, "2026-10-02 08:00"),
        ("no_answer", "number", "outbound", True, NA, NA, 0, "2026-10-02 09:00"),
        ("ringing", "number", "inbound", False, NA, NA, NA, "2026-10-03 12:00"),
        (NA, NA, "outbound", NA, 0.05, 90, 91, NA),  # a sparse row: no status, no channel
        ("voicemail", "viber", "outbound", NA, NA, NA, NA, "2026-10-01 09:30"),  # undocumented
    ]
    names = ["status", "channel", "direction", "is_final", "cost_eur", "talk_seconds"]
    df = pd.DataFrame(rows, columns=[*names, "duration", "created"])
    return df.astype(
        {
            "status": STATUS,
            "channel": CALL_DTYPES["channel"],
            "direction": CALL_DTYPES["direction"],
            "is_final": "boolean",
            "cost_eur": "Float64",
            "talk_seconds": "Float64",
            "duration": "Int64",
        }
    ).assign(created=lambda d: pd.to_datetime(d["created"]).dt.tz_localize("UTC"))


def test_totals_by_hand(calls: pd.DataFrame) -> None:
    calls.attrs["failures"] = [{"call_sid": "calx", "error": "NotFoundError", "message": "-"}]
    t = summary.totals(calls)
    assert (t.calls, t.finished, t.answered, t.priced, t.failures) == (7, 4, 2, 4, 1)
    assert t.answer_rate == 0.5  # 2 completed of the 4 finished; ringing/NA/voicemail not
    assert t.cost_eur == pytest.approx(0.17)
    assert t.talk_minutes == pytest.approx(3.0)  # (60 + 30 + 90) / 60
    assert t.billed_minutes == pytest.approx(183 / 60)
    assert t.period == (
        pd.Timestamp("2026-10-01 09:30", tz="UTC"),
        pd.Timestamp("2026-10-03 12:00", tz="UTC"),
    )


def test_by_status_by_hand(calls: pd.DataFrame) -> None:
    table = summary.by_column(calls, "status")
    # Lifecycle order, the undocumented status after the documented ones, NA last.
    assert list(table.index) == [
        "ringing",
        "completed",
        "no_answer",
        "busy",
        "voicemail",
        "unknown",
    ]
    assert table.index.name == "status"
    assert table["calls"].tolist() == [1, 2, 1, 1, 1, 1]
    assert table["finished"].tolist() == [0, 2, 1, 1, 0, 0]
    assert table["answered"].tolist() == [0, 2, 0, 0, 0, 0]
    assert table["answer_rate"].tolist() == [pd.NA, 1.0, 0.0, 0.0, pd.NA, pd.NA]
    assert table["priced"].tolist() == [0, 2, 0, 1, 0, 1]
    assert table["cost_eur"].tolist() == pytest.approx([0, 0.12, 0, 0, 0, 0.05])
    assert table["talk_minutes"].tolist() == pytest.approx([0, 1.5, 0, 0, 0, 1.5])
    assert table["billed_minutes"].tolist() == pytest.approx([0, 92 / 60, 0, 0, 0, 91 / 60])
    assert table["share"].tolist() == pytest.approx([1 / 7, 2 / 7, 1 / 7, 1 / 7, 1 / 7, 1 / 7])


def test_by_two_columns_by_hand(calls: pd.DataFrame) -> None:
    table = summary.by_column(calls, ["channel", "direction"])
    assert table.index.names == ["channel", "direction"]
    assert table["calls"].to_dict() == {
        ("number", "inbound"): 1,
        ("number", "outbound"): 3,
        ("viber", "inbound"): 1,
        ("viber", "outbound"): 1,
        ("unknown", "outbound"): 1,
    }
    assert list(table.index) == list(table["calls"].to_dict())  # category order, unknown last
    assert table.loc[("number", "outbound"), "cost_eur"] == pytest.approx(0.10)
    assert table.loc[("number", "outbound"), "answer_rate"] == pytest.approx(1 / 3)


def test_groups_add_up_to_the_totals() -> None:
    df = make_frame(800, seed=5)
    t = summary.totals(df)
    for column in ("status", "channel", "destination_country", ["direction", "status"]):
        table = summary.by_column(df, column)
        assert table["calls"].sum() == t.calls == len(df)
        assert table["finished"].sum() == t.finished
        assert table["answered"].sum() == t.answered
        assert table["priced"].sum() == t.priced
        assert table["cost_eur"].sum() == pytest.approx(t.cost_eur)
        assert table["talk_minutes"].sum() == pytest.approx(t.talk_minutes)
        assert table["share"].sum() == pytest.approx(1.0)
    expected = df["status"].astype("str").fillna(summary.UNKNOWN).value_counts()
    assert summary.by_column(df, "status")["calls"].to_dict() == expected.to_dict()


def test_no_finished_call_gives_no_answer_rate(calls: pd.DataFrame) -> None:
    live = calls[calls["status"].isin(["ringing", "voicemail"])]
    assert summary.totals(live).answer_rate is None
    assert summary.by_column(live, "status")["answer_rate"].isna().all()


@pytest.mark.parametrize(
    "df",
    [
        pd.DataFrame(),
        pd.DataFrame(index=range(0)),
        make_frame(5, seed=1).iloc[0:0],
    ],
    ids=["no columns", "empty index", "empty typed"],
)
def test_empty_frames_give_empty_results(df: pd.DataFrame) -> None:
    t = summary.totals(df)
    assert (t.calls, t.finished, t.priced, t.cost_eur, t.failures) == (0, 0, 0, 0.0, 0)
    assert t.answer_rate is None and t.period is None
    table = summary.by_column(df, "status")
    assert table.empty and table.index.name == "status"
    assert list(table.columns) == [
        "calls",
        "share",
        "finished",
        "answered",
        "answer_rate",
        "priced",
        "cost_eur",
        "talk_minutes",
        "billed_minutes",
    ]


def test_missing_columns_count_as_missing_values() -> None:
    bare = pd.DataFrame({"call_sid": ["cal1", "cal2", "cal3"]})
    t = summary.totals(bare)
    assert (t.calls, t.finished, t.priced, t.cost_eur, t.period) == (3, 0, 0, 0.0, None)
    table = summary.by_column(bare, "channel")
    assert table["calls"].to_dict() == {"unknown": 3}
    # Without is_final, the status vocabulary decides what is finished.
    statuses = pd.DataFrame({"status": ["completed", "busy", "ringing", None]})
    assert summary.totals(statuses).answer_rate == 0.5


def test_a_real_unknown_value_merges_with_missing_ones() -> None:
    df = pd.DataFrame({"tag": ["unknown", None, "a"]})
    assert summary.by_column(df, "tag")["calls"].to_dict() == {"a": 1, "unknown": 2}


def test_inputs_are_left_alone_and_bad_columns_refused(calls: pd.DataFrame) -> None:
    before = calls.copy(deep=True)
    summary.totals(calls)
    summary.by_column(calls, ["status", "channel"])
    pd.testing.assert_frame_equal(calls, before)
    with pytest.raises(InvalidRequestError):
        summary.by_column(calls, [])
