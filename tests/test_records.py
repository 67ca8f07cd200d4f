"""calls_to_frame and build_frame: raw API call dicts in, one typed DataFrame out (no server).

Every column is checked against the rule "in the documented form, or NA with one finding
(one warning from calls_to_frame) naming the field, the count and an example".
"""

from __future__ import annotations

import copy
import datetime as dt
import decimal
import email.utils
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apifonica_nb.errors import ApifonicaError, DataQualityWarning, InvalidRequestError
from apifonica_nb.frame import (
    CALL_DTYPES,
    CHANNELS,
    DIRECTIONS,
    FINAL_STATUSES,
    METHODS,
    PRICE_UNITS,
    STATUSES,
    Finding,
    build_frame,
    calls_to_frame,
    deduplicate,
    warn_findings,
)
from apifonica_nb.frame.dates import parse_date_text, parse_dates

VENDOR_CALL: dict[str, Any] = json.loads(
    (Path(__file__).parent / "fixtures" / "vendor_call.json").read_text(encoding="utf-8")
)
KNOWN = list(CALL_DTYPES)
CANONICAL = VENDOR_CALL["created"]


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def ruled_out(records: list[dict[str, Any]]) -> dict[str, int]:
    """Field -> rows ruled out, from build_frame's findings (one finding per field here)."""
    _, findings = build_frame(records)
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.field] = counts.get(f.field, 0) + f.rows
    return counts


def column(values: list[Any], field: str) -> tuple[pd.Series, int]:
    """Build one column from ``values`` (each in its own record): the column, rows ruled out."""
    records = [{"call_sid": f"cal{i}", field: v} for i, v in enumerate(values)]
    df, findings = build_frame(records)
    return df[field], sum(f.rows for f in findings if f.field == field)


def assert_schema(df: pd.DataFrame) -> None:
    """The known columns come first, in order, with exactly the dtypes of CALL_DTYPES."""
    assert list(df.columns[: len(KNOWN)]) == KNOWN
    assert {c: df[c].dtype for c in KNOWN} == CALL_DTYPES
    assert isinstance(df.index, pd.RangeIndex)
    assert df.index.start == 0 and df.index.step == 1


# --------------------------------------------------------------------------- the vendor example


def test_vendor_example_parses_to_the_documented_values() -> None:
    df = calls_to_frame([VENDOR_CALL])
    assert_schema(df)
    assert list(df.columns) == KNOWN
    assert df.attrs["duplicates"] == 0
    row = df.iloc[0]
    assert row["call_sid"] == "{callSID}"
    assert row["parent_call_sid"] == "{callSID}"
    assert row["account_sid"] == "{accountSID}"
    assert pd.isna(row["number_sid"])  # named in the lifecycle text, absent from the example
    assert row["created"] == utc("2017-04-21 13:01:25")
    assert row["updated"] == utc("2017-04-21 13:02:02")
    assert row["started"] == utc("2017-04-21 13:01:37")
    assert row["ended"] == utc("2017-04-21 13:01:43")
    assert row["from"] == "358942417543"
    assert row["to"] == "312031550066"
    assert row["direction"] == "outbound"
    assert row["status"] == "completed"
    assert row["channel"] == "number"
    assert row["duration"] == 18  # as the API says, although started -> ended is 6 s
    assert row["price"] == 0.0294
    assert row["timeout"] == 15
    assert row["controller"] == (
        "http://apifonica.com/voicexml/getxml?xml_variant=welcome_to_apifonica"
    )
    assert row["method"] == "POST"
    assert row["record_sid"] == "rec17cb9958-3878-4562-b6a7-f67a0adsfsdfd"
    assert row["tag"] == "MyClient_1"
    assert row["cost_eur"] == 0.0294
    assert row["setup_seconds"] == 12.0
    assert row["talk_seconds"] == 6.0
    assert row["is_final"] is np.True_ or row["is_final"] is True
    assert row["destination_country"] == "NL"


def test_price_unit_cents_only_changes_cost_eur() -> None:
    df = calls_to_frame([VENDOR_CALL], price_unit="cents")
    assert df.loc[0, "price"] == 0.0294
    assert df.loc[0, "cost_eur"] == pytest.approx(0.000294)
    assert df["cost_eur"].dtype == "Float64"


@pytest.mark.parametrize("unit", ["USD", "eur", None, ["EUR"]])
def test_unknown_price_unit_is_an_invalid_request_naming_the_valid_ones(unit: Any) -> None:
    for build in (calls_to_frame, build_frame):
        with pytest.raises(InvalidRequestError, match="'EUR', 'cents'") as info:
            build([VENDOR_CALL], price_unit=unit)
        assert repr(unit) in str(info.value)
        assert isinstance(info.value, ValueError)  # ``except ValueError`` still catches it
    assert set(PRICE_UNITS) == {"EUR", "cents"}


def test_input_is_not_mutated() -> None:
    records = [copy.deepcopy(VENDOR_CALL), {"call_sid": " x ", "price": "1.5", "to": 31201}]
    records.append(dict(VENDOR_CALL))  # a duplicate of the first: merged in the frame only
    before = copy.deepcopy(records)
    with pytest.warns(DataQualityWarning, match="merged"):
        calls_to_frame(records)
    assert records == before


def test_columns_accept_assignment() -> None:
    # Arrow memory is read-only; the frame must still be an ordinary, writable frame.
    df: Any = calls_to_frame([VENDOR_CALL, dict(VENDOR_CALL, call_sid="cal2")])
    for name in df.columns:
        df.loc[0, name] = df.loc[1, name]
    assert df.loc[0, "duration"] == 18


# --------------------------------------------------------------------------- input and schema


