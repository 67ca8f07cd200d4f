"""The API's routes over the sandbox account: calls, recordings, paging cursors.

See :mod:`apifonica_nb.sandbox.server` for the routes and the choices where the vendor is silent.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, quote

import numpy as np

from apifonica_nb.sandbox.data import Account, CallFilter
from apifonica_nb.sandbox.faults import PAGE as _PAGE
from apifonica_nb.sandbox.live import PlacedCalls
from apifonica_nb.sandbox.recordings import Recordings, synthetic_wav

__all__ = ["Response", "Routes", "error", "ok"]

_MAX_CURSORS = 100_000
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_JSON = [("Content-Type", "application/json")]
_Response = tuple[int, list[tuple[str, str]], bytes]
_StartResponse = Callable[..., Any]

Response = _Response


def _error(status: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> _Response:
    """Build the JSON error envelope the API's write operations use."""
    phrase = HTTPStatus(status).phrase.upper()
    body = {"status_code": status, "status_message": phrase, "message": message}
    return status, [*_JSON, *headers], json.dumps(body).encode()


def _ok(body: bytes) -> _Response:
    return 200, list(_JSON), body


class _BadRequest(Exception):
    """A query parameter is invalid (answered with 400)."""


class _Cursors:
    """Opaque ``next``/``prev`` cursors: id -> (kind, rows, offset, limit), newest kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[int, tuple[str, np.ndarray, int, int]] = OrderedDict()
        self._next_id = 4771  # the vendor's example cursor; only ever grows

    def add(self, kind: str, rows: np.ndarray, offset: int, limit: int) -> int:
        with self._lock:
            cid = self._next_id
            self._next_id += 1
            self._items[cid] = (kind, rows, offset, limit)
            if len(self._items) > _MAX_CURSORS:
                self._items.popitem(last=False)
            return cid

    def get(self, kind: str, raw: str) -> tuple[np.ndarray, int, int]:
        with self._lock:
            item = self._items.get(int(raw)) if raw.isdigit() else None
        if item is None or item[0] != kind:
            raise _BadRequest(f"the paging cursor {raw!r} is unknown or expired; start again")
        return item[1], item[2], item[3]


error, ok = _error, _ok


class Routes:
    """Answer the authenticated ``/v2/accounts/...`` requests from the account's data."""

    def __init__(
        self,
        account: Account,
        *,
        clock: Callable[[], float],
        faults_opt: Callable[[str], Any],
    ) -> None:
        self.account = account
        self.clock = clock
        self._faults_opt = faults_opt
        self._cursors = _Cursors()
        self.placed = PlacedCalls(account.account_sid, clock=clock)
        self.recordings = Recordings(account, extra=self._billed)

    def _billed(self, now: float) -> list[dict[str, Any]]:
        """Calls outside the seeded recordings that carry a recording at ``now``."""
        acc = self.account
        live = [acc.call_record(int(r), now) for r in acc.live.rows.tolist()]
        return [c for c in live if c["record_sid"]] + self.placed.billed(now)

    def _place(self, environ: dict[str, Any]) -> _Response:
        """Answer ``POST .../calls``: place a live call (see :mod:`apifonica_nb.sandbox.live`)."""
        try:
            body = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
            sid = self.placed.place(body if isinstance(body, dict) else {})
        except ValueError as exc:  # json.JSONDecodeError is a ValueError too
            return _error(400, f"Cannot place the call: {exc}")
        uri = f"/v2/accounts/{quote(self.account.account_sid, safe='')}/calls/{sid}"
        body = {"status_code": 201, "status_message": "CREATED", "uri": uri}
        return 201, [*_JSON, ("Location", uri)], json.dumps(body).encode()

    def api(self, environ: dict[str, Any], path: str) -> _Response:
        """Answer an authenticated API request."""
        parts = path.rstrip("/").split("/")  # "", "v2", "accounts", sid, ...
        if len(parts) < 4 or len(parts) > 6 or parts[2] != "accounts":
            return _error(404, f"No such resource: {path}")
        acc = self.account
        if parts[3] != acc.account_sid:
            return _error(404, f"Account {parts[3]} was not found")
        method = environ.get("REQUEST_METHOD")
        if method == "POST" and len(parts) == 5 and parts[4] == "calls":
            return self._place(environ)
        if method not in ("GET", "HEAD"):
            allow = "GET, HEAD, POST" if parts[4:] == ["calls"] else "GET, HEAD"
            return _error(405, f"This resource answers {allow} only", [("Allow", allow)])
        try:
            if len(parts) == 4:
                return _ok(json.dumps(acc.account_record()).encode())
            if parts[4] == "calls":
                return self._calls(environ, parts)
            if parts[4] == "recordings":
                return self._recordings(environ, parts)
        except _BadRequest as exc:
            return _error(400, str(exc))
        return _error(404, f"No such resource: {path}")

    def _calls(self, environ: dict[str, Any], parts: list[str]) -> _Response:
        acc = self.account
        if len(parts) == 6:
            row = acc.index.get(parts[5])
            placed = self.placed.record(parts[5]) if row is None else None
            if placed is not None:
                return _ok(json.dumps(placed, separators=(",", ":")).encode())
            if row is None:
                return _error(404, f"Call {parts[5]} was not found in account {acc.account_sid}")
            return _ok(acc.call_bytes(row, self.clock()))
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        if "next" in query:
            rows, offset, limit = self._cursors.get("calls", query["next"])
        else:
            flt, now = _parse_filter(query), self.clock()
            # Placed calls are the newest: they head the history, as ids below 0.
            rows = np.concatenate([self.placed.matching(flt), acc.select(flt, now)])
            offset, limit = 0, _limit(query)
        now = self.clock()
        page = [
            acc.call_bytes(r, now) if r >= 0 else self.placed.call_bytes(r)
            for r in rows[offset : offset + limit].tolist()
        ]
        # New calls arriving at the head push an offset cursor's next page back by as many.
        again = min(int(self._faults_opt("arrivals_per_page")), limit - 1)
        prev_uri, next_uri = self._links(environ, "calls", rows, offset, limit, again=again)
        head = f'{{"limit":{limit},"prev":{prev_uri},"next":{next_uri},"calls":['
        return _ok(head.encode() + b",".join(page) + b"]}")

    def _links(
        self,
        environ: dict[str, Any],
        kind: str,
        rows: np.ndarray,
        offset: int,
        limit: int,
        *,
        again: int = 0,
    ) -> tuple[str, str]:
        """Return the JSON values of ``prev`` and ``next``: absolute cursor URLs or null
        (``next`` lists the last ``again`` rows of this page again)."""
        host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
        base = f"{environ.get('wsgi.url_scheme', 'http')}://{host}/v2/accounts/"
        base += f"{quote(self.account.account_sid, safe='')}/{kind}?next="
        links = []
        for start, exists in (
            (offset - limit, offset > 0),
            (offset + limit - again, offset + limit < len(rows)),
        ):
            if exists:
                links.append(
                    json.dumps(base + str(self._cursors.add(kind, rows, max(0, start), limit)))
                )
            else:
                links.append("null")
        return links[0], links[1]

    def _recordings(self, environ: dict[str, Any], parts: list[str]) -> _Response:
        acc, now = self.account, self.clock()
        host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
        base = f"{environ.get('wsgi.url_scheme', 'http')}://{host}/v2/accounts/"
        base += f"{quote(acc.account_sid, safe='')}/recordings/"
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        ext = ".mp3" if query.get("format", "").strip().lower() == "mp3" else ".wav"

        def item(rec: dict[str, Any]) -> dict[str, Any]:
            return {**rec, "rec_url": f"{base}{rec['record_sid']}{ext}"}

        if len(parts) == 6:
            rid = parts[5]
            found = self.recordings.get(rid.removesuffix(".wav").removesuffix(".mp3"), now)
            if found is None:
                return _error(404, f"Recording {rid} was not found in account {acc.account_sid}")
            if rid.endswith(".mp3"):
                return _error(400, "The sandbox synthesises WAV audio only: ask for the .wav")
            if rid.endswith(".wav"):
                return 200, [("Content-Type", "audio/wav")], synthetic_wav(found["record_sid"])
            return _ok(json.dumps(item(found)).encode())
        if "next" in query:
            rows, offset, limit = self._cursors.get("recordings", query["next"])
        else:
            date_to = _day(query, "date_to")
            rows = self.recordings.rows(
                now,
                call_sid=query.get("call_sid", "").strip() or None,
                since=_day(query, "date_from"),
                before=None if date_to is None else date_to + 86400,
            )
            offset, limit = 0, _limit(query)
        page = [item(self.recordings.item(i)) for i in rows[offset : offset + limit].tolist()]
        prev_uri, next_uri = self._links(environ, "recordings", rows, offset, limit)
        head = f'{{"limit":{limit},"prev":{prev_uri},"next":{next_uri},"recordings":'
        return _ok(head.encode() + json.dumps(page).encode() + b"}")


