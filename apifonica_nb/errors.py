"""The one exception tree of apifonica_nb.

Every error the public API raises is an :class:`ApifonicaError`; ``requests`` and ``urllib3``
exceptions never leak out. Messages say what happened and what to do next, and never contain
the auth token.

::

    ApifonicaError
    ├── CacheError               the local call store is unusable (corrupt, foreign, locked)
    ├── ConfigurationError       missing credentials, unsafe base_url  (also a ValueError)
    ├── InvalidRequestError      a bad argument, e.g. a malformed SID, refused before any
    │                            request            (also a ValueError and a TypeError)
    ├── FetchCancelled           a cancel event was set (or Ctrl-C) while fetching
    ├── TransportError           network failure or timeout (after retries)
    ├── APIStatusError           the API answered an error status >= 400, as the HTTP
    │   │                        status or in its {status_code, status_message} envelope
    │   ├── AuthenticationError  401 / 403: wrong account SID or auth token
    │   ├── NotFoundError        404: no such account or call
    │   └── RateLimitedError     429 that outlived the retry budget
    └── ResponseFormatError      the body is not JSON, not the shape the API documents, or
                                 not the call (or account) that was asked for

A batch (:meth:`~apifonica_nb.Client.get_calls`) that an :class:`APIStatusError` stops (a
401/403, a 429 asking for a wait beyond the budget) hands what it had fetched on the error:
``.batch`` is the partial ``CallBatch``; the fetch verbs set ``.frame`` to the partial DataFrame.

Warnings (subclasses of ``UserWarning``):

::

    ApifonicaWarning
    ├── FetchFailuresWarning     a batch finished with some calls that could not be fetched
    └── DataQualityWarning       a field held values of the wrong type; they became NA
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from .client import CallBatch

__all__ = [
    "APIStatusError",
    "ApifonicaError",
    "ApifonicaWarning",
    "AuthenticationError",
    "CacheError",
    "ConfigurationError",
    "DataQualityWarning",
    "FetchCancelled",
    "FetchFailuresWarning",
    "InvalidRequestError",
    "NotFoundError",
    "RateLimitedError",
    "ResponseFormatError",
    "TransportError",
]


class ApifonicaError(Exception):
    """Base class of every error raised by apifonica_nb."""


class CacheError(ApifonicaError):
    """The local call store cannot be used (corrupt, another program's file, or locked)."""


class ConfigurationError(ApifonicaError, ValueError):
    """The client is not configured right: missing credentials or an unsafe ``base_url``."""


class InvalidRequestError(ApifonicaError, ValueError, TypeError):
    """An argument was refused before any request was made (e.g. a malformed call SID).

    Also a ``ValueError`` and a ``TypeError``, so ``except ValueError`` and ``except TypeError``
    written for a wrong value or a wrong type both catch it.
    """


class FetchCancelled(ApifonicaError):
    """A fetch stopped because its ``cancel`` event was set; nothing more was requested."""


class TransportError(ApifonicaError):
    """The request did not get an HTTP answer: connection refused or dropped, or a timeout."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class APIStatusError(ApifonicaError):
    """The API answered an error status: the HTTP one, or the one its error envelope names."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        url: str,
        body_excerpt: str = "",
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.url = url
        self.body_excerpt = body_excerpt
        #: The ``CallBatch`` fetched before this error stopped a batch (None otherwise).
        self.batch: CallBatch | None = None
        #: The partial DataFrame, when a fetch verb stopped (None otherwise).
        self.frame: pd.DataFrame | None = None


class AuthenticationError(APIStatusError):
    """The API refused the credentials (HTTP 401 or 403)."""


class NotFoundError(APIStatusError):
    """The account or call does not exist (HTTP 404)."""


class RateLimitedError(APIStatusError):
    """The API kept answering 429 Too Many Requests beyond the retry budget."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        url: str,
        body_excerpt: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, url=url, body_excerpt=body_excerpt)
        #: Seconds the server asked us to wait, when it said so.
        self.retry_after = retry_after


class ResponseFormatError(ApifonicaError):
    """The response body is not JSON, or not shaped as the API documents."""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status_code: int | None = None,
        body_excerpt: str = "",
    ) -> None:
        super().__init__(message)
        self.url = url
        self.status_code = status_code
        self.body_excerpt = body_excerpt


class ApifonicaWarning(UserWarning):
    """Base class of the warnings apifonica_nb emits."""


class FetchFailuresWarning(ApifonicaWarning):
    """Some calls of a batch could not be fetched; see ``df.attrs["failures"]``."""


class DataQualityWarning(ApifonicaWarning):
    """Some values had the wrong type or format and became NA."""