@pytest.mark.parametrize(
    "records",
    [
        [],
        [{}],
        [{key: None for key in KNOWN}],
        [{key: None for key in VENDOR_CALL}] * 3,
        [VENDOR_CALL, {}],
    ],
    ids=["empty", "empty-dict", "all-none", "vendor-keys-none", "mixed-layouts"],
)
def test_dtype_contract_holds_for_sparse_input(records: list[dict[str, Any]]) -> None:
    df, findings = build_frame(records)
    assert dict(df.dtypes) == CALL_DTYPES
    assert_schema(df)
    assert list(df.columns) == KNOWN
    assert len(df) == len(records)
    # Nothing there is ruled out; only the records without a call_sid are said so.
    no_sid = any(not r.get("call_sid") for r in records)
    assert [f.field for f in findings] == (["call_sid"] if no_sid else [])


def test_all_none_row_is_all_missing() -> None:
    df, _ = build_frame([{}])
    assert df.iloc[0].isna().all()


def test_any_iterable_of_dicts_is_accepted() -> None:
    df = calls_to_frame(dict(VENDOR_CALL, call_sid=f"cal{i}") for i in range(3))
    assert df["call_sid"].tolist() == ["cal0", "cal1", "cal2"]
    assert_schema(df)


@pytest.mark.parametrize("bad", [None, "cal123", ["call_sid"], 7])
def test_a_record_that_is_not_a_dict_is_an_invalid_request(bad: Any) -> None:
    with pytest.raises(InvalidRequestError, match=f"record 1 is a {type(bad).__name__}"):
        calls_to_frame([VENDOR_CALL, bad, VENDOR_CALL])


@pytest.mark.parametrize(
    "records",
    [VENDOR_CALL, "cal123", b"cal", pd.DataFrame([VENDOR_CALL]), 7, None, 1.5, object()],
    ids=["dict", "str", "bytes", "frame", "int", "none", "float", "object"],
)
def test_records_must_be_an_iterable_of_calls(records: object) -> None:
    for build in (calls_to_frame, build_frame):
        with pytest.raises(InvalidRequestError, match="iterable of call dicts") as info:
            build(records)  # type: ignore[arg-type]
        assert isinstance(info.value, ApifonicaError)
    with pytest.raises(InvalidRequestError, match=r"pass \[call\]"):
        calls_to_frame(VENDOR_CALL)  # type: ignore[arg-type]


def test_extra_fields_follow_the_known_columns_in_first_seen_order() -> None:
    records = [
        dict(VENDOR_CALL, call_sid="cal1", foo_sid="foo1"),
        dict(VENDOR_CALL, call_sid="cal2", bar_count=3),
        dict(VENDOR_CALL, call_sid="cal3", foo_sid=None, flag=True, blob={"a": 1}),
    ]
    df = calls_to_frame(records)
    assert_schema(df)
    assert list(df.columns[len(KNOWN) :]) == ["foo_sid", "bar_count", "flag", "blob"]
    assert df["foo_sid"].dtype == "str"
    assert df["foo_sid"].tolist()[0] == "foo1"
    assert df["foo_sid"].isna().tolist() == [False, True, True]
    assert df["bar_count"].dtype == "Int64"
    assert df["bar_count"].tolist()[1] == 3
    assert df["flag"].dtype == "boolean"
    assert df["blob"].tolist()[2] == {"a": 1}  # kept as objects rather than crashing


def test_same_number_of_keys_but_different_ones_keeps_every_field() -> None:
    # The fast path assumes one key layout; a record that swaps a field for another must
    # not lose the new one.
    first = dict(VENDOR_CALL, number_sid="num1")
    second = {k: v for k, v in VENDOR_CALL.items() if k != "tag"}
    second.update(call_sid="cal2", number_sid="num2", foo_sid="foo2")
    df = calls_to_frame([first, second])
    assert list(df.columns) == [*KNOWN, "foo_sid"]
    assert df["tag"].isna().tolist() == [False, True]
    assert df["foo_sid"].isna().tolist() == [True, False]
    assert df["number_sid"].tolist() == ["num1", "num2"]


# --------------------------------------------------------------------------- findings, warnings


def test_build_frame_reports_findings_and_calls_to_frame_warns_once_per_field() -> None:
    records: list[dict[str, Any]] = [
        {"call_sid": "cal1", "to": "anonymous", "price": "abc", "duration": -3},
        {"call_sid": "cal2", "to": "private", "price": True, "duration": 7},
        {"to": "31201234567"},  # no call_sid
    ]
    _, findings = build_frame(records)  # pure: pytest turns any warning into an error
    assert all(isinstance(f, Finding) and f.total == 3 for f in findings)
    by_field = {f.field: f for f in findings}
    assert set(by_field) == {"to", "price", "duration", "call_sid"}
    assert (by_field["to"].rows, by_field["to"].example) == (2, "'anonymous'")
    assert (by_field["price"].rows, by_field["price"].example) == (2, "'abc'")
    assert (by_field["duration"].rows, by_field["duration"].example) == (1, "-3")
    assert by_field["call_sid"].rows == 1
    with pytest.warns(DataQualityWarning) as seen:
        calls_to_frame(records)
    assert sorted(str(w.message) for w in seen) == sorted(f.message() for f in findings)
    assert str(by_field["to"].message()) == (
        "to: 2 of 3 values were not E.164 phone numbers (digits, no '+') and became NA"
        " (e.g. 'anonymous')"
    )
    assert {w.filename for w in seen} == {__file__}  # the warnings point at the caller's line


def test_warn_findings_joins_the_findings_of_one_field() -> None:
    findings = [
        Finding("call_sid", 2, 9, "records had no call_sid"),
        Finding("price", 1, 9, "values were odd", "'x'"),
        Finding("call_sid", 3, 9, "rows were merged", "'cal1'"),
    ]
    with pytest.warns(DataQualityWarning) as seen:
        warn_findings(findings, stacklevel=1)
    assert [str(w.message) for w in seen] == [
        "call_sid: 2 of 9 records had no call_sid; 3 of 9 rows were merged (e.g. 'cal1')",
        "price: 1 of 9 values were odd (e.g. 'x')",
    ]
    assert seen[0].filename == __file__


