"""Reading a pasted list of call SIDs: split, unwrap, deduplicate, refuse what is not a SID."""

from __future__ import annotations

import re
from typing import Any

from ..client import validate_call_sid
from ..errors import InvalidRequestError

__all__ = ["parse_sid_list", "refused", "shorten"]

# Separators people paste between SIDs: newlines, spaces, tabs, commas, semicolons.
_SEPARATORS = re.compile(r"[\s,;]+")
# Quotes and brackets around an item, as in a pasted Python list or a quoted CSV column.
_WRAPPERS = "\"'`[](){}"


def parse_sid_list(text: str) -> tuple[list[str], list[str]]:
    """Split pasted call SIDs into ``(valid, invalid)``, each in first-seen order.

    Items may be separated by newlines, spaces, commas or semicolons, and wrapped in quotes or
    brackets (a pasted Python list works). Blank items and repeats are dropped; an item that
    :func:`~apifonica_nb.client.validate_call_sid` refuses (``../x``, 5,000 characters, ...)
    goes to ``invalid`` once.

    >>> parse_sid_list("cal1, cal2\\ncal1  ../x")
    (['cal1', 'cal2'], ['../x'])
    """
    valid: list[str] = []
    invalid: list[str] = []
    seen: set[str] = set()
    for raw in _SEPARATORS.split(text):
        item = raw.strip(_WRAPPERS)
        if not item or item in seen:
            continue
        seen.add(item)
        try:
            valid.append(validate_call_sid(item))
        except InvalidRequestError:
            invalid.append(item)
    return valid, invalid


def refused(invalid: list[str]) -> list[dict[str, Any]]:
    """Return failure rows (``call_sid``, ``error``, ``message``) for SIDs refused unsent."""
    rows = []
    for sid in invalid:
        try:
            validate_call_sid(sid)
        except InvalidRequestError as exc:
            rows.append({"call_sid": sid, "error": type(exc).__name__, "message": str(exc)})
    return rows


def shorten(text: str, limit: int = 40) -> str:
    """Cut ``text`` to ``limit`` characters with an ellipsis, for messages about user input."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
