"""The colours every chart (and the report's swatches) use for statuses and channels.

Public through :mod:`apifonica_nb.charts`: :data:`STATUS_COLORS`, :data:`CHANNEL_COLORS`,
:data:`DIRECTION_PATTERNS`, :data:`FALLBACK_COLOR`, :func:`status_color`, :func:`channel_color`.
"""

from __future__ import annotations

FALLBACK_COLOR = "#7f7f7f"
#: One colour per documented status, in lifecycle order: blues while the call is alive,
#: green for completed, warm colours for the ways a call can fail.
STATUS_COLORS: dict[str, str] = {
    "queued": "#c6dbef",
    "initiated": "#9ecae1",
    "ringing": "#6baed6",
    "answered": "#2171b5",
    "modified": "#9467bd",
    "completed": "#2ca02c",
    "no_answer": "#ffbb78",
    "canceled": "#8c564b",
    "busy": "#ff7f0e",
    "rejected": "#e377c2",
    "failed": "#d62728",
}
CHANNEL_COLORS: dict[str, str] = {"number": "#1f77b4", "viber": "#7360f2"}
#: Bar fill pattern per call direction (colour is left to the channel).
DIRECTION_PATTERNS: dict[str, str] = {"inbound": "", "outbound": "/"}


def status_color(status: object) -> str:
    """Return the colour of ``status`` in every chart (the fallback for unknown ones)."""
    return STATUS_COLORS.get(str(status), FALLBACK_COLOR)


def channel_color(channel: object) -> str:
    """Return the colour of ``channel`` in every chart (the fallback for unknown ones)."""
    return CHANNEL_COLORS.get(str(channel), FALLBACK_COLOR)