def _limit(query: Mapping[str, str]) -> int:
    """Parse ``limit``: default and maximum 20, a non-integer or < 1 is a 400."""
    raw = query.get("limit", "").strip()
    if not raw:
        return _PAGE
    if not raw.isdigit() or int(raw) < 1:
        raise _BadRequest(f"limit must be a whole number from 1 to {_PAGE}, got {raw!r}")
    return min(int(raw), _PAGE)


def _day(query: Mapping[str, str], key: str) -> int | None:
    """Parse a ``YYYY-MM-DD`` query value to the epoch second of that UTC midnight."""
    raw = query.get(key, "").strip()
    if not raw:
        return None
    try:
        if not _DATE.fullmatch(raw):
            raise ValueError
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise _BadRequest(f"{key} must be a date as YYYY-MM-DD, got {raw!r}") from None
    return calendar.timegm(day.timetuple())


def _parse_filter(query: Mapping[str, str]) -> CallFilter:
    """Turn history query parameters into a :class:`CallFilter` (empty values mean "any")."""

    def text(key: str) -> str | None:
        value = query.get(key, "").strip()
        return value or None

    def number(key: str) -> str | None:
        # A "+" sent unencoded in a query string arrives as a space: accept both.
        value = query.get(key, "").strip().lstrip("+")
        return value or None

    status = text("status")
    date_to = _day(query, "date_to")
    return CallFilter(
        status=frozenset(s.strip() for s in status.split(",")) if status else None,
        direction=text("direction"),
        channel=text("channel"),
        tag=text("tag"),
        from_=number("from"),
        to=number("to"),
        created_from=_day(query, "date_from"),
        created_before=None if date_to is None else date_to + 86400,  # date_to is inclusive
    )
