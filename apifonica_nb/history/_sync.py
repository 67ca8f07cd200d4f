"""Incremental history: store a listing as it arrives and tell when the rest is in the store.

A second ``fetch_history`` over a range already listed in full need not page to the end:
once a page holds only calls stored before, the older calls come from the store. What makes
that safe is kept in the store's ``syncs`` table (:meth:`~apifonica_nb.cache.CallStore.
record_sync`): complete listings, with their range, filters and watermark.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ..cache import CallStore, empty_table, extras_json, parse_records, settled_mask
from ._days import DAY_US, NAT
from ._trust import ListingCheck, Trust

__all__ = ["HistorySync"]

_MIN_US = -(2**62)  # "no lower bound" in the syncs table (NULLs would break its primary key)
_MAX_US = 2**62
_IMMUTABLE_FILTERS = ("direction", "channel", "tag")


def _filters_key(equal: Mapping[str, Sequence[str]]) -> str | None:
    """Canonical text of the filters a listing used, or None if one can change over time."""
    if any(name not in _IMMUTABLE_FILTERS for name in equal):
        return None  # a call may move into a status filter later: such a listing proves little
    return json.dumps({k: sorted(set(v)) for k, v in sorted(equal.items())})


def _covers(outer: str, inner: Mapping[str, Sequence[str]]) -> bool:
    """Does a listing made with filters ``outer`` include every call ``inner`` selects?"""
    for name, allowed in json.loads(outer).items():
        if name not in inner or not set(inner[name]) <= set(allowed):
            return False
    return True


def _us(ts: pd.Timestamp | None) -> int | None:
    return None if ts is None else int(ts.value // 1000)


class HistorySync:
    """Read a history listing page by page and tell when the rest can come from the store.

    Feed every record the API lists (newest first) to :meth:`add`; it returns True when paging
    can stop. The rule: stop after a page (20 records) whose calls were all already stored as
    settled, when an earlier *complete* listing of this account, with a range and filters that
    contain this one, saw every call older than that page settled (its ``watermark``: calls
    created before it were all final and priced). Calls created up to that page's oldest one
    then come from the store (:meth:`rest`). Status filters are not immutable (a call moves
    into ``completed``), so listings made with one are never remembered, though they may use
    one made without. Every page passes the one :class:`~._trust.ListingCheck` (newest first,
    in the requested days); if one fails, this run trusts the server no more: every page is
    read, nothing is remembered, and the run's :class:`~._trust.Trust` says so once. A call
    listed again in the same run (a repeat) is stored again but is not a hit. Settled calls
    are stored as their page arrives.
    """

    page_size = 20

    def __init__(
        self,
        store: CallStore,
        account_sid: str,
        *,
        since: pd.Timestamp | None,
        until: pd.Timestamp | None,
        equal: Mapping[str, Sequence[str]],
        refresh: bool = False,
        trust: Trust | None = None,
    ) -> None:
        self.store = store
        self.account_sid = account_sid
        self.since_us = _us(since)
        self.until_us = _us(until)
        # The API's date filters are whole days: the days a server honouring them may return.
        last = None if until is None else _us(until - pd.Timedelta(microseconds=1))
        self.check = ListingCheck(
            None if self.since_us is None else self.since_us // DAY_US,
            None if last is None else last // DAY_US,
        )
        self.trust = trust if trust is not None else Trust("")
        self.equal = {k: list(v) for k, v in equal.items()}
        self.refresh = refresh
        self.key = _filters_key(self.equal)
        self.stopped_at: int | None = None  # created (µs) of the oldest call read, on a stop
        self.read_sids: list[str] = []
        self.hits = 0
        self.stored = 0
        self._read: set[str] = set()
        self._page: list[dict[str, Any]] = []
        self._tie: tuple[int | None, int] = (None, -1)
        self._newest: int | None = None
        self._oldest_unsettled: int | None = None
        self._saw_null_created = False
        start = _MIN_US if self.since_us is None else self.since_us
        self._candidates = (
            []
            if refresh
            else [
                s
                for s in store.syncs(account_sid)
                if s["range_start"] <= start and _covers(s["filters"], self.equal)
            ]
        )

    @property
    def trusted(self) -> bool:
        """Whether every page so far passed the trust check."""
        return self.check.problem is None

    @property
    def can_stop_early(self) -> bool:
        """Whether an earlier complete listing may let paging stop at a page already stored."""
        return bool(self._candidates)

    def add(self, record: Mapping[str, Any]) -> bool:
        """Take the next listed record; return True when the rest can come from the store."""
        self._page.append(dict(record))
        if len(self._page) < self.page_size:
            return False
        return self._close_page(can_stop=True)

    def flush(self) -> None:
        """Store the records of an unfinished page (the listing ended, or was interrupted)."""
        if self._page:
            self._close_page(can_stop=False)

    def _close_page(self, *, can_stop: bool) -> bool:
        page, self._page = self._page, []
        frame = parse_records(page)
        sids = frame["call_sid"].array.to_numpy(dtype=object, na_value=None).tolist()
        created = frame["created"].array.asi8.copy()
        problem = self.check.feed(page, created)
        if problem is not None:
            self.trust.distrust(problem)
        settled = settled_mask(frame)
        self._note_dates(created, settled)
        repeat = np.zeros(len(page), dtype=bool)
        for i, sid in enumerate(sids):
            if sid:
                repeat[i] = sid in self._read
                self._read.add(sid)
        fresh = [s for s, r in zip(sids, repeat.tolist(), strict=True) if s and not r]
        # Which calls were stored before this run (checked before storing this page).
        before = set() if self.refresh else self.store.cached_sids(self.account_sid, fresh)
        self.hits += len(before)
        ranks = self._tie_ranks(created, repeat)
        new = [i for i, s in enumerate(sids) if repeat[i] or s not in before or self.refresh]
        if new:
            self.stored += self.store.put_frame(
                self.account_sid,
                frame.iloc[new].reset_index(drop=True),
                extras=[extras_json([page[i]])[0] for i in new],
                tie_ranks=[ranks[i] for i in new],
            )
        self.read_sids.extend(fresh)
        if not (can_stop and self.trusted and self._candidates):
            return False
        listed = ~repeat
        if not fresh or len(before) < len(fresh) or None in sids or self._saw_null_created:
            return False
        if not settled[listed].all():
            return False
        oldest = int(created[listed].min())
        for sync in self._candidates:
            if oldest < sync["watermark"] and sync["range_end"] > oldest:
                self.stopped_at = oldest
                return True
        return False

    def _note_dates(self, created: np.ndarray, settled: np.ndarray) -> None:
        """Keep the newest call listed and the oldest one not settled (for the watermark)."""
        if (created == NAT).any():
            self._saw_null_created = True
        valid = created != NAT
        if valid.any():
            top = int(created[valid].max())
            self._newest = top if self._newest is None else max(self._newest, top)
        unsettled = valid & ~settled
        if unsettled.any():
            low = int(created[unsettled].min())
            if self._oldest_unsettled is None or low < self._oldest_unsettled:
                self._oldest_unsettled = low

    def _tie_ranks(self, created: np.ndarray, repeat: np.ndarray) -> list[int | None]:
        """Rank of each call among those listed with the same created instant, in list order
        (None for a repeat: the store keeps the rank of its first listing)."""
        ranks: list[int | None] = []
        last, rank = self._tie
        for c, again in zip(created.tolist(), repeat.tolist(), strict=True):
            if c == NAT or again:
                ranks.append(None)
                continue
            rank = rank + 1 if c == last else 0
            last = c
            ranks.append(rank)
        self._tie = (last, rank)
        return ranks

    def finish(self, *, complete: bool) -> None:
        """Remember this listing when it covered the whole range (read, or read plus store)."""
        self.flush()
        if self.stored and self.stopped_at is None:
            self.store.update_segments(self.account_sid)  # (after a stop, rest() does it)
        if not complete or not self.trusted or self.key is None or self._saw_null_created:
            return
        if self._newest is None:
            return  # nothing listed: nothing proven about calls that may appear later
        watermark = self._newest
        if self._oldest_unsettled is not None:
            watermark = min(watermark, self._oldest_unsettled)
        start = _MIN_US if self.since_us is None else self.since_us
        end = _MAX_US if self.until_us is None else self.until_us
        self.store.record_sync(self.account_sid, self.key, start, end, watermark)

    def rest(self) -> pa.Table:
        """The stored calls older than the last page read (after a stop), newest first."""
        if self.stopped_at is None:
            return empty_table()
        table = self.store.history_table(
            self.account_sid,
            since_us=self.since_us,
            upto_us=self.stopped_at,
            exclude=self.read_sids,
        )
        self.hits += table.num_rows
        return table
