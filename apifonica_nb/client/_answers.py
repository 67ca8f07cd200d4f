"""What an answer means: its error envelope, the ApifonicaError it maps to, and redaction.

Every message built here says what happened and what to do, and goes through
:class:`Redactor` first, so no form of the auth token reaches an exception, a failure row or a
log line.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from urllib3.exceptions import ReadTimeoutError

from ..errors import (
    APIStatusError,
    AuthenticationError,
    NotFoundError,
    RateLimitedError,
    ResponseFormatError,
    TransportError,
)
from ._config import ENV_SID, ENV_TOKEN

_EXCERPT_CHARS = 200
_STATUS_TEXT = re.compile(r"\s*[0-9]{3}\s*")


class Redactor:
    """Mask the auth token in every form a server could echo it back in."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        basic = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        # As is, URL-encoded, and inside the Basic credentials (base64 of "sid:token" is as
        # good as the token).
        self._secrets = tuple(dict.fromkeys((auth_token, quote(auth_token, safe=""), basic)))

    def __repr__(self) -> str:
        return "Redactor(***)"

    def __call__(self, text: str) -> str:
        """Return ``text`` with the token masked as ``***``."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def excerpt(self, body: bytes) -> str:
        """Return the first characters of ``body``, decoded leniently and masked."""
        text = self(body[: _EXCERPT_CHARS * 4].decode("utf-8", errors="replace"))
        return text[:_EXCERPT_CHARS] + ("…" if len(text) > _EXCERPT_CHARS else "")


@dataclass(frozen=True)
class Answer:
    """One HTTP answer, read to the end (no reference to the request and its credentials)."""

    status: int
    url: str
    reason: str
    headers: Mapping[str, str]
    body: bytes
    #: Whether ``body`` parsed as JSON; ``data`` is the parsed value.
    is_json: bool
    data: Any = None

    def error_status(self) -> int | None:
        """Return the error status this answer stands for, or None when it is no error.

        An error envelope (``{"status_code": 404, "status_message": "NOT FOUND"}``, the code an
        integer or a numeric string from 400 to 599) is the error it names, whatever the HTTP
        status; otherwise any HTTP status >= 400 is.
        """
        enveloped = envelope_status(self.data) if self.is_json else None
        if enveloped is not None:
            return enveloped
        return self.status if self.status >= 400 else None


def envelope_status(data: Any) -> int | None:
    """Return the error code of an API error envelope, or None if ``data`` is not one."""
    if not isinstance(data, dict):
        return None
    code = data.get("status_code")
    if isinstance(code, str) and _STATUS_TEXT.fullmatch(code):
        code = int(code)
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        return code
    return None


def _host_of(url: str) -> str:
    """Return ``host[:port]`` of a URL, without any user or password it may carry."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # "http://[::1", a port out of range
        return "an unparseable URL"
    host = parts.hostname or "?"
    return f"{host}:{port}" if port else host


def foreign_url_error(url: str, origin: str, redact: Redactor) -> ResponseFormatError:
    """Return the error for a URL outside the API's origin (it never gets the credentials)."""
    return ResponseFormatError(
        f"Refusing to send the account's credentials to {_host_of(url)!r}: "
        f"the API pointed at a URL outside {origin}",
        url=redact(url),
    )


def status_error(
    answer: Answer,
    status: int,
    *,
    what: str,
    account_sid: str,
    retry_after: float | None,
    redact: Redactor,
) -> APIStatusError:
    """Map an error status (HTTP or enveloped) to the matching APIStatusError subclass."""
    excerpt = redact.excerpt(answer.body)
    url = redact(answer.url)
    common: dict[str, Any] = {"status_code": status, "url": url, "body_excerpt": excerpt}
    if status != answer.status:
        said = redact(str(answer.data.get("status_message") or ""))[:60]
        how = f"{status} {said}".strip() + f" in its error envelope, with HTTP {answer.status}"
    else:
        how = f"HTTP {status}"
    if status in (401, 403):
        return AuthenticationError(
            f"The API refused the credentials of account {account_sid} ({how}). Check the "
            f"account SID and auth token ({ENV_SID} / {ENV_TOKEN}) and that the account is "
            "active.",
            **common,
        )
    if status == 404:
        return NotFoundError(
            f"{what[:1].upper()}{what[1:]} was not found in account {account_sid} ({how}). "
            "Check the SID, and that it belongs to this account.",
            **common,
        )
    if status == 429:
        when = (
            f"; the API asks to wait {retry_after:.0f} s before trying again"
            if retry_after is not None
            else "; wait a minute before trying again"
        )
        return RateLimitedError(
            f"The API is rate limiting this account ({how}) for {what}{when}. Fewer workers= "
            "spread the load.",
            retry_after=retry_after,
            **common,
        )
    if status >= 500:
        hint = "The API had a server error; it was retried, try again later."
    else:
        hint = "The API rejected the request."
    return APIStatusError(f"{how} for {what}: {excerpt or answer.reason}. {hint}", **common)


