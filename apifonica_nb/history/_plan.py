"""The worker side of :class:`~apifonica_nb.history.WindowedListing`: lay out and read windows.

A :class:`WindowPlan` holds the pieces of one windowed listing in order (a segment's top,
then its windows, oldest last) and reads each in a worker thread; the consumer
(:mod:`._windows`) waits for them in order. See :mod:`._windows` for how the period is split.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..client import PAGE_LIMIT, Client
from ._days import DAY_US, NAT, created_us, day_date, day_of, query_days
from ._trust import ListingCheck, Trust

#: Calls a window should hold (five pages): enough that its last, partly filled page is a
#: small overhead, few enough that windows outnumber workers and share the work out evenly.
TARGET_CALLS = 5 * PAGE_LIMIT
_MAX_WIDTH_DAYS = 3660

Records = list[dict[str, Any]]


class ReadError(Exception):
    """A listing failed after reading ``records``: hand those on, then raise ``error``, as
    following ``next`` would (so the caller stores what was read before the failure)."""

    def __init__(self, records: Records, error: Exception) -> None:
        super().__init__(str(error))
        self.records = records
        self.error = error


@dataclass
class Item:
    """One piece of the listing, in order: a segment's top or a window."""

    kind: str  # "top" or "window"
    lo: int | None  # first day its calls may have (inclusive), None: open
    hi: int | None  # last day (inclusive), None: open
    future: Future[Records] | None = None

    def result(self) -> tuple[Records, Exception | None]:
        """Wait for the item: its calls, or the calls read before it failed and the failure."""
        assert self.future is not None
        try:
            return self.future.result(), None
        except ReadError as failed:
            # Raised again by the caller outside this handler, so it carries no chain of ours.
            return failed.records, failed.error


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


def take(listing: Iterator[dict[str, Any]], n: int, out: Records) -> int:
    """Append up to ``n`` records of ``listing`` to ``out``; return how many were taken."""
    taken = 0
    for record in listing:
        out.append(record)
        taken += 1
        if taken >= n:
            break
    return taken


