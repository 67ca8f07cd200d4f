"""What one history read asks for: checked filters and bounds, the query sent, the local mask.

The filters are sent to the API **and** applied to what comes back (:meth:`HistoryQuery.mask`),
so the result is right even if the server ignores one.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidRequestError
from ..frame import CHANNELS, DIRECTIONS, STATUSES
from ._days import NAT, created_us, sid_of

__all__ = ["VOCABULARIES", "HistoryQuery", "normalize_filter"]

#: The documented values of the filters that have a vocabulary.
VOCABULARIES: dict[str, tuple[str, ...]] = {
    "status": STATUSES,
    "direction": DIRECTIONS,
    "channel": CHANNELS,
}
_DATE_ONLY = re.compile(r"\s*\d{4}-\d{2}-\d{2}\s*")


def _values(name: str, values: object) -> list[str]:
    """One value or a list of them, as a list of strings (InvalidRequestError otherwise)."""
    if isinstance(values, str):
        items: list[Any] = [values]
    elif isinstance(values, Iterable) and not isinstance(values, (bytes, dict)):
        items = list(values)
    else:
        items = [values]
    bad = [v for v in items if not isinstance(v, str)]
    if bad:
        raise InvalidRequestError(
            f"{name} takes a string or a list of strings, got {bad[0]!r} ({type(bad[0]).__name__})"
        )
    if not items:
        raise InvalidRequestError(f"{name}=[] selects no call; pass None for any {name}")
    return items


# TODO(phase 2): frame.normalize_filter
def normalize_filter(name: str, values: str | Sequence[str]) -> list[str]:
    """Return the documented values of a ``status``/``direction``/``channel`` filter.

    Matching is case-insensitive and ignores surrounding spaces (``"Completed"`` is
    ``"completed"``); repeats are dropped. A value outside the vocabulary raises
    :class:`~apifonica_nb.errors.InvalidRequestError` listing the valid ones.

    >>> normalize_filter("status", ["Busy", "failed"])
    ['busy', 'failed']
    """
    vocabulary = VOCABULARIES[name]
    out: list[str] = []
    for value in _values(name, values):
        key = value.strip().lower()
        if key not in vocabulary:
            close = difflib.get_close_matches(key, vocabulary, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InvalidRequestError(
                f"{name}={value!r} is not a documented {name}{hint} Valid values: "
                f"{', '.join(vocabulary)}."
            )
        if key not in out:
            out.append(key)
    return out


def _bound(value: object, *, end: bool) -> pd.Timestamp | None:
    """Turn ``since``/``until`` into a UTC instant; a bare date means its whole day.

    A datetime with an offset is converted to UTC first (its UTC date is what is sent);
    a naive one is taken as UTC.
    """
    if value is None:
        return None
    date_only = (isinstance(value, date) and not isinstance(value, datetime)) or (
        isinstance(value, str) and _DATE_ONLY.fullmatch(value) is not None
    )
    which = "until" if end else "since"
    try:
        ts = pd.Timestamp(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidRequestError(
            f"{which}={value!r} is not a date or datetime (try '2026-10-01' or a Timestamp)"
        ) from exc
    if ts is pd.NaT:
        raise InvalidRequestError(f"{which}={value!r} is not a date or datetime")
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if date_only and end:
        ts += pd.Timedelta(days=1)
    return ts


@dataclass(frozen=True)
class HistoryQuery:
    """The checked arguments of a history read (build it with :meth:`of`).

    ``since``/``until``: UTC instants, calls created at or after ``since`` and before
    ``until``; ``equal``: column -> allowed values (the vocabulary filters normalised).
    """

    since: pd.Timestamp | None = None
    until: pd.Timestamp | None = None
    equal: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        *,
        since: object = None,
        until: object = None,
        status: object = None,
        direction: object = None,
        channel: object = None,
        tag: object = None,
    ) -> HistoryQuery:
        """Check and normalise ``fetch_history``'s filters (InvalidRequestError if wrong)."""
        start, end = _bound(since, end=False), _bound(until, end=True)
        if start is not None and end is not None and start >= end:
            raise InvalidRequestError(f"since ({since!r}) must be before until ({until!r})")
        equal: dict[str, list[str]] = {}
        for name, values in (("status", status), ("direction", direction), ("channel", channel)):
            if values is not None:
                equal[name] = normalize_filter(name, values)  # type: ignore[arg-type]
        if tag is not None:
            equal["tag"] = list(dict.fromkeys(_values("tag", tag)))
        return cls(since=start, until=end, equal=equal)

    def params(self) -> dict[str, Any]:
        """The query sent to the API (``iter_calls`` keyword arguments)."""
        query: dict[str, Any] = dict(self.equal)
        if self.since is not None:
            query["date_from"] = self.since.date()  # the UTC date: since is in UTC
        if self.until is not None:
            # The API's date_to is an inclusive day: the day of the last instant before until.
            query["date_to"] = (self.until - pd.Timedelta(microseconds=1)).date()
        return query

    def mask(self, df: pd.DataFrame) -> np.ndarray:
        """Which rows of a call frame match (vectorised): whatever the server did."""
        keep = np.ones(len(df), dtype=bool)
        created = df["created"].array.asi8
        if self.since is not None:
            keep &= (created != NAT) & (created >= self.since.value // 1000)
        if self.until is not None:
            keep &= (created != NAT) & (created < self.until.value // 1000)
        for column, allowed in self.equal.items():
            values = df[column]
            if isinstance(values.dtype, pd.CategoricalDtype):
                labels = [self._label(column, c) for c in values.cat.categories]
                ok = np.array([label in allowed for label in labels] + [False], dtype=bool)
                keep &= ok[values.cat.codes.to_numpy()]
            else:
                keep &= values.isin(allowed).to_numpy(dtype=bool, na_value=False)
        return keep

    @staticmethod
    def _label(column: str, value: object) -> str:
        text = str(value).strip()
        return text.lower() if column in VOCABULARIES else text

    def matching(self, records: Sequence[Any]) -> int:
        """How many distinct calls among raw ``records`` surely match (never more than
        :meth:`mask` would keep of their frame: a value it would have to clean counts no)."""
        keep = np.ones(len(records), dtype=bool)
        if self.since is not None or self.until is not None:
            created = created_us(records)
            if self.since is not None:
                keep &= (created != NAT) & (created >= self.since.value // 1000)
            if self.until is not None:
                keep &= (created != NAT) & (created < self.until.value // 1000)
        for column, allowed in self.equal.items():
            wanted = set(allowed)
            for i in np.flatnonzero(keep).tolist():
                value = records[i].get(column) if isinstance(records[i], dict) else None
                keep[i] = isinstance(value, str) and self._label(column, value) in wanted
        sids = [sid_of(records[i]) for i in np.flatnonzero(keep).tolist()]
        return len({s for s in sids if s is not None}) + sum(s is None for s in sids)
