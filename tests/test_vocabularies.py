"""The vocabularies have two homes that must agree: the client side's (apifonica_nb.frame) and
the sandbox's own copy (the sandbox is an independent oracle and never imports the client side).
Also: the vendor's example call is one fixture, and filters match the vocabularies."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

import apifonica_nb.sandbox.data as sandbox_data
from apifonica_nb import frame
from apifonica_nb.errors import InvalidRequestError
from apifonica_nb.frame import build_frame, normalize_filter
from apifonica_nb.sandbox.generate import generate_account

FIXTURE = Path(__file__).parent / "fixtures" / "vendor_call.json"
PACKAGE = Path(frame.__file__).resolve().parent.parent
#: The fields of the vendor's "Get details of specific call" response example, in its order.
VENDOR_FIELDS = [
    "call_sid",
    "parent_call_sid",
    "created",
    "account_sid",
    "from",
    "to",
    "direction",
    "status",
    "controller",
    "method",
    "timeout",
    "updated",
    "started",
    "ended",
    "duration",
    "price",
    "record_sid",
    "tag",
    "channel",
]


def vendor_call() -> dict[str, Any]:
    return dict(json.loads(FIXTURE.read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    "name", ["STATUSES", "FINAL_STATUSES", "DIRECTIONS", "CHANNELS", "METHODS"]
)
def test_the_sandbox_and_the_frame_share_each_vocabulary(name: str) -> None:
    assert getattr(sandbox_data, name) == getattr(frame, name)


def test_the_vocabularies_are_consistent() -> None:
    assert list(frame.STATUS_DESCRIPTIONS) == list(frame.STATUSES)
    assert set(frame.STATUSES) > frame.FINAL_STATUSES
    assert "modified" not in frame.FINAL_STATUSES  # a live-call modification goes on
    for name, labels in (("status", frame.STATUSES), ("direction", frame.DIRECTIONS)):
        assert list(frame.CALL_DTYPES[name].categories) == list(labels)  # type: ignore[attr-defined]


def test_the_sandbox_never_imports_the_client_side() -> None:
    for module in ("data.py", "server.py"):
        tree = ast.parse((PACKAGE / "sandbox" / module).read_text(encoding="utf-8"))
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.level <= 1, (module, node.module)  # nothing above sandbox/
                names.append(node.module or "" if node.level == 0 else "apifonica_nb.sandbox")
        ours = [n for n in names if n.split(".")[0] == "apifonica_nb"]
        assert all(n.startswith("apifonica_nb.sandbox") for n in ours), (module, ours)


def test_the_vendor_fixture_is_the_vendor_example() -> None:
    call = vendor_call()  # valid JSON, unlike the vendor's page
    assert list(call) == VENDOR_FIELDS
    assert call["created"] == "Fri, 21 Apr 2017 13:01:25 +0000"
    assert call["price"] == 0.0294 and call["duration"] == 18
    # The sandbox serves the same call, with SIDs of its own (and number_sid, which the
    # lifecycle text names but the example lacks).
    own = {"call_sid", "parent_call_sid", "account_sid"}
    assert {k: v for k, v in call.items() if k not in own} == sandbox_data.EXAMPLE_CALL


def test_everything_the_sandbox_serves_is_in_the_documented_form() -> None:
    account = generate_account(calls=3000, seed=7, anchor=1_790_000_000)
    for now in (account.anchor, account.anchor + 40, account.anchor + 3600):  # live calls move
        records = [account.call_record(i, now) for i in range(len(account.call_sids))]
        df, findings = build_frame(records)
        assert findings == []
        for name in ("status", "direction", "channel"):
            assert (
                df[name].notna().all()
                and not df[name]
                .cat.categories.difference(
                    list(frame.CALL_DTYPES[name].categories)  # type: ignore[attr-defined]
                )
                .size
            )
        assert set(df["method"]) <= set(frame.METHODS)
        assert df["destination_country"].notna().all()


# -- filters --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "given", "expected"),
    [
        ("status", "completed", ["completed"]),
        ("status", " COMPLETED ", ["completed"]),
        ("status", ["Failed", "no-answer", "No Answer", "failed"], ["failed", "no_answer"]),
        ("status", ("busy",), ["busy"]),
        ("direction", "Outbound", ["outbound"]),
        ("channel", ["VIBER", "number"], ["viber", "number"]),
        ("tag", "MyClient_1", ["MyClient_1"]),  # free text: not validated, kept as given
        ("tag", ["A ", "a"], ["A ", "a"]),
    ],
)
def test_filters_match_the_vocabulary_ignoring_case(
    name: str, given: Any, expected: list[str]
) -> None:
    assert normalize_filter(name, given) == expected


@pytest.mark.parametrize(
    ("name", "given", "shown"),
    [
        ("status", "compelted", "did you mean 'completed'?"),
        ("status", ["busy", "cancelled"], "did you mean 'canceled'?"),
        ("direction", "sideways", "inbound, outbound"),
        ("channel", "sip", "number, viber"),
        ("status", [], "matches no call"),
        ("status", [1], "is not one of"),
        ("status", None, "string or a list of strings"),
        ("status", {"busy": 1}, "string or a list of strings"),
    ],
)
def test_filter_values_outside_the_vocabulary_are_invalid_requests(
    name: str, given: Any, shown: str
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        normalize_filter(name, given)
    message = str(info.value)
    assert shown in message
    if name == "status" and given:
        assert ", ".join(frame.STATUSES) in message or "string" in message
    assert isinstance(info.value, ValueError)


def test_filter_messages_stay_short() -> None:
    with pytest.raises(InvalidRequestError) as info:
        normalize_filter("status", "x" * 5000)
    assert len(str(info.value)) < 300
