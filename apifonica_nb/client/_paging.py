"""Reading the call history page by page: the query, ``next`` resolution and its guards."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from ..errors import ResponseFormatError
from ._answers import check_call
from ._cancel import Stop, cancelled, run_in_worker
from ._config import PAGE_LIMIT
from ._transport import Transport

_WHAT = "the call history"


def _query_value(value: Any) -> str:
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(_query_value(v) for v in value)
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def history_query(filters: Mapping[str, Any]) -> dict[str, str]:
    """Return the query of the first history page: ``limit`` plus the filters that are set.

    ``from_`` is sent as ``from``; dates and datetimes as ``YYYY-MM-DD``; lists
    comma-separated; anything else as its text.
    """
    params = {"limit": str(PAGE_LIMIT)}
    for key, value in filters.items():
        if value is not None:
            params["from" if key == "from_" else key] = _query_value(value)
    return params


def resolve_next(origin: str, base_path: str, current: str, next_uri: str) -> str | None:
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
        if base_path and not path.startswith(base_path + "/"):
            path = base_path + path
        return origin + path
    return urljoin(current, next_uri)


def iter_history(
    transport: Transport,
    url: str,
    params: dict[str, str],
    *,
    base_path: str,
    cancel: threading.Event | None,
) -> Iterator[dict[str, Any]]:
    """Yield every call object of the history from ``url``, page by page, following ``next``.

    A page is yielded whole or not at all: an item that is not a call object of this account
    makes the page a ResponseFormatError. A set ``cancel`` raises FetchCancelled before the
    next page is asked for (and while one is awaited).
    """
    current: str = url
    query: Mapping[str, str] | None = params
    seen: set[str] = set()
    while True:
        if cancel is not None and cancel.is_set():
            raise cancelled(_WHAT)
        calls, next_uri = read_page(transport, current, query, cancel=cancel)
        yield from calls
        if not next_uri:
            return
        resolved = checked_next(transport, base_path, current, next_uri, seen)
        seen.add(resolved)
        current, query = resolved, None


def read_page(
    transport: Transport,
    url: str,
    query: Mapping[str, str] | None,
    *,
    cancel: threading.Event | None,
) -> tuple[list[dict[str, Any]], Any]:
    """Fetch one history page; return its calls (each checked) and its ``next`` link."""

    def fetch(stop: Stop) -> Any:
        return transport.get_json(url, params=query, what=_WHAT, stop=stop)

    page = run_in_worker(fetch, cancel=cancel, what=_WHAT)
    items = page.get("calls") if isinstance(page, dict) else None
    if not isinstance(items, list):
        raise ResponseFormatError(
            "The call history page is not the documented envelope "
            "{limit, prev, next, calls: [...]}; retry later, and report it to Apifonica if it "
            "persists.",
            url=transport.redact(url),
        )
    calls = [
        check_call(item, account_sid=transport.account_sid, url=url, redact=transport.redact)
        for item in items
    ]
    return calls, page.get("next")


def checked_next(
    transport: Transport,
    base_path: str,
    current: str,
    next_uri: Any,
    seen: set[str],
    *,
    listing: str = "history",
) -> str:
    """Return the URL of a ``next`` link, or raise ResponseFormatError for an unsafe one.

    Refused: a link that is not a URL, the same link twice (a loop), a link carrying the auth
    token. A link to another origin is refused by the transport, before any request.
    """
    redact = transport.redact
    if not isinstance(next_uri, str):
        raise ResponseFormatError(
            f"The {listing}'s next link is a {type(next_uri).__name__}, expected a URI",
            url=redact(current),
        )
    resolved = resolve_next(transport.origin, base_path, current, next_uri)
    if resolved is None:
        raise ResponseFormatError(
            f"The {listing}'s next link {redact(next_uri)[:200]!r} is not a valid URL; stopping. "
            f"The {listing} may be incomplete: retry later.",
            url=redact(current),
        )
    if resolved in seen:
        raise ResponseFormatError(
            f"The API returned the same next link twice ({redact(next_uri)[:200]!r}); stopping "
            f"instead of looping forever. The {listing} may be incomplete: retry later.",
            url=redact(resolved),
        )
    if redact(unquote(resolved)) != unquote(resolved):
        # Followed, the token would sit in access logs, proxies and urllib3's debug log.
        raise ResponseFormatError(
            f"The {listing}'s next link carries the account's auth token; refusing to follow it. "
            f"The {listing} may be incomplete: report this to Apifonica.",
            url=redact(resolved),
        )
    return resolved
