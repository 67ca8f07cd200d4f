"""Watch one call until its status is final: the statuses seen, and the ones a GET missed."""

from __future__ import annotations

import html
import sys
import threading
import time
from typing import Any

import pandas as pd

from ..client import Client, validate_call_sid
from ..errors import ApifonicaError, FetchCancelled, InvalidRequestError
from ..frame import FINAL_STATUSES, STATUSES

__all__ = ["WATCH_COLUMNS", "infer_statuses", "watch_call"]

#: The columns of :func:`watch_call`'s frame and their dtypes (``status`` gets the categories
#: of the call frame, plus any undocumented status seen).
WATCH_COLUMNS: dict[str, str] = {
    "status": "category",
    "first_seen": "datetime64[us, UTC]",
    "last_seen": "datetime64[us, UTC]",
    "polls": "Int64",
    "inferred": "boolean",
}
#: The lifecycle a call goes through before its outcome, and what each outcome needs first.
_STEPS = ("queued", "initiated", "ringing", "answered")
_NEEDS = {"completed": "answered", "no_answer": "ringing", "busy": "ringing", "rejected": "ringing"}


def _status(raw: object) -> str | None:
    if not isinstance(raw, str) or not raw.strip():
        return None
    key = raw.strip().lower().replace("-", "_").replace(" ", "_")
    return key if key in STATUSES else raw.strip()


def infer_statuses(seen: list[str]) -> list[tuple[str, bool]]:
    """Return ``seen`` (in order) with the lifecycle statuses that must have come between two
    of them inserted, each as ``(status, inferred)``.

    The documented lifecycle is queued -> initiated -> ringing -> answered -> outcome;
    ``completed`` needs ``answered``, ``no_answer``/``busy``/``rejected`` need ``ringing``,
    ``failed`` and ``canceled`` can come at any step (nothing is inferred before them), and
    ``modified`` or an unknown status interrupts the chain (nothing is inferred across it).
    """
    out: list[tuple[str, bool]] = []
    for i, status in enumerate(seen):
        if i:
            before = seen[i - 1]
            target = status if status in _STEPS else _NEEDS.get(status)
            if before in _STEPS and target in _STEPS:
                lo, hi = _STEPS.index(before), _STEPS.index(target)
                stop = hi if status in _STEPS else hi + 1
                out.extend((s, True) for s in _STEPS[lo + 1 : stop])
        out.append((status, False))
    return out


class _View:
    """The live view: a small HTML widget in a notebook, one stderr line per change elsewhere."""

    def __init__(self, call_sid: str) -> None:
        self.call_sid = call_sid
        self._widget: Any = None
        self._last: str | None = None
        try:
            from IPython import get_ipython

            shell = get_ipython()
        except ImportError:
            shell = None
        if shell is not None and "IPKernelApp" in getattr(shell, "config", {}):
            import ipywidgets
            from IPython.display import display

            self._widget = ipywidgets.HTML()
            display(self._widget)

    def update(self, rows: list[tuple[str, bool, Any, Any, Any]], requests: int, note: str) -> None:
        current = rows[-1][0] if rows else None
        if self._widget is None:
            if current != self._last or note != "watching":
                print(
                    f"call {self.call_sid}: {current} ({requests} requests, {note})",
                    file=sys.stderr,
                )
            self._last = current
            return
        chips = []
        for status, inferred, first, *_ in rows:
            style = "color:#888;font-style:italic" if inferred else "font-weight:bold"
            when = "" if inferred else f" {first:%H:%M:%S}"
            chips.append(f'<span style="{style}">{html.escape(status)}{when}</span>')
        self._widget.value = (
            f"<div><code>{html.escape(self.call_sid)}</code>: {' → '.join(chips) or '…'}"
            f"<br><small>{requests} requests; {html.escape(note)} (times UTC)</small></div>"
        )


def _rows(observed: list[list[Any]]) -> list[tuple[str, bool, Any, Any, Any]]:
    """The rows of the result: each observed status in order, inferred ones in between."""
    seen = iter(observed)
    out: list[tuple[str, bool, Any, Any, Any]] = []
    for status, inferred in infer_statuses([row[0] for row in observed]):
        if inferred:
            out.append((status, True, None, None, None))
        else:
            _, first, last, polls = next(seen)
            out.append((status, False, first, last, polls))
    return out


