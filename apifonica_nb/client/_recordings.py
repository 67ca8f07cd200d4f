"""Recordings: one recording's details, the recordings listing, and a recording's audio bytes.

Credentials go to the API's own origin only. A ``rec_url`` there (the sandbox's, and the
vendor's example: ``…/recordings/{recordSID}.wav``) is fetched with the account's Basic auth;
a ``rec_url`` on another origin (a storage host or CDN) is fetched **without** any credentials:
no Authorization header, not through the client's session (whose own auth or cookies could
leak), and over https only (plain http is refused outside loopback). Redirects are followed by
hand, at most three, and the same rule is applied again at every hop.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import requests

from ..errors import ResponseFormatError
from ._answers import Answer
from ._cancel import Stop, cancelled, run_in_worker
from ._paging import checked_next
from ._transport import Transport, _increment

__all__ = ["audio_kind", "check_recording", "iter_recordings", "read_audio", "recording_audio"]

_LISTING = "the recordings listing"
_MAX_HOPS = 3
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def check_recording(data: Any, *, record_sid: str | None, account_sid: str, url: str) -> dict:
    """Return ``data`` if it is a recording object of this account (and ``record_sid``)."""
    if not isinstance(data, dict) or not isinstance(data.get("record_sid"), str):
        raise ResponseFormatError(
            f"The recordings endpoint answered {type(data).__name__} without a record_sid, not "
            "the documented recording object; retry later, and report it if it persists.",
            url=url,
        )
    if record_sid is not None and data["record_sid"].strip() != record_sid:
        raise ResponseFormatError(
            f"Asked for recording {record_sid} but the API answered with "
            f"{data['record_sid'][:80]!r}; refusing to show another recording.",
            url=url,
        )
    other = data.get("account_sid")
    if other is not None and other != account_sid:
        raise ResponseFormatError(
            f"Recording {data['record_sid'][:80]!r} belongs to another account; refused.", url=url
        )
    return data


def iter_recordings(
    transport: Transport,
    url: str,
    params: dict[str, str],
    *,
    base_path: str,
    cancel: threading.Event | None,
) -> Iterator[dict[str, Any]]:
    """Yield every recording object of the listing, page by page, following ``next`` verbatim
    (relative and double-slash links resolve against the API; a link seen twice, or one
    carrying the token, stops it: the same checks as the calls history)."""
    current, query = url, params
    seen: set[str] = set()
    while True:
        if cancel is not None and cancel.is_set():
            raise cancelled(_LISTING)

        def fetch(stop: Stop, u: str = current, q: dict[str, str] = query) -> Any:
            return transport.get_json(u, params=q, what=_LISTING, stop=stop)

        page = run_in_worker(fetch, cancel=cancel, what=_LISTING)
        items = page.get("recordings") if isinstance(page, dict) else None
        if not isinstance(items, list):
            raise ResponseFormatError(
                "The recordings page is not the documented envelope {limit, prev, next, "
                "recordings: [...]}; retry later.",
                url=transport.redact(current),
            )
        acc = transport.account_sid
        yield from (check_recording(i, record_sid=None, account_sid=acc, url=url) for i in items)
        next_uri = page.get("next")
        if not next_uri:
            return
        resolved = checked_next(
            transport, base_path, current, next_uri, seen, listing="recordings listing"
        )
        seen.add(resolved)
        current, query = resolved, {}


def audio_kind(body: bytes) -> str | None:
    """Return ``"wav"`` or ``"mp3"`` when ``body`` starts like one, else None."""
    if body[:4] == b"RIFF" and body[8:12] == b"WAVE":
        return "wav"
    if body[:3] == b"ID3" or (len(body) > 1 and body[0] == 0xFF and body[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def recording_audio(
    transport: Transport,
    rec: dict[str, Any],
    *,
    fallback_url: str,
    format: str,
    cancel: threading.Event | None,
) -> bytes:
    """Return the audio of the recording object ``rec`` (its ``rec_url``, else
    ``fallback_url``), checked to be a ``format`` file."""
    sid, where = rec["record_sid"], rec.get("rec_url")
    url = where if isinstance(where, str) and where.startswith(("http://", "https://")) else ""
    url = url or fallback_url

    def fetch(stop: Stop) -> bytes:
        return read_audio(transport, url, what=f"recording {sid}", stop=stop)

    body = run_in_worker(fetch, cancel=cancel, what=f"recording {sid}")
    if audio_kind(body) != format:
        raise ResponseFormatError(
            f"The audio of recording {sid} is not a {format} file ({len(body)} bytes, "
            f"starting {body[:12]!r}); try format='wav', or report it to Apifonica.",
            url=transport.redact(url),
        )
    return body


def read_audio(transport: Transport, url: str, *, what: str, stop: Stop) -> bytes:
    """GET the audio at ``url`` under the one retry policy; credentials on the API origin only."""
    for _ in range(_MAX_HOPS + 1):
        answer = _attempts(transport, url, what=what, stop=stop)
        location = answer.headers.get("Location")
        if 300 <= answer.status < 400 and location:
            url = urljoin(answer.url, location)
            continue
        return answer.body
    raise ResponseFormatError(
        f"The audio of {what} redirected more than {_MAX_HOPS} times; stopping.",
        url=transport.redact(url),
    )


def _attempts(transport: Transport, url: str, *, what: str, stop: Stop) -> Answer:
    """The attempt loop of one audio request (the same policy and waits as JSON requests)."""
    own = url.startswith(transport.origin + "/")
    parts = urlsplit(url)
    if not own and (parts.scheme != "https" and parts.hostname not in _LOOPBACK):
        raise ResponseFormatError(
            f"The recording's audio is at {parts.scheme}://{parts.hostname}, not over https; "
            "refusing to fetch personal data in clear text.",
            url=transport.redact(url),
        )
    retry, attempts = transport.policy, 0
    while True:
        if not stop.may_send():
            raise cancelled(what)
        attempts += 1
        got = _exchange(transport, url, own=own)
        if isinstance(got, Answer) and got.error_status() is None:
            return got
        verdict = transport._judge(got, url=url, what=what, attempts=attempts)
        retry_next = _increment(retry, url, verdict.error) if verdict.retry else None
        if retry_next is None:
            raise verdict.error
        retry = retry_next
        if stop.wait(verdict.wait if verdict.wait else retry.get_backoff_time()):
            raise cancelled(what)


def _exchange(transport: Transport, url: str, *, own: bool) -> Answer | requests.RequestException:
    """GET once, without following redirects; the account's auth only on its own origin."""
    if transport.redact(unquote(url)) != unquote(url):
        return requests.exceptions.InvalidURL("the audio URL carries the auth token")
    try:
        if own:
            resp = transport.session.get(
                url, auth=transport._auth, timeout=transport.timeout, allow_redirects=False
            )
        else:
            with requests.Session() as bare:  # nothing of the client's session goes along
                bare.trust_env = False  # no netrc credentials for that host either ...
                bare.proxies = requests.utils.get_environ_proxies(url)  # ... but its proxy
                resp = bare.get(url, timeout=transport.timeout, allow_redirects=False)
    except requests.RequestException as exc:
        return exc
    headers: Mapping[str, str] = resp.headers
    ctype = headers.get("Content-Type", "")
    data, is_json = None, False
    if "json" in ctype:
        with contextlib.suppress(ValueError):
            data, is_json = resp.json(), True
    return Answer(
        status=resp.status_code,
        url=resp.url,
        reason=str(resp.reason or ""),
        headers=headers,
        body=resp.content,
        is_json=is_json,
        data=data,
    )
