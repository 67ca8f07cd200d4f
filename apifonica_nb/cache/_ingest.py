"""Store calls as a listing arrives: CallWriter for fetch_calls, HistorySync for fetch_history.

Calls are written in small transactions as they arrive, so a Ctrl-C or a ``kill -9`` loses only
the last few; :class:`HistorySync` also tells ``fetch_history`` when it may stop paging.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ._frames import _extras_json, _quiet_frame, settled_mask
from ._schema import _NAT, _SEGMENT_SCHEMA
from ._store import CallStore

logger = logging.getLogger("apifonica_nb")

_MIN_US = -(2**62)  # "no lower bound" in the syncs table (NULLs would break its primary key)
_MAX_US = 2**62


# -- writing as records arrive -----------------------------------------------------------------


class CallWriter:
    """Buffer raw call dicts as they arrive and store the settled ones in small transactions.

    Pass :meth:`add` as ``on_record`` to :meth:`Client.get_calls`; call :meth:`flush` at the
    end (also on Ctrl-C) so that what was fetched is kept.
    """

    def __init__(
        self, store: CallStore, account_sid: str, *, every: int = 200, seconds: float = 0.5
    ) -> None:
        self.store = store
        self.account_sid = account_sid
        self.every = every
        self.seconds = seconds
        self.stored = 0
        self._buffer: list[dict[str, Any]] = []
        self._last = time.monotonic()

    def add(self, record: Mapping[str, Any]) -> None:
        """Buffer one record; commit the buffer when it is full or old enough."""
        self._buffer.append(dict(record))
        if len(self._buffer) >= self.every or time.monotonic() - self._last >= self.seconds:
            self.flush()

    def flush(self) -> None:
        """Store what is buffered (its settled calls) in one transaction."""
        batch, self._buffer = self._buffer, []
        self._last = time.monotonic()
        if batch:
            self.stored += self.store.put_records(self.account_sid, batch)


# -- incremental history -----------------------------------------------------------------------

_IMMUTABLE_FILTERS = ("direction", "channel", "tag")
_warned_untrusted: set[str] = set()


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


class HistorySync:
    """Read a history listing page by page and tell when the rest can come from the store.

    Feed every record the API lists (newest first) to :meth:`add`; it returns True when paging
    can stop. The rule: stop after a page (20 records) whose calls were all already stored as
    settled, when an earlier *complete* listing of this account, with a range and filters that
    contain this one, saw every call older than that page settled (its ``watermark``: calls
    created before it were all final and priced). Calls created up to that page's oldest one
    then come from the store (:meth:`rest`). Status filters are not immutable (a call moves
    into ``completed``), so listings made with one are never remembered, though they may use
    one made without. The first pages are checked: created must not increase and must lie in
    the requested days; if not, this server is not trusted, every page is read, and a log
    line says so once. Settled calls are stored as their page arrives.
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
        origin: str = "",
    ) -> None:
        self.store = store
        self.account_sid = account_sid
        self.since_us = None if since is None else int(since.value // 1000)
        self.until_us = None if until is None else int(until.value // 1000)
        # The API's date filters are whole days: what a server honouring them may return.
        self._day_lo = None if since is None else int(since.floor("D").value // 1000)
        self._day_hi = (
            None
            if until is None
            else int(
                ((until - pd.Timedelta(microseconds=1)).floor("D") + pd.Timedelta(days=1)).value
                // 1000
            )
        )
        self.equal = {k: list(v) for k, v in equal.items()}
        self.refresh = refresh
        self.origin = origin
        self.key = _filters_key(self.equal)
        self.trusted = True
        self.stopped_at: int | None = None  # created (µs) of the oldest call read, on a stop
        self.read_sids: list[str] = []
        self.hits = 0
        self.stored = 0
        self._page: list[dict[str, Any]] = []
        self._last_created: int | None = None
        self._tie: tuple[int | None, int] = (None, -1)
        self._newest: int | None = None
        self._oldest_unsettled: int | None = None
        self._saw_null_created = False
        lo = _MIN_US if self.since_us is None else self.since_us
        self._candidates = (
            []
            if refresh
            else [
                s
                for s in store.syncs(account_sid)
                if s["range_start"] <= lo and _covers(s["filters"], self.equal)
            ]
        )

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
        frame = _quiet_frame(page)
        sids = frame["call_sid"].array.to_numpy(dtype=object, na_value=None).tolist()
        created = frame["created"].array.asi8.copy()
        self._check(created)
        settled = settled_mask(frame)
        for c, ok in zip(created.tolist(), settled.tolist(), strict=True):
            if c == _NAT:
                self._saw_null_created = True
            elif not ok and (self._oldest_unsettled is None or c < self._oldest_unsettled):
                self._oldest_unsettled = c
        valid = created[created != _NAT]
        if len(valid):
            top = int(valid.max())
            self._newest = top if self._newest is None else max(self._newest, top)
        # Which calls were stored before this run (checked before storing this page).
        before = (
            set()
            if self.refresh
            else self.store.cached_sids(self.account_sid, [s for s in sids if s])
        )
        self.hits += len(before)
        ranks = self._tie_ranks(created)
        new = [i for i, s in enumerate(sids) if s not in before or self.refresh]
        if new:
            self.stored += self.store.put_frame(
                self.account_sid,
                frame.iloc[new].reset_index(drop=True),
                extras=[_extras_json([page[i]])[0] for i in new],
                tie_ranks=[ranks[i] for i in new],
            )
        self.read_sids.extend(s for s in sids if s)
        if not (can_stop and self.trusted and self._candidates):
            return False
        if len(before) < len(page) or self._saw_null_created or not settled.all():
            return False
        oldest = int(created.min())
        for sync in self._candidates:
            if oldest < sync["watermark"] and sync["range_end"] > oldest:
                self.stopped_at = oldest
                return True
        return False

    def _tie_ranks(self, created: np.ndarray) -> list[int | None]:
        """Rank of each call among those listed with the same created instant, in list order."""
        ranks: list[int | None] = []
        last, rank = self._tie
        for c in created.tolist():
            if c == _NAT:
                ranks.append(None)
                continue
            rank = rank + 1 if c == last else 0
            last = c
            ranks.append(rank)
        self._tie = (last, rank)
        return ranks

    def _check(self, created: np.ndarray) -> None:
        """Distrust the server if it does not list newest first within the requested days."""
        if not self.trusted:
            return
        valid = created[created != _NAT]
        if not len(valid):
            return
        seq = valid if self._last_created is None else np.r_[self._last_created, valid]
        problem = None
        if (np.diff(seq) > 0).any():
            problem = "does not list calls newest first"
        elif self._day_lo is not None and (valid < self._day_lo).any():
            problem = "ignores the date_from filter"
        elif self._day_hi is not None and (valid >= self._day_hi).any():
            problem = "ignores the date_to filter"
        self._last_created = int(valid[-1])
        if problem:
            self.trusted = False
            if self.origin not in _warned_untrusted:
                _warned_untrusted.add(self.origin)
                logger.warning(
                    "The call history at %s %s, so fetch_history reads every page instead of "
                    "stopping at calls it has cached (results stay correct, only slower).",
                    self.origin or "this server",
                    problem,
                )

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
            return _SEGMENT_SCHEMA.empty_table()
        table = self.store.history_table(
            self.account_sid,
            since_us=self.since_us,
            upto_us=self.stopped_at,
            exclude=self.read_sids,
        )
        self.hits += table.num_rows
        return table
