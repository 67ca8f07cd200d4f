"""Read a call history in date windows fetched in parallel, as if following ``next`` alone.

A history cursor hands out one page at a time, so one listing is as slow as its pages are
many. The API's ``date_from``/``date_to`` filters (whole UTC days, both inclusive) let several
listings run at once, each over its own days and paged on its own; put back in order (newest
days first) they are the one listing, since a day's calls never straddle two windows.

:class:`WindowedListing` yields exactly what ``client.iter_calls(**query)`` would, in the same
order. How it splits the period:

1. It reads the first page of the plain listing (the user's query). A single page is the whole
   answer. Otherwise the page's last call fixes the *top day*: the plain listing goes on in a
   worker, and stops where it reaches an older day, so it covers the top day and anything newer.
2. Below the top day, windows are laid out backwards, each about ``TARGET_CALLS`` calls wide by
   the density seen so far (at least one day), ``workers`` at a time: every finished window
   starts the next older one.
3. The period needs no known start: windows grow backwards until one comes back empty (or
   ``date_from`` is reached). Then one open-ended listing asks for everything before the oldest
   window; its first page either ends the history (the vendor's 2017 call in the sandbox) or
   becomes the top of a new round of windows below it, so a quiet month costs one request.
4. Every window's first page is checked as it arrives, and every window again before its calls
   are yielded: each ``created`` must lie inside its days and the listing must stay newest first.
   A server that does not honour the date filters is remembered (per base URL), said once in a
   log line, and read by following ``next`` from where the plain listing stopped; calls already
   yielded are not yielded again (deduplicated by SID).

Assumed, and true of the sandbox: the listing filtered by days is the plain listing restricted
to those days, in the same order (also among calls created in the same second).
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from .client import PAGE_LIMIT, Client
from .frame import NAT as _NAT
from .frame import parse_dates as _parse_dates

__all__ = ["SLOW_PAGE_SECONDS", "TARGET_CALLS", "WindowedListing"]

logger = logging.getLogger("apifonica_nb")

#: Calls a window should hold (five pages): enough that its last, partly filled page is a
#: small overhead, few enough that windows outnumber workers and share the work out evenly.
TARGET_CALLS = 5 * PAGE_LIMIT
#: In automatic mode, windows are used only when the first two pages each took longer than
#: this: then waiting, not the client's own work, is what limits one-page-at-a-time paging
#: (any remote API). A local server without latency answers in a few ms, where the extra
#: requests windows cost would gain little.
SLOW_PAGE_SECONDS = 0.015
_MAX_WIDTH_DAYS = 3660
_DAY_US = 86_400 * 1_000_000
_EPOCH = dt.date(1970, 1, 1)

#: Base URLs whose history broke what windows rely on (a date filter ignored, an order not
#: newest first): read by following ``next`` alone from then on, in this process.
_IGNORES_DATES: set[str] = set()
_lock = threading.Lock()


def created_us(records: list[dict[str, Any]]) -> np.ndarray:
    """Return each record's ``created`` as int64 UTC microseconds (``_NAT`` when unreadable),
    with the package's one RFC 2822 parser (vendor variants included)."""
    texts = [r.get("created") if isinstance(r, dict) else None for r in records]
    strings = pa.array([t if isinstance(t, str) else None for t in texts], pa.large_string())
    return _parse_dates(strings)[0]


def _day(value: object) -> int | None:
    """Return a query's ``date_from``/``date_to`` as days since 1970-01-01 (None if absent)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return (value - _EPOCH).days
    return (dt.date.fromisoformat(str(value).strip()) - _EPOCH).days


def _date(day: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=day)


def _problem(created: np.ndarray, lo: int | None, hi: int | None, after: int | None) -> str | None:
    """Say how ``created`` breaks "newest first, within days lo..hi", or None if it does not."""
    valid = created[created != _NAT]
    if not len(valid):
        return None
    seq = valid if after is None else np.r_[after, valid]
    if (np.diff(seq) > 0).any():
        return "does not list calls newest first"
    if lo is not None and int(valid.min()) < lo * _DAY_US:
        return "ignores the date_from filter"
    if hi is not None and int(valid.max()) >= (hi + 1) * _DAY_US:
        return "ignores the date_to filter"
    return None


class _ReadError(Exception):
    """A listing failed after reading ``records``: hand those on, then raise ``error``, as
    following ``next`` would (so the caller stores what was read before the failure)."""

    def __init__(self, records: list[dict[str, Any]], error: Exception) -> None:
        super().__init__(str(error))
        self.records = records
        self.error = error


@dataclass
class _Item:
    """One piece of the listing, in order: a segment's top or a window."""

    kind: str  # "top" or "window"
    lo: int | None  # first day its calls may have (inclusive), None: open
    hi: int | None  # last day (inclusive), None: open
    future: Future[list[dict[str, Any]]] | None = None


