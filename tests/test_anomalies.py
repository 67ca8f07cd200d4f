"""Cost anomalies (``ap.cost_anomalies``): an injected spike is flagged, a stationary account is
not, and the sandbox's fraud night is found."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

import apifonica_nb as ap
from apifonica_nb.connect import DEMO_NOW
from apifonica_nb.errors import InvalidRequestError
from apifonica_nb.sandbox.burst import PREMIUM_COUNTRY, burst_size
from apifonica_nb.sandbox.generate import generate_account

COLUMNS = [
    "destination_country",
    "period",
    "kind",
    "observed_eur",
    "expected_eur",
    "excess_eur",
    "score",
    "calls",
]


def daily(spend: dict[str, list[float]], start: str = "2026-10-01") -> pd.DataFrame:
    """One call a day per country at noon, costing the day's spend (0: no call)."""
    rows = [
        (country, pd.Timestamp(start, tz="UTC") + pd.Timedelta(days=d, hours=12), cost)
        for country, costs in spend.items()
        for d, cost in enumerate(costs)
        if cost
    ]
    df = pd.DataFrame(rows, columns=["destination_country", "created", "cost_eur"])
    return df.astype({"destination_country": "str", "cost_eur": "Float64"})


def test_an_injected_spike_is_flagged_with_its_expected_spend() -> None:
    rng = np.random.default_rng(3)
    usual = (2 + rng.random(30)).round(2).tolist()
    spiked = usual.copy()
    spiked[20] = 80.0
    df = daily({"FI": spiked, "SE": usual})
    flags = ap.cost_anomalies(df)
    assert list(flags.columns) == COLUMNS
    assert len(flags) == 1
    flag = flags.iloc[0]
    assert flag["destination_country"] == "FI" and flag["kind"] == "spike"
    assert flag["period"] == pd.Timestamp("2026-10-21", tz="UTC")
    assert flag["expected_eur"] == pytest.approx(np.median(usual[6:20]))
    assert flag["excess_eur"] == pytest.approx(80.0 - flag["expected_eur"])
    assert flag["observed_eur"] == 80.0 and flag["calls"] == 1 and flag["score"] >= 5


def test_a_new_destination_with_spend_is_flagged_as_new() -> None:
    df = daily({"FI": [2.0] * 20, "CU": [0.0] * 15 + [40.0] + [0.0] * 4})
    flags = ap.cost_anomalies(df)
    assert flags[["destination_country", "kind"]].values.tolist() == [["CU", "new"]]
    # Little spend to a new destination is no alarm; nor is a spike in the first week.
    assert ap.cost_anomalies(daily({"FI": [2.0] * 20, "CU": [0.0] * 15 + [3.0]})).empty
    assert ap.cost_anomalies(daily({"FI": [2.0, 2.0, 90.0] + [2.0] * 10})).empty


def test_one_past_burst_does_not_hide_the_next() -> None:
    costs = [2.0] * 30
    costs[10] = costs[18] = 90.0
    flags = ap.cost_anomalies(daily({"FI": costs}))
    assert [p.day for p in flags["period"]] == [11, 19]


def test_the_baseline_table_has_every_bucket() -> None:
    table = ap.summary.cost_baseline(daily({"FI": [1.0, 0.0, 3.0], "SE": [0.0, 2.0, 0.0]}))
    assert len(table) == 6 and table["spend_eur"].sum() == 6.0
    assert table["score"].isna().all()  # fewer than min_history days before any of them


@pytest.fixture(scope="module")
def accounts() -> Iterator[dict[bool, pd.DataFrame]]:
    frames = {}
    for burst in (True, False):
        with ap.sandbox.running(calls=500, seed=7, now=DEMO_NOW, fraud_burst=burst) as sb:
            frames[burst] = ap.fetch_history(client=sb.client(), progress=False, cache=False)
    yield frames


def test_the_sandbox_fraud_night_is_flagged(accounts: dict[bool, pd.DataFrame]) -> None:
    flags = ap.cost_anomalies(accounts[True])
    assert flags["destination_country"].tolist() == [PREMIUM_COUNTRY]
    flag = flags.iloc[0]
    assert flag["kind"] == "spike"  # called twice before: rarely, not never
    assert flag["calls"] == burst_size(500) - 2
    night = accounts[True].query("destination_country == @PREMIUM_COUNTRY")
    on_the_night = night["created"].dt.floor("D") == flag["period"]
    assert flag["observed_eur"] == pytest.approx(night.loc[on_the_night, "cost_eur"].sum())
    assert flag["observed_eur"] > 100 and flag["score"] > 50
    assert ap.cost_anomalies(accounts[True], tz="America/Havana")[
        "destination_country"
    ].tolist() == [PREMIUM_COUNTRY]


def test_a_stationary_account_gives_no_flag(accounts: dict[bool, pd.DataFrame]) -> None:
    assert ap.cost_anomalies(accounts[False]).empty
    for seed in (1, 2, 3):  # nor do other seeded accounts, generated without a server
        account = generate_account(calls=2000, seed=seed, anchor=1_790_000_000, fraud_burst=False)
        records = [account.call_record(i, 1_790_000_000) for i in range(len(account.call_sids))]
        assert ap.cost_anomalies(ap.calls_to_frame(records)).empty, seed


def test_the_fraud_night_is_added_and_the_rest_stays(accounts: dict[bool, pd.DataFrame]) -> None:
    with_, without = accounts[True], accounts[False]
    assert len(with_) == len(without) + burst_size(500)
    same = with_.set_index("call_sid").loc[without["call_sid"]].reset_index()
    # The same calls, but for the account SID, which names the data (a store never mixes them).
    pd.testing.assert_frame_equal(
        same.drop(columns="account_sid"),
        without.reset_index(drop=True).drop(columns="account_sid"),
        check_flags=False,
    )
    assert with_["account_sid"].iloc[0] != without["account_sid"].iloc[0]
    added = with_[~with_["call_sid"].isin(without["call_sid"])]
    assert set(added["destination_country"]) == {PREMIUM_COUNTRY}
    assert (added["status"] == "completed").all() and (added["direction"] == "outbound").all()


def test_empty_and_na_frames_give_an_empty_result() -> None:
    assert ap.cost_anomalies(pd.DataFrame()).columns.tolist() == COLUMNS
    unpriced = daily({"FI": [1.0] * 10}).assign(cost_eur=pd.NA).astype({"cost_eur": "Float64"})
    assert ap.cost_anomalies(unpriced).empty
    assert ap.cost_anomalies(daily({"FI": [1.0] * 10}).assign(created=pd.NaT)).empty


def test_bad_arguments_are_invalid_requests() -> None:
    df = daily({"FI": [1.0] * 10})
    for kwargs in (
        {"by": "nope"},
        {"by": []},
        {"freq": "often"},
        {"window": 0},
        {"threshold": -1},
        {"min_history": 1.5},
    ):
        with pytest.raises(InvalidRequestError):
            ap.cost_anomalies(df, **kwargs)  # type: ignore[arg-type]


def test_fraud_burst_reaches_the_process_sandbox() -> None:
    with ap.sandbox.running(calls=150, seed=5, now=DEMO_NOW, process=True, fraud_burst=False) as sb:
        assert len(sb.call_sids) == 150
    with ap.sandbox.running(calls=150, seed=5, now=DEMO_NOW, process=True) as sb:
        assert len(sb.call_sids) == 150 + burst_size(150)
