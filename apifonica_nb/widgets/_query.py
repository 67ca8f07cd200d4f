"""The explorer's query section: history filters or a pasted SID list, and the cache choice."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets

from ..errors import InvalidRequestError
from ..frame import CHANNELS, DIRECTIONS, STATUSES
from ._job import FetchRequest
from ._part import WIDE, Part
from ._sids import parse_sid_list, refused, shorten
from ._statuses import StatusPicker

__all__ = ["DEFAULT_MAX_CALLS", "QueryForm"]

#: The form's default "Max calls": a busy month of most accounts, and a bound on memory. A
#: fetch it cuts says so in the summary ("stopped at N: more calls match").
DEFAULT_MAX_CALLS = 50_000


class QueryForm(Part):
    """Two tabs, History (the ``fetch_history`` filters) and Call SIDs, plus the cache choice."""

    def __init__(self) -> None:
        self.since = widgets.DatePicker(description="Since", style=WIDE)
        self.until = widgets.DatePicker(description="Until", style=WIDE)
        self.status = StatusPicker(STATUSES)
        self.direction = widgets.Dropdown(
            options=["any", *DIRECTIONS], description="Direction", style=WIDE
        )
        self.channel = widgets.Dropdown(
            options=["any", *CHANNELS], description="Channel", style=WIDE
        )
        self.tag = widgets.Text(description="Tag", placeholder="any", style=WIDE)
        self.max_calls = widgets.BoundedIntText(
            value=DEFAULT_MAX_CALLS, min=0, max=10_000_000, description="Max calls", style=WIDE
        )
        self.max_calls.tooltip = "0 means no limit"
        max_hint = widgets.HTML("<small>0: no limit; a cut fetch says so</small>")
        self.cache = widgets.Dropdown(
            options=[
                ("use the cache", True),
                ("refresh the cache", "refresh"),
                ("no cache", False),
            ],
            description="Cache",
            style=WIDE,
        )
        history = widgets.VBox(
            [
                widgets.HBox(
                    [
                        widgets.VBox([self.since, self.until, self.direction]),
                        widgets.VBox(
                            [self.channel, self.tag, widgets.HBox([self.max_calls, max_hint])]
                        ),
                    ]
                ),
                self.status.box,
            ]
        )
        self.sids = widgets.Textarea(
            placeholder="Paste call SIDs: one per line, or separated by commas or spaces",
            continuous_update=False,
            layout=widgets.Layout(width="40em", height="9em"),
        )
        self.sids_status = widgets.HTML()
        self.sids.observe(self._sids_changed, names="value")
        self.query = widgets.Tab(
            [history, widgets.VBox([self.sids, self.sids_status])],
            titles=("History", "Call SIDs"),
        )

    def _sids_changed(self, _change: object = None) -> None:
        sids, invalid = parse_sid_list(self.sids.value)
        text = f"{len(sids):,} call SIDs"
        if invalid:
            shown = ", ".join(html.escape(repr(shorten(s))) for s in invalid[:5])
            more = f" and {len(invalid) - 5:,} more" if len(invalid) > 5 else ""
            text += f"; <b>{len(invalid):,} invalid</b>, ignored: {shown}{more}"
        self.sids_status.value = text

    def filters(self) -> dict[str, Any]:
        """Return the history filters of the form as ``fetch_history`` keyword arguments."""
        return {
            "since": self.since.value,
            "until": self.until.value,
            "status": list(self.status.value) or None,
            "direction": None if self.direction.value == "any" else self.direction.value,
            "channel": None if self.channel.value == "any" else self.channel.value,
            "tag": self.tag.value.strip() or None,
            "max_calls": self.max_calls.value or None,
        }

    def request(self) -> FetchRequest:
        """Return what the open tab asks for; an :class:`InvalidRequestError` if nothing."""
        if self.query.selected_index != 1:
            return FetchRequest("history", filters=self.filters(), cache=self.cache.value)
        sids, invalid = parse_sid_list(self.sids.value)
        if not sids:
            raise InvalidRequestError("No valid call SID to fetch: paste some into the box.")
        return FetchRequest("sids", sids=sids, refused=refused(invalid), cache=self.cache.value)
