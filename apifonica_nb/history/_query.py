"""What one history read asks for: checked filters and bounds, the query sent, the local mask.

The filters are sent to the API **and** applied to what comes back (:meth:`HistoryQuery.mask`),
so the result is right even if the server ignores one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidRequestError
from ..frame import normalize_filter
from ._days import NAT, created_us, sid_of

__all__ = ["HistoryQuery"]

_DATE_ONLY = re.compile(r"\s*\d{4}-\d{2}-\d{2}\s*")


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
            tags = normalize_filter("tag", tag)  # type: ignore[arg-type]
            bad = [t for t in tags if not isinstance(t, str)]
            if bad or not tags:
                shown = f"got {bad[0]!r}" if bad else "got an empty list; pass None for any tag"
                raise InvalidRequestError(f"tag takes a string or a list of strings, {shown}")
            equal["tag"] = list(dict.fromkeys(tags))
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
        return text.lower() if column in ("status", "direction", "channel") else text

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
