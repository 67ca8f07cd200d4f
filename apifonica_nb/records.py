"""Turn raw call dicts from the API into one typed pandas DataFrame (no I/O here)."""

from __future__ import annotations

import pandas as pd

__all__ = [
    "CALL_DTYPES",
    "CHANNELS",
    "DIRECTIONS",
    "FINAL_STATUSES",
    "PRICE_UNITS",
    "STATUSES",
    "calls_to_frame",
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
DIRECTIONS: tuple[str, ...] = ("inbound", "outbound")
CHANNELS: tuple[str, ...] = ("number", "viber")
#: ``price`` unit -> factor that turns it into euros.
PRICE_UNITS: dict[str, float] = {"EUR": 1.0, "cents": 0.01}

_STR = "str"  # pandas 3's default string dtype (Arrow-backed, NaN for missing)
_UTC = "datetime64[us, UTC]"

#: Column -> dtype of the frame :func:`calls_to_frame` returns, in column order.
#: API fields first (as the API names them), then derived columns.
CALL_DTYPES: dict[str, object] = {
    "call_sid": _STR,
    "parent_call_sid": _STR,
    "account_sid": _STR,
    "number_sid": _STR,
    "created": _UTC,
    "updated": _UTC,
    "started": _UTC,
    "ended": _UTC,
    "from": _STR,
    "to": _STR,
    "direction": pd.CategoricalDtype(list(DIRECTIONS)),
    "status": pd.CategoricalDtype(list(STATUSES)),
    "channel": pd.CategoricalDtype(list(CHANNELS)),
    "duration": "Int64",
    "price": "Float64",
    "timeout": "Int64",
    "controller": _STR,
    "method": _STR,
    "record_sid": _STR,
    "tag": _STR,
    # derived
    "cost_eur": "Float64",
    "setup_seconds": "Float64",
    "talk_seconds": "Float64",
    "is_final": "boolean",
    "destination_country": _STR,
}


def calls_to_frame(records: object, *, price_unit: str = "EUR") -> pd.DataFrame:
    """Build the typed call DataFrame from API call dicts (see :data:`CALL_DTYPES`)."""
    raise NotImplementedError
