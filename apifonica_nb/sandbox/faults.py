"""Fault injection settings of the sandbox: which faults exist, their options, and checking them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["FAULT_DEFAULTS", "FAULT_RATES", "PAGE", "normalize_faults"]

#: Fault kinds, each a per-request probability; at most one fault hits a request, so the
#: rates are exact shares of requests (their sum must not exceed 1).
FAULT_RATES: tuple[str, ...] = (
    "error_rate",  # 500/502/503 with a JSON error body
    "rate_limit_rate",  # 429 with Retry-After
    "drop_rate",  # connection closed without any response
    "truncate_rate",  # the real response with its body cut short (Content-Length matches)
    "html_rate",  # an HTML page instead of JSON, like a proxy's error page
    "hang_rate",  # wait hang_seconds before answering (client timeout tests)
)
#: Options of the faults and their defaults. ``arrivals_per_page`` is a behaviour, not a
#: rate: that many new calls arrive at the head of the history between two page requests,
#: and the ``next`` cursor is an offset, so the last ``arrivals_per_page`` calls of each call
#: history page are listed again at the top of the next one (as offset-like cursors do when a
#: busy account gets new calls while it is being read). 0 (default): cursors never overlap.
FAULT_DEFAULTS: dict[str, Any] = {
    "error_statuses": (500, 502, 503),
    "retry_after": 1,
    "retry_after_http_date": False,
    "html_status": 200,
    "hang_seconds": 60.0,
    "arrivals_per_page": 0,
}
PAGE = 20  # the vendor's default and maximum page size


def normalize_faults(faults: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate a faults dict and return a plain copy (unknown keys are an error, not ignored)."""
    out = dict(faults or {})
    unknown = set(out) - set(FAULT_RATES) - set(FAULT_DEFAULTS)
    if unknown:
        known = ", ".join((*FAULT_RATES, *FAULT_DEFAULTS))
        raise ValueError(f"unknown fault option(s) {sorted(unknown)}; known: {known}")
    for key in FAULT_RATES:
        rate = float(out.get(key, 0.0))
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{key} must be between 0 and 1, got {rate}")
    if sum(float(out.get(k, 0.0)) for k in FAULT_RATES) > 1.0 + 1e-9:
        raise ValueError("the fault rates add up to more than 1")
    if "error_statuses" in out:
        out["error_statuses"] = [int(s) for s in out["error_statuses"]]
    if "arrivals_per_page" in out:
        arrivals = out["arrivals_per_page"]
        if isinstance(arrivals, bool) or not isinstance(arrivals, int) or not 0 <= arrivals < PAGE:
            raise ValueError(f"arrivals_per_page must be a whole number from 0 to {PAGE - 1}")
    return out