class WindowPlan:
    """The items of one windowed listing, read by ``workers`` threads (see the module doc)."""

    def __init__(
        self,
        client: Client,
        query: dict[str, Any],
        *,
        workers: int,
        limit: int | None,
        trust: Trust,
        info: dict[str, Any],
    ) -> None:
        self.client = client
        self.query = query
        self.lo, self.hi = query_days(query)
        self.workers = workers
        self.limit = limit
        self.trust = trust
        self.info = info
        self.items: list[Item] = []
        self.cond = threading.Condition()
        self.problem: str | None = None
        #: Where the plain listing stopped: the calls read past its top day, and the listing.
        self.plain_rest: tuple[Records, Iterator[dict[str, Any]]] | None = None
        self._closed = threading.Event()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="apifonica-history")
        self._read = 0  # calls read by the workers so far
        self._paused: list[_Segment] = []

    def start(self, plain: Iterator[dict[str, Any]], head: Records) -> None:
        """Go on with the plain listing (its first page read) as the first segment's top."""
        top = Item("top", day_of(head[-1]), self.hi)
        self._append(top, self._segment, plain, head, self.lo, self.hi, True)

    def close(self) -> None:
        """Stop every worker at its next page; queued windows never start."""
        self._closed.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def done(self) -> bool:
        """Whether every item started has finished (call under :attr:`cond`)."""
        return all(i.future is not None and i.future.done() for i in self.items)

    def resume(self) -> bool:
        """Lay out the paused windows after all (call under :attr:`cond`); False if none.

        What was read did not give the caller enough (its own filters dropped some calls
        the server sent), so the older windows are needed.
        """
        if not self._paused:
            return False
        self.limit, paused, self._paused = None, self._paused, []
        for segment in paused:
            segment.paused = False
            for _ in range(self.workers):
                if not self._next_window(segment):
                    break
        return True

    def distrust(self, problem: str) -> None:
        """Stop the windows: the server broke what they rely on (the plain listing goes on)."""
        with self.cond:
            if self.problem is not None:
                return
            self.problem = problem
            self.cond.notify_all()
        self.info["note"] = f"the server {problem}: read by following next"
        self.trust.distrust(problem)

    # -- the workers -------------------------------------------------------------------------

    def _append(self, item: Item, fn: Callable[..., Records], *args: Any) -> None:
        """Add ``item`` at the end of the order and start ``fn(*args)`` for it."""
        with self.cond:
            if self._closed.is_set():
                return
            self.items.append(item)
            try:
                item.future = self._pool.submit(fn, *args)
            except RuntimeError:  # shut down meanwhile: the consumer has gone
                item.future = Future()
                item.future.set_result([])
                return
            item.future.add_done_callback(self._wake)
            if item.kind == "window":
                self.info["windows"] += 1

    def _wake(self, _future: Future[Records]) -> None:
        with self.cond:
            self.cond.notify_all()

    def _stop(self, *, plain: bool = False) -> bool:
        """Whether a worker should stop reading (the plain listing goes on when distrusted)."""
        return self._closed.is_set() or (not plain and self.problem is not None)

    def _first_page_problem(self, page: Records, lo: int | None, hi: int | None) -> bool:
        """Check a listing's first page as it arrives; distrust the server if it fails."""
        problem = ListingCheck(lo, hi).feed(page)
        if problem is not None:
            self.distrust(problem)
        return problem is not None

    def _segment(
        self,
        listing: Iterator[dict[str, Any]],
        head: Records,
        lo: int | None,
        hi: int | None,
        is_plain: bool,
    ) -> Records:
        """Read a listing over days ``lo..hi``: lay out windows below its first page, then read
        on down to the first page's last day (the listing's own share)."""
        try:
            if not head:
                take(listing, PAGE_LIMIT, head)
                if self._stop() or self._first_page_problem(head, lo, hi):
                    return []
            if len(head) < PAGE_LIMIT:
                head.extend(listing)  # the listing ended (or its next page is all there is)
                return head
            top_day = day_of(head[-1])
            if top_day is None or (lo is not None and top_day <= lo):
                return self._read_down_to(listing, head, None, is_plain)
            created = created_us(head)
            valid = created[created != NAT]
            span = (int(valid[0]) - int(valid[-1])) / DAY_US if len(valid) > 1 else 1.0
            segment = _Segment(next_hi=top_day - 1, floor=lo, calls=len(head), days=span)
            with self.cond:
                self._read += len(head)
                for _ in range(self.workers):
                    if not self._next_window(segment):
                        break
            return self._read_down_to(listing, head, top_day, is_plain)
        except Exception as exc:
            raise ReadError(head, exc) from None

    def _read_down_to(
        self, listing: Iterator[dict[str, Any]], out: Records, top_day: int | None, is_plain: bool
    ) -> Records:
        """Read ``listing`` a page at a time until a call older than ``top_day`` (None: to the
        end); keep where the plain listing stopped, for a fallback."""
        stop_us = None if top_day is None else top_day * DAY_US
        while not self._stop(plain=is_plain):
            page: Records = []
            failed: Exception | None = None
            try:
                taken = take(listing, PAGE_LIMIT, page)
            except Exception as exc:  # keep what came before it, as following next would
                failed, taken = exc, len(page)
            cut = len(page)
            if stop_us is not None and taken:
                created = created_us(page)
                older = np.flatnonzero((created != NAT) & (created < stop_us))
                cut = int(older[0]) if len(older) else cut
            out.extend(page[:cut])
            if failed is not None:
                raise failed
            if cut < len(page):
                if is_plain:
                    self.plain_rest = (page[cut:], listing)
                return out
            if taken < PAGE_LIMIT:
                break
        if is_plain:
            self.plain_rest = ([], iter(()))
        return out

    def _next_window(self, segment: _Segment) -> bool:
        """Start the next older window of ``segment`` (under the lock); False when none is left."""
        if segment.stopped or segment.paused or self._stop():
            return False
        if self.limit is not None and self._read >= self.limit:
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
        item = Item("window", lo, hi)
        self._append(item, self._window, segment, item)
        return True

    def _window(self, segment: _Segment, item: Item) -> Records:
        """Read one window in full; then start the next one, or the listing below them all."""
        records: Records = []
        try:
            return self._window_reads(segment, item, records)
        except Exception as exc:
            raise ReadError(records, exc) from None

    def _window_reads(self, segment: _Segment, item: Item, records: Records) -> Records:
        assert item.lo is not None and item.hi is not None
        query = dict(self.query, date_from=day_date(item.lo), date_to=day_date(item.hi))
        listing = iter(self.client.iter_calls(**query))
        take(listing, PAGE_LIMIT, records)
        if self._stop() or self._first_page_problem(records, item.lo, item.hi):
            return []
        if len(records) == PAGE_LIMIT:
            for record in listing:
                records.append(record)
                if self._stop():
                    return []
        with self.cond:
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
                    below = Item("top", floor, segment.lowest - 1)
                    self._append(below, self._below, floor, segment.lowest - 1)
        return records

    def _below(self, lo: int | None, hi: int) -> Records:
        """Read the listing of everything up to day ``hi`` (a new segment)."""
        query = dict(self.query, date_to=day_date(hi))
        if lo is not None:
            query["date_from"] = day_date(lo)
        listing = iter(self.client.iter_calls(**query))
        return self._segment(listing, [], lo, hi, False)