def test_examples_are_short_and_phone_numbers_masked() -> None:
    big = "y" * 100_000
    _, findings = build_frame([{"call_sid": "c", "created": big, "from": "+1 (212) 555-0123"}])
    example = {f.field: f.example for f in findings}
    assert len(example["created"]) <= 40 and example["created"].startswith("'yyy")
    assert example["from"] == "'+1 (21x) xxx-xxxx'"


# --------------------------------------------------------------------------- identifiers, text


def test_identifiers_are_stripped_strings_and_integers_become_digits() -> None:
    values: list[Any] = ["  cal1\t", 1234567890123456789012, "", "   ", None, "cal\u00a0"]
    for name in ("call_sid", "parent_call_sid", "account_sid", "number_sid", "record_sid"):
        got, bad = column(values, name)
        assert got.dtype == "str"
        assert got.tolist()[:2] == ["cal1", "1234567890123456789012"]
        assert got.isna().tolist() == [False, False, True, True, True, False]  # blank: not set
        assert got.iloc[5] == "cal"
        assert bad == (3 if name == "call_sid" else 0)  # only a missing call_sid is said


@pytest.mark.parametrize(
    "bad", [1.5, 1e20, float("nan"), True, {"x": 1}, ["a"], decimal.Decimal(1)], ids=repr
)
def test_identifiers_rule_out_floats_flags_and_containers(bad: Any) -> None:
    got, rows = column([bad, "cal2"], "record_sid")
    assert got.isna().tolist() == [True, False]
    assert rows == 1


def test_tag_is_free_text_kept_as_given() -> None:
    got, bad = column(["", " a b ", "Ääkkönen ☎", 42, "\u00a0nbsp\u00a0", 4.5], "tag")
    assert got.tolist()[:5] == ["", "a b", "Ääkkönen ☎", "42", "nbsp"]
    assert pd.isna(got.iloc[5]) and bad == 1


def test_controller_is_any_string_and_method_get_or_post() -> None:
    url = VENDOR_CALL["controller"]
    got, bad = column([url, " /relative ", "", 7, True], "controller")
    assert got.tolist()[:2] == [url, "/relative"]
    assert got.isna().tolist() == [False, False, True, True, True] and bad == 2
    got, bad = column(["POST", "get", " Post ", "PUT", "", 1, None], "method")
    assert got.tolist()[:3] == ["POST", "GET", "POST"]
    assert got.isna().tolist() == [False, False, False, True, True, True, True]
    assert bad == 2  # "PUT" and 1; blank and None are not set
    assert set(METHODS) == {"GET", "POST"}


def test_huge_and_non_ascii_strings_are_fine() -> None:
    big = "x" * 1_000_000
    got, bad = column([big, "Ääkkönen ☎", "lone \ud800 surrogate"], "tag")
    assert got.tolist()[:2] == [big, "Ääkkönen ☎"]
    assert got.iloc[2] == "lone ? surrogate" and bad == 0


# --------------------------------------------------------------------------- phone numbers

E164_WRITTEN = {
    "358942417543": "358942417543",
    " 358942417543 ": "358942417543",
    "+358942417543": "358942417543",
    "+358 9 4241 7543": "358942417543",
    "358-9-4241-7543": "358942417543",
    "1.212.555.0123": "12125550123",
    "+1 212-555-0123": "12125550123",
    "123456789012345": "123456789012345",  # 15 digits: the most E.164 allows
    "7": "7",
}
NOT_E164 = [
    "anonymous",
    "Unknown",
    "+",
    "0031203155006",  # an international prefix is not part of the number
    "0",
    "1234567890123456",  # 16 digits
    "+1 (212) 555-0123",  # "(0)"-style brackets change the digits: refused, not guessed
    "++31201234567",
    "31--201234567",
    "3120 ",  # (stripped: fine) ...
    "sip:alice@example.com",
    "31 20 123 4567 ext 5",
    "٣١٢٠١٢٣٤٥٦٧",  # Arabic-Indic digits are digits to str.isdigit, not to E.164
    "-31201234567",
]


def test_phone_numbers_become_e164_digits() -> None:
    for name in ("from", "to"):
        got, bad = column(list(E164_WRITTEN), name)
        assert got.tolist() == list(E164_WRITTEN.values())
        assert bad == 0


def test_phone_numbers_in_other_forms_are_ruled_out() -> None:
    values = [v for v in NOT_E164 if v != "3120 "]
    got, bad = column(values, "from")
    assert got.isna().all() and bad == len(values)
    assert column(["3120 "], "from")[0].tolist() == ["3120"]


def test_phone_numbers_given_as_json_numbers_become_digits() -> None:
    got, bad = column([358942417543, 358942417543.0, 12.0, -31, 1e15, 3.5, True, None], "to")
    assert got.tolist()[:3] == ["358942417543", "358942417543", "12"]
    assert got.isna().tolist() == [False] * 3 + [True] * 5
    assert bad == 4  # -31, 1e15 (16 digits), 3.5, True; None is missing


# --------------------------------------------------------------------------- categoricals


def test_documented_labels_match_whatever_their_case_and_separators() -> None:
    spellings = {
        "COMPLETED": "completed",
        " Busy ": "busy",
        "no-answer": "no_answer",
        "No Answer": "no_answer",
        "NO_ANSWER": "no_answer",
        "\tqueued\n": "queued",
    }
    got, bad = column(list(spellings), "status")
    assert got.tolist() == list(spellings.values()) and bad == 0
    assert list(got.cat.categories) == list(STATUSES)  # nothing appended
    assert column(["Outbound", " INBOUND"], "direction")[0].tolist() == ["outbound", "inbound"]
    assert column(["VIBER", "Number "], "channel")[0].tolist() == ["viber", "number"]


