"""The frame's public names under their old module name; they live in :mod:`apifonica_nb.frame`.

Kept so that ``from apifonica_nb.records import STATUS_DESCRIPTIONS`` (in notebooks and
users' code) keeps working. New code imports from :mod:`apifonica_nb.frame`.
"""

from __future__ import annotations

from .frame import (
    CALL_DTYPES,
    CHANNELS,
    DIRECTIONS,
    FINAL_STATUSES,
    PRICE_UNITS,
    STATUS_DESCRIPTIONS,
    STATUSES,
    calls_to_frame,
)

__all__ = [
    "CALL_DTYPES",
    "CHANNELS",
    "DIRECTIONS",
    "FINAL_STATUSES",
    "PRICE_UNITS",
    "STATUSES",
    "STATUS_DESCRIPTIONS",
    "calls_to_frame",
]