def not_json_error(
    answer: Answer, *, what: str, attempts: int, redact: Redactor
) -> ResponseFormatError:
    """Return the error for an answer whose body is not JSON, ``attempts`` times in a row."""
    ctype = answer.headers.get("Content-Type", "unknown")
    excerpt = redact.excerpt(answer.body)
    again = f", {attempts} times in a row" if attempts > 1 else ""
    return ResponseFormatError(
        f"The API answered HTTP {answer.status} for {what} with a body that is not valid JSON "
        f"({redact(ctype)[:80]}, {len(answer.body)} bytes; starts {excerpt!r}){again}. A proxy "
        "error page or a cut-off response; try again later.",
        url=redact(answer.url),
        status_code=answer.status,
        body_excerpt=excerpt,
    )


def transport_error(
    url: str,
    exc: BaseException,
    *,
    attempts: int,
    origin: str,
    timeout: object,
    redact: Redactor,
) -> TransportError:
    """Return the TransportError for a request that got no (complete) answer."""
    timed_out = False
    cause: BaseException | None = exc
    while cause is not None and not timed_out:
        timed_out = isinstance(cause, requests.Timeout | ReadTimeoutError | TimeoutError)
        reason = getattr(cause, "reason", None)
        cause = reason if isinstance(reason, BaseException) else cause.__context__
    path = urlsplit(url).path
    if timed_out:
        message = (
            f"GET {redact(url)} timed out (timeout={timeout!r} s, {attempts} attempts). The API "
            "is slow or unreachable: try again later, or pass a larger timeout= to Client."
        )
    elif isinstance(exc, requests.exceptions.ChunkedEncodingError):
        message = (
            f"The connection to {origin} broke while the answer to GET {path} was being read "
            f"({attempts} attempts). The network or a proxy cut the response short; try again "
            "later."
        )
    else:
        detail = redact(str(exc).split("(Caused by ")[-1].rstrip(")"))[:200]
        message = (
            f"Could not get an answer from {origin} for GET {path} after {attempts} attempts "
            f"({detail}). Check the network and base_url, then retry."
        )
    return TransportError(message, url=redact(url))


def _shown(value: Any, redact: Redactor) -> str:
    return redact(repr(value))[:80]


def check_call(
    data: Any,
    *,
    account_sid: str,
    url: str,
    redact: Redactor,
    call_sid: str | None = None,
) -> dict[str, Any]:
    """Return ``data`` if it is a call object of this account (and the call asked for).

    ``call_sid`` is the SID asked for (None for a history item, which needs some SID). A body
    that describes another call or another account is a ResponseFormatError: it is never
    handed on as if it were the call.
    """
    where = f"call {call_sid}" if call_sid is not None else "a call in the history"
    if not isinstance(data, dict):
        got = type(data).__name__
        raise ResponseFormatError(
            f"The API answered a JSON {got} for {where}, where a call object belongs. Retry "
            "later; if it persists, report it to Apifonica.",
            url=redact(url),
        )
    got_sid = data.get("call_sid")
    if not isinstance(got_sid, str) or not got_sid.strip():
        raise ResponseFormatError(
            f"The API's answer for {where} has no call_sid (got {_shown(got_sid, redact)}), so "
            "it is not a call object; it was not used. Retry later; if it persists, report it "
            "to Apifonica.",
            url=redact(url),
        )
    if call_sid is not None and got_sid != call_sid:
        raise ResponseFormatError(
            f"The API answered call {_shown(got_sid, redact)} when call {call_sid} was asked "
            "for; the answer was not used. Retry later; if it persists, report it to Apifonica.",
            url=redact(url),
        )
    check_account(data, account_sid=account_sid, url=url, redact=redact, where=where)
    return data


def check_account(
    data: dict[str, Any], *, account_sid: str, url: str, redact: Redactor, where: str
) -> None:
    """Raise ResponseFormatError if ``data`` names an account other than the client's."""
    got = data.get("account_sid")
    if got is not None and got != account_sid:
        raise ResponseFormatError(
            f"The API's answer for {where} belongs to account {_shown(got, redact)}, not to "
            f"this client's account {account_sid}; it was not used. Check base_url and the "
            "account SID; if they are right, report it to Apifonica.",
            url=redact(url),
        )
