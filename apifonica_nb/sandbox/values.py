"""Turn the sandbox handle's arguments into server values: the clock, the host of its URL."""

from __future__ import annotations

import datetime as dt

__all__ = ["epoch", "url_host"]


def epoch(now: dt.datetime | str | None) -> float | None:
    """Turn a clock value into epoch seconds (a naive datetime is taken as UTC)."""
    if now is None:
        return None
    if isinstance(now, str):
        now = dt.datetime.fromisoformat(now.strip())
    if not isinstance(now, dt.datetime):
        raise TypeError(f"now must be a datetime, an ISO 8601 string or None, not {now!r}")
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    return now.timestamp()


def url_host(host: str) -> str:
    """Return the host to put in URLs for a bind address (a wildcard means loopback)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host
