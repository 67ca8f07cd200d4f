"""The call frame's schema: every column, its dtype and which kind of field it is.

:data:`CALL_DTYPES` is the single source of column names and dtypes: the builder, the cache,
the README's column table and the tests all read it.
"""

from __future__ import annotations

import pandas as pd

from .vocab import CHANNELS, DIRECTIONS, STATUSES

__all__ = [
    "API_FIELDS",
    "CALL_DTYPES",
    "DATE_FIELDS",
    "DERIVED_FIELDS",
    "FLOAT_FIELDS",
    "ID_FIELDS",
    "INT_FIELDS",
    "PHONE_FIELDS",
    "STRING_FIELDS",
]

_STR = "str"  # pandas 3's default string dtype (Arrow-backed, NaN for missing)
_UTC = "datetime64[us, UTC]"

#: Column -> dtype of the frame :func:`~apifonica_nb.frame.calls_to_frame` returns, in column
#: order. API fields first (as the API names them), then derived columns.
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

DERIVED_FIELDS = ("cost_eur", "setup_seconds", "talk_seconds", "is_final", "destination_country")
API_FIELDS = tuple(k for k in CALL_DTYPES if k not in DERIVED_FIELDS)
ID_FIELDS = ("call_sid", "parent_call_sid", "account_sid", "number_sid", "record_sid")
PHONE_FIELDS = ("from", "to")
DATE_FIELDS = ("created", "updated", "started", "ended")
INT_FIELDS = ("duration", "timeout")
FLOAT_FIELDS = ("price",)
#: API fields that arrive as strings (all but the numbers); converted to Arrow together.
STRING_FIELDS = tuple(k for k in API_FIELDS if k not in INT_FIELDS + FLOAT_FIELDS)
