"""The HTTP client of the Apifonica calls API.

::

    _config     constants, the SID rule, the base URL check, the environment
    _answers    what an answer means: error envelopes, error mapping, token redaction
    _cancel     the stop flag and the worker thread the caller never blocks on
    _transport  the session, the one retry policy, the one HTTP boundary
    _paging     the call history: query, next links and their guards
    _batch      many calls at once: CallBatch, Failures, Progress
    _client     Client, which puts them together

Every ``requests``/``urllib3`` failure is translated into :mod:`apifonica_nb.errors` in
``_transport``; nothing else in the package talks HTTP.
"""

from __future__ import annotations

from ._batch import CallBatch, Failures, Progress
from ._client import Client
from ._config import (
    DEFAULT_BASE_URL,
    DEFAULT_TIMEOUT,
    MAX_SID_LENGTH,
    PAGE_LIMIT,
    validate_call_sid,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "MAX_SID_LENGTH",
    "PAGE_LIMIT",
    "CallBatch",
    "Client",
    "Failures",
    "Progress",
    "validate_call_sid",
]