def test_unknown_categories_are_kept_as_they_came_and_appended() -> None:
    df = calls_to_frame(
        [
            {"call_sid": "c1", "status": "teleported", "channel": "sip", "direction": "internal"},
            {
                "call_sid": "c2",
                "status": " completed ",
                "channel": "viber",
                "direction": "Outbound",
            },
            {"call_sid": "c3", "status": " Teleported ", "channel": None, "direction": ""},
            {"call_sid": "c4", "status": "cancelled"},  # not the vendor's spelling: unknown
        ]
    )
    assert df["status"].tolist() == ["teleported", "completed", "Teleported", "cancelled"]
    assert list(df["status"].cat.categories) == [*STATUSES, "teleported", "Teleported", "cancelled"]
    assert list(df["channel"].cat.categories) == [*CHANNELS, "sip"]
    assert list(df["direction"].cat.categories) == [*DIRECTIONS, "internal"]
    assert df["channel"].isna().tolist() == [False, False, True, True]
    assert df["direction"].isna().tolist() == [False, False, True, True]  # "" means not set
    # Unknown statuses are not final. Unknown direction: no destination.
    assert df["is_final"].tolist() == [False, True, False, False]
    assert df["destination_country"].isna().all()


def test_is_final_follows_final_statuses() -> None:
    df = calls_to_frame([{"call_sid": f"c{i}", "status": s} for i, s in enumerate(STATUSES)])
    assert df["is_final"].tolist() == [s in FINAL_STATUSES for s in STATUSES]
    assert not df.loc[STATUSES.index("modified"), "is_final"]
    assert pd.isna(build_frame([{}])[0]["is_final"].iloc[0])  # no status: unknown


@pytest.mark.parametrize("bad", [{"a": 1}, ["b"], 5, 1.5, True, float("nan")])
def test_non_strings_in_a_categorical_are_ruled_out(bad: Any) -> None:
    got, rows = column([bad, "busy", bad], "status")
    assert got.isna().tolist() == [True, False, True]
    assert got.dtype == CALL_DTYPES["status"] and rows == 2


# --------------------------------------------------------------------------- numbers


def test_whole_numbers_and_numeric_strings_are_counts() -> None:
    values: list[Any] = [18, 18.0, "18", " 15 ", "30.0", "+7", "1e3", 0, "", None, 2**40]
    for name in ("duration", "timeout"):
        got, bad = column(values, name)
        assert got.dtype == "Int64" and bad == 0
        assert got.tolist()[:8] == [18, 18, 18, 15, 30, 7, 1000, 0]
        assert got.isna().tolist()[8:10] == [True, True]  # blank is missing, not wrong
        assert got.iloc[10] == 2**40


@pytest.mark.parametrize(
    "bad",
    [18.5, -3, "-3", -0.5, True, False, "abc", "18 s", float("nan"), float("inf"), 2**70, [1]],
    ids=repr,
)
def test_counts_rule_out_fractions_negatives_flags_words_nan_inf(bad: Any) -> None:
    for name in ("duration", "timeout"):
        got, rows = column([bad, 12], name)
        assert got.isna().tolist() == [True, False]
        assert rows == 1


def test_price_is_any_finite_number_or_numeric_string() -> None:
    values: list[Any] = [0.0294, 1, "0.0294", " 1e-3 ", "146", -0.5, decimal.Decimal("0.01")]
    got, bad = column([*values, "", None], "price")
    assert got.tolist()[:7] == [0.0294, 1.0, 0.0294, 0.001, 146.0, -0.5, 0.01]
    assert got.isna().tolist()[7:] == [True, True] and bad == 0


@pytest.mark.parametrize(
    "bad",
    ["1,5", "0.03 EUR", "€0.03", "abc", "nan", "inf", "1e999", True, float("nan"), float("inf")],
    ids=repr,
)
def test_price_rules_out_commas_units_flags_nan_inf(bad: Any) -> None:
    got, rows = column([bad, 0.5], "price")
    assert got.isna().tolist() == [True, False] and rows == 1
    df, _ = build_frame([{"call_sid": "c", "price": bad}])
    assert pd.isna(df["cost_eur"].iloc[0])


# --------------------------------------------------------------------------- derived durations


def test_derived_durations_need_both_timestamps_in_order() -> None:
    records = [
        {"call_sid": "c1", "created": CANONICAL, "started": "Fri, 21 Apr 2017 13:01:30 +0000"},
        {"call_sid": "c2", "created": CANONICAL, "started": None, "ended": CANONICAL},
        # started before created, ended before started: the phases cannot be negative
        {"call_sid": "c3", "created": CANONICAL, "started": "Fri, 21 Apr 2017 13:01:20 +0000"},
        {"call_sid": "c4", "started": CANONICAL, "ended": "Fri, 21 Apr 2017 13:00:25 +0000"},
    ]
    df, findings = build_frame(records)
    assert df["setup_seconds"].tolist()[0] == 5.0
    assert df["setup_seconds"].isna().tolist() == [False, True, True, True]
    assert df["talk_seconds"].isna().tolist() == [True, True, True, True]
    assert {f.field: (f.rows, f.example) for f in findings} == {
        "setup_seconds": (1, "-5.0"),
        "talk_seconds": (1, "-60.0"),
    }
    assert df["created"].notna().tolist()[:3] == [True] * 3  # the timestamps stay as given


def test_a_field_named_like_a_derived_column_is_replaced_and_said_so() -> None:
    records = [{"call_sid": "c1", "price": 1.0, "cost_eur": 5, "is_final": "yes"}]
    df, findings = build_frame(records)
    assert df.loc[0, "cost_eur"] == 1.0 and pd.isna(df.loc[0, "is_final"])
    assert {f.field: f.example for f in findings} == {"cost_eur": "5", "is_final": "'yes'"}
    assert list(df.columns) == KNOWN


# --------------------------------------------------------------------------- dates

