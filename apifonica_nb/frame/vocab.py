"""The documented vocabularies of a call, and matching user input against them.

The client side's one home of the status, direction, channel and method vocabularies and the
price units. The sandbox keeps its own copy (it is an independent oracle of the wire format);
``tests/test_vocabularies.py`` checks that the two agree.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping

from ..errors import InvalidRequestError

__all__ = [
    "CHANNELS",
    "DIRECTIONS",
    "FINAL_STATUSES",
    "METHODS",
    "PRICE_UNITS",
    "STATUSES",
    "STATUS_DESCRIPTIONS",
    "VOCABULARIES",
    "canonical_label",
    "check_price_unit",
    "normalize_filter",
]

#: Every status the vendor documents, in lifecycle order. Unknown ones are kept, appended.
STATUSES: tuple[str, ...] = (
    "queued",
    "initiated",
    "ringing",
    "answered",
    "modified",
    "completed",
    "no_answer",
    "canceled",
    "busy",
    "rejected",
    "failed",
)
#: Statuses after which a call never changes again (``modified`` is not one of them).
FINAL_STATUSES: frozenset[str] = frozenset(
    {"completed", "no_answer", "canceled", "busy", "rejected", "failed"}
)
#: The vendor's meaning of each status (from its "Call status" table), in lifecycle order.
STATUS_DESCRIPTIONS: dict[str, str] = {
    "queued": "The call is ready and waiting in line before going out.",
    "initiated": "The call has been started.",
    "ringing": "The call is currently ringing to the number 'to'.",
    "answered": "The call was answered and is currently in progress.",
    "modified": "The call was modified by the API function Modify live call.",
    "completed": "The call was answered and has ended normally.",
    "no_answer": "The call ended without being answered.",
    "canceled": "The call was canceled by the initiating party before getting answered.",
    "busy": "The caller received a busy signal.",
    "rejected": "The call was canceled while queued or ringing.",
    "failed": "The call could not be completed as dialed, most likely a non-existent number.",
}
DIRECTIONS: tuple[str, ...] = ("inbound", "outbound")
CHANNELS: tuple[str, ...] = ("number", "viber")
#: The HTTP methods the API uses to request a call's XML controller.
METHODS: tuple[str, ...] = ("GET", "POST")
#: ``price`` unit -> factor that turns it into euros.
PRICE_UNITS: dict[str, float] = {"EUR": 1.0, "cents": 0.01}

#: The categorical fields and their documented values.
VOCABULARIES: Mapping[str, tuple[str, ...]] = {
    "direction": DIRECTIONS,
    "status": STATUSES,
    "channel": CHANNELS,
}

_SEPARATORS = re.compile(r"[\s_-]+")


def _key(text: str) -> str:
    """What two spellings of one label share: case, outer spaces and separators ignored."""
    return _SEPARATORS.sub("_", text.strip()).lower()


# key -> canonical label, per vocabulary ("No-Answer", " no answer " -> "no_answer").
_LOOKUP: Mapping[str, Mapping[str, str]] = {
    name: {_key(label): label for label in labels} for name, labels in VOCABULARIES.items()
}


def canonical_label(name: str, text: str) -> str | None:
    """Return the documented label of ``name``'s vocabulary that ``text`` spells, else None.

    Matching ignores case, surrounding whitespace, and whether words are joined by ``_``,
    ``-`` or spaces: ``"COMPLETED"``, ``" Busy "`` and ``"no-answer"`` are ``completed``,
    ``busy`` and ``no_answer``.
    """
    return _LOOKUP[name].get(_key(text))


def check_price_unit(price_unit: object) -> float:
    """Return the factor that turns a price in ``price_unit`` into euros, or refuse the unit."""
    factor = PRICE_UNITS.get(price_unit) if isinstance(price_unit, str) else None
    if factor is None:
        raise InvalidRequestError(
            f"unknown price_unit {price_unit!r}: use one of {', '.join(map(repr, PRICE_UNITS))}"
        )
    return factor


def normalize_filter(name: str, values: str | Iterable[str]) -> list[str]:
    """Return the documented values a ``status``/``direction``/``channel`` filter asks for.

    ``values`` is one string or several. Matching is case-insensitive and ignores surrounding
    whitespace and ``_``/``-``/space differences; the result lists each canonical value once,
    in the order asked. A value outside the vocabulary (or an empty list, which would match
    no call) raises :class:`~apifonica_nb.errors.InvalidRequestError` listing the valid ones.
    Other filters (``tag``, ``from``, ...) are free text: their values come back as given.

    Example::

        normalize_filter("status", ["Failed", " no-answer "])  # ['failed', 'no_answer']
    """
    given = [values] if isinstance(values, str) else _as_list(name, values)
    if name not in VOCABULARIES:
        return given
    labels = VOCABULARIES[name]
    if not given:
        raise InvalidRequestError(
            f"{name}=[] matches no call: give one or more of {', '.join(labels)}, "
            f"or leave {name} out (None) for any"
        )
    out: list[str] = []
    for value in given:
        label = canonical_label(name, value) if isinstance(value, str) else None
        if label is None:
            raise InvalidRequestError(_unknown_value(name, value, labels))
        if label not in out:
            out.append(label)
    return out


def _as_list(name: str, values: object) -> list[str]:
    if values is None or isinstance(values, (bytes, Mapping)) or not isinstance(values, Iterable):
        raise InvalidRequestError(
            f"{name} must be a string or a list of strings, not {type(values).__name__}"
        )
    return list(values)


def _unknown_value(name: str, value: object, labels: tuple[str, ...]) -> str:
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    message = f"{name} {shown} is not one of {', '.join(labels)} (case does not matter)"
    if isinstance(value, str):
        close = difflib.get_close_matches(_key(value), labels, n=1)
        if close:
            message += f"; did you mean {close[0]!r}?"
    return message