@dataclass
class _Segment:
    """Windows laid out backwards below one top day, and what they have seen."""

    next_hi: int  # the last day of the next window to start
    floor: int | None  # the first day of the whole period (date_from), None: open
    calls: float  # calls seen, and the days they span (for the width)
    days: float
    lowest: int | None = None  # first day of the oldest window started
    stopped: bool = False
    paused: bool = False  # enough calls read for ``limit``; resumed if they were not enough

    def width(self) -> int:
        per_day = self.calls / max(self.days, 1 / 24)
        return int(min(_MAX_WIDTH_DAYS, max(1, round(TARGET_CALLS / max(per_day, 1e-9)))))


class WindowedListing:
    """Iterate the history like ``client.iter_calls(**query)``, reading windows in parallel.

    ``workers`` listings run at once. With ``auto=True`` the plain listing is kept when the
    first two pages came fast (see :data:`SLOW_PAGE_SECONDS`). With ``limit`` (the caller
    stops after that many calls), no older window starts once that many calls were read,
    unless the caller reads them all and asks for more. After iterating, :attr:`info` says how
    the history was read (plain data, for ``df.attrs["paging"]``).
    """

    def __init__(
        self,
        client: Client,
        query: dict[str, Any],
        *,
        workers: int,
        auto: bool = False,
        limit: int | None = None,
    ) -> None:
        self.client = client
        self.query = dict(query)
        self.workers = workers
        self.auto = auto
        self.lo = _day(query.get("date_from"))
        self.hi = _day(query.get("date_to"))
        self.origin = client.base_url
        self.info: dict[str, Any] = {
            "mode": "sequential",
            "workers": 1,
            "windows": 0,
            "note": None,
        }
        self._cond = threading.Condition()
        self._items: list[_Item] = []
        self._closed = threading.Event()
        self._untrusted: str | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._limit = limit
        self._read = 0  # calls read by the workers so far
        self._paused: list[_Segment] = []
        # Where the plain listing stopped: the calls read past its top day, and the listing.
        self._plain_rest: tuple[list[dict[str, Any]], Iterator[dict[str, Any]]] | None = None

    # -- the consumer side (the caller's thread) ---------------------------------------------

    def __iter__(self) -> Iterator[dict[str, Any]]:
        plain = iter(self.client.iter_calls(**self.query))
        head: list[dict[str, Any]] = []
        pages = 2 if self.auto else 1
        slow = True
        try:
            for _ in range(pages):
                started = time.perf_counter()
                got = _take(plain, PAGE_LIMIT, head)
                slow &= time.perf_counter() - started >= SLOW_PAGE_SECONDS
                if got < PAGE_LIMIT:
                    break
        except Exception:
            yield from head  # what following next gives before the failure
            raise
        why = self._why_plain(head, slow)
        if why is not None:
            if why != "short":
                self.info["note"] = why
            yield from head
            yield from plain
            return
        self.info.update(mode="windows", workers=self.workers)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="apifonica-history")
        try:
            top = _Item("top", _day_of(head[-1]), self.hi)
            self._append(top, self._segment, plain, head, self.lo, self.hi, True)
            yield from self._ordered()
        finally:
            self._closed.set()
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _why_plain(self, head: list[dict[str, Any]], slow: bool) -> str | None:
        """Return why the plain listing is read as is (None: use windows)."""
        if len(head) < PAGE_LIMIT * (2 if self.auto else 1):
            return "short"  # all of it fitted in the pages read
        if self.auto and not slow:
            return "pages came fast: one listing"
        if self.origin in _IGNORES_DATES:
            return "the server ignores date filters: one listing"
        created = created_us(head)
        if created[-1] == _NAT:
            return "a call without a readable created date: one listing"
        problem = _problem(created, self.lo, self.hi, None)
        if problem is not None:
            self._distrust(problem)
            return str(self.info["note"])
        if self.lo is not None and int(created[-1]) // _DAY_US <= self.lo:
            return "the range is one day: one listing"
        return None

    def _ordered(self) -> Iterator[dict[str, Any]]:
        """Yield every item's calls in order, checking each; fall back if one is wrong."""
        seen: set[str] = set()
        last: int | None = None
        index = 0
        while True:
            with self._cond:
                while index >= len(self._items) and not self._all_done():
                    self._cond.wait(0.5)
                if index >= len(self._items) and self._paused:
                    # What was read did not give the caller enough (its filters dropped some
                    # calls the server sent): lay out the older windows after all.
                    self._limit, paused, self._paused = None, self._paused, []
                    for segment in paused:
                        segment.paused = False
                        for _ in range(self.workers):
                            if not self._next_window(segment):
                                break
                    continue
                if index >= len(self._items):
                    return
                item = self._items[index]
            records, failure = _result(item)
            if failure is not None:
                yield from (r for r in records if _sid(r) not in seen)
                raise failure
            if self._untrusted is None:
                created = created_us(records)
                problem = _problem(created, item.lo, item.hi, last)
                if problem is not None:
                    self._distrust(problem)
                else:
                    valid = created[created != _NAT]
                    last = int(valid[-1]) if len(valid) else last
            if self._untrusted is not None:
                yield from self._fallback(seen)
                return
            fresh = [r for r in records if _sid(r) not in seen] if seen else records
            seen.update(s for s in map(_sid, records) if s is not None)
            yield from fresh
            index += 1

    def _fallback(self, seen: set[str]) -> Iterator[dict[str, Any]]:
        """Follow ``next`` from where the plain listing stopped, skipping calls yielded."""
        first = self._items[0]
        top, failure = _result(first)  # the plain listing stops by itself at its top day
        if failure is not None:
            yield from (r for r in top if _sid(r) not in seen)
            raise failure
        rest = self._plain_rest
        self.info.update(mode="sequential", workers=1)
        for record in top:
            if _sid(record) not in seen:
                yield record
        if rest is None:
            return
        pending, plain = rest
        for record in itertools.chain(pending, plain):
            if _sid(record) not in seen:
                yield record

    def _all_done(self) -> bool:
        return all(i.future is not None and i.future.done() for i in self._items)

    def _distrust(self, problem: str) -> None:
        with self._cond:
            if self._untrusted is not None:
                return
            self._untrusted = problem
            self._cond.notify_all()
        self.info["note"] = f"the server {problem}: read by following next"
        with _lock:
            first = self.origin not in _IGNORES_DATES
            _IGNORES_DATES.add(self.origin)
        if first:
            logger.warning(
                "The call history at %s %s, so fetch_history reads it one page at a time "
                "instead of in parallel date windows (results stay correct, only slower).",
                self.origin,
                problem,
            )

    # -- the workers -------------------------------------------------------------------------

    def _append(self, item: _Item, fn: Any, *args: Any) -> None:
        """Add ``item`` at the end of the order and start ``fn(*args)`` for it."""
        assert self._pool is not None
        with self._cond:
            if self._closed.is_set():
                return
            self._items.append(item)
            try:
                item.future = self._pool.submit(fn, *args)
            except RuntimeError:  # shut down meanwhile: the consumer has gone
                item.future = Future()
                item.future.set_result([])
                return
            item.future.add_done_callback(self._wake)
            if item.kind == "window":
                self.info["windows"] += 1

    def _wake(self, _future: Future[list[dict[str, Any]]]) -> None:
        with self._cond:
            self._cond.notify_all()

    def _stop(self, *, plain: bool = False) -> bool:
        """Whether a worker should stop reading (the plain listing goes on when distrusted)."""
        return self._closed.is_set() or (not plain and self._untrusted is not None)

    def _segment(
        self,
        listing: Iterator[dict[str, Any]],
        head: list[dict[str, Any]],
        lo: int | None,
        hi: int | None,
        is_plain: bool,
    ) -> list[dict[str, Any]]:
        """Read a listing over days ``lo..hi``: lay out windows below its first page, then read
        on down to the first page's last day (the listing's own share)."""
        try:
            return self._segment_reads(listing, head, lo, hi, is_plain)
        except Exception as exc:
            raise _ReadError(head, exc) from None

    def _segment_reads(
        self,
        listing: Iterator[dict[str, Any]],
        head: list[dict[str, Any]],
        lo: int | None,
        hi: int | None,
        is_plain: bool,
    ) -> list[dict[str, Any]]:
        if not head:
            _take(listing, PAGE_LIMIT, head)
            if self._stop():
                return []
            problem = _problem(created_us(head), lo, hi, None)
            if problem is not None:
                self._distrust(problem)
                return []
        if len(head) < PAGE_LIMIT:
            head.extend(listing)  # the listing ended (or its next page is all there is)
            return head
        top_day = _day_of(head[-1])
        if top_day is None or (lo is not None and top_day <= lo):
            return self._read_down_to(listing, head, None, is_plain)
        created = created_us(head)
        valid = created[created != _NAT]
        span = (int(valid[0]) - int(valid[-1])) / _DAY_US if len(valid) > 1 else 1.0
        segment = _Segment(next_hi=top_day - 1, floor=lo, calls=len(head), days=span)
        with self._cond:
            self._read += len(head)
            for _ in range(self.workers):
                if not self._next_window(segment):
                    break
        return self._read_down_to(listing, head, top_day, is_plain)

    def _read_down_to(
        self,
        listing: Iterator[dict[str, Any]],
        out: list[dict[str, Any]],
        top_day: int | None,
        is_plain: bool,
    ) -> list[dict[str, Any]]:
        """Read ``listing`` a page at a time until a call older than ``top_day`` (None: to the
        end); keep where the plain listing stopped, for a fallback."""
        stop_us = None if top_day is None else top_day * _DAY_US
        while not self._stop(plain=is_plain):
            page: list[dict[str, Any]] = []
            failed: Exception | None = None
            try:
                taken = _take(listing, PAGE_LIMIT, page)
            except Exception as exc:  # keep what came before it, as following next would
                failed, taken = exc, len(page)
            cut = len(page)
            if stop_us is not None and taken:
                created = created_us(page)
                older = np.flatnonzero((created != _NAT) & (created < stop_us))
                cut = int(older[0]) if len(older) else cut
            out.extend(page[:cut])
            if failed is not None:
                raise failed
            if cut < len(page):
                if is_plain:
                    self._plain_rest = (page[cut:], listing)
                return out
            if taken < PAGE_LIMIT:
                break
        if is_plain:
            self._plain_rest = ([], iter(()))
        return out

    def _next_window(self, segment: _Segment) -> bool:
        """Start the next older window of ``segment`` (under the lock); False when none is left."""
        if segment.stopped or segment.paused or self._stop():
            return False
        if self._limit is not None and self._read >= self._limit:
            # Every window still to come is older than the calls read: they may be unneeded.
            segment.paused = True
            self._paused.append(segment)
            return False
        hi = segment.next_hi
        if segment.floor is not None and hi < segment.floor:
            segment.stopped = True
            return False
        lo = hi - segment.width() + 1
        if segment.floor is not None:
            lo = max(lo, segment.floor)
        segment.next_hi = lo - 1
        segment.lowest = lo
        item = _Item("window", lo, hi)
        self._append(item, self._window, segment, item)
        return True

    def _window(self, segment: _Segment, item: _Item) -> list[dict[str, Any]]:
        """Read one window in full; then start the next one, or the listing below them all."""
        records: list[dict[str, Any]] = []
        try:
            return self._window_reads(segment, item, records)
        except Exception as exc:
            raise _ReadError(records, exc) from None

    def _window_reads(
        self, segment: _Segment, item: _Item, records: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        assert item.lo is not None and item.hi is not None
        query = dict(self.query, date_from=_date(item.lo), date_to=_date(item.hi))
        listing = iter(self.client.iter_calls(**query))
        _take(listing, PAGE_LIMIT, records)
        if self._stop():
            return []
        problem = _problem(created_us(records), item.lo, item.hi, None)
        if problem is not None:
            self._distrust(problem)
            return []
        if len(records) == PAGE_LIMIT:
            for record in listing:
                records.append(record)
                if self._stop():
                    return []
        with self._cond:
            self._read += len(records)
            segment.calls += len(records)
            segment.days += item.hi - item.lo + 1
            if records:
                self._next_window(segment)
            elif not segment.stopped and not self._stop():
                # An empty window: rather than step through a quiet stretch window by window,
                # ask once for whatever lies before the oldest window started.
                segment.stopped = True
                assert segment.lowest is not None
                floor = segment.floor
                if floor is None or segment.lowest > floor:
                    below = _Item("top", floor, segment.lowest - 1)
                    self._append(below, self._below, floor, segment.lowest - 1)
        return records

    def _below(self, lo: int | None, hi: int) -> list[dict[str, Any]]:
        """Read the listing of everything up to day ``hi`` (a new segment)."""
        query = dict(self.query, date_to=_date(hi))
        if lo is not None:
            query["date_from"] = _date(lo)
        listing = iter(self.client.iter_calls(**query))
        return self._segment(listing, [], lo, hi, False)


def _result(item: _Item) -> tuple[list[dict[str, Any]], Exception | None]:
    """Wait for ``item``: its calls, or the calls read before it failed and the failure."""
    assert item.future is not None
    try:
        return item.future.result(), None
    except _ReadError as failed:
        # Raised again by the caller outside this handler, so it carries no chain of ours.
        return failed.records, failed.error


def _take(listing: Iterator[dict[str, Any]], n: int, out: list[dict[str, Any]]) -> int:
    """Append up to ``n`` records of ``listing`` to ``out``; return how many were taken."""
    taken = 0
    for record in listing:
        out.append(record)
        taken += 1
        if taken >= n:
            break
    return taken


def _day_of(record: dict[str, Any]) -> int | None:
    us = int(created_us([record])[0])
    return None if us == _NAT else us // _DAY_US


def _sid(record: Any) -> str | None:
    sid = record.get("call_sid") if isinstance(record, dict) else None
    return sid if isinstance(sid, str) else None