DATE_VARIANTS = [
    ("Fri, 21 Apr 2017 13:01:25 +0000", "2017-04-21 13:01:25"),
    ("Fri, 21 Apr 2017 15:01:25 +0200", "2017-04-21 13:01:25"),
    ("Fri, 21 Apr 2017 07:31:25 -0530", "2017-04-21 13:01:25"),
    ("Sat, 01 Jan 2000 01:30:00 +0200", "1999-12-31 23:30:00"),
    ("Thu, 29 Feb 2024 23:59:59 -1200", "2024-03-01 11:59:59"),
    ("21 Apr 2017 13:01:25 +0000", "2017-04-21 13:01:25"),  # no weekday
    ("Sun, 31 January 2016 10:15:35 +0000", "2016-01-31 10:15:35"),  # full month name
    ("Mon, 18 June 2016 10:15:35 +0000", "2016-06-18 10:15:35"),  # a Saturday, really
    ("Mon, 21 Apr 2017 13:01:25 +0000", "2017-04-21 13:01:25"),  # wrong weekday, fast form
    ("Fri, 1 Apr 2017 13:01:25 +0000", "2017-04-01 13:01:25"),  # single-digit day
    ("1 Apr 2017 13:01:25 +0000", "2017-04-01 13:01:25"),
    ('"Fri, 21 Apr 2017 13:01:25 +0000"', "2017-04-21 13:01:25"),  # stray quotes
    ("'Fri, 21 Apr 2017 13:01:25 +0000'", "2017-04-21 13:01:25"),
    ("  Fri, 21 Apr 2017 13:01:25 +0000\n", "2017-04-21 13:01:25"),
    ("Fri, 21 Apr 2017 13:01:25 GMT", "2017-04-21 13:01:25"),
    ("Fri, 21 Apr 2017 13:01:25 UT", "2017-04-21 13:01:25"),
    ("Fri, 21 Apr 2017 13:01:25 UTC", "2017-04-21 13:01:25"),
    ("Fri, 21 Apr 2017 13:01:25 Z", "2017-04-21 13:01:25"),
    ("Fri, 21 Apr 2017 09:01:25 EDT", "2017-04-21 13:01:25"),
    ("Fri, 21 Apr 2017 13:01:25 -0000", "2017-04-21 13:01:25"),  # RFC 2822: UTC, zone unknown
    ("fri, 21 apr 2017 13:01:25 +0000", "2017-04-21 13:01:25"),
    ("FRI, 21 APR 2017 13:01:25 +0000", "2017-04-21 13:01:25"),
    ("Fri, 21 APRIL 2017 13:01:25 +0000", "2017-04-21 13:01:25"),
    ("Fri, 21 Sept 2017 13:01:25 +0000", "2017-09-21 13:01:25"),
    ("Fri, 21 Apr 2017 13:01 +0000", "2017-04-21 13:01:00"),  # seconds are optional
    ("Fri, 21 Apr 2017 15:01:25 +02:00", "2017-04-21 13:01:25"),
    ("Fri,21 Apr 2017 13:01:25 +0000", "2017-04-21 13:01:25"),
    ("Sat, 31 Dec 2016 23:59:60 +0000", "2017-01-01 00:00:00"),  # a leap second
    ("Fri, 21 Apr 2017 13:01:25.25 +0000", "2017-04-21 13:01:25.25"),  # a fraction of a second
    ("Fri, 21 Apr 2017 14:01:25,5 +0100", "2017-04-21 13:01:25.5"),
    # RFC 2822's obsolete years (section 4.3): two digits below 50 are 20xx, others 19xx
    ("Fri, 21 Apr 17 13:01:25 +0000", "2017-04-21 13:01:25"),
    ("Wed, 21 Apr 99 13:01:25 +0000", "1999-04-21 13:01:25"),
    ("Fri, 21 Apr 117 13:01:25 +0000", "2017-04-21 13:01:25"),
    # ISO 8601, when it says its offset
    ("2017-04-21T13:01:25Z", "2017-04-21 13:01:25"),
    ("2017-04-21T15:01:25+02:00", "2017-04-21 13:01:25"),
    ("2017-04-21 07:31:25-0530", "2017-04-21 13:01:25"),
    ("2017-04-21T13:01:25.123456789z", "2017-04-21 13:01:25.123456"),
    ("2017-04-21T15:01+02", "2017-04-21 13:01:00"),
]


@pytest.mark.parametrize(("text", "expected"), DATE_VARIANTS)
def test_date_variants_parse_to_the_right_instant(text: str, expected: str) -> None:
    parsed, bad = column([text], "created")
    assert parsed.dtype == CALL_DTYPES["created"]
    assert parsed.iloc[0] == utc(expected) and bad == 0


def test_date_variants_mixed_with_canonical_rows_in_one_column() -> None:
    texts: list[str | None] = []
    expected = []
    for i, (text, instant) in enumerate(DATE_VARIANTS):
        day = i % 28 + 1
        texts += [text, f"Sun, {day:02d} Jan 2017 00:00:00 +0000", None]
        expected += [utc(instant), utc(f"2017-01-{day:02d}"), pd.NaT]
    for name in ("created", "updated", "started", "ended"):
        assert column(texts, name)[0].tolist() == expected


INVALID_DATES = [
    "yesterday",
    "Fri, 31 Feb 2017 13:01:25 +0000",  # no such day
    "Fri, 00 Apr 2017 13:01:25 +0000",
    "Fri, 21 Foo 2017 13:01:25 +0000",
    "Fri, 21 Apr 2017 24:01:25 +0000",
    "Fri, 21 Apr 2017 13:61:25 +0000",
    "Fri, 21 Apr 2017 13:01:25 +2400",
    "Fri, 21 Apr 2017 13:01:25",  # no zone: which instant is it?
    "Fri, 21 Apr 2017 13:01:25 XYZ",
    "123, 21 Apr 2017 13:01:25 +0000",
    "Fri, 21 Apr 2017 13:01:25 +0000 extra",
    "Fri, ٢١ Apr 2017 13:01:25 +0000",  # Arabic-Indic digits
    "2017-04-21T13:01:25",  # ISO 8601 without an offset
    "2017-04-21",
    "2017-02-30T13:01:25Z",
    "2017-04-21T13:01:25+25:00",
    "1492779685",
]


