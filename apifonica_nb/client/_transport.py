"""The one HTTP boundary: the session, the one retry policy, and the attempt loop.

Nothing else in the package talks HTTP. ``requests``/``urllib3`` failures become
:mod:`apifonica_nb.errors` here, raised outside any ``except`` block, so they chain nothing: a
chained requests error would keep the request (with its Authorization header) and the body
(which may echo the token) reachable from the exception a notebook shows or reports.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InvalidHeader, MaxRetryError, ResponseError
from urllib3.util import Retry

from ..errors import ApifonicaError, ConfigurationError
from ._answers import (
    Answer,
    Redactor,
    foreign_url_error,
    not_json_error,
    status_error,
    transport_error,
)
from ._cancel import Stop, cancelled
from ._config import BACKOFF_MAX, RETRY_STATUSES
from ._throttle import Throttle

logger = logging.getLogger("apifonica_nb")

#: requests failures worth another attempt: no answer, a timeout, a body cut off mid-read.
#: (An SSL error, an invalid URL or too many redirects will not mend by asking again.)
_RETRYABLE = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


#: ``Retry-After`` in decimal seconds, as sub-second rate limits send it ("0.020").
_DECIMAL_SECONDS = re.compile(r"\s*(\d{1,9}\.\d{1,6})\s*")


def _checked(name: str, value: float, *, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigurationError(f"{name} must be a number >= 0, got {value!r}")
    if integer and not isinstance(value, int):
        raise ConfigurationError(f"{name} must be a whole number >= 0, got {value!r}")
    return value


class Transport:
    """GET JSON from one API origin with Basic auth, under one retry budget.

    The policy object is urllib3's :class:`~urllib3.util.Retry` (``total=max_retries``); it
    counts every failed attempt, whatever went wrong: a 429/500/502/503/504 (as the HTTP status
    or in an error envelope), a connection error, a timeout, a body cut off or not JSON. The
    mounted adapter itself never retries. Between attempts the loop sleeps once, on the stop
    flag (so a cancel wakes it): ``Retry-After`` when the server sends one, otherwise the
    policy's capped exponential backoff with jitter. Every attempt first passes the client's
    :class:`~._throttle.Throttle` (the shared gate and the adaptive rate), and reports its
    answer to it; a ``Retry-After`` the budget honours is then waited at the gate, by every
    worker at once, instead of in this loop.
    """

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        base_url: str,
        timeout: float | tuple[float, float],
        max_retries: int,
        backoff_factor: float,
        max_retry_wait: float,
        session: requests.Session | None,
        throttle: Throttle,
    ) -> None:
        self.account_sid = account_sid
        self.throttle = throttle
        self.redact = Redactor(account_sid, auth_token)
        self._auth = requests.auth.HTTPBasicAuth(account_sid, auth_token)
        parts = urlsplit(base_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.timeout = timeout
        self.max_retries = int(_checked("max_retries", max_retries, integer=True))
        self.max_retry_wait = float(_checked("max_retry_wait", max_retry_wait))
        backoff = float(_checked("backoff_factor", backoff_factor))
        self.policy = Retry(
            total=self.max_retries,
            connect=None,
            read=None,
            redirect=None,
            status=None,
            other=None,
            backoff_factor=backoff,
            backoff_max=min(BACKOFF_MAX, self.max_retry_wait),
            backoff_jitter=backoff,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET"}),
            respect_retry_after_header=True,
            raise_on_status=False,
            raise_on_redirect=False,
        )
        self._owns_session = session is None
        self.session = session if session is not None else requests.Session()
        self._pool_size = 0
        self._mount_lock = threading.Lock()
        self.ensure_pool(10)

    def __repr__(self) -> str:
        return f"Transport(origin={self.origin!r}, account_sid={self.account_sid!r})"

    def ensure_pool(self, size: int) -> None:
        """Mount (or re-mount, larger) the adapter for the API origin, ``size`` connections."""
        with self._mount_lock:
            if size <= self._pool_size:
                return
            adapter = HTTPAdapter(
                pool_connections=4,
                pool_maxsize=size,
                max_retries=Retry(total=0, read=False),  # the attempt loop retries, not urllib3
                pool_block=False,
            )
            self.session.mount(self.origin + "/", adapter)
            self._pool_size = size

    def close(self) -> None:
        """Close the pooled connections (only if this transport created the session)."""
        if self._owns_session:
            self.session.close()

    def worst_wait(self) -> float:
        """Return the most seconds one request sleeps between attempts when no answer carries
        ``Retry-After`` (each backoff at its largest jitter)."""
        total = 0.0
        retry = self.policy.new(backoff_jitter=0.0)
        for _ in range(self.max_retries):
            retry = retry.increment(method="GET", url="", error=ResponseError("worst case"))
            jitter = self.policy.backoff_jitter if len(retry.history) > 1 else 0.0
            total += min(retry.backoff_max, retry.get_backoff_time() + jitter)
        return total

    def get_json(
        self, url: str, *, what: str, stop: Stop, params: Mapping[str, str] | None = None
    ) -> Any:
        """GET ``url`` and return its JSON, or raise the matching ApifonicaError.

        The attempt loop: the one place that counts attempts and the one place that sleeps.
        Never starts a request once ``stop`` is set (it raises FetchCancelled instead).
        """
        if not url.startswith(self.origin + "/"):
            # Credentials go to the configured origin only, whatever a response says.
            raise foreign_url_error(url, self.origin, self.redact)
        retry = self.policy
        attempts = 0
        throttle = self.throttle
        while True:
            sent = throttle.before_send(stop)
            if sent is None or not stop.may_send():
                raise cancelled(what)
            attempts += 1
            got = self._exchange(url, params)
            if isinstance(got, Answer) and got.is_json and got.error_status() is None:
                throttle.after_answer(sent, refused=False)
                return got.data
            verdict = self._judge(got, url=url, what=what, attempts=attempts)
            if isinstance(got, Answer):
                honoured = verdict.wait if verdict.retry else None
                # "Retry-After: 0" asks for no wait: a stray 429, not the account's limit.
                refused = got.error_status() == 429 and verdict.wait != 0
                throttle.after_answer(sent, refused=refused, retry_after=honoured)
            retry_next = _increment(retry, url, verdict.error) if verdict.retry else None
            if retry_next is None:
                raise verdict.error
            retry = retry_next
            if verdict.wait and throttle.adaptive:
                delay = 0.0  # the gate holds every worker until then, this one included
            else:
                delay = verdict.wait if verdict.wait else retry.get_backoff_time()
            logger.debug(
                "GET %s: %s; retrying in %.2f s (attempt %d of %d)",
                self.redact(url),
                type(verdict.error).__name__,
                delay,
                attempts + 1,
                self.max_retries + 1,
            )
            if stop.wait(delay):
                raise cancelled(what)

    def _judge(
        self, got: Answer | requests.RequestException, *, url: str, what: str, attempts: int
    ) -> _Verdict:
        """Say what a failed attempt means: its error, whether to retry, and any wait asked."""
        if isinstance(got, requests.RequestException):
            unanswered = transport_error(
                url,
                got,
                attempts=attempts,
                origin=self.origin,
                timeout=self.timeout,
                redact=self.redact,
            )
            mends = not isinstance(got, requests.exceptions.SSLError)
            return _Verdict(unanswered, retry=mends and isinstance(got, _RETRYABLE))
        status = got.error_status()
        if status is None:  # a 2xx/3xx whose body is cut off or not JSON
            return _Verdict(not_json_error(got, what=what, attempts=attempts, redact=self.redact))
        retry_after = self._retry_after(got)
        error = status_error(
            got,
            status,
            what=what,
            account_sid=self.account_sid,
            retry_after=retry_after,
            redact=self.redact,
        )
        if not self.policy.is_retry("GET", status, has_retry_after=retry_after is not None):
            return _Verdict(error, retry=False)
        if retry_after is not None and retry_after > self.max_retry_wait:
            # Waiting that long would hang a notebook; say at once when to come back.
            return _Verdict(error, retry=False, wait=retry_after)
        return _Verdict(error, retry=True, wait=retry_after)

    def _retry_after(self, answer: Answer) -> float | None:
        """Return the seconds ``Retry-After`` asks for, or None (absent, or not readable)."""
        header = answer.headers.get("Retry-After")
        if not header:
            return None
        decimal = _DECIMAL_SECONDS.fullmatch(header)
        if decimal:  # "0.02": not RFC 9110 (whole seconds), but what a sub-second limit needs
            return float(decimal.group(1))
        try:  # a header that is neither seconds nor an HTTP date means: back off as usual
            return float(self.policy.parse_retry_after(header))
        except (InvalidHeader, ValueError, OverflowError):
            return None

    def _exchange(
        self, url: str, params: Mapping[str, str] | None
    ) -> Answer | requests.RequestException:
        """GET once and read the whole answer; a requests failure is returned, not raised."""
        started = time.perf_counter()
        try:
            resp = self.session.get(url, params=params, auth=self._auth, timeout=self.timeout)
        except requests.RequestException as exc:
            return exc
        body = resp.content
        try:
            data, is_json = resp.json(), True
        except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
            data, is_json = None, False
        logger.debug(
            "GET %s -> %s in %.3fs",
            self.redact(resp.url),
            resp.status_code,
            time.perf_counter() - started,
        )
        return Answer(
            status=resp.status_code,
            url=resp.url,
            reason=str(resp.reason or ""),
            headers=resp.headers,
            body=body,
            is_json=is_json,
            data=data,
        )


class _Verdict(NamedTuple):
    """What one failed attempt means."""

    error: ApifonicaError
    retry: bool = True
    #: Seconds the server asked to wait (Retry-After), if it did.
    wait: float | None = None


def _increment(retry: Retry, url: str, error: ApifonicaError) -> Retry | None:
    """Count one failed attempt on the policy; None when the budget is spent."""
    try:
        return retry.increment(method="GET", url=url, error=ResponseError(type(error).__name__))
    except MaxRetryError:
        return None
