"""The telecom KPIs (``ap.kpis``), checked against hand computations."""

from __future__ import annotations

import json
import pathlib
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
from test_charts import make_frame

import apifonica_nb as ap
from apifonica_nb.cli import main
from apifonica_nb.connect import DEMO_NOW
from apifonica_nb.errors import ApifonicaError, InvalidRequestError
from apifonica_nb.summary import KPI_COLUMNS, kpi_table

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def sandbox_frame(sandbox: Any) -> pd.DataFrame:
    return ap.fetch_history(client=sandbox.client(), progress=False, cache=False)


def small() -> pd.DataFrame:
    """Ten calls whose KPIs are easy to work out by hand (times in seconds)."""
    rows = [
        # status, channel, created, setup, talk, billed, cost
        ("completed", "number", "2026-10-01 10:00", 5.0, 60.0, 65, 0.10),
        ("completed", "number", "2026-10-01 11:00", 9.0, 6.0, 15, 0.02),  # short call
        ("completed", "viber", "2026-10-02 09:00", 3.0, 300.0, 303, 0.05),
        ("busy", "number", "2026-10-01 12:00", None, None, 0, 0.0),
        ("no_answer", "number", "2026-10-01 13:00", None, None, 0, 0.0),
        ("failed", "number", "2026-10-02 10:00", None, None, 0, 0.0),
        ("rejected", "viber", "2026-10-02 11:00", None, None, 0, 0.0),
        ("canceled", "number", "2026-10-02 12:00", None, None, 0, None),
        ("ringing", "number", "2026-10-02 13:00", None, None, None, None),  # in progress
        ("answered", "viber", "2026-10-02 14:00", 4.0, None, None, None),  # in progress
    ]
    df = pd.DataFrame(
        rows,
        columns=[
            "status",
            "channel",
            "created",
            "setup_seconds",
            "talk_seconds",
            "duration",
            "cost_eur",
        ],
    )
    return df.astype(
        {
            "status": ap.CALL_DTYPES["status"],
            "channel": ap.CALL_DTYPES["channel"],
            "setup_seconds": "Float64",
            "talk_seconds": "Float64",
            "duration": "Int64",
            "cost_eur": "Float64",
        }
    ).assign(created=lambda d: pd.to_datetime(d["created"]).dt.tz_localize("UTC"))


def test_kpis_of_a_small_frame_by_hand() -> None:
    k = ap.kpis(small()).iloc[0]
    assert (k["calls"], k["in_progress"], k["unclassified"], k["attempts"]) == (10, 2, 0, 8)
    counts = [
        k[name] for name in ("answered", "busy", "no_answer", "rejected", "canceled", "failed")
    ]
    assert counts == [3, 1, 1, 1, 1, 1] and sum(counts) == k["attempts"]
    assert k["asr"] == pytest.approx(3 / 8)  # the two live calls are in neither term
    assert k["ner"] == pytest.approx(7 / 8)  # only "failed" is a network failure
    assert k["acd_talk_s"] == pytest.approx((60 + 6 + 300) / 3)
    assert k["acd_billed_s"] == pytest.approx((65 + 15 + 303) / 3)
    assert k["tta_median_s"] == 5.0  # of 5, 9, 3: the answered calls (not the live one's 4)
    assert k["tta_p90_s"] == pytest.approx(np.percentile([5, 9, 3], 90))
    assert (k["short_calls"], k["short_share"]) == (1, pytest.approx(1 / 3))
    assert k["talk_minutes"] == pytest.approx(366 / 60)
    assert k["billed_minutes"] == pytest.approx(383 / 60)
    assert k["cost_eur"] == pytest.approx(0.17)
    assert k["cost_per_billed_minute"] == pytest.approx(0.17 / (383 / 60))
    assert k["cost_per_attempt"] == pytest.approx(0.17 / 8)
    assert list(ap.kpis(small()).columns) == list(KPI_COLUMNS)


def test_kpis_by_group_and_day_by_hand() -> None:
    table = ap.kpis(small(), by="channel", freq="D")
    assert list(table.columns[:2]) == ["channel", "period"]
    assert str(table["period"].dtype) == "datetime64[us, UTC]"
    rows = {(r.channel, r.period.day): r for r in table.itertuples()}
    assert sorted(rows) == [("number", 1), ("number", 2), ("viber", 2)]
    assert (rows["number", 1].attempts, rows["number", 1].answered) == (4, 2)
    assert rows["number", 1].asr == 0.5
    assert (rows["number", 2].attempts, rows["number", 2].in_progress) == (2, 1)
    assert pd.isna(rows["number", 2].acd_talk_s)  # nothing answered: NA, not 0
    assert rows["viber", 2].asr == 0.5 and rows["viber", 2].in_progress == 1
    assert table["calls"].sum() == 10
    # A day is a day where the user is: 23:30 UTC is the next day in Helsinki.
    late = small().assign(created=pd.Timestamp("2026-10-01 23:30", tz="UTC"))
    helsinki = ap.kpis(late, freq="D", tz="Europe/Helsinki")
    assert helsinki["period"].tolist() == [pd.Timestamp("2026-10-02", tz="Europe/Helsinki")]


