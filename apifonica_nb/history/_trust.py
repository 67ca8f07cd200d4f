"""The one trust check of a history listing, and the per-run note of what it found.

Two things rely on the server listing the history newest first and honouring the day
filters: date windows (put back in order they must be the one listing) and the incremental
sync (it stops paging at calls it has, taking the older ones from the store). Both ask
:class:`ListingCheck`; whoever finds a problem first tells the run's :class:`Trust`, which
says it once in a log line. Nothing is remembered past the run: a server that ignores the
date filters costs a run at most its first window pages (``workers`` requests) to find out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._days import DAY_US, NAT, created_us, query_days, sid_of

__all__ = ["ListingCheck", "Trust"]

logger = logging.getLogger("apifonica_nb")


class ListingCheck:
    """Check a listing as it arrives: calls newest first, each created within its days.

    ``lo``/``hi`` are the first and last day the listing may hold (inclusive, None: open),
    as sent in ``date_from``/``date_to``. :meth:`feed` takes the records in listing order,
    any number at a time, and returns the first problem found (kept in :attr:`problem`).
    A call listed again (offset-like cursors repeat the last calls of a page when new ones
    arrive meanwhile) is a repeat, not a break of the order: repeats are skipped.
    """

    def __init__(self, lo: int | None = None, hi: int | None = None) -> None:
        self.lo = lo
        self.hi = hi
        self.problem: str | None = None
        self._last: int | None = None
        self._seen: set[str] = set()

    @classmethod
    def of_query(cls, query: Mapping[str, Any]) -> ListingCheck:
        """The check of a listing made with ``query`` (its ``date_from``/``date_to``)."""
        return cls(*query_days(query))

    def feed(
        self,
        records: Sequence[Any],
        created: np.ndarray | None = None,
        *,
        days: tuple[int | None, int | None] | None = None,
    ) -> str | None:
        """Check the next ``records`` (``created``: their instants, if already parsed).

        ``days`` narrows the allowed days for these records (a window of a wider listing).
        """
        if self.problem is not None or not len(records):
            return self.problem
        if created is None:
            created = created_us(records)
        fresh = np.ones(len(records), dtype=bool)
        for i, sid in enumerate(map(sid_of, records)):
            if sid is not None:
                if sid in self._seen:
                    fresh[i] = False
                else:
                    self._seen.add(sid)
        values = created[fresh]
        valid = values[values != NAT]
        if not len(valid):
            return None
        lo, hi = (self.lo, self.hi) if days is None else days
        seq = valid if self._last is None else np.r_[self._last, valid]
        if (np.diff(seq) > 0).any():
            self.problem = "does not list calls newest first"
        elif lo is not None and int(valid.min()) < lo * DAY_US:
            self.problem = "ignores the date_from filter"
        elif hi is not None and int(valid.max()) >= (hi + 1) * DAY_US:
            self.problem = "ignores the date_to filter"
        self._last = int(valid[-1])
        return self.problem


class Trust:
    """What one history run learned about the server: the first problem, said once.

    Shared by the parts of one ``fetch_history`` run (its windows, its sync), from any
    thread; :meth:`distrust` logs the first problem only.
    """

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.problem: str | None = None
        self._lock = threading.Lock()

    @property
    def trusted(self) -> bool:
        """Whether no part of the run found a problem."""
        return self.problem is None

    def distrust(self, problem: str) -> bool:
        """Record ``problem``; return True (and log it) if it is the run's first."""
        with self._lock:
            if self.problem is not None:
                return False
            self.problem = problem
        logger.warning(
            "The call history at %s %s, so fetch_history reads every page of it by following "
            "next (results stay correct, only slower).",
            self.origin or "this server",
            problem,
        )
        return True