@pytest.mark.parametrize("text", INVALID_DATES)
def test_invalid_dates_are_nat_with_a_finding(text: str) -> None:
    with pytest.warns(DataQualityWarning, match=r"^created: 1 of 2 values were not dates") as w:
        df = calls_to_frame([{"call_sid": "c1", "created": text}, VENDOR_CALL])
    assert df["created"].isna().tolist() == [True, False]
    assert repr(text)[:30] in str(w[0].message)  # the example


def test_missing_and_blank_dates_are_nat_without_a_finding() -> None:
    parsed, bad = column([None, "", "   ", '""', pd.NaT, CANONICAL], "created")
    assert parsed.isna().tolist() == [True, True, True, True, True, False]
    assert bad == 0


def test_non_string_dates() -> None:
    aware = dt.datetime(2017, 4, 21, 15, 1, 25, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    values = [aware, pd.Timestamp("2017-04-21 13:01:25", tz="UTC"), 1492779685, True, {}]
    values += [dt.datetime(2017, 4, 21), float("nan"), CANONICAL]
    parsed, bad = column(values, "ended")
    assert parsed.tolist()[:2] == [utc("2017-04-21 13:01:25")] * 2
    assert parsed.isna().tolist() == [False, False, True, True, True, True, True, False]
    assert bad == 5  # epoch seconds (or ms?), a flag, a dict, a naive datetime, NaN


def test_one_finding_per_field_counts_every_bad_value() -> None:
    records = [{"call_sid": f"c{i}", "created": "junk", "updated": "junk"} for i in range(5)]
    records.append({"call_sid": "c5", "created": "nope"})
    assert ruled_out(records) == {"created": 6, "updated": 5}


def _epoch_micros(stamp: dt.datetime) -> int:
    return (stamp - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)


OFFSETS = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.datetimes(
            min_value=dt.datetime(1000, 1, 1),
            max_value=dt.datetime(9998, 12, 31),
            timezones=OFFSETS,
        ),
        min_size=1,
        max_size=200,
    ),
    st.booleans(),
)
def test_fast_path_and_fallback_agree_with_email_utils(
    stamps: list[dt.datetime], weekday: bool
) -> None:
    fmt = "%a, %d %b %Y %H:%M:%S %z" if weekday else "%d %b %Y %H:%M:%S %z"
    texts = [s.replace(microsecond=0).strftime(fmt) for s in stamps]
    arr = pa.array(texts, type=pa.large_string())
    fast, fast_bad = parse_dates(arr)
    slow, slow_bad = parse_dates(arr, fast=False)
    reference = [_epoch_micros(email.utils.parsedate_to_datetime(t)) for t in texts]
    assert fast_bad == slow_bad == 0
    assert fast.tolist() == slow.tolist() == reference
    assert [parse_date_text(t) for t in texts] == reference


@settings(max_examples=50, deadline=None)
@given(
    st.datetimes(
        min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9998, 12, 31), timezones=OFFSETS
    )
)
def test_iso_dates_agree_with_fromisoformat(stamp: dt.datetime) -> None:
    text = stamp.isoformat()
    assert parse_date_text(text) == _epoch_micros(dt.datetime.fromisoformat(text))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(alphabet="0123456789 :+-,ADFJMNOSTabceglnoprtuvy", max_size=34)))
def test_fast_path_and_fallback_agree_on_near_misses(texts: list[str]) -> None:
    # Strings shaped almost like dates: both paths must accept and reject the same ones.
    arr = pa.array(texts, type=pa.large_string())
    assert np.array_equal(parse_dates(arr)[0], parse_dates(arr, fast=False)[0])


# --------------------------------------------------------------------------- destination


def _region(digits: str) -> str | None:
    region = phonenumbers.region_code_for_number(phonenumbers.parse("+" + digits))
    return None if region in (None, "ZZ", "001") else region


def outbound_to(numbers: list[Any]) -> pd.Series:
    """destination_country of outbound calls to ``numbers``."""
    records = [
        {"call_sid": f"c{i}", "direction": "outbound", "to": n} for i, n in enumerate(numbers)
    ]
    return build_frame(records)[0]["destination_country"]


def test_destination_is_to_for_outbound_and_from_for_inbound() -> None:
    df = calls_to_frame(
        [
            {"call_sid": "c1", "direction": "outbound", "from": "358942417543", "to": "31203155"},
            {"call_sid": "c2", "direction": "inbound", "from": "358942417543", "to": "31203155"},
            {"call_sid": "c3", "direction": "inbound", "from": "+358942417543", "to": None},
            {"call_sid": "c4", "direction": "outbound", "to": 4930123456},
            {"call_sid": "c5", "direction": None, "from": "358942417543", "to": "31203155"},
            {"call_sid": "c6", "direction": "OUTBOUND", "to": "+44 20 7946 0018"},
        ]
    )
    assert df["destination_country"].tolist()[:4] == ["NL", "FI", "FI", "DE"]
    assert pd.isna(df["destination_country"].iloc[4])
    assert df["destination_country"].iloc[5] == "GB"


@pytest.mark.parametrize("number", ["", "abc", "+", "12", "0031203155006", "8001234"])
def test_unusable_numbers_have_no_destination(number: str) -> None:
    assert pd.isna(outbound_to([number]).iloc[0])


SHARED_CODE_NUMBERS = {
    "12015550123": "US",
    "14165550123": "CA",
    "12684601234": "AG",
    "18765550123": "JM",
    "447400123456": "GB",
    "441534123456": "JE",
    "447781123456": "GG",
    "441624123456": "IM",
    "61412345678": "AU",
    "61891621234": "CC",
    "61891641234": "CX",
    "74951234567": "RU",
    "77012345678": "KZ",
    "358942417543": "FI",
    "35818123456": "AX",
    "390669812345": "VA",
    "390612345678": "IT",
    "12125550123": "US",
    "11125550123": None,  # "+1 1 212...": phonenumbers strips the trunk 1
}


