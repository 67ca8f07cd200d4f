"""What the report's header says: the period and filters asked, the account, the source, when.

Read from ``df.attrs`` (the fetch verbs put what they were asked there, as plain data), with
keyword overrides from :func:`apifonica_nb.report`; the data's own span only when no period
was asked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from ..connect import SANDBOXES, sandbox_calls
from ..summary import Totals

__all__ = ["Header", "header_of"]

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_FILTERS = ("status", "direction", "channel", "tag")


@dataclass(frozen=True)
class Header:
    """The header lines of a report, as plain text (escaped when rendered)."""

    period: str
    filters: str
    account: str
    source: str
    price_rule: str
    generated: str
    #: What makes the numbers partial ("" when the fetch was complete).
    partial: str
    #: Whether the status filter leaves out answered calls (an answer rate means nothing).
    answer_rate_excluded: bool


def _period(query: Mapping[str, Any], total: Totals) -> str:
    since, until = query.get("since"), query.get("until")
    if since and until:
        return f"{since} – {until} (UTC, as asked; by creation time)"
    if since:
        return f"from {since} (UTC, as asked; by creation time)"
    if until:
        return f"until {until} (UTC, as asked; by creation time)"
    if total.period is None:
        return "no period asked; no calls"
    first, last = total.period
    return f"{first:%Y-%m-%d %H:%M} – {last:%Y-%m-%d %H:%M} UTC (no period asked: the calls' span)"


def _words(value: object) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _filters(query: Mapping[str, Any]) -> str:
    if "call_sids" in query:
        return f"{int(query['call_sids']):,} call SIDs given"
    if "call_sid" in query:
        return f"one call: {query['call_sid']}"
    parts = [f"{name} {_words(query[name])}" for name in _FILTERS if query.get(name)]
    if query.get("max_calls") is not None:
        parts.append(f"at most {int(query['max_calls']):,} calls")
    return " · ".join(parts) if parts else "none (every call of the period)"


def _source(base_url: str | None) -> str:
    if not base_url:
        return "not recorded"
    settings = SANDBOXES.settings_of(base_url)
    if settings is not None:
        _calls, seed, now = settings
        clock = f"clock frozen at {now}" if now else "live clock"
        return f"the bundled sandbox ({sandbox_calls(base_url)}; seed {seed}, {clock})"
    host = urlsplit(base_url).hostname or base_url
    if host in _LOOPBACK:
        return f"a local server at {base_url} (a sandbox, not the Apifonica API)"
    return f"the Apifonica API at {host}"


def _price_rule(unit: str | None) -> str:
    if unit == "cents":
        return "price read as euro cents: cost = price ÷ 100 EUR"
    if unit in (None, "EUR"):
        return "price read as EUR: cost = price (the vendor's page says cents; see the README)"
    return f"price read as {unit}"


def _partial(attrs: Mapping[Any, Any], rows: int) -> str:
    if attrs.get("stopped_at") is not None:
        return (
            f"Stopped at {int(attrs['stopped_at']):,} calls (max_calls): more calls match, "
            "so every total below covers only these calls."
        )
    if attrs.get("cancelled"):
        return f"Cancelled after {rows:,} calls: every total below covers only these calls."
    if attrs.get("complete") is False:
        return f"Incomplete: the fetch stopped after {rows:,} calls."
    return ""


def header_of(
    df: pd.DataFrame,
    total: Totals,
    *,
    since: object = None,
    until: object = None,
    filters: Mapping[str, Any] | None = None,
    account: str | None = None,
    source: str | None = None,
    price_unit: str | None = None,
    generated: datetime | None = None,
) -> Header:
    """Build the header of ``df``'s report from its attrs; given keywords override them.

    A lazy frame (``ap.cache.scan()``, Polars, Spark) has no attrs: the header then says
    what the keywords say and "not recorded" for the rest.
    """
    attrs: Mapping[Any, Any] = df.attrs if isinstance(df, pd.DataFrame) else {}
    query: dict[str, Any] = dict(attrs.get("query") or {})
    if filters is not None:
        query = {k: v for k, v in query.items() if k in ("since", "until")} | dict(filters)
    for name, value in (("since", since), ("until", until)):
        if value is not None:
            query[name] = value.isoformat() if hasattr(value, "isoformat") else str(value)
    status = query.get("status")
    statuses: Sequence[str] = [status] if isinstance(status, str) else list(status or [])
    when = (generated or datetime.now(UTC)).astimezone(UTC)
    return Header(
        period=_period(query, total),
        filters=_filters(query),
        account=account or attrs.get("account_sid") or "not recorded",
        source=source or _source(attrs.get("base_url")),
        price_rule=_price_rule(price_unit or attrs.get("price_unit")),
        generated=f"{when:%Y-%m-%d %H:%M} UTC",
        partial=_partial(attrs, total.calls),
        answer_rate_excluded=bool(statuses) and "completed" not in statuses,
    )