def _frame(observed: list[list[Any]]) -> pd.DataFrame:
    rows = _rows(observed)
    extra = [r[0] for r in rows if r[0] not in STATUSES]
    return pd.DataFrame(
        {
            "status": pd.Categorical(
                [r[0] for r in rows], categories=[*STATUSES, *dict.fromkeys(extra)]
            ),
            "first_seen": pd.array([r[2] for r in rows], dtype="datetime64[us, UTC]"),
            "last_seen": pd.array([r[3] for r in rows], dtype="datetime64[us, UTC]"),
            "polls": pd.array([r[4] for r in rows], dtype="Int64"),
            "inferred": pd.array([r[1] for r in rows], dtype="boolean"),
        }
    )


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise InvalidRequestError(f"{name} must be a number of seconds >= 0, got {value!r}")
    return float(value)


def watch_call(
    call_sid: str,
    *,
    client: Client,
    interval: float = 1.0,
    timeout: float = 600.0,
    progress: bool = True,
    cancel: threading.Event | None = None,
) -> pd.DataFrame:
    """Poll one call every ``interval`` seconds until its status is final; return what was seen.

    One row per status, in the order the call went through them: ``status``, ``first_seen``
    and ``last_seen`` (this machine's UTC clock when a GET returned it), ``polls`` (how many
    GETs saw it) and ``inferred``. **Not every status can be caught by a GET**: a call can go
    from ``queued`` to ``ringing`` between two polls. A status the documented lifecycle
    (queued -> initiated -> ringing -> answered -> outcome) says must have come between two
    seen ones is listed with ``inferred=True`` and no times (see :func:`infer_statuses`).

    It stops when the status is final (``attrs["final"]``), after ``timeout`` seconds
    (``attrs["timed_out"]``; ``timeout=0`` polls once), or on a set ``cancel`` event or Ctrl-C
    (``attrs["cancelled"]``), and returns the rows seen so far in every case;
    ``attrs["requests"]`` counts the GETs answered. Each GET runs under the client's retry
    policy, so a 429 waits as long as its ``Retry-After`` asks before the next attempt. Any
    other error is raised, with the rows so far on its ``.frame``. ``progress=True`` shows a
    live view (a small widget in a notebook, one line per change on stderr elsewhere).

    >>> seen = ap.watch_call(sb.place_call(to="4930123456", from_="358942417543"), client=client)
    >>> seen[["status", "first_seen", "inferred"]]
    """
    sid = validate_call_sid(call_sid)
    interval, timeout = _number("interval", interval), _number("timeout", timeout)
    view = _View(sid) if progress else None
    observed: list[list[Any]] = []  # status, first_seen, last_seen, polls
    requests, final, how = 0, False, "timed out"
    started = time.monotonic()
    try:
        while True:
            polled = time.monotonic()
            record = client.get_call(sid, cancel=cancel)
            requests += 1
            now = pd.Timestamp.now(tz="UTC")
            status = _status(record.get("status"))
            if status is not None and observed and observed[-1][0] == status:
                observed[-1][2] = now
                observed[-1][3] += 1
            elif status is not None:
                observed.append([status, now, now, 1])
            final = status in FINAL_STATUSES
            left = timeout - (time.monotonic() - started)
            if view is not None:
                view.update(_rows(observed), requests, "final" if final else "watching")
            if final or left <= 0:
                how = "final" if final else how
                break
            pause = min(max(0.0, interval - (time.monotonic() - polled)), left)
            if cancel is not None and cancel.wait(pause):
                how = "cancelled"
                break
            if cancel is None:
                time.sleep(pause)
    except (FetchCancelled, KeyboardInterrupt):
        how = "cancelled"
    except ApifonicaError as exc:
        exc.frame = _finish(observed, sid, requests, final, "failed")  # type: ignore[attr-defined]
        raise
    if view is not None and how != "final":  # a final status was shown in the loop
        view.update(_rows(observed), requests, how)
    return _finish(observed, sid, requests, final, how)


def _finish(
    observed: list[list[Any]], sid: str, requests: int, final: bool, how: str
) -> pd.DataFrame:
    df = _frame(observed)
    df.attrs.update(
        call_sid=sid,
        requests=requests,
        final=final,
        timed_out=how == "timed out",
        cancelled=how == "cancelled",
    )
    return df
