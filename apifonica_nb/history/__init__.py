"""Reading a call history: date windows in parallel, incremental sync, one trust check.

- :func:`read_history` pages one history (:class:`HistoryQuery`: checked filters and bounds)
  by the plain rule: date windows (:class:`WindowedListing`) whenever ``workers > 1`` and the
  server honours the date filters, else following ``next``; with the store,
  :class:`HistorySync` stores the pages as they arrive and stops early at calls it has.
- :class:`ListingCheck` is the one trust check both rely on (newest first, within the days
  asked for); :class:`Trust` is what one run learned, said once in a log line. Nothing is
  kept between runs: a server that ignores date filters costs each run a few requests.
- merging a call listed twice is :func:`apifonica_nb.frame.deduplicate` (the latest version wins).

Imports point down: this package uses :mod:`apifonica_nb.cache` and the client, never the
other way round.
"""

from __future__ import annotations

from ._days import created_us
from ._plan import TARGET_CALLS
from ._query import HistoryQuery
from ._read import HistoryRead, read_history
from ._sync import HistorySync
from ._trust import ListingCheck, Trust
from ._windows import WindowedListing

__all__ = [
    "TARGET_CALLS",
    "HistoryQuery",
    "HistoryRead",
    "HistorySync",
    "ListingCheck",
    "Trust",
    "WindowedListing",
    "created_us",
    "read_history",
]
