"""Store calls as a batch arrives: :class:`CallWriter`, for ``fetch_calls``.

Calls are written in small transactions as they arrive, so a Ctrl-C or a ``kill -9`` loses only
the last few. (A history listing is stored by :class:`apifonica_nb.history.HistorySync`.)
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ._store import CallStore


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
