"""Days and instants of a history listing: ``created`` as UTC microseconds, query days.

The API's ``date_from``/``date_to`` filters are whole UTC days, both inclusive; here a day is
a number of days since 1970-01-01 and an instant an int64 of UTC microseconds (:data:`NAT`
when unreadable), so whole pages are compared at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from ..frame import NAT, parse_dates  # the package's one RFC 2822 parser

DAY_US = 86_400 * 1_000_000
_EPOCH = dt.date(1970, 1, 1)


def created_us(records: Sequence[Any]) -> np.ndarray:
    """Return each record's ``created`` as int64 UTC microseconds (:data:`NAT` when
    unreadable), with the package's one RFC 2822 parser (vendor variants included)."""
    texts = [r.get("created") if isinstance(r, dict) else None for r in records]
    strings = pa.array([t if isinstance(t, str) else None for t in texts], pa.large_string())
    return parse_dates(strings)[0]


def query_day(value: object) -> int | None:
    """Return a query's ``date_from``/``date_to`` as days since 1970-01-01 (None if absent)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return (value - _EPOCH).days
    return (dt.date.fromisoformat(str(value).strip()) - _EPOCH).days


def query_days(query: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """The days a listing made with ``query`` may hold: ``(date_from, date_to)``, None: open."""
    return query_day(query.get("date_from")), query_day(query.get("date_to"))


def day_date(day: int) -> dt.date:
    """The date of a day number (the inverse of :func:`query_day`)."""
    return _EPOCH + dt.timedelta(days=day)


def day_of(record: dict[str, Any]) -> int | None:
    """The UTC day a record was created on (None when its ``created`` is unreadable)."""
    us = int(created_us([record])[0])
    return None if us == NAT else us // DAY_US


def sid_of(record: Any) -> str | None:
    """A record's ``call_sid`` when it is a string, else None."""
    sid = record.get("call_sid") if isinstance(record, dict) else None
    return sid if isinstance(sid, str) else None
