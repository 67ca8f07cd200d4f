"""The explorer's run row: Fetch and Cancel, the progress bar, and the message line."""

from __future__ import annotations

import html
import time

import ipywidgets as widgets

from ._job import Fetched
from ._part import Part

__all__ = ["RunControls"]

_PROGRESS_EVERY = 0.1  # seconds between progress updates: each one is a message to the browser


class RunControls(Part):
    """The buttons and the progress of a fetch; ``extra`` widgets sit in the row too."""

    def __init__(self, *extra: widgets.Widget) -> None:
        self.fetch_button = widgets.Button(description="Fetch", button_style="primary", icon="play")
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", disabled=True)
        self.progress = widgets.IntProgress(value=0, min=0, max=1)
        # Its own full-width line below the buttons, wrapping: never cut off mid-word.
        self.progress_label = widgets.HTML(layout=widgets.Layout(width="100%"))
        self.progress_label.add_class("apifonica-progress")
        self.run_row = widgets.VBox(
            [
                widgets.HBox([self.fetch_button, self.cancel_button, *extra, self.progress]),
                self.progress_label,
            ]
        )
        self.message = widgets.HTML()
        self._last_progress = 0.0

    def begin(self) -> None:
        """Show a fetch starting: Fetch disabled, Cancel enabled, an empty bar."""
        self._last_progress = 0.0
        self.fetch_button.disabled = True
        self.cancel_button.disabled = False
        self.message.value = ""
        self.progress.bar_style = "info"
        self.progress.value = 0
        self.progress_label.value = "starting…"

    def say(self, text: str) -> None:
        """Show a short note next to the bar."""
        self.progress_label.value = html.escape(text)

    def cancelling(self) -> None:
        self.cancel_button.disabled = True
        self.progress_label.value = "cancelling…"

    def update(self, done: int, total: int | None) -> None:
        """Show ``done`` of ``total`` calls, at most every ``_PROGRESS_EVERY`` seconds."""
        now = time.monotonic()
        if now - self._last_progress < _PROGRESS_EVERY:
            return
        self._last_progress = now
        if total:
            self.progress.max = max(total, 1)
            self.progress.value = min(done, total)
            self.progress_label.value = f"{done:,} of {total:,} calls"
        else:  # history without a limit: the total is unknown until the last page
            self.progress.max = done + 20
            self.progress.value = done
            self.progress_label.value = f"{done:,} calls read"

    def finish(self, fetched: Fetched, seconds: float) -> None:
        """Show how a fetch ended: a full bar, or where a cancel cut it."""
        self.progress.bar_style = "warning" if fetched.cancelled else "success"
        if not fetched.cancelled:  # the total is known now: a full bar
            self.progress.max = max(fetched.done, 1)
        self.progress.value = min(fetched.done, self.progress.max)
        hits = int(fetched.frame.attrs.get("cache", {}).get("hits") or 0)
        self.progress_label.value = (
            f"{'cancelled' if fetched.cancelled else 'done'}: {len(fetched.frame):,} calls "
            f"in {seconds:.1f} s" + (f" ({hits:,} from the local cache)" if hits else "")
        )

    def failed(self, what: str, text: str) -> None:
        """Show ``what`` failed (e.g. "Fetch") and why, in plain words."""
        self.error(what, text)
        self.progress.bar_style = "danger"
        self.progress_label.value = "failed"

    def error(self, what: str, text: str) -> None:
        """Show an error in the message line, leaving the bar alone."""
        self.message.value = (
            f'<div class="apifonica-error"><b>{html.escape(what)} failed.</b> '
            f"{html.escape(text)}</div>"
        )

    def watching(self, running: bool, *, fetching: bool) -> None:
        """A watch started or ended: Cancel stops it, Fetch waits for it (unless a fetch
        runs too: its buttons stay as they are)."""
        if not fetching:
            self.fetch_button.disabled = running
            self.cancel_button.disabled = not running

    def idle(self) -> None:
        """Show no fetch running: Fetch enabled, Cancel disabled."""
        self.fetch_button.disabled = False
        self.cancel_button.disabled = True
