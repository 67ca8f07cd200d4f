"""The explorer's detail pane: one call, what its status means, its legs, recording and watch.

Filling the fields costs no request (they are the selected row). The legs
(:func:`~apifonica_nb.call_family`) are fetched in a background :class:`~._job.FetchJob`, the
latest selection winning; "Watch" runs :func:`~apifonica_nb.watch_call` in another, stopped
by the explorer's Cancel button. The recording player sends its audio as a binary message,
never in widget state (see :mod:`._player`).
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable

import ipywidgets as widgets
import pandas as pd

from .. import charts
from ..client import Client
from ..errors import ApifonicaError
from ..fetch import call_family, watch_call
from ..frame import STATUS_DESCRIPTIONS
from ..reporting import format_value
from ._html import fields_html, figure_output, html_output
from ._job import FetchJob, FetchRequest
from ._part import Part, close_tree
from ._player import RecordingPlayer

__all__ = ["DetailPane"]

_EMPTY = "<i>Select a row of the table to see that call here.</i>"


def _text(value: object) -> str:
    return "" if value is None or bool(pd.isna(value)) else str(value)  # type: ignore[call-overload]


def meaning_html(status: str, final: bool) -> str:
    """Say what ``status`` means, in the vendor's words, and whether it can still change."""
    said = STATUS_DESCRIPTIONS.get(status, "A status the API documentation does not list.")
    state = "final: it will not change" if final else "in progress: it can still change"
    return (
        f"<b>{html.escape(status or 'unknown')}</b> ({state}). {html.escape(said)}"
        if status
        else "<i>No status.</i>"
    )


