"""Raw call dicts in, one typed DataFrame out: the schema, vocabularies, dates, phone numbers.

``frame`` never imports the client side and does no I/O. :func:`calls_to_frame` is the public
edge (it warns); :func:`build_frame` is the pure builder underneath (it returns findings).

Every value is in the form the README's column table documents, or NA, counted as one
finding per field (and one :class:`~apifonica_nb.errors.DataQualityWarning` per field from
:func:`calls_to_frame`). The rules, column by column:

- identifiers (``call_sid``, ``parent_call_sid``, ``account_sid``, ``number_sid``,
  ``record_sid``): opaque strings, stripped; a JSON integer becomes its digits; blank is
  not set. Floats (a SID rounded by a float?), booleans and containers are ruled out.
- ``from``, ``to``: E.164 digits without ``+`` (1-15 digits, not starting with 0). A leading
  ``+`` and single spaces, dashes or dots between digit groups are removed; integers become
  their digits. Anything else (``"anonymous"``, a SIP URI, ``"0031..."``) is ruled out.
- ``created``, ``updated``, ``started``, ``ended``: RFC 2822 with its offset honoured (a
  wrong or missing weekday, full month names, named zones, stray quotes and a leap second
  are read), or ISO 8601 with ``Z`` or an offset; timezone-aware datetimes as they are.
  No offset, a date that does not exist, epoch numbers and NaN are ruled out.
- ``direction``, ``status``, ``channel``: matched to the vocabulary ignoring case, outer
  whitespace and ``_``/``-``/space (``"No-Answer"`` is ``no_answer``); other strings kept as
  they came, appended as categories; non-strings ruled out.
- ``duration``, ``timeout``: whole numbers of 0 or more (``18.0`` and ``"18"`` are 18);
  ``price``: any finite number or numeric string (``"0.0294"``; not ``"1,5"``).
  Booleans, NaN and infinities are ruled out.
- ``method``: ``GET`` or ``POST`` in any case; ``controller``: any string; ``tag``: free
  text as given (an empty tag stays empty).
- derived: ``setup_seconds``/``talk_seconds`` are NA (a finding) when the call's timestamps
  run backwards; ``is_final`` is NA without a status and False for unknown statuses;
  ``cost_eur`` is ``price`` after the unit rule; ``destination_country`` is an ISO region or
  NA. A record field named like a derived column is replaced by it, with a finding.
- one row per ``call_sid`` (:func:`deduplicate`); a record without one is kept, with a finding.
"""

from __future__ import annotations

from .build import build_frame, calls_to_frame
from .dates import NAT, parse_dates
from .dedupe import deduplicate
from .findings import Finding, warn_findings
from .recordings import RECORDING_DTYPES, build_recordings, recordings_to_frame
from .schema import CALL_DTYPES
from .vocab import (
    CHANNELS,
    DIRECTIONS,
    FINAL_STATUSES,
    METHODS,
    PRICE_UNITS,
    STATUS_DESCRIPTIONS,
    STATUSES,
    check_price_unit,
    normalize_filter,
)

__all__ = [
    "CALL_DTYPES",
    "CHANNELS",
    "DIRECTIONS",
    "FINAL_STATUSES",
    "METHODS",
    "NAT",
    "PRICE_UNITS",
    "RECORDING_DTYPES",
    "STATUSES",
    "STATUS_DESCRIPTIONS",
    "Finding",
    "build_frame",
    "build_recordings",
    "calls_to_frame",
    "check_price_unit",
    "deduplicate",
    "normalize_filter",
    "parse_dates",
    "recordings_to_frame",
    "warn_findings",
]