def test_shared_country_codes_match_phonenumbers() -> None:
    numbers = list(SHARED_CODE_NUMBERS)
    assert [_region(n) for n in numbers] == list(SHARED_CODE_NUMBERS.values())
    # Where phonenumbers knows no region, the country code's main region stands in.
    expected = [region or "US" for region in SHARED_CODE_NUMBERS.values()]
    assert outbound_to(numbers).tolist() == expected


def test_every_example_number_of_every_region_gets_its_region() -> None:
    numbers = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (
            phonenumbers.PhoneNumberType.FIXED_LINE,
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.TOLL_FREE,
            phonenumbers.PhoneNumberType.VOIP,
        ):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                numbers.append(phonenumbers.format_number(example, 0)[1:])
    records = [
        {"call_sid": f"c{i}", "direction": "inbound", "from": n} for i, n in enumerate(numbers)
    ]
    df, findings = build_frame(records)
    assert findings == []  # every region's example numbers are E.164
    expected = [_region(n) for n in numbers]
    got = df["destination_country"].tolist()
    mismatches = [(n, e, g) for n, e, g in zip(numbers, expected, got, strict=True) if e != g]
    assert mismatches == []
    assert len(set(got)) > 200


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["1", "7", "44", "39", "47", "61", "262", "358", "590", "599", "31"]),
            st.text(alphabet="0123456789", min_size=6, max_size=11),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_destination_agrees_with_phonenumbers_wherever_it_knows(
    parts: list[tuple[str, str]],
) -> None:
    numbers = [cc + rest for cc, rest in parts]
    for number, got in zip(numbers, outbound_to(numbers).tolist(), strict=True):
        expected = _region(number)
        if expected is not None:  # invalid numbers get the block's region, or the main one
            assert got == expected, number
        assert isinstance(got, str)


# --------------------------------------------------------------------------- one row per call


def call(sid: str | None, updated: str | None, **more: Any) -> dict[str, Any]:
    return {"call_sid": sid, "updated": updated, **more}


T1, T2 = "Fri, 21 Apr 2017 13:01:25 +0000", "Fri, 21 Apr 2017 13:02:02 +0000"


def test_the_most_recent_version_wins_then_the_later_row() -> None:
    records = [
        call("a", T2, status="completed"),
        call("b", None, status="queued"),
        call("a", T1, status="ringing"),  # older: loses although it came later
        call("b", T1, status="ringing"),  # a known updated beats an unknown one
        call("c", T1, status="ringing"),
        call("c", T1, status="answered"),  # a tie: the later row wins
        call("d", None, status="queued"),
        call("d", None, status="initiated"),  # no updated at all: the later row wins
    ]
    with pytest.warns(DataQualityWarning, match=r"^call_sid: 4 of 8 rows repeated a call_sid"):
        df = calls_to_frame(records)
    assert df["call_sid"].tolist() == ["a", "b", "c", "d"]  # order of first appearance
    assert df["status"].tolist() == ["completed", "ringing", "answered", "initiated"]
    assert df.attrs["duplicates"] == 4
    assert_schema(df)


def test_rows_without_a_call_sid_are_kept_and_never_merged() -> None:
    records = [call(None, T1, tag="x"), call("a", T1), call("", T2, tag="y"), call("a", T2)]
    records.append({"tag": "z"})
    with pytest.warns(DataQualityWarning) as seen:
        df = calls_to_frame(records)
    assert df["tag"].iloc[[0, 2, 3]].tolist() == ["x", "y", "z"]
    assert df["call_sid"].isna().tolist() == [True, False, True, True]
    assert df["updated"].iloc[1] == utc("2017-04-21 13:02:02")
    assert [str(w.message) for w in seen] == [
        "call_sid: 3 of 5 records had no call_sid; each is kept as a row of its own, never "
        "merged; 1 of 5 rows repeated a call_sid and were merged (the most recent updated "
        "wins) (e.g. 'a')"
    ]


def test_deduplicate_keeps_attrs_dtypes_and_frames_without_duplicates() -> None:
    df, _ = build_frame([call("a", T1), call("b", T1), call("a", T2, tag="new")])
    df.attrs["failures"] = ()
    out, merged = deduplicate(df)
    assert merged == 1 and out.attrs == {"failures": ()}
    assert out["call_sid"].tolist() == ["a", "b"] and out["tag"].iloc[0] == "new"
    assert_schema(out)
    same, none = deduplicate(out)
    assert same is out and none == 0
    empty, zero = deduplicate(build_frame([])[0])
    assert zero == 0 and len(empty) == 0


@pytest.mark.parametrize(
    "bad",
    [pd.DataFrame({"x": [1]}), [VENDOR_CALL], pd.DataFrame({"call_sid": [{"a": 1}, 2]})],
    ids=["no-call_sid", "records", "junk-sids"],
)
def test_deduplicate_wants_a_call_frame(bad: Any) -> None:
    with pytest.raises(InvalidRequestError, match="call"):
        deduplicate(bad)


def test_deduplicate_accepts_other_string_storage() -> None:
    for sids in (
        pd.array(["a", "b", "a"], dtype="string[python]"),
        pd.Categorical(["a", "b", "a"]),
    ):
        out, merged = deduplicate(pd.DataFrame({"call_sid": sids, "x": [1, 2, 3]}))
        assert out["x"].tolist() == [3, 2] and merged == 1


SIDS_WITH_REPEATS = st.lists(
    st.tuples(
        # short, 8-byte and long SIDs: the fingerprints of deduplicate's fast check differ
        st.sampled_from(["a", "b", "abcdefgh", "abcdefgh1", "y" * 70, "y" * 71, "", None]),
        st.none() | st.integers(0, 3).map(lambda m: f"Fri, 21 Apr 2017 13:0{m}:00 +0000"),
    ),
    max_size=30,
)