class DetailPane(Part):
    """Show one call of the explorer's frame: fields, status meaning, legs, recording, watch.

    ``client`` returns the explorer's client; ``on_watch(True/False)`` tells the explorer a
    watch started or ended (its Cancel button stops it).
    """

    def __init__(
        self, client: Callable[[], Client], on_watch: Callable[[bool], None] | None = None
    ) -> None:
        self._client = client
        self._on_watch = on_watch or (lambda _running: None)
        self._call: pd.DataFrame | None = None
        self._wanted: str | None = None  # the SID whose legs should be shown (latest wins)
        self._legs_job = FetchJob(self._load_legs)
        self._loaded: str | None = None  # the SID whose legs were last fetched
        self._follow: threading.Thread | None = None
        self._watch_job = FetchJob(self._watch)
        self.title = widgets.HTML(_EMPTY)
        self.meaning = widgets.HTML()
        self.fields = widgets.HTML()
        self.legs = widgets.Output(layout=widgets.Layout(width="100%"))
        self.legs_status = widgets.HTML()
        self.recording = widgets.VBox()
        self.watch_button = widgets.Button(
            description="Watch", icon="eye", disabled=True, tooltip="poll until final"
        )
        self.watch_button.on_click(lambda _b: self.start_watch())
        self.watch_view = widgets.HTML()
        #: What the last watch saw (:func:`~apifonica_nb.watch_call`'s frame).
        self.watch_seen: pd.DataFrame | None = None
        fields_box = widgets.Box(
            [self.fields],
            layout=widgets.Layout(max_height="32em", overflow="auto", flex="0 0 auto"),
        )
        side = widgets.VBox(
            [self.legs_status, self.legs, self.recording],
            layout=widgets.Layout(flex="1 1 auto", min_width="0"),
        )
        self.pane = widgets.VBox(
            [
                self.title,
                self.meaning,
                widgets.HBox([self.watch_button, self.watch_view]),
                widgets.HBox([fields_box, side], layout=widgets.Layout(width="100%")),
            ]
        )
        self.pane.add_class("apifonica-detail")

    @property
    def call_sid(self) -> str | None:
        """The SID of the call shown (``None`` before a row is selected)."""
        return None if self._call is None else _text(self._call["call_sid"].iloc[0])

    def show(self, call: pd.DataFrame | None) -> None:
        """Show ``call`` (a one-row call frame), or nothing; start fetching its legs."""
        self._call = call
        for old in self.recording.children:  # a player's comm goes with it
            close_tree(old)
        self.recording.children = ()
        self.legs.outputs = ()
        self.watch_view.value = ""
        if call is None or not len(call):
            self._call = None
            self.title.value, self.meaning.value, self.fields.value = _EMPTY, "", ""
            self.legs_status.value = ""
            self.watch_button.disabled = True
            self._wanted = self._loaded = None
            return
        row = call.iloc[0]
        sid = _text(row["call_sid"])
        status = _text(row.get("status"))
        final = bool(row.get("is_final")) if pd.notna(row.get("is_final")) else False
        self.title.value = f"<h4>Call <code>{html.escape(sid)}</code></h4>"
        self.meaning.value = meaning_html(status, final)
        self.fields.value = fields_html(call)
        self.watch_button.disabled = final or self._watch_job.running
        record = _text(row.get("record_sid"))
        if record:
            try:
                self.recording.children = (RecordingPlayer(record, client=self._client()),)
            except ApifonicaError as exc:
                self.recording.children = (widgets.HTML(html.escape(str(exc))),)
        self._wanted = sid
        self.legs_status.value = "<i>loading the legs…</i>"
        if self._legs_job.start(lambda: FetchRequest("sids", sids=[sid])) is None:
            # One is running: it fetches the latest wanted call before it ends, unless it was
            # ending already; then this follow-up starts another once it has.
            self._follow = threading.Thread(target=self._follow_up, daemon=True)
            self._follow.start()

    def _follow_up(self) -> None:
        self._legs_job.wait()
        sid = self._wanted
        if sid is not None and sid != self._loaded:
            self._legs_job.start(lambda: FetchRequest("sids", sids=[sid]))

    # -- background work ---------------------------------------------------------------------

    def _load_legs(self, _request: FetchRequest, _cancel: threading.Event) -> None:
        """Fetch the legs of the wanted call until the wanted one is shown (latest wins)."""
        while self._wanted is not None and self._wanted != self._loaded:
            sid = self._loaded = self._wanted
            try:
                family = call_family(sid, client=self._client())
                outputs: tuple[dict[str, object], ...] = (figure_output(charts.call_legs(family)),)
                note = f"{len(family)} {'leg' if len(family) == 1 else 'legs'} in the family"
            except ApifonicaError as exc:
                outputs, note = (html_output(f"<i>{html.escape(str(exc))}</i>"),), "no legs"
            if self._wanted == sid:
                self.legs.outputs = outputs
                self.legs_status.value = html.escape(note)
        return None

    def start_watch(self) -> threading.Thread | None:
        """Watch the shown call until its status is final (what the Watch button does)."""
        sid = self.call_sid
        if sid is None:
            return None
        return self._watch_job.start(lambda: self._begin_watch(sid))

    def _begin_watch(self, sid: str) -> FetchRequest:
        self.watch_button.disabled = True
        self.watch_view.value = f"watching <code>{html.escape(sid)}</code>… (Cancel stops it)"
        self._on_watch(True)
        return FetchRequest("sids", sids=[sid])

    def _watch(self, request: FetchRequest, cancel: threading.Event) -> BaseException | None:
        sid = request.sids[0]
        try:
            seen = watch_call(sid, client=self._client(), progress=False, cancel=cancel)
        except ApifonicaError as exc:
            self.watch_view.value = f"watch failed: {html.escape(str(exc))}"
            return exc
        finally:
            self._on_watch(False)
        how = "final" if seen.attrs["final"] else "cancelled" if seen.attrs["cancelled"] else ""
        how = how or "timed out"
        steps = " → ".join(
            f"<i>{html.escape(str(r.status))}</i>"
            if r.inferred
            else f"<b>{html.escape(str(r.status))}</b> {format_value(r.first_seen, 'time')[11:]}"
            for r in seen.itertuples()
        )
        self.watch_view.value = (
            f"{steps or 'no status seen'} <small>({how}; {seen.attrs['requests']} requests; "
            "times UTC; italics: inferred, not seen)</small>"
        )
        self.watch_seen = seen
        if self.call_sid == sid:
            self.watch_button.disabled = bool(seen.attrs["final"])
        return None

    # -- control -----------------------------------------------------------------------------

    def cancel(self) -> bool:
        """Stop a running watch; return whether one was running."""
        return self._watch_job.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the legs and a watch to end; return True when neither is running."""
        follow = self._follow
        if follow is not None:
            follow.join(timeout)
        return self._legs_job.wait(timeout) and self._watch_job.wait(timeout)

    def close(self) -> None:
        """Stop a watch, then close the pane's widgets (the player included)."""
        self.cancel()
        self.wait(10)
        super().close()
