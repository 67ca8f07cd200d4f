"""calls_to_frame: raw API call dicts in, one typed DataFrame out (pure, no server needed)."""

from __future__ import annotations

import copy
import datetime as dt
import email.utils
import json
import warnings
from typing import Any

import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apifonica_nb.errors import DataQualityWarning, ResponseFormatError
from apifonica_nb.records import (
    CALL_DTYPES,
    CHANNELS,
    DIRECTIONS,
    FINAL_STATUSES,
    PRICE_UNITS,
    STATUSES,
    _parse_date_text,
    _parse_dates,
    calls_to_frame,
)

# The vendor's "Get details of specific call" response example, with the commas it lacks
# after price, record_sid and tag restored (see /work/shared/seed/get-call-details.txt).
VENDOR_EXAMPLE = json.loads(
    """{
  "call_sid": "{callSID}",
  "parent_call_sid": "{callSID}",
  "created": "Fri, 21 Apr 2017 13:01:25 +0000",
  "account_sid": "{accountSID}",
  "from": "358942417543",
  "to": "312031550066",
  "direction": "outbound",
  "status": "completed",
  "controller": "http://apifonica.com/voicexml/getxml?xml_variant=welcome_to_apifonica",
  "method": "POST",
  "timeout": 15,
  "updated": "Fri, 21 Apr 2017 13:02:02 +0000",
  "started": "Fri, 21 Apr 2017 13:01:37 +0000",
  "ended": "Fri, 21 Apr 2017 13:01:43 +0000",
  "duration": 18,
  "price": 0.0294,
  "record_sid":"rec17cb9958-3878-4562-b6a7-f67a0adsfsdfd",
  "tag": "MyClient_1",
  "channel": "number"
}"""
)
KNOWN = list(CALL_DTYPES)
CANONICAL = "Fri, 21 Apr 2017 13:01:25 +0000"


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def dates_of(values: list[Any], field: str = "created") -> pd.Series:
    """Parse ``values`` as one date column."""
    return calls_to_frame([{field: v} for v in values])[field]