def test_the_vendors_example_call() -> None:
    record = json.loads((FIXTURES / "vendor_call.json").read_text(encoding="utf-8"))
    record["call_sid"] = "cal17cb9958-3878-4562-b6a7-f67a0a5b33ba"
    record["parent_call_sid"] = record["account_sid"] = None
    k = ap.kpis(ap.calls_to_frame([record]), by="destination_country").iloc[0]
    assert k["destination_country"] == "NL"  # outbound to +31
    assert (k["attempts"], k["answered"], k["asr"], k["ner"]) == (1, 1, 1.0, 1.0)
    assert k["acd_talk_s"] == 6.0  # started 13:01:37, ended 13:01:43
    assert k["acd_billed_s"] == 18.0  # the API's duration, kept as given
    assert k["tta_median_s"] == k["tta_p90_s"] == 12.0  # created 13:01:25
    assert (k["short_calls"], k["short_share"]) == (1, 1.0)  # 6 s < 10 s
    assert k["cost_eur"] == pytest.approx(0.0294)
    assert k["cost_per_billed_minute"] == pytest.approx(0.0294 / (18 / 60))


def test_kpis_of_the_sandbox_add_up_to_the_totals(sandbox_frame: pd.DataFrame) -> None:
    t = ap.summary.totals(sandbox_frame)
    by = ap.kpis(sandbox_frame, by=["channel", "direction"], freq="D")
    assert by["calls"].sum() == t.calls == len(sandbox_frame)
    assert by["attempts"].sum() == t.finished and by["answered"].sum() == t.answered
    assert by["cost_eur"].sum() == pytest.approx(t.cost_eur)
    whole = ap.kpis(sandbox_frame).iloc[0]
    assert whole["asr"] == pytest.approx(t.answer_rate)
    # The per-column table's answer rate is the same measure.
    by_channel = ap.summary.by_column(sandbox_frame, "channel")["answer_rate"]
    kpi_channel = ap.kpis(sandbox_frame, by="channel").set_index("channel")["asr"]
    pd.testing.assert_series_equal(by_channel, kpi_channel, check_names=False)
    assert whole["in_progress"] == int((~sandbox_frame["is_final"]).sum()) > 0


def test_na_heavy_and_empty_frames_give_empty_results() -> None:
    empty = ap.kpis(make_frame(5, seed=1).iloc[0:0], by="channel", freq="D")
    assert empty.empty and list(empty.columns) == ["channel", "period", *KPI_COLUMNS]
    assert ap.kpis(pd.DataFrame()).empty
    nothing = pd.DataFrame({"created": pd.Series([pd.NaT] * 4, dtype="datetime64[us, UTC]")})
    with pytest.warns(UserWarning, match="4 calls have no 'created' time"):
        assert ap.kpis(nothing, freq="h").empty
    sparse = ap.kpis(nothing)  # without freq every row counts, as unclassified
    assert (sparse["calls"].item(), sparse["unclassified"].item()) == (4, 4)
    assert sparse["asr"].isna().all()


def test_wrong_by_freq_or_tz_is_an_invalid_request() -> None:
    df = small()
    for kwargs in (
        {"by": "nonsense"},
        {"by": ["channel", 3]},
        {"freq": "fortnight"},
        {"freq": 7},
        {"tz": "Mars/Olympus"},
        {"short_seconds": -1},
    ):
        with pytest.raises(InvalidRequestError) as caught:
            ap.kpis(df, **kwargs)
        assert isinstance(caught.value, ApifonicaError)
    with pytest.raises(InvalidRequestError, match="no such column"):
        ap.kpis(df, by="nonsense")


def test_the_frame_is_left_alone() -> None:
    df = small()
    before = df.copy(deep=True)
    ap.kpis(df, by="channel", freq="D")
    pd.testing.assert_frame_equal(df, before)


def test_kpi_table_reads_like_the_kpis() -> None:
    text = kpi_table(small(), by="channel")
    assert list(text.columns) == ["number", "viber", "all"]
    assert text.loc["asr", "all"] == "37.5%" and text.loc["attempts", "all"] == "8"
    assert text.loc["acd_talk_s", "viber"] == "300.0 s"
    assert kpi_table(pd.DataFrame(), by=None).loc["asr", "all"] == "–"


def test_cli_summary_prints_the_kpi_table(capsys: pytest.CaptureFixture) -> None:
    assert main(["summary", "--sandbox", "--calls", "150", "--seed", "5", "--by", "direction"]) == 0
    out = capsys.readouterr().out
    with ap.sandbox.running(calls=150, seed=5, now=DEMO_NOW) as sb:
        df = ap.fetch_history(client=sb.client(), progress=False)
    table = ap.kpis(df, by="direction").set_index("direction")
    section = out.split("KPIs by direction", 1)[1]
    asr = re.search(r"^asr\s+(\S+)\s+(\S+)\s+(\S+)$", section, re.M)
    assert asr is not None
    assert asr.groups()[:2] == tuple(f"{table.loc[d, 'asr']:.1%}" for d in ("inbound", "outbound"))
    attempts = re.search(r"^attempts\s+(\S+)\s+(\S+)\s+(\S+)$", section, re.M)
    assert attempts is not None and attempts.group(3) == f"{table['attempts'].sum():,}"