@settings(max_examples=100, deadline=None)
@given(SIDS_WITH_REPEATS)
def test_deduplicate_agrees_with_a_plain_reference(
    rows: list[tuple[str | None, str | None]],
) -> None:
    records = [call(s, u, tag=str(i)) for i, (s, u) in enumerate(rows)]
    df, _ = build_frame(records)
    out, merged = deduplicate(df)
    # The reference: a loop over rows, as the docstring states the rule.
    best: dict[str, int] = {}
    slots: list[str | int] = []
    stamps = df["updated"].tolist()
    for i, (sid, _) in enumerate(rows):
        if not sid:
            slots.append(i)
            continue
        if sid not in best:
            slots.append(sid)
            best[sid] = i
        else:
            old = stamps[best[sid]]
            new = stamps[i]
            if pd.isna(old) or (not pd.isna(new) and new >= old):
                best[sid] = i
    expected = [str(best[s]) if isinstance(s, str) else str(s) for s in slots]
    assert out["tag"].tolist() == expected
    assert merged == len(rows) - len(expected)


# --------------------------------------------------------------------------- properties

SIDS = st.uuids().map(str)
CANONICAL_DATES = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=OFFSETS
).map(lambda d: d.strftime("%a, %d %b %Y %H:%M:%S %z"))
VALID_RECORD = st.fixed_dictionaries(
    {"call_sid": SIDS.map(lambda s: "cal" + s)},
    optional={
        "parent_call_sid": st.none() | SIDS,
        "account_sid": SIDS,
        "number_sid": st.none() | SIDS,
        "created": CANONICAL_DATES,
        "updated": st.none() | CANONICAL_DATES,
        "from": st.from_regex(r"[1-9][0-9]{6,13}", fullmatch=True),
        "to": st.from_regex(r"\+?[1-9][0-9]{6,13}", fullmatch=True),
        "direction": st.none() | st.sampled_from(DIRECTIONS),
        "status": st.sampled_from(STATUSES),
        "channel": st.none() | st.sampled_from(CHANNELS),
        "duration": st.none() | st.integers(0, 10**6),
        "price": st.none() | st.floats(0, 100) | st.integers(0, 5),
        "timeout": st.none() | st.integers(0, 600),
        "controller": st.none() | st.just("http://example.com/app"),
        "method": st.sampled_from(["GET", "POST", "get", "post"]),
        "record_sid": st.none() | SIDS,
        "tag": st.none() | st.text(max_size=12),
    },
)


@settings(max_examples=60, deadline=None)
@given(st.lists(VALID_RECORD, max_size=30, unique_by=lambda r: r["call_sid"]))
def test_valid_records_keep_length_order_and_dtypes(records: list[dict[str, Any]]) -> None:
    df = calls_to_frame(records)  # pytest turns any warning into an error: there is none
    assert len(df) == len(records)
    assert df["call_sid"].tolist() == [r["call_sid"] for r in records]
    assert_schema(df)
    assert list(df.columns) == KNOWN


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=40),
    st.binary(max_size=8),
    st.decimals(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    CANONICAL_DATES,
)
JUNK_RECORD = st.dictionaries(st.sampled_from([*KNOWN, "foo_sid", "bar"]), JUNK, max_size=12)


def _documented(df: pd.DataFrame) -> None:
    """Every value of ``df`` is NA or in the form the README's column table documents."""
    for name in ("from", "to"):
        values = df[name].dropna()
        assert values.str.fullmatch(r"[1-9][0-9]{0,14}").all(), name
    assert df["method"].dropna().isin(METHODS).all()
    for name in ("duration", "timeout"):
        assert (df[name].dropna() >= 0).all(), name
    assert np.isfinite(df["price"].dropna().to_numpy(dtype=float)).all()
    for name in ("setup_seconds", "talk_seconds"):
        assert (df[name].dropna() >= 0).all(), name
    for name, dtype in CALL_DTYPES.items():
        if isinstance(dtype, pd.CategoricalDtype):
            categories = list(df[name].dtype.categories)
            assert categories[: len(dtype.categories)] == list(dtype.categories)
            assert all(isinstance(c, str) and c == c.strip() and c for c in categories)
        else:
            assert df[name].dtype == dtype, name


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(JUNK_RECORD, max_size=12))
def test_junk_values_only_ever_become_documented_values_or_findings(
    records: list[dict[str, Any]],
) -> None:
    df, findings = build_frame(records)
    assert len(df) == len(records)
    assert len({(f.field, f.what) for f in findings}) == len(findings)
    assert all(0 < f.rows <= len(records) and len(f.example) <= 40 for f in findings)
    _documented(df)
    if findings or deduplicate(df)[1]:
        with pytest.warns(DataQualityWarning) as seen:
            calls_to_frame(records)
        fields = [str(w.message).split(":")[0] for w in seen]
        assert len(fields) == len(set(fields))  # one warning per field
    else:
        calls_to_frame(records)


# --------------------------------------------------------------------------- memory


def test_realistic_frame_stays_under_600_bytes_per_call() -> None:
    rng = np.random.default_rng(3)
    records = []
    for i in range(5000):
        record = dict(VENDOR_CALL)
        record["call_sid"] = f"cal{rng.integers(2**63):019d}-{i:016d}-0000"
        record["parent_call_sid"] = None
        record["record_sid"] = f"rec{rng.integers(2**63):019d}-{i:016d}-0000"
        record["number_sid"] = "num" + "0" * 36
        record["to"] = f"{rng.choice(['31', '44', '1', '49'])}{rng.integers(10**9, 10**10)}"
        records.append(record)
    df = calls_to_frame(records)
    assert df.memory_usage(deep=True).sum() / len(df) <= 600
