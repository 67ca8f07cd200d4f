"""The HTTP client of the Apifonica calls API (requests + urllib3 retries).

Every ``requests``/``urllib3`` failure is translated into :mod:`apifonica_nb.errors` at one
boundary, :meth:`Client._request`; nothing else in the package talks HTTP.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import date, datetime
from typing import Any, NamedTuple, Self
from urllib.parse import quote, unquote, urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from tqdm.auto import tqdm
from urllib3.exceptions import InvalidHeader, MaxRetryError, ReadTimeoutError, ResponseError
from urllib3.util import Retry

from .errors import (
    ApifonicaError,
    APIStatusError,
    AuthenticationError,
    ConfigurationError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    ResponseFormatError,
    TransportError,
)

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_TIMEOUT", "CallBatch", "Client", "validate_call_sid"]

logger = logging.getLogger("apifonica_nb")

DEFAULT_BASE_URL = "https://api.apifonica.com/v2"
#: (connect, read) seconds, as requests takes them.
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)
#: Statuses worth retrying for an idempotent GET.
RETRY_STATUSES = (429, 500, 502, 503, 504)
#: The API pages 20 calls at a time and refuses more.
PAGE_LIMIT = 20
MAX_SID_LENGTH = 256
#: Extra tries (at most; never more than ``max_retries``) for a 2xx answer whose body was cut
#: off or is not JSON. urllib3 retries only what it sees before it hands the response over
#: (statuses, refused or dropped connections); a body that breaks while it is read, or that
#: turns out not to parse, is past its reach, yet a paged history must not die of one.
BODY_RETRIES = 2
_EXCERPT_CHARS = 200
# Opaque, but in practice a type prefix plus a UUID-like body. Anything that could change the
# URL's meaning (/ ? # % whitespace, "..") is refused before a request is made.
_SID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
_ENV_SID = "APIFONICA_ACCOUNT_SID"
_ENV_TOKEN = "APIFONICA_AUTH_TOKEN"
_ENV_URL = "APIFONICA_BASE_URL"


class CallBatch(NamedTuple):
    """What :meth:`Client.get_calls` returns: the call dicts in input order, and the failures."""

    records: list[dict[str, Any]]
    #: One dict per call that could not be fetched: ``call_sid``, ``error``, ``message``.
    failures: list[dict[str, Any]]


class _Retry(Retry):
    """urllib3's Retry, but a ``Retry-After`` longer than ``max_retry_wait`` ends the retries.

    urllib3 would sleep for whatever the server asks; a notebook user is better served by a
    :class:`RateLimitedError` at once that says when to come back.
    """

    def __init__(self, *args: Any, max_retry_wait: float = 60.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_retry_wait = max_retry_wait

    def new(self, **kw: Any) -> Self:
        kw.setdefault("max_retry_wait", self.max_retry_wait)
        return super().new(**kw)

    def parse_retry_after(self, retry_after: str) -> float:
        """Parse ``Retry-After``; a value that is neither seconds nor an HTTP date means 0.

        urllib3 raises InvalidHeader (or ValueError, for thousands of digits) from inside its
        retry loop, which would turn a plain 429 into "no answer"; backing off normally is the
        tolerant reading of a header nobody documents.
        """
        try:
            return super().parse_retry_after(retry_after)
        except (InvalidHeader, ValueError, OverflowError):
            return 0.0

    def increment(
        self, method: Any = None, url: Any = None, response: Any = None, *args: Any, **kwargs: Any
    ) -> Self:
        if response is not None and self.respect_retry_after_header:
            header = response.headers.get("Retry-After")
            if header:
                wait_s = self.parse_retry_after(header)
                if wait_s > self.max_retry_wait:
                    # With raise_on_status=False urllib3 hands back this very response.
                    raise MaxRetryError(
                        kwargs.get("_pool"),  # type: ignore[arg-type]
                        url or "",
                        ResponseError(f"Retry-After {wait_s:.0f}s exceeds the retry budget"),
                    )
        return super().increment(method, url, response, *args, **kwargs)


def validate_call_sid(call_sid: object, *, what: str = "call_sid") -> str:
    """Return ``call_sid`` stripped of surrounding whitespace, or raise InvalidRequestError.

    Refused before any request: non-strings, empty or blank strings, more than 256 characters,
    and anything with characters that could change the URL (``/ ? # %``, spaces, control
    characters, ``..``).
    """
    if not isinstance(call_sid, str):
        raise InvalidRequestError(
            f"{what} must be a string such as 'cal…', got {type(call_sid).__name__}"
        )
    sid = call_sid.strip()
    if not sid:
        raise InvalidRequestError(f"{what} is empty; pass the SID shown in the call history")
    if len(sid) > MAX_SID_LENGTH:
        raise InvalidRequestError(
            f"{what} is {len(sid)} characters long; SIDs are at most {MAX_SID_LENGTH}"
        )
    if not _SID_RE.fullmatch(sid) or ".." in sid:
        shown = sid if len(sid) <= 60 else sid[:57] + "..."
        raise InvalidRequestError(
            f"{what} {shown!r} has characters no SID has (only letters, digits, '-', '_', "
            "'.', ':' are allowed); check for a pasting mistake"
        )
    return sid


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_base_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"base_url {base_url!r} is not an http(s) URL; the default is {DEFAULT_BASE_URL!r}"
        )
    if parts.username or parts.password:
        raise ConfigurationError(
            "base_url must not carry credentials; pass account_sid= and auth_token= instead"
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigurationError(
            f"base_url {base_url!r} uses plain http to a non-local host, which would send the "
            "auth token in clear text; use https (http is allowed only for 127.0.0.1/localhost)"
        )
    return base_url.rstrip("/")


def _query_value(value: Any) -> str:
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(_query_value(v) for v in value)
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


class Client:
    """A client of one Apifonica account.

    Parameters are keyword-only. ``timeout`` is requests' ``(connect, read)`` seconds.
    Idempotent GETs are retried ``max_retries`` times on 429/500/502/503/504 and on connection
    errors, with capped exponential backoff plus jitter, honouring ``Retry-After`` (a wait longer
    than ``max_retry_wait`` seconds raises :class:`RateLimitedError` at once). A 2xx answer
    whose body is cut off or is not JSON is asked for again, up to :data:`BODY_RETRIES` times.
    Pass your own ``session`` to share a pool or add proxies; the client mounts its retrying
    adapter on it for the API's origin only, and sends credentials only to that origin.

    >>> client = Client(account_sid="acc…", auth_token=getpass.getpass())
    >>> client.get_call("cal…")["status"]
    'completed'
    """

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        max_retries: int = 5,
        backoff_factor: float = 0.5,
        max_retry_wait: float = 60.0,
        session: requests.Session | None = None,
    ) -> None:
        self.account_sid = validate_call_sid(account_sid, what="account_sid")
        if not isinstance(auth_token, str) or not auth_token.strip():
            raise ConfigurationError(
                "auth_token is empty; find it in the Apifonica console and pass it, or set "
                f"{_ENV_TOKEN}"
            )
        self._auth_token = auth_token.strip()
        self._auth = requests.auth.HTTPBasicAuth(self.account_sid, self._auth_token)
        basic = base64.b64encode(f"{self.account_sid}:{self._auth_token}".encode()).decode()
        # Every form the token could take in text a server echoes back: as is, URL-encoded,
        # and inside the Basic credentials (base64 of "sid:token" is as good as the token).
        self._secrets = tuple(
            dict.fromkeys((self._auth_token, quote(self._auth_token, safe=""), basic))
        )
        self.base_url = _check_base_url(base_url)
        parts = urlsplit(self.base_url)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._base_path = parts.path.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self._backoff_factor = backoff_factor
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        self._retry = _Retry(
            total=max_retries,
            connect=max_retries,
            read=max_retries,
            status=max_retries,
            other=0,
            backoff_factor=backoff_factor,
            backoff_max=30.0,
            backoff_jitter=backoff_factor,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET"}),
            respect_retry_after_header=True,
            raise_on_status=False,
            raise_on_redirect=False,
            max_retry_wait=max_retry_wait,
        )
        self._pool_size = 0
        self._mount_lock = threading.Lock()
        self._ensure_pool(10)

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_env(cls, **kwargs: Any) -> Client:
        """Build a client from ``APIFONICA_ACCOUNT_SID``, ``APIFONICA_AUTH_TOKEN`` and
        (optionally) ``APIFONICA_BASE_URL``, read now; keyword arguments override them."""
        sid = kwargs.pop("account_sid", None) or os.environ.get(_ENV_SID)
        token = kwargs.pop("auth_token", None) or os.environ.get(_ENV_TOKEN)
        missing = [name for name, value in ((_ENV_SID, sid), (_ENV_TOKEN, token)) if not value]
        if missing:
            raise ConfigurationError(
                f"{' and '.join(missing)} not set. Export them (or load them from a .env file / "
                "getpass) before starting Jupyter, or call ap.connect() to use the sandbox."
            )
        base_url = kwargs.pop("base_url", None) or os.environ.get(_ENV_URL) or DEFAULT_BASE_URL
        return cls(account_sid=str(sid), auth_token=str(token), base_url=base_url, **kwargs)

    def _ensure_pool(self, size: int) -> None:
        """Mount (or re-mount, larger) the retrying adapter for the API origin."""
        with self._mount_lock:
            if size <= self._pool_size:
                return
            adapter = HTTPAdapter(
                pool_connections=4, pool_maxsize=size, max_retries=self._retry, pool_block=False
            )
            self._session.mount(self._origin + "/", adapter)
            self._pool_size = size

    def __repr__(self) -> str:
        return (
            f"Client(account_sid={self.account_sid!r}, auth_token='***', "
            f"base_url={self.base_url!r})"
        )

    def close(self) -> None:
        """Close the session's pooled connections (only if the client created the session)."""
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the one HTTP boundary ----------------------------------------------------------------

    def _redact(self, text: str) -> str:
        """Return ``text`` with the auth token (in any form it may be echoed in) masked."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def _excerpt(self, body: bytes) -> str:
        text = body[: _EXCERPT_CHARS * 4].decode("utf-8", errors="replace")
        text = self._redact(text)
        return text[:_EXCERPT_CHARS] + ("…" if len(text) > _EXCERPT_CHARS else "")

    def _request(
        self, url: str, *, params: Mapping[str, str] | None = None, what: str = "resource"
    ) -> Any:
        """GET ``url`` and return its JSON, or raise the matching ApifonicaError."""
        if not url.startswith(self._origin + "/"):
            # Credentials go to the configured origin only, whatever a response says.
            raise ResponseFormatError(
                f"Refusing to send the account's credentials to {_host_of(url)!r}: "
                f"the API pointed at a URL outside {self._origin}",
                url=self._redact(url),
            )
        tries = 1 + max(0, min(self.max_retries, BODY_RETRIES))
        for attempt in range(1, tries + 1):
            if attempt > 2:  # like urllib3: the first retry at once, then exponential backoff
                time.sleep(min(self._backoff_factor * 2 ** (attempt - 2), 30.0))
            started = time.perf_counter()
            got = self._get(url, params)
            if isinstance(got, requests.exceptions.ChunkedEncodingError):
                # The connection broke while the body was being read (see BODY_RETRIES).
                if attempt < tries:
                    logger.debug("GET %s: the body was cut off; trying again", url)
                    continue
                raise self._transport_error(url, got, attempts=attempt)
            if isinstance(got, requests.RequestException):
                raise self._transport_error(url, got)
            resp = got
            elapsed = time.perf_counter() - started
            logger.debug("GET %s -> %s in %.3fs", resp.url, resp.status_code, elapsed)
            body = resp.content
            if resp.status_code >= 400:
                raise self._status_error(resp, body, what)
            parsed, data = _parse_json(resp)
            if parsed:
                return data
            if attempt < tries:
                logger.debug(
                    "GET %s: HTTP %s with a body that is not JSON (%d bytes); trying again",
                    resp.url,
                    resp.status_code,
                    len(body),
                )
                continue
            ctype = resp.headers.get("Content-Type", "unknown")
            again = f", {attempt} times in a row" if attempt > 1 else ""
            raise ResponseFormatError(
                f"The API answered HTTP {resp.status_code} for {what} with a body that is not "
                f"valid JSON ({ctype}, {len(body)} bytes; starts {self._excerpt(body)!r})"
                f"{again}. A proxy error page or a cut-off response; try again later.",
                url=resp.url,
                status_code=resp.status_code,
                body_excerpt=self._excerpt(body),
            )
        raise AssertionError("unreachable: the last try returns or raises")

    def _get(
        self, url: str, params: Mapping[str, str] | None
    ) -> requests.Response | requests.RequestException:
        """GET once; a requests failure is returned, not raised.

        Our errors are raised outside any ``except`` block, so they chain nothing: a chained
        requests error would keep the request (with its Authorization header) and the body
        (which may echo the token) reachable from the exception a notebook shows or reports.
        """
        try:
            return self._session.get(url, params=params, auth=self._auth, timeout=self.timeout)
        except requests.RequestException as exc:
            return exc

    def _transport_error(
        self, url: str, exc: requests.RequestException, *, attempts: int | None = None
    ) -> TransportError:
        timed_out = isinstance(exc, requests.Timeout)
        cause: BaseException | None = exc
        while cause is not None and not timed_out:
            timed_out = isinstance(cause, ReadTimeoutError | TimeoutError)
            reason = getattr(cause, "reason", None)
            cause = reason if isinstance(reason, BaseException) else cause.__context__
        tries = self.max_retries + 1 if attempts is None else attempts
        if timed_out:
            message = (
                f"GET {self._redact(url)} timed out (timeout={self.timeout!r} s, {tries} "
                "attempts). The API is slow or unreachable: try again later, or pass a larger "
                "timeout= to Client."
            )
        elif isinstance(exc, requests.exceptions.ChunkedEncodingError):
            message = (
                f"The connection to {self._origin} broke while the answer to GET "
                f"{urlsplit(url).path} was being read ({tries} attempts). The network or a proxy "
                "cut the response short; try again later."
            )
        else:
            detail = self._redact(str(exc).split("(Caused by ")[-1].rstrip(")"))[:200]
            message = (
                f"Could not get an answer from {self._origin} for GET {urlsplit(url).path} "
                f"after {tries} attempts ({detail}). Check the network and base_url, then retry."
            )
        return TransportError(message, url=self._redact(url))

    def _status_error(self, resp: requests.Response, body: bytes, what: str) -> APIStatusError:
        status = resp.status_code
        excerpt = self._excerpt(body)
        url = resp.url
        common: dict[str, Any] = {"status_code": status, "url": url, "body_excerpt": excerpt}
        if status in (401, 403):
            return AuthenticationError(
                f"The API refused the credentials of account {self.account_sid} (HTTP {status}). "
                f"Check the account SID and auth token ({_ENV_SID} / {_ENV_TOKEN}) and that the "
                "account is active.",
                **common,
            )
        if status == 404:
            return NotFoundError(
                f"{what[:1].upper()}{what[1:]} was not found in account {self.account_sid} "
                "(HTTP 404). Check the SID, and that it belongs to this account.",
                **common,
            )
        if status == 429:
            retry_after = self._retry_after_seconds(resp.headers.get("Retry-After"))
            when = (
                f"; the API asks to wait {retry_after:.0f} s before trying again"
                if retry_after is not None
                else "; wait a minute before trying again"
            )
            return RateLimitedError(
                f"The API is rate limiting this account (HTTP 429) for {what}{when}. "
                "Fewer workers= spread the load.",
                retry_after=retry_after,
                **common,
            )
        hint = (
            "The API had a server error; it was retried, try again later."
            if status >= 500
            else "The API rejected the request."
        )
        return APIStatusError(
            f"HTTP {status} for {what}: {excerpt or resp.reason}. {hint}", **common
        )

    def _retry_after_seconds(self, header: str | None) -> float | None:
        if not header:
            return None
        try:  # urllib3's strict parser: a header that says nothing usable gives None
            return float(Retry.parse_retry_after(self._retry, header))
        except (InvalidHeader, ValueError, OverflowError):
            return None

    # -- API methods --------------------------------------------------------------------------

    def _account_url(self, *segments: str) -> str:
        path = "/".join(quote(s, safe="") for s in ("accounts", self.account_sid, *segments))
        return f"{self.base_url}/{path}"

    def get_account(self) -> dict[str, Any]:
        """Return the account object, without its auth token (the API includes it)."""
        data = self._request(self._account_url(), what=f"account {self.account_sid}")
        if not isinstance(data, dict):
            raise ResponseFormatError(
                f"The account endpoint answered {type(data).__name__}, expected an object",
                url=self._account_url(),
            )
        data.pop("token", None)
        return data

    def get_call(self, call_sid: str) -> dict[str, Any]:
        """Return one call object as the API gives it (``GET /accounts/{acc}/calls/{sid}``)."""
        sid = validate_call_sid(call_sid)
        url = self._account_url("calls", sid)
        data = self._request(url, what=f"call {sid}")
        if not isinstance(data, dict):
            raise ResponseFormatError(
                f"Call {sid}: the API answered a JSON {type(data).__name__}, expected an object",
                url=url,
            )
        return data

    def _resolve_next(self, current: str, next_uri: str) -> str | None:
        """Turn a ``next`` link (absolute, root-relative, or relative) into a URL, verbatim;
        None when it cannot be one (``http://[::1`` and the like)."""
        try:
            _ = urlsplit(next_uri).port  # parses the host and the port, or raises
        except ValueError:
            return None
        if next_uri.startswith(("http://", "https://")):
            return next_uri
        if next_uri.startswith("/"):
            # "/v2/accounts/…", "/accounts/…" and the odd "//accounts/…" all mean this API.
            path = "/" + next_uri.lstrip("/")
            if self._base_path and not path.startswith(self._base_path + "/"):
                path = self._base_path + path
            return self._origin + path
        return urljoin(current, next_uri)

    def iter_calls(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Yield the account's calls page by page (newest first), following ``next`` verbatim.

        Filters are sent as query parameters (``status``, ``direction``, ``channel``, ``tag``,
        ``from``/``from_``, ``to``, ``date_from``, ``date_to`` as dates; lists become
        comma-separated); unknown ones pass through unchanged. This generator does not
        re-check the filters on what comes back: :func:`apifonica_nb.fetch_history` does.
        A ``next`` link seen twice, or pointing to another host, raises ResponseFormatError.
        """
        params: dict[str, str] = {"limit": str(PAGE_LIMIT)}
        for key, value in filters.items():
            if value is None:
                continue
            name = "from" if key == "from_" else key
            params[name] = _query_value(value)
        url: str | None = self._account_url("calls")
        query: dict[str, str] | None = params
        seen: set[str] = set()
        while url is not None:
            page = self._request(url, params=query, what="the call history")
            calls = page.get("calls") if isinstance(page, dict) else None
            if not isinstance(calls, list):
                raise ResponseFormatError(
                    "The call history page is not the documented envelope "
                    "{limit, prev, next, calls: [...]}",
                    url=url,
                )
            for item in calls:
                if not isinstance(item, dict):
                    raise ResponseFormatError(
                        f"The call history held a {type(item).__name__} where a call object "
                        "belongs",
                        url=url,
                    )
                yield item
            next_uri = page.get("next")
            if not next_uri:
                return
            if not isinstance(next_uri, str):
                raise ResponseFormatError(
                    f"The history's next link is a {type(next_uri).__name__}, expected a URI",
                    url=url,
                )
            resolved = self._resolve_next(url, next_uri)
            if resolved is None:
                raise ResponseFormatError(
                    f"The history's next link {self._redact(next_uri)[:200]!r} is not a valid "
                    "URL; stopping. The history may be incomplete: retry later.",
                    url=self._redact(url),
                )
            if resolved in seen:
                raise ResponseFormatError(
                    f"The API returned the same next link twice ({self._redact(next_uri)!r}); "
                    "stopping instead of looping forever. The history may be incomplete: retry "
                    "later.",
                    url=self._redact(resolved),
                )
            if self._redact(unquote(resolved)) != unquote(resolved):
                # Followed, the token would sit in access logs, proxies and urllib3's debug log.
                raise ResponseFormatError(
                    "The history's next link carries the account's auth token; refusing to "
                    "follow it. The history may be incomplete: report this to Apifonica.",
                    url=self._redact(resolved),
                )
            seen.add(resolved)
            url, query = resolved, None

    def get_calls(
        self,
        call_sids: Iterable[object],
        *,
        workers: int = 8,
        progress: bool = True,
        on_record: Callable[[dict[str, Any]], None] | None = None,
    ) -> CallBatch:
        """Fetch many calls concurrently over one pooled session; never raise for one bad SID.

        Returns :class:`CallBatch` ``(records, failures)``: records in input order (a SID given
        twice is fetched once), and one failure dict (``call_sid``, ``error``, ``message``) per
        SID that was invalid or could not be fetched. Calls that failed for a passing reason
        (network, 5xx, a cut-off body, a 429 whose Retry-After fits the budget) get one more
        try after the first pass. ``on_record`` is called in the calling thread as each record
        arrives (e.g. to store it at once).
        """
        if workers < 1:
            raise InvalidRequestError(f"workers must be at least 1, got {workers}")
        order: list[str] = []
        failures: dict[str, dict[str, Any]] = {}
        invalid: list[dict[str, Any]] = []
        seen: set[str] = set()
        for raw in call_sids:
            try:
                sid = validate_call_sid(raw)
            except InvalidRequestError as exc:
                invalid.append(
                    {
                        "call_sid": raw if isinstance(raw, str) else repr(raw),
                        "error": type(exc).__name__,
                        "message": str(exc),
                    }
                )
                continue
            if sid not in seen:
                seen.add(sid)
                order.append(sid)
        self._ensure_pool(workers)
        results: dict[str, dict[str, Any]] = {}
        bar = tqdm(
            total=len(order),
            unit="call",
            desc="Fetching calls",
            disable=not progress,
            leave=False,
        )
        try:
            pending = order
            for attempt in (1, 2):
                errors = self._fetch_many(pending, workers, results, bar, on_record)
                failures.update(errors)
                retry = [s for s, f in errors.items() if f["transient"]] if attempt == 1 else []
                if not retry:
                    break
                logger.info("retrying %d calls that failed for a passing reason", len(retry))
                for sid in retry:
                    del failures[sid]
                pending = retry
                bar.total += len(retry)
                bar.set_description("Retrying failed calls", refresh=False)
        finally:
            bar.close()
        records = [results[s] for s in order if s in results]
        failed = [
            {k: v for k, v in failures[s].items() if k != "transient"}
            for s in order
            if s in failures
        ]
        return CallBatch(records, invalid + failed)

    def _fetch_many(
        self,
        sids: list[str],
        workers: int,
        results: dict[str, dict[str, Any]],
        bar: Any,
        on_record: Callable[[dict[str, Any]], None] | None,
    ) -> dict[str, dict[str, Any]]:
        errors: dict[str, dict[str, Any]] = {}
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="apifonica")
        try:
            it = iter(sids)
            running: dict[Future[dict[str, Any]], str] = {}
            # Submit lazily (a bounded window) so Ctrl-C leaves little queued work behind.
            for sid in it:
                running[pool.submit(self.get_call, sid)] = sid
                if len(running) >= workers * 2:
                    break
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    sid = running.pop(fut)
                    try:
                        record = fut.result()
                    except ApifonicaError as exc:
                        errors[sid] = {
                            "call_sid": sid,
                            "error": type(exc).__name__,
                            "message": str(exc),
                            "transient": _is_transient(exc, self.max_retry_wait),
                        }
                    else:
                        results[sid] = record
                        if on_record is not None:
                            on_record(record)
                    bar.update(1)
                    nxt = next(it, None)
                    if nxt is not None:
                        running[pool.submit(self.get_call, nxt)] = nxt
                if errors:
                    bar.set_postfix(failed=len(errors), refresh=False)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return errors


def _parse_json(resp: requests.Response) -> tuple[bool, Any]:
    """Return ``(True, value)`` for a JSON body, ``(False, None)`` otherwise (nothing raised)."""
    try:
        return True, resp.json()
    except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
        return False, None


def _host_of(url: str) -> str:
    """Return ``host[:port]`` of a URL, without any user or password it may carry."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # "http://[::1", a port out of range
        return "an unparseable URL"
    host = parts.hostname or "?"
    return f"{host}:{port}" if port else host


def _is_transient(exc: ApifonicaError, max_retry_wait: float) -> bool:
    """Whether a call that failed with ``exc`` is worth one more try in the same batch."""
    if isinstance(exc, RateLimitedError):
        # A wait beyond the budget was asked for: trying again at once would ignore it.
        return exc.retry_after is None or exc.retry_after <= max_retry_wait
    if isinstance(exc, TransportError | ResponseFormatError):
        return True
    return isinstance(exc, APIStatusError) and exc.status_code >= 500
