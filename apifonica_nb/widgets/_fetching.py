"""How the explorer fetches: the public verbs themselves, with ``on_progress=`` and ``cancel=``.

No wrapper client: the explorer's frame is the one :func:`~apifonica_nb.fetch_history` or
:func:`~apifonica_nb.fetch_calls` returns to code (parallel history reading included), and a
cancel gives the partial frame the verbs return. ``warn=False``: the explorer shows the
failures and the warnings' texts (``df.attrs["warnings"]``) itself, instead of a warning that
would print under whichever cell runs when its thread finishes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..client import Client, Failures, Progress
from ..fetch import fetch_calls, fetch_history
from ._job import Fetched, FetchRequest

__all__ = ["fetch"]


def fetch(
    client: Client,
    request: FetchRequest,
    *,
    cancel: threading.Event,
    on_progress: Callable[[int, int | None], None],
    workers: int,
) -> Fetched:
    """Fetch what ``request`` asks through the verbs, reporting progress, stopping on cancel."""
    done = [0]

    def advanced(p: Progress) -> None:
        done[0] = p.done
        on_progress(p.done, p.total or request.expected)

    if request.kind == "sids":
        df = fetch_calls(
            request.sids,
            client=client,
            workers=workers,
            progress=False,
            cache=request.cache,
            on_progress=advanced,
            cancel=cancel,
            warn=False,
        )
    else:
        df = fetch_history(
            client=client,
            progress=False,
            cache=request.cache,
            workers=workers,
            on_progress=advanced,
            cancel=cancel,
            warn=False,
            **request.filters,
        )
    df.attrs["failures"] = Failures([*request.refused, *df.attrs["failures"]])
    cancelled = bool(df.attrs["cancelled"])
    df.attrs["partial"] = cancelled
    note = ""
    if df.attrs.get("stopped_at") is not None:
        note = (
            f"stopped at {int(df.attrs['stopped_at']):,}: more calls match. These totals cover "
            "only the calls shown; raise Max calls (0: no limit) or narrow the filters."
        )
    if cancelled:
        note = f"partial: cancelled after {done[0]:,} calls were read"
        if request.kind == "sids":
            unread = len(set(request.sids)) - len(df) - len(df.attrs["failures"])
            if unread > 0:
                note += f"; {unread:,} SIDs were not fetched"
    # A capped history reads one call past the limit (to know more match); it is not shown.
    read = len(df) if df.attrs.get("stopped_at") is not None else max(done[0], len(df))
    return Fetched(df, read, cancelled, note)
