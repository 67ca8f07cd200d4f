"""The client of one Apifonica account: configuration in, call dicts out.

Under a rate limit the client finds the server's pace by itself (``adaptive=True``, see
:mod:`apifonica_nb.client._throttle`): a 429's ``Retry-After`` pauses every worker of this
client, not only the one refused, and the first 429 starts pacing requests at a rate that
follows what the server accepts. ``max_rate`` (requests per second) caps it for a quota
shared with other programs; ``adaptive=False`` gives fixed workers that each honour their
own 429s. :attr:`Client.request_rate` is the rate of answers now (progress shows it).

Worst case with the defaults (``max_retries=5, backoff_factor=0.5, max_retry_wait=60``):

- one call that always fails (5xx, dropped connection, cut-off body): **6 requests** and
  **15–17 s** of waiting (0 + 1 + 2 + 4 + 8 s, plus jitter), plus the six answers' own
  time; if every attempt times out, up to 6 × 35 s more. A 429 whose ``Retry-After`` fits
  the budget waits what it asks, at most 5 × 60 s; one beyond it: 1 request, no wait.
- a batch of N such calls (:meth:`Client.get_calls`): at most **6 N requests** (no second pass),
  and about ⌈N / workers⌉ times the single-call time. A 401/403, or a 429 beyond the
  budget, stops the batch at once: no request beyond those already in flight (at most
  ``workers``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from ..errors import InvalidRequestError, ResponseFormatError
from ._answers import check_account, check_call
from ._batch import CallBatch, Progress, run_batch
from ._cancel import Stop, run_in_worker
from ._config import (
    DEFAULT_BASE_URL,
    DEFAULT_TIMEOUT,
    check_base_url,
    check_token,
    settings_from_env,
    validate_call_sid,
)
from ._paging import history_query, iter_history
from ._recordings import check_recording, iter_recordings, recording_audio
from ._throttle import Throttle
from ._transport import Transport


class Client:
    """A client of one Apifonica account.

    Parameters are keyword-only. ``timeout`` is requests' ``(connect, read)`` seconds.
    Every GET has one retry budget: ``1 + max_retries`` attempts in all, shared by 429/500/
    502/503/504 (as the HTTP status or in the API's error envelope), connection errors,
    timeouts and 2xx bodies that are cut off or not JSON. Between attempts the client waits
    once: ``Retry-After`` (seconds or an HTTP date) when the server sends it, else capped
    exponential backoff (``backoff_factor`` × 2ⁿ, the first retry at once, at most 30 s) plus
    up to ``backoff_factor`` of jitter. A ``Retry-After`` beyond ``max_retry_wait`` seconds
    raises :class:`~apifonica_nb.errors.RateLimitedError` at once. Pass your own ``session`` to
    share a pool or add proxies; the client mounts its adapter on it for the API's origin only,
    and sends credentials only to that origin.

    Rate limits (the shared gate, adaptive pacing, ``max_rate``) and the worst-case requests
    and waits with the defaults: see this module's docstring.

    ``get_call``, ``iter_calls`` and ``get_calls`` take ``cancel=`` (a ``threading.Event``):
    the exchange runs in a worker thread, so a set event or Ctrl-C gives control back within
    a second at any latency, and no request is sent after the method returned.

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
        max_rate: float | None = None,
        adaptive: bool = True,
        session: requests.Session | None = None,
    ) -> None:
        self.account_sid = validate_call_sid(account_sid, what="account_sid")
        token = check_token(auth_token)
        self.base_url = check_base_url(base_url)
        self.timeout = timeout
        self._base_path = urlsplit(self.base_url).path.rstrip("/")
        self._transport = Transport(
            account_sid=self.account_sid,
            auth_token=token,
            base_url=self.base_url,
            timeout=timeout,
            max_retries=max_retries,
            backoff_factor=backoff_factor,
            max_retry_wait=max_retry_wait,
            session=session,
            throttle=Throttle(adaptive=adaptive, max_rate=max_rate),
        )
        self.max_retries = self._transport.max_retries
        self.backoff_factor = float(backoff_factor)
        self.max_retry_wait = self._transport.max_retry_wait
        self.max_rate = self._transport.throttle.max_rate
        self.adaptive = bool(adaptive)

    @classmethod
    def from_env(cls, **kwargs: Any) -> Client:
        """Build a client from ``APIFONICA_ACCOUNT_SID``, ``APIFONICA_AUTH_TOKEN`` and
        (optionally) ``APIFONICA_BASE_URL``, read now; keyword arguments override them."""
        sid, token, base_url = settings_from_env(kwargs)
        return cls(account_sid=sid, auth_token=token, base_url=base_url, **kwargs)

    @property
    def request_rate(self) -> float | None:
        """Answers per second over the last second (None before the first request)."""
        return self._transport.throttle.current_rate()

    @property
    def paced_rate(self) -> float | None:
        """The requests per second the client paces itself at now (None: not paced; see
        ``adaptive`` and ``max_rate``)."""
        return self._transport.throttle.rate

    def ensure_pool(self, size: int) -> None:
        """Keep at least ``size`` pooled connections to the API (for as many threads)."""
        self._transport.ensure_pool(size)

    def __repr__(self) -> str:
        return (
            f"Client(account_sid={self.account_sid!r}, auth_token='***', "
            f"base_url={self.base_url!r})"
        )

    def close(self) -> None:
        """Close the session's pooled connections (only if the client created the session)."""
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _account_url(self, *segments: str) -> str:
        path = "/".join(quote(s, safe="") for s in ("accounts", self.account_sid, *segments))
        return f"{self.base_url}/{path}"

    def get_account(self, *, cancel: threading.Event | None = None) -> dict[str, Any]:
        """Return the account object, without its auth token (the API includes it)."""
        url = self._account_url()
        what = f"account {self.account_sid}"
        transport = self._transport

        def fetch(stop: Stop) -> Any:
            return transport.get_json(url, what=what, stop=stop)

        data = run_in_worker(fetch, cancel=cancel, what=what)
        if not isinstance(data, dict):
            raise ResponseFormatError(
                f"The account endpoint answered {type(data).__name__}, expected an object",
                url=url,
            )
        data.pop("token", None)
        check_account(
            data, account_sid=self.account_sid, url=url, redact=transport.redact, where=what
        )
        return data

    def get_call(self, call_sid: str, *, cancel: threading.Event | None = None) -> dict[str, Any]:
        """Return one call object as the API gives it (``GET /accounts/{acc}/calls/{sid}``).

        A body for another call or another account is a ResponseFormatError. A set ``cancel``
        (or Ctrl-C) stops waiting within a second: FetchCancelled (KeyboardInterrupt).
        """
        sid = validate_call_sid(call_sid)
        return run_in_worker(
            lambda stop: self._fetch_call(sid, stop), cancel=cancel, what=f"call {sid}"
        )

    def _fetch_call(self, sid: str, stop: Stop) -> dict[str, Any]:
        """GET one call in the current (worker) thread and check it is the call asked for."""
        url = self._account_url("calls", sid)
        transport = self._transport
        data = transport.get_json(url, what=f"call {sid}", stop=stop)
        return check_call(
            data, call_sid=sid, account_sid=self.account_sid, url=url, redact=transport.redact
        )

    def iter_calls(
        self, *, cancel: threading.Event | None = None, **filters: Any
    ) -> Iterator[dict[str, Any]]:
        """Yield the account's calls page by page (newest first), following ``next`` verbatim.

        Filters are sent as query parameters (``status``, ``direction``, ``channel``, ``tag``,
        ``from``/``from_``, ``to``, ``date_from``, ``date_to`` as dates; lists become
        comma-separated); unknown ones pass through unchanged. This generator does not
        re-check the filters on what comes back: :func:`apifonica_nb.fetch_history` does.
        An item that is not a call object of this account, a ``next`` link seen twice,
        pointing to another host or carrying the token raises ResponseFormatError. A set
        ``cancel`` raises FetchCancelled before the next page (and while one is awaited).
        """
        return iter_history(
            self._transport,
            self._account_url("calls"),
            history_query(filters),
            base_path=self._base_path,
            cancel=cancel,
        )

    def get_calls(
        self,
        call_sids: Iterable[object],
        *,
        workers: int = 8,
        progress: bool = True,
        on_record: Callable[[dict[str, Any]], None] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> CallBatch:
        """Fetch many calls concurrently over one pooled session; never raise for one bad SID.

        Returns :class:`CallBatch` ``(records, failures, cancelled)``: records in input order
        (a SID given twice is fetched once), and one failure dict (``call_sid``, ``error``,
        ``message``) per SID that was invalid or could not be fetched, after the one retry
        budget of its request (no second pass). ``on_record(record)`` and
        ``on_progress(Progress)`` are called in the calling thread as results arrive.

        A 401/403, or a 429 asking for a wait beyond ``max_retry_wait``, stops the batch at
        once: the AuthenticationError/RateLimitedError raised carries ``.batch``, the batch so
        far. A set ``cancel`` or Ctrl-C returns the batch so far with ``cancelled=True``
        within a second; no request is sent after it returned.
        """
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InvalidRequestError(f"workers must be a whole number >= 1, got {workers!r}")
        self.ensure_pool(workers)
        return run_batch(
            self._fetch_call,
            call_sids,
            workers=workers,
            max_retry_wait=self.max_retry_wait,
            progress=progress,
            on_record=on_record,
            on_progress=on_progress,
            cancel=cancel,
            rate=self._transport.throttle.current_rate,
        )

    def get_recording(
        self, record_sid: str, *, format: str = "wav", cancel: threading.Event | None = None
    ) -> dict[str, Any]:
        """Return one recording object; ``format="mp3"`` asks for the mp3 ``rec_url``."""
        if format not in ("wav", "mp3"):
            raise InvalidRequestError(f"format must be 'wav' or 'mp3', got {format!r}")
        sid = validate_call_sid(record_sid, what="record_sid")
        url, transport = self._account_url("recordings", sid), self._transport
        query = {"format": "mp3"} if format == "mp3" else None
        data = run_in_worker(
            lambda stop: transport.get_json(url, params=query, what=f"recording {sid}", stop=stop),
            cancel=cancel,
            what=f"recording {sid}",
        )
        return check_recording(
            data, record_sid=sid, account_sid=self.account_sid, url=transport.redact(url)
        )

    def iter_recordings(
        self, *, cancel: threading.Event | None = None, **filters: Any
    ) -> Iterator[dict[str, Any]]:
        """Yield the account's recordings page by page, following ``next`` verbatim; filters
        (``call_sid``, ``date_from``, ``date_to``) are sent as query parameters, unchecked."""
        return iter_recordings(
            self._transport,
            self._account_url("recordings"),
            history_query(filters),
            base_path=self._base_path,
            cancel=cancel,
        )

    def get_recording_audio(
        self, record_sid: str, *, format: str = "wav", cancel: threading.Event | None = None
    ) -> bytes:
        """Return the audio bytes of a recording (its details first, then its ``rec_url``).

        The account's credentials go to the API's own origin only: a ``rec_url`` on another
        origin is fetched without them (see :mod:`apifonica_nb.client._recordings`).
        """
        rec = self.get_recording(record_sid, format=format, cancel=cancel)
        fallback = self._account_url("recordings", f"{rec['record_sid']}.{format}")
        return recording_audio(
            self._transport, rec, fallback_url=fallback, format=format, cancel=cancel
        )
