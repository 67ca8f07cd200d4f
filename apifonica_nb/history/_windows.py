"""Read a call history in date windows fetched in parallel, as if following ``next`` alone.

A history cursor hands out one page at a time, so one listing is as slow as its pages are
many. The API's ``date_from``/``date_to`` filters (whole UTC days, both inclusive) let several
listings run at once, each over its own days and paged on its own; put back in order (newest
days first) they are the one listing, since a day's calls never straddle two windows.

:class:`WindowedListing` yields what ``client.iter_calls(**query)`` would, in the same order.
How it splits the period (the workers' side is :mod:`._plan`):

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
   are yielded, by the one :class:`~._trust.ListingCheck`: each ``created`` inside its days, the
   listing newest first. A server that does not honour the date filters is said once in a log
   line (the run's :class:`~._trust.Trust`) and read by following ``next`` from where the plain
   listing stopped; calls already yielded are not yielded again.

A call a server lists twice (offset-like cursors repeat the last calls of a page when new
calls arrive between requests) is yielded twice, as following ``next`` would: the caller
merges repeats (``fetch_history`` keeps the most recent version).

Assumed, and true of the sandbox: the listing filtered by days is the plain listing restricted
to those days, in the same order (also among calls created in the same second).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from ..client import PAGE_LIMIT, Client
from ._days import DAY_US, NAT, created_us, query_days, sid_of
from ._plan import TARGET_CALLS, Records, WindowPlan, take
from ._trust import ListingCheck, Trust

__all__ = ["TARGET_CALLS", "WindowedListing"]


class WindowedListing:
    """Iterate the history like ``client.iter_calls(**query)``, reading windows in parallel.

    ``workers`` listings run at once. With ``limit`` (the caller stops after that many calls),
    no older window starts once that many calls were read, unless the caller reads them all and
    asks for more. ``trust`` is the run's :class:`~._trust.Trust` (a new one by default). After
    iterating, :attr:`info` says how the history was read (plain data, for
    ``df.attrs["paging"]``: ``mode``, ``workers``, ``windows``, ``note``).
    """

    def __init__(
        self,
        client: Client,
        query: dict[str, Any],
        *,
        workers: int,
        limit: int | None = None,
        trust: Trust | None = None,
    ) -> None:
        self.client = client
        self.query = dict(query)
        self.workers = workers
        self.limit = limit
        self.trust = trust if trust is not None else Trust(client.base_url)
        self.info: dict[str, Any] = {"mode": "sequential", "workers": 1, "windows": 0, "note": None}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        plain = iter(self.client.iter_calls(**self.query))
        head: Records = []
        try:
            take(plain, PAGE_LIMIT, head)
        except Exception:
            yield from head  # what following next gives before the failure
            raise
        why = self._why_plain(head)
        if why is not None:
            if why != "short":
                self.info["note"] = why
            yield from head
            yield from plain
            return
        self.info.update(mode="windows", workers=self.workers)
        plan = WindowPlan(
            self.client,
            self.query,
            workers=self.workers,
            limit=self.limit,
            trust=self.trust,
            info=self.info,
        )
        try:
            plan.start(plain, head)
            yield from self._ordered(plan)
        finally:
            plan.close()

    def _why_plain(self, head: Records) -> str | None:
        """Return why the plain listing is read as is (None: use windows)."""
        if len(head) < PAGE_LIMIT:
            return "short"  # all of it fitted in the first page
        created = created_us(head)
        if created[-1] == NAT:
            return "a call without a readable created date: one listing"
        problem = ListingCheck.of_query(self.query).feed(head, created)
        if problem is not None:
            self.trust.distrust(problem)
            return f"the server {problem}: read by following next"
        lo = query_days(self.query)[0]
        if lo is not None and int(created[-1]) // DAY_US <= lo:
            return "the range is one day: one listing"
        return None

    def _ordered(self, plan: WindowPlan) -> Iterator[dict[str, Any]]:
        """Yield every item's calls in order, checking each; fall back if one is wrong."""
        check = ListingCheck()
        yielded: set[str] = set()
        index = 0
        while True:
            with plan.cond:
                while index >= len(plan.items) and not plan.done():
                    plan.cond.wait(0.5)
                if index >= len(plan.items) and plan.resume():
                    continue
                if index >= len(plan.items):
                    return
                item = plan.items[index]
            records, failure = item.result()
            if failure is not None:
                yield from records
                raise failure
            if plan.problem is None:
                problem = check.feed(records, days=(item.lo, item.hi))
                if problem is not None:
                    plan.distrust(problem)
            if plan.problem is not None:
                yield from self._fallback(plan, yielded)
                return
            yielded.update(s for s in map(sid_of, records) if s is not None)
            yield from records
            index += 1

    def _fallback(self, plan: WindowPlan, yielded: set[str]) -> Iterator[dict[str, Any]]:
        """Follow ``next`` from where the plain listing stopped, skipping calls yielded."""
        top, failure = plan.items[0].result()  # the plain listing stops by itself at its top day
        if failure is not None:
            yield from (r for r in top if sid_of(r) not in yielded)
            raise failure
        self.info.update(mode="sequential", workers=1)
        rest = plan.plain_rest
        pending, plain = rest if rest is not None else ([], iter(()))
        for record in itertools.chain(top, pending, plain):
            if sid_of(record) not in yielded:
                yield record