def caught(func: Any, *args: Any, **kwargs: Any) -> tuple[Any, list[warnings.WarningMessage]]:
    """Call ``func`` and return its result with every warning it emitted."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        result = func(*args, **kwargs)
    return result, seen


def assert_schema(df: pd.DataFrame) -> None:
    """The known columns come first, in order, with exactly the dtypes of CALL_DTYPES."""
    assert list(df.columns[: len(KNOWN)]) == KNOWN
    assert {c: df[c].dtype for c in KNOWN} == CALL_DTYPES
    assert isinstance(df.index, pd.RangeIndex)
    assert df.index.start == 0 and df.index.step == 1


# --------------------------------------------------------------------------- the vendor example


def test_vendor_example_parses_to_the_documented_values() -> None:
    df = calls_to_frame([VENDOR_EXAMPLE])
    assert_schema(df)
    assert list(df.columns) == KNOWN
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
    df = calls_to_frame([VENDOR_EXAMPLE], price_unit="cents")
    assert df.loc[0, "price"] == 0.0294
    assert df.loc[0, "cost_eur"] == pytest.approx(0.000294)
    assert df["cost_eur"].dtype == "Float64"


def test_unknown_price_unit_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="'EUR', 'cents'") as info:
        calls_to_frame([VENDOR_EXAMPLE], price_unit="USD")
    assert "USD" in str(info.value)
    assert set(PRICE_UNITS) == {"EUR", "cents"}


def test_input_is_not_mutated() -> None:
    records = [copy.deepcopy(VENDOR_EXAMPLE), {"call_sid": " x ", "price": "1.5", "to": 31201}]
    before = copy.deepcopy(records)
    calls_to_frame(records)
    assert records == before


def test_columns_accept_assignment() -> None:
    # Arrow memory is read-only; the frame must still be an ordinary, writable frame.
    df: Any = calls_to_frame([VENDOR_EXAMPLE, VENDOR_EXAMPLE])
    for column in df.columns:
        df.loc[0, column] = df.loc[1, column]
    assert df.loc[0, "duration"] == 18


# --------------------------------------------------------------------------- schema


@pytest.mark.parametrize(
    "records",
    [
        [],
        [{}],
        [{key: None for key in KNOWN}],
        [{key: None for key in VENDOR_EXAMPLE}] * 3,
        [VENDOR_EXAMPLE, {}],
    ],
    ids=["empty", "empty-dict", "all-none", "vendor-keys-none", "mixed-layouts"],
)
def test_dtype_contract_holds_for_sparse_input(records: list[dict[str, Any]]) -> None:
    df = calls_to_frame(records)
    assert dict(df.dtypes) == CALL_DTYPES
    assert_schema(df)
    assert list(df.columns) == KNOWN
    assert len(df) == len(records)


def test_all_none_row_is_all_missing() -> None:
    df = calls_to_frame([{}])
    assert df.iloc[0].isna().all()


def test_any_iterable_of_dicts_is_accepted() -> None:
    df = calls_to_frame(dict(VENDOR_EXAMPLE, call_sid=f"cal{i}") for i in range(3))
    assert df["call_sid"].tolist() == ["cal0", "cal1", "cal2"]
    assert_schema(df)


@pytest.mark.parametrize("bad", [None, "cal123", ["call_sid"], 7])
def test_a_record_that_is_not_a_dict_is_an_error(bad: Any) -> None:
    with pytest.raises(ResponseFormatError, match=f"record 1 is a {type(bad).__name__}"):
        calls_to_frame([VENDOR_EXAMPLE, bad, VENDOR_EXAMPLE])


@pytest.mark.parametrize("records", [VENDOR_EXAMPLE, "cal123", pd.DataFrame([VENDOR_EXAMPLE])])
def test_records_must_be_a_collection_of_calls(records: object) -> None:
    with pytest.raises(TypeError, match="iterable of call dicts"):
        calls_to_frame(records)  # type: ignore[arg-type]


def test_extra_fields_follow_the_known_columns_in_first_seen_order() -> None:
    records = [
        dict(VENDOR_EXAMPLE, foo_sid="foo1"),
        dict(VENDOR_EXAMPLE, bar_count=3),
        dict(VENDOR_EXAMPLE, foo_sid=None, flag=True, blob={"a": 1}),
    ]
    df = calls_to_frame(records)
    assert_schema(df)
    assert list(df.columns[len(KNOWN) :]) == ["foo_sid", "bar_count", "flag", "blob"]
    assert df["foo_sid"].dtype == "str"
    assert df["foo_sid"].tolist()[0] == "foo1" and df["foo_sid"].isna().tolist() == [
        False,
        True,
        True,
    ]
    assert df["bar_count"].dtype == "Int64"
    assert df["bar_count"].tolist()[1] == 3
    assert df["flag"].dtype == "boolean"
    assert df["blob"].tolist()[2] == {"a": 1}  # kept as objects rather than crashing


def test_same_number_of_keys_but_different_ones_keeps_every_field() -> None:
    # The fast path assumes one key layout; a record that swaps a field for another must
    # not lose the new one.
    first = dict(VENDOR_EXAMPLE, number_sid="num1")
    second = {k: v for k, v in VENDOR_EXAMPLE.items() if k != "tag"}
    second.update(number_sid="num2", foo_sid="foo2")
    df = calls_to_frame([first, second])
    assert list(df.columns) == [*KNOWN, "foo_sid"]
    assert df["tag"].isna().tolist() == [False, True]
    assert df["foo_sid"].isna().tolist() == [True, False]
    assert df["number_sid"].tolist() == ["num1", "num2"]


def test_extra_field_of_strings_with_a_uniform_layout() -> None:
    df = calls_to_frame([dict(VENDOR_EXAMPLE, foo_sid=f"foo{i}") for i in range(3)])
    assert df.columns[-1] == "foo_sid"
    assert df["foo_sid"].dtype == "str"
    assert df["foo_sid"].tolist() == ["foo0", "foo1", "foo2"]


# --------------------------------------------------------------------------- strings


def test_strings_are_stripped_and_numbers_become_digits() -> None:
    df = calls_to_frame(
        [
            {"call_sid": "  cal1\t", "from": 358942417543, "to": " 312031550066 ", "tag": ""},
            {"call_sid": "cal2", "from": 358942417543.0, "to": "+312031550066", "tag": "a b"},
        ]
    )
    assert df["call_sid"].tolist() == ["cal1", "cal2"]
    assert df["from"].tolist() == ["358942417543", "358942417543"]
    assert df["to"].tolist() == ["312031550066", "+312031550066"]  # "+" kept as given
    assert df["tag"].tolist() == ["", "a b"]
    assert df["from"].dtype == "str"


def test_wrong_types_in_string_fields_become_na_with_one_warning() -> None:
    records: list[dict[str, Any]] = [{"call_sid": {"x": 1}}, {"call_sid": ["a"]}]
    records += [{"call_sid": True}, {"call_sid": "c"}]
    with pytest.warns(DataQualityWarning) as seen:
        df = calls_to_frame(records)
    assert [str(w.message) for w in seen] == [
        "call_sid: 3 of 4 values were not strings and became NA"
    ]
    assert seen[0].filename == __file__  # the warning points at the caller's line
    assert df["call_sid"].isna().tolist() == [True, True, True, False]


def test_huge_and_non_ascii_strings_are_fine() -> None:
    big = "x" * 1_000_000
    df = calls_to_frame([{"tag": big}, {"tag": "Ääkkönen ☎"}, {"tag": "\u00a0nbsp\u00a0"}])
    assert df["tag"].tolist() == [big, "Ääkkönen ☎", "nbsp"]


# --------------------------------------------------------------------------- categoricals


def test_unknown_categories_are_kept_and_appended() -> None:
    df = calls_to_frame(
        [
            {"status": "no-answer", "channel": "sip", "direction": "internal", "to": "3120315"},
            {"status": " completed ", "channel": "viber", "direction": "outbound"},
            {"status": "Completed", "channel": None, "direction": ""},
            {"status": "no-answer"},
        ]
    )
    assert df["status"].tolist()[:3] == ["no-answer", "completed", "Completed"]
    assert list(df["status"].cat.categories) == [*STATUSES, "no-answer", "Completed"]
    assert list(df["channel"].cat.categories) == [*CHANNELS, "sip"]
    assert list(df["direction"].cat.categories) == [*DIRECTIONS, "internal"]
    assert df["channel"].isna().tolist() == [False, False, True, True]
    assert df["direction"].isna().tolist() == [False, False, True, True]  # "" means not set
    # Unknown statuses are not final; a missing one is unknown. Unknown direction: no country.
    assert df["is_final"].tolist() == [False, True, False, False]
    assert pd.isna(calls_to_frame([{}])["is_final"].iloc[0])
    assert df["destination_country"].isna().iloc[0]


def test_is_final_follows_final_statuses() -> None:
    df = calls_to_frame([{"status": s} for s in STATUSES])
    assert df["is_final"].tolist() == [s in FINAL_STATUSES for s in STATUSES]
    assert not df.loc[STATUSES.index("modified"), "is_final"]


def test_junk_in_a_categorical_becomes_na_with_a_warning() -> None:
    with pytest.warns(DataQualityWarning, match=r"^status: 2 of 3 values were not strings"):
        df = calls_to_frame([{"status": {"a": 1}}, {"status": ["b"]}, {"status": "busy"}])
    assert df["status"].isna().tolist() == [True, True, False]
    assert df["status"].dtype == CALL_DTYPES["status"]


# --------------------------------------------------------------------------- numbers


def test_numeric_strings_and_integral_floats_are_numbers() -> None:
    df = calls_to_frame(
        [
            {"duration": "18", "timeout": " 15 ", "price": "0.0294"},
            {"duration": 18.0, "timeout": "30.0", "price": 1},
            {"duration": "+7", "timeout": None, "price": "1e-3"},
            {"duration": "", "timeout": 2**40, "price": float("nan")},
        ]
    )
    assert df["duration"].tolist()[:3] == [18, 18, 7]
    assert pd.isna(df["duration"].iloc[3])  # blank is missing, not wrong
    assert df["timeout"].tolist()[:2] == [15, 30] and df["timeout"].iloc[3] == 2**40
    assert df["price"].tolist()[:3] == [0.0294, 1.0, 0.001]
    assert pd.isna(df["price"].iloc[3])
    assert_schema(df)


def test_wrong_types_in_numbers_become_na_with_one_warning_per_field() -> None:
    records: list[dict[str, Any]] = [
        {"price": "abc", "duration": 18.5, "timeout": True},
        {"price": True, "duration": "18 s", "timeout": 15},
        {"price": {"eur": 1}, "duration": 2**70, "timeout": 30},
        {"price": 0.5, "duration": 12, "timeout": [1]},
        {"price": float("inf"), "duration": None, "timeout": None},
    ]
    with pytest.warns(DataQualityWarning) as seen:
        df = calls_to_frame(records)
    assert sorted(str(w.message) for w in seen) == [
        "duration: 3 of 5 values were not whole numbers and became NA",
        "price: 4 of 5 values were not numbers and became NA",
        "timeout: 2 of 5 values were not whole numbers and became NA",
    ]
    assert df["price"].isna().tolist() == [True, True, True, False, True]
    assert df["duration"].tolist()[3] == 12
    assert df["timeout"].isna().tolist() == [True, False, False, True, True]
    assert pd.isna(df["cost_eur"].iloc[0]) and df["cost_eur"].iloc[3] == 0.5
    assert_schema(df)


def test_derived_durations_need_both_timestamps() -> None:
    df = calls_to_frame(
        [
            {"created": CANONICAL, "started": "Fri, 21 Apr 2017 13:01:30 +0000"},
            {"created": CANONICAL, "started": None, "ended": CANONICAL},
        ]
    )
    assert df["setup_seconds"].tolist()[0] == 5.0
    assert df["setup_seconds"].isna().tolist() == [False, True]
    assert df["talk_seconds"].isna().tolist() == [True, True]


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
    ("fri, 21 apr 2017 13:01:25 +0000", "2017-04-21 13:01:25"),
    ("FRI, 21 APR 2017 13:01:25 +0000", "2017-04-21 13:01:25"),
    ("Fri, 21 APRIL 2017 13:01:25 +0000", "2017-04-21 13:01:25"),
    ("Fri, 21 Sept 2017 13:01:25 +0000", "2017-09-21 13:01:25"),
    ("Fri, 21 Apr 2017 13:01 +0000", "2017-04-21 13:01:00"),  # seconds are optional
    ("Fri, 21 Apr 2017 15:01:25 +02:00", "2017-04-21 13:01:25"),
    ("Fri,21 Apr 2017 13:01:25 +0000", "2017-04-21 13:01:25"),
    ("Sat, 31 Dec 2016 23:59:60 +0000", "2017-01-01 00:00:00"),  # a leap second
]


@pytest.mark.parametrize(("text", "expected"), DATE_VARIANTS)
def test_date_variants_parse_to_the_right_instant(text: str, expected: str) -> None:
    parsed = dates_of([text])
    assert parsed.dtype == CALL_DTYPES["created"]
    assert parsed.iloc[0] == utc(expected)


def test_date_variants_mixed_with_canonical_rows_in_one_column() -> None:
    texts = []
    expected = []
    for i, (text, instant) in enumerate(DATE_VARIANTS):
        texts += [text, f"Sun, {i + 1:02d} Jan 2017 00:00:00 +0000", None]
        expected += [utc(instant), utc(f"2017-01-{i + 1:02d}"), pd.NaT]
    for field in ("created", "updated", "started", "ended"):
        assert dates_of(texts, field).tolist() == expected


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
    "Fri, 21 Apr 17 13:01:25 +0000",
    "2017-04-21T13:01:25Z",
    "123, 21 Apr 2017 13:01:25 +0000",
    "Fri, 21 Apr 2017 13:01:25 +0000 extra",
]


@pytest.mark.parametrize("text", INVALID_DATES)
def test_invalid_dates_are_nat_with_a_warning(text: str) -> None:
    with pytest.warns(DataQualityWarning, match=r"^created: 1 of 2 values were not RFC 2822"):
        parsed = dates_of([text, CANONICAL])
    assert parsed.isna().tolist() == [True, False]


def test_missing_and_blank_dates_are_nat_without_warning() -> None:
    parsed, seen = caught(dates_of, [None, "", "   ", '""', CANONICAL])
    assert seen == []
    assert parsed.isna().tolist() == [True, True, True, True, False]


def test_non_string_dates() -> None:
    aware = dt.datetime(2017, 4, 21, 15, 1, 25, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    values = [aware, pd.Timestamp("2017-04-21 13:01:25", tz="UTC"), 1492779685, True, {}]
    values += [dt.datetime(2017, 4, 21), float("nan"), CANONICAL]
    with pytest.warns(DataQualityWarning) as seen:
        parsed = dates_of(values, "ended")
    assert [str(w.message) for w in seen] == [
        "ended: 4 of 8 values were not RFC 2822 dates and became NA"
    ]
    assert parsed.tolist()[:2] == [utc("2017-04-21 13:01:25")] * 2
    assert parsed.isna().tolist() == [False, False, True, True, True, True, True, False]


def test_one_warning_per_field_counts_every_bad_value() -> None:
    records = [{"created": "junk", "updated": "junk"}] * 5 + [{"created": "nope"}]
    with pytest.warns(DataQualityWarning) as seen:
        calls_to_frame(records)
    assert sorted(str(w.message) for w in seen) == [
        "created: 6 of 6 values were not RFC 2822 dates and became NA",
        "updated: 5 of 6 values were not RFC 2822 dates and became NA",
    ]


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
    fast, fast_bad = _parse_dates(arr)
    slow, slow_bad = _parse_dates(arr, fast=False)
    reference = [_epoch_micros(email.utils.parsedate_to_datetime(t)) for t in texts]
    assert fast_bad == slow_bad == 0
    assert fast.tolist() == slow.tolist() == reference
    assert [_parse_date_text(t) for t in texts] == reference


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(alphabet="0123456789 :+-,ADFJMNOSTabceglnoprtuvy", max_size=34)))
def test_fast_path_and_fallback_agree_on_near_misses(texts: list[str]) -> None:
    # Strings shaped almost like dates: both paths must accept and reject the same ones.
    arr = pa.array(texts, type=pa.large_string())
    assert np.array_equal(_parse_dates(arr)[0], _parse_dates(arr, fast=False)[0])


# --------------------------------------------------------------------------- destination


def _region(digits: str) -> str | None:
    region = phonenumbers.region_code_for_number(phonenumbers.parse("+" + digits))
    return None if region in (None, "ZZ", "001") else region


def test_destination_is_to_for_outbound_and_from_for_inbound() -> None:
    df = calls_to_frame(
        [
            {"direction": "outbound", "from": "358942417543", "to": "312031550066"},
            {"direction": "inbound", "from": "358942417543", "to": "312031550066"},
            {"direction": "inbound", "from": "+358942417543", "to": None},
            {"direction": "outbound", "to": 4930123456},
            {"direction": None, "from": "358942417543", "to": "312031550066"},
        ]
    )
    assert df["destination_country"].tolist()[:4] == ["NL", "FI", "FI", "DE"]
    assert pd.isna(df["destination_country"].iloc[4])


@pytest.mark.parametrize("number", ["", "abc", "+", "12", "31-20-315", "0031203155006", "8001234"])
def test_unusable_numbers_have_no_destination(number: str) -> None:
    df = calls_to_frame([{"direction": "outbound", "to": number}])
    assert pd.isna(df["destination_country"].iloc[0])


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
    df = calls_to_frame([{"direction": "outbound", "to": n} for n in numbers])
    assert [_region(n) for n in numbers] == list(SHARED_CODE_NUMBERS.values())
    # Where phonenumbers knows no region, the country code's main region stands in.
    expected = [region or "US" for region in SHARED_CODE_NUMBERS.values()]
    assert df["destination_country"].tolist() == expected


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
    df = calls_to_frame([{"direction": "inbound", "from": n} for n in numbers])
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
    df = calls_to_frame([{"direction": "outbound", "to": n} for n in numbers])
    for number, got in zip(numbers, df["destination_country"].tolist(), strict=True):
        expected = _region(number)
        if expected is not None:  # invalid numbers get the block's region, or the main one
            assert got == expected, number
        assert isinstance(got, str)


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
        "started": st.none() | CANONICAL_DATES,
        "ended": st.none() | CANONICAL_DATES,
        "from": st.from_regex(r"[1-9]\d{6,13}", fullmatch=True),
        "to": st.from_regex(r"[1-9]\d{6,13}", fullmatch=True),
        "direction": st.none() | st.sampled_from(DIRECTIONS),
        "status": st.sampled_from(STATUSES),
        "channel": st.none() | st.sampled_from(CHANNELS),
        "duration": st.none() | st.integers(0, 10**6),
        "price": st.none() | st.floats(0, 100) | st.integers(0, 5),
        "timeout": st.none() | st.integers(0, 600),
        "controller": st.none() | st.just("http://example.com/app"),
        "method": st.sampled_from(["GET", "POST"]),
        "record_sid": st.none() | SIDS,
        "tag": st.none() | st.text(max_size=12),
    },
)


@settings(max_examples=60, deadline=None)
@given(st.lists(VALID_RECORD, max_size=30))
def test_valid_records_keep_length_order_and_dtypes(records: list[dict[str, Any]]) -> None:
    df, seen = caught(calls_to_frame, records)
    assert seen == []
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


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(JUNK_RECORD, max_size=12))
def test_junk_values_only_ever_warn(records: list[dict[str, Any]]) -> None:
    df, seen = caught(calls_to_frame, records)
    assert all(issubclass(w.category, DataQualityWarning) for w in seen)
    assert len({str(w.message).split(":")[0] for w in seen}) == len(seen)  # one per field
    assert len(df) == len(records)
    for name, dtype in CALL_DTYPES.items():
        if isinstance(dtype, pd.CategoricalDtype):
            categories = list(df[name].dtype.categories)
            assert categories[: len(dtype.categories)] == list(dtype.categories)
        else:
            assert df[name].dtype == dtype, name


# --------------------------------------------------------------------------- memory


def test_realistic_frame_stays_under_600_bytes_per_call() -> None:
    rng = np.random.default_rng(3)
    records = []
    for i in range(5000):
        record = dict(VENDOR_EXAMPLE)
        record["call_sid"] = f"cal{rng.integers(2**63):019d}-{i:016d}-0000"
        record["parent_call_sid"] = None
        record["record_sid"] = f"rec{rng.integers(2**63):019d}-{i:016d}-0000"
        record["number_sid"] = "num" + "0" * 36
        record["to"] = f"{rng.choice(['31', '44', '1', '49'])}{rng.integers(10**9, 10**10)}"
        records.append(record)
    df = calls_to_frame(records)
    assert df.memory_usage(deep=True).sum() / len(df) <= 600
