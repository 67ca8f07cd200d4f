"""Calls placed on the sandbox: ``POST /accounts/{sid}/calls`` and their lifecycle in real time.

A placed call starts ``queued`` and moves on every ``step_seconds`` of real time (measured with a
monotonic clock, so it moves even when the sandbox clock is frozen; its dates are the sandbox
clock at placement plus the real seconds since)::

    completed                       queued -> initiated -> ringing -> answered -> completed
    busy, rejected, no_answer,      queued -> initiated -> ringing -> (outcome)
    canceled
    failed                          queued -> initiated -> failed

``answered`` lasts ``talk_seconds`` (default two steps). When it ends the call gets ``ended``,
``duration`` (created -> ended, as the seeded calls), ``price`` (0.05 EUR a minute; 0.0 if
unanswered) and, with ``record=True`` and a completed call, a ``record_sid`` whose recording
the recordings endpoints then serve. Placed calls are served by ``GET .../calls/{callSID}``
and head the history listing (they are the newest calls), matched by its filters like any
other; ``Sandbox.call_sids`` lists the seeded calls only.

The request body is the vendor's (``from``, ``to``, ``call_app_sid``, ``events``) plus the
sandbox's own knobs ``outcome``, ``step_seconds``, ``talk_seconds`` and ``record``; the answer
is the documented ``201`` envelope ``{"status_code": 201, "status_message": "CREATED", "uri":
"/v2/accounts/{sid}/calls/{callSID}"}``. :func:`place_call` sends that request (it is what
``Sandbox.place_call`` does), so a thread sandbox and a process sandbox behave alike.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import numpy as np

from apifonica_nb.sandbox.data import FINAL_STATUSES, CallFilter, format_rfc2822

__all__ = ["OUTCOMES", "PlacedCalls", "place_call"]

#: The outcomes a placed call can end with (every final status of the vendor).
OUTCOMES: tuple[str, ...] = ("completed", "no_answer", "canceled", "busy", "rejected", "failed")
_RATE_PER_MINUTE = 0.05
#: The call object's fields in the order the seeded calls have them.
_FIELDS = (
    *("call_sid", "parent_call_sid", "created", "account_sid", "from", "to", "direction"),
    *("status", "controller", "method", "timeout", "updated", "started", "ended", "duration"),
    *("price", "record_sid", "tag", "channel", "number_sid"),
)
_MAX_STEP = 60.0


class _Handle(Protocol):
    url: str
    account_sid: str
    auth_token: str


@dataclass(frozen=True)
class _Placed:
    """One placed call: what creation fixed and its plan (offsets in real seconds)."""

    static: dict[str, Any]
    created: float  # sandbox epoch at placement
    started_mono: float
    plan: tuple[tuple[str, float], ...]  # (status, from offset), in order
    answered: float | None  # offset of "answered", None if never
    end: float  # offset of the final status
    record_sid: str | None


def _digits(body: Mapping[str, Any], key: str) -> str:
    raw = body.get(key)
    text = raw.strip().lstrip("+") if isinstance(raw, str) else ""
    if not (text.isdigit() and 1 <= len(text) <= 15 and text[0] != "0"):
        raise ValueError(f"{key!r} must be an E.164 number (digits, + optional), got {raw!r}")
    return text


def _seconds(body: Mapping[str, Any], key: str, default: float, top: float) -> float:
    raw = body.get(key, default)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 < raw <= top:
        raise ValueError(f"{key!r} must be a number of seconds above 0 and at most {top}")
    return float(raw)


class PlacedCalls:
    """The calls placed on one sandbox account, answered as they are at request time."""

    def __init__(self, account_sid: str, *, clock: Callable[[], float]) -> None:
        self.account_sid = account_sid
        self._clock = clock
        self._lock = threading.Lock()
        self._calls: dict[str, _Placed] = {}
        self._order: list[_Placed] = []  # placement order: id -(n + 1) is the n-th

    def place(self, body: Mapping[str, Any]) -> str:
        """Create a call from a request body (see the module docstring); return its SID.

        Raises ValueError, with what to send instead, for a body the sandbox refuses.
        """
        to, from_ = _digits(body, "to"), _digits(body, "from")
        outcome = body.get("outcome", "completed")
        if outcome not in FINAL_STATUSES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
        step = _seconds(body, "step_seconds", 2.0, _MAX_STEP)
        talk = _seconds(body, "talk_seconds", 2 * step, 3600.0)
        statuses = ["queued", "initiated"]
        if outcome != "failed":
            statuses.append("ringing")
        if outcome == "completed":
            statuses.append("answered")
        plan = tuple((s, i * step) for i, s in enumerate(statuses))
        answered = plan[-1][1] if outcome == "completed" else None
        end = plan[-1][1] + (talk if outcome == "completed" else step)
        with self._lock:
            n = len(self._calls)
            sid = "cal" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.account_sid}/placed/{n}"))
            record = bool(body.get("record")) and outcome == "completed"
            rec = "rec" + str(uuid.uuid5(uuid.NAMESPACE_URL, sid)) if record else None
            static = {
                "call_sid": sid,
                "parent_call_sid": None,
                "account_sid": self.account_sid,
                "from": from_,
                "to": to,
                "direction": "outbound",
                "controller": None,
                "method": "POST",
                "timeout": 30,
                "tag": body.get("tag") if isinstance(body.get("tag"), str) else None,
                "channel": "number",
                "number_sid": None,
            }
            self._calls[sid] = _Placed(
                static=static,
                created=self._clock(),
                started_mono=time.monotonic(),
                plan=(*plan, (str(outcome), end)),
                answered=answered,
                end=end,
                record_sid=rec,
            )
            self._order.append(self._calls[sid])
        return sid

    def record(self, call_sid: str) -> dict[str, Any] | None:
        """Return a placed call as it is now, or None if no such call was placed."""
        with self._lock:
            placed = self._calls.get(call_sid)
        return None if placed is None else _render(placed)

    def matching(self, flt: CallFilter) -> np.ndarray:
        """Return the ids (-1 for the first placed, -2 ...) of the placed calls that match
        the history filter ``flt`` now, newest first."""
        with self._lock:
            placed = list(self._order)
        keep = [-(n + 1) for n in range(len(placed) - 1, -1, -1) if _matches(placed[n], flt)]
        return np.array(keep, dtype=np.int64)

    def call_bytes(self, placed_id: int) -> bytes:
        """Return the JSON of the placed call with id ``placed_id`` (see :meth:`matching`)."""
        with self._lock:
            placed = self._order[-placed_id - 1]
        return json.dumps(_render(placed), separators=(",", ":")).encode()

    def billed(self, now: float) -> list[dict[str, Any]]:
        """Return the placed calls that carry a recording by now (for the recordings)."""
        with self._lock:
            placed = [p for p in self._calls.values() if p.record_sid]
        return [r for r in map(_render, placed) if r["record_sid"]]


def _matches(p: _Placed, flt: CallFilter) -> bool:
    rec, created = _render(p), int(p.created)
    return (
        (flt.status is None or rec["status"] in flt.status)
        and flt.direction in (None, rec["direction"])
        and flt.channel in (None, rec["channel"])
        and flt.tag in (None, rec["tag"])
        and flt.from_ in (None, rec["from"])
        and flt.to in (None, rec["to"])
        and (flt.created_from is None or created >= flt.created_from)
        and (flt.created_before is None or created < flt.created_before)
    )


def _render(p: _Placed) -> dict[str, Any]:
    elapsed = time.monotonic() - p.started_mono
    status, changed = p.plan[0]
    for name, offset in p.plan:
        if elapsed >= offset:
            status, changed = name, offset
    created, updated, started, ended = format_rfc2822(
        np.array([p.created, p.created + changed, p.created + (p.answered or 0), p.created + p.end])
    )
    final = elapsed >= p.end
    duration = int(p.end) if final and p.answered is not None else 0
    rec = dict(p.static)
    rec.update(
        created=created,
        updated=updated,
        status=status,
        started=started if final and p.answered is not None else None,
        ended=ended if final else None,
        duration=duration if final else None,
        price=round(_RATE_PER_MINUTE * duration / 60, 4) if final else None,
        record_sid=p.record_sid if final else None,
    )
    return {k: rec[k] for k in _FIELDS}


def place_call(
    sandbox: _Handle, *, to: str, from_: str, outcome: str = "completed", **options: Any
) -> str:
    """POST a call to the sandbox (``options``: ``step_seconds``, ``talk_seconds``, ``record``,
    ``call_app_sid``, ``events``, ``tag``) and return the SID its 201 envelope's ``uri`` names.

    Raises ValueError with the sandbox's message when it refuses the call.
    """
    body = {"from": from_, "to": to, "outcome": outcome, **options}
    url = f"{sandbox.url}/accounts/{quote(sandbox.account_sid, safe='')}/calls"
    creds = f"{sandbox.account_sid}:{sandbox.auth_token}".encode()
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": "Basic " + base64.b64encode(creds).decode(),
            "Content-Type": "application/json",
        },
    )
    # Loopback only: never send it through a configured HTTP proxy.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:  # an HTTPError holds the open response: close it, or its socket leaks
            detail = json.loads(exc.read() or b"{}").get("message", exc.reason)
        raise ValueError(f"the sandbox refused the call ({exc.code}): {detail}") from None
    return str(answer["uri"]).rsplit("/", 1)[-1]
