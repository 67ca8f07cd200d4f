"""call_family: the call, its parent and every sibling leg, checked against the whole history."""

from __future__ import annotations

import copy
from typing import Any

import pandas as pd
import pytest

import apifonica_nb as ap
from apifonica_nb.errors import ApifonicaWarning


@pytest.fixture(scope="module")
def history(sandbox: Any) -> list[dict[str, Any]]:
    return list(sandbox.client().iter_calls())


def _families(history: list[dict[str, Any]]) -> dict[str, set[str]]:
    """parent SID -> the SIDs of the parent and its legs, from the raw history."""
    out: dict[str, set[str]] = {}
    for call in history:
        parent = call["parent_call_sid"]
        if parent and parent != call["call_sid"]:
            out.setdefault(parent, {parent}).add(call["call_sid"])
    return out


def test_every_leg_finds_its_whole_family(sandbox: Any, history: list[dict[str, Any]]) -> None:
    families = _families(history)
    assert len(families) >= 10 and any(len(f) > 2 for f in families.values())
    client = sandbox.client()
    # The largest families and a few pairs (every leg of each): the whole set takes ~20 s.
    ranked = sorted(families.items(), key=lambda item: (-len(item[1]), item[0]))
    for parent, members in ranked[:3] + ranked[-3:]:
        for asked in sorted(members):
            df = ap.call_family(asked, client=client)
            assert set(df["call_sid"]) == members, asked
            assert len(df) == len(members)  # one row per call
            assert df["call_sid"].iloc[0] == parent and df["role"].iloc[0] == "parent"
            assert (df["role"].iloc[1:] == "leg").all()
            assert df.loc[df["asked"], "call_sid"].tolist() == [asked]
            assert (df["parent_call_sid"].iloc[1:] == parent).all()
            assert df.attrs["parent_call_sid"] == parent


def test_the_family_is_a_typed_call_frame(sandbox: Any, history: list[dict[str, Any]]) -> None:
    parent = next(iter(_families(history)))
    df = ap.call_family(parent, client=sandbox.client())
    for name, dtype in ap.CALL_DTYPES.items():
        assert df[name].dtype == dtype, name
    assert list(df.columns) == [*ap.CALL_DTYPES, "role", "asked"]
    assert str(df["asked"].dtype) == "boolean" and list(df["role"].cat.categories) == [
        "parent",
        "leg",
    ]
    assert df["created"].is_monotonic_increasing or len(df) <= 2


def test_a_call_without_legs_is_a_family_of_one(
    sandbox: Any, history: list[dict[str, Any]]
) -> None:
    parents = set(_families(history))
    lonely = next(c for c in history if not c["parent_call_sid"] and c["call_sid"] not in parents)
    df = ap.call_family(lonely["call_sid"], client=sandbox.client())
    assert df["call_sid"].tolist() == [lonely["call_sid"]] and df["role"].tolist() == ["parent"]
    example = ap.call_family(sandbox.example_call_sid, client=sandbox.client())  # its own parent
    assert example["call_sid"].tolist() == [sandbox.example_call_sid]


def test_a_parent_the_api_no_longer_has_gives_the_legs_with_a_warning(
    odd_server: Any, sandbox: Any, history: list[dict[str, Any]]
) -> None:
    legs = [
        copy.deepcopy(c)
        for c in history
        if c["parent_call_sid"] and c["parent_call_sid"] != c["call_sid"]
    ]
    parent = legs[0]["parent_call_sid"]
    family = [c for c in legs if c["parent_call_sid"] == parent]
    client = odd_server.serve_history([*family, copy.deepcopy(history[0])])
    odd_server.json(f"/v2/accounts/acc1/calls/{family[0]['call_sid']}", family[0])
    with pytest.warns(ApifonicaWarning, match=f"parent {parent} .* was not found"):
        df = ap.call_family(family[0]["call_sid"], client=client)
    assert set(df["call_sid"]) == {c["call_sid"] for c in family}
    assert (df["role"] == "leg").all() and df.attrs["parent_call_sid"] == parent
    assert isinstance(df["created"].dtype, pd.DatetimeTZDtype)


def test_call_legs_draws_setup_and_talk_in_the_status_colours(
    sandbox: Any, history: list[dict[str, Any]]
) -> None:
    families = _families(history)
    parent = max(families, key=lambda p: len(families[p]))
    df = ap.call_family(parent, client=sandbox.client())
    fig = ap.charts.call_legs(df)
    setup = next(t for t in fig.data if t.name == "setup")
    assert len(setup.y) == len(df) and setup.marker.color == ap.charts.STATUS_COLORS["ringing"]
    answered = df["started"].notna()
    talk = [t for t in fig.data if t.name.startswith("talk (")]
    assert sum(len(t.y) for t in talk) == int(answered.sum())
    for trace in fig.data[1:]:
        status = trace.name.split("(")[1].rstrip(")")
        assert trace.marker.color == ap.charts.status_color(status)
    ended = [t for t in fig.data if t.name.startswith("ended (")]
    assert sum(len(t.y) for t in ended) == int((~answered).sum())
    assert setup.y[0].startswith("parent ") and all(y.startswith("leg ") for y in setup.y[1:])
    assert sum("◀" in y for y in setup.y) == 1  # the asked call (here the parent)
    assert df.equals(ap.call_family(parent, client=sandbox.client()))  # nothing changed it
    empty = ap.charts.call_legs(df.iloc[0:0])
    assert empty.layout.annotations[0].text.startswith("No legs")
