"""The call explorer: an ipywidgets form to fetch calls, read them, chart them and export them.

::

    from apifonica_nb.widgets import CallExplorer

    explorer = CallExplorer()  # credentials from APIFONICA_*, or the bundled sandbox
    explorer                   # the form; Fetch runs in the background
    explorer.frame             # the last DataFrame fetched

Every control is a public attribute, so the form works from plain Python too (set widget
values, call :meth:`CallExplorer.fetch`, read ``explorer.summary.value``).
"""

from __future__ import annotations

import html
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import pandas as pd

from . import charts
from ._widget_parts import (
    CSS,
    ExportFormat,
    WatchedClient,
    export_frame,
    export_link_html,
    failures_html,
    fetch_frame,
    figure_output,
    html_output,
    parse_sid_list,
    shorten,
    summarize,
    summary_html,
    table_html,
)
from .client import DEFAULT_BASE_URL, Client, validate_call_sid
from .errors import ApifonicaError, InvalidRequestError
from .fetch import DEMO_NOW
from .frame import CHANNELS, DIRECTIONS, STATUSES

if TYPE_CHECKING:
    from .sandbox import Sandbox

__all__ = ["CallExplorer", "parse_sid_list"]

#: Tab title -> chart builder, one tab each.
CHARTS: dict[str, Any] = {
    "Calls by status": lambda df: charts.status_counts(df, freq="h"),
    "Status timeline": charts.status_timeline,
    "Durations": charts.duration_histogram,
    "Cost by channel": charts.cost_by_channel,
    "Cost over time": lambda df: charts.cost_over_time(df, freq="D"),
    "Top destinations": lambda df: charts.cost_by_destination(df, top=10),
}
_WIDE = {"description_width": "7em"}
_PROGRESS_EVERY = 0.1  # seconds between progress updates: each one is a message to the browser


@dataclass
class _Job:
    """What one fetch asks for, read from the form in the thread that clicked."""

    kind: str  # "history" or "sids"
    filters: dict[str, Any] = field(default_factory=dict)
    sids: list[str] = field(default_factory=list)
    invalid: list[dict[str, Any]] = field(default_factory=list)


class CallExplorer:
    """An ipywidgets form to fetch calls, with a summary, a table, charts and exports.

    ``client`` connects it to an account (the connection section then just says so);
    without one, the form asks for credentials (prefilled from ``APIFONICA_*``) or starts
    the bundled sandbox. ``rows`` is how many rows the table shows; ``workers`` and
    ``chunk_size`` tune fetching a SID list (cancel takes effect between chunks).

    >>> explorer = CallExplorer(client=ap.connect())
    >>> explorer.since.value = datetime.date(2026, 10, 1)
    >>> df = explorer.fetch()  # what the Fetch button does, but blocking
    """

    def __init__(
        self,
        client: Client | None = None,
        *,
        rows: int = 50,
        workers: int = 8,
        chunk_size: int = 40,
        sandbox_calls: int = 500,
        sandbox_seed: int = 7,
    ) -> None:
        self._client = client
        self._built: Client | None = None  # the client made from the form's fields
        self._token = ""
        self._sandbox: Sandbox | None = None
        self._sandbox_calls = sandbox_calls
        self._sandbox_seed = sandbox_seed
        self._workers = workers
        self._chunk_size = chunk_size
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._running = False
        self._last_progress = 0.0
        self._quiet_table = False
        #: The last DataFrame fetched (``None`` before the first fetch).
        self.frame: pd.DataFrame | None = None
        #: Paths of the files exported so far.
        self.exports: list[Path] = []
        self._build_connection()
        self._build_query(rows)
        self._build_results(rows)
        self.widget = widgets.VBox(
            [
                widgets.HTML(CSS),
                self.connection,
                self.query,
                self.run_row,
                self.message,
                self.results,
            ]
        )
        self.widget.add_class("apifonica-explorer")

    # -- construction of the form ---------------------------------------------------------------

    def _build_connection(self) -> None:
        self.source = widgets.ToggleButtons(
            options=[("Apifonica API", "api"), ("Sandbox", "sandbox")],
            description="Source",
            style=_WIDE,
        )
        self.account_sid = widgets.Text(description="Account SID", placeholder="acc…", style=_WIDE)
        # continuous_update=False: the value arrives once (Enter or leaving the field), so the
        # token can be moved out of the widget without cutting the user's typing short.
        self.auth_token = widgets.Password(
            description="Auth token",
            placeholder="paste it, then press Enter",
            continuous_update=False,
            style=_WIDE,
        )
        self.token_status = widgets.Label("no token set")
        self.base_url = widgets.Text(description="Base URL", value=DEFAULT_BASE_URL, style=_WIDE)
        self.connection_status = widgets.HTML()
        self.auth_token.observe(self._take_token, names="value")
        for field_widget in (self.source, self.account_sid, self.base_url):
            field_widget.observe(self._connection_changed, names="value")
        if self._client is not None:
            self.connection_status.value = (
                f"Connected as account <code>{html.escape(self._client.account_sid)}</code> "
                f"at <code>{html.escape(self._client.base_url)}</code>."
            )
            body: widgets.Widget = self.connection_status
            title = f"Connection ✓ {self._client.account_sid}"
        else:
            env_sid = os.environ.get("APIFONICA_ACCOUNT_SID", "")
            env_token = os.environ.get("APIFONICA_AUTH_TOKEN", "")
            self.account_sid.value = env_sid
            self.base_url.value = os.environ.get("APIFONICA_BASE_URL") or DEFAULT_BASE_URL
            if env_token:
                self._token = env_token.strip()
                self.token_status.value = "token set ✓ (from APIFONICA_AUTH_TOKEN)"
            self.source.value = "api" if env_sid else "sandbox"
            body = widgets.VBox(
                [
                    self.source,
                    self.account_sid,
                    widgets.HBox([self.auth_token, self.token_status]),
                    self.base_url,
                    self.connection_status,
                ]
            )
            title = "Connection"
            self._connection_changed()
        self.connection = widgets.Accordion([body], titles=(title,))
        self.connection.selected_index = None if self._client is not None else 0

    def _build_query(self, rows: int) -> None:
        self.since = widgets.DatePicker(description="Since", style=_WIDE)
        self.until = widgets.DatePicker(description="Until", style=_WIDE)
        self.status = widgets.SelectMultiple(
            options=list(STATUSES), rows=6, description="Status", style=_WIDE
        )
        self.direction = widgets.Dropdown(
            options=["any", *DIRECTIONS], description="Direction", style=_WIDE
        )
        self.channel = widgets.Dropdown(
            options=["any", *CHANNELS], description="Channel", style=_WIDE
        )
        self.tag = widgets.Text(description="Tag", placeholder="any", style=_WIDE)
        self.max_calls = widgets.BoundedIntText(
            value=1000, min=0, max=10_000_000, description="Max calls", style=_WIDE
        )
        self.max_calls.tooltip = "0 means no limit"
        self.cache = widgets.Dropdown(
            options=[
                ("use the cache", True),
                ("refresh the cache", "refresh"),
                ("no cache", False),
            ],
            description="Cache",
            style=_WIDE,
        )
        history = widgets.HBox(
            [
                widgets.VBox([self.since, self.until, self.direction, self.channel]),
                widgets.VBox([self.status, self.tag, self.max_calls]),
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
        self.fetch_button = widgets.Button(description="Fetch", button_style="primary", icon="play")
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", disabled=True)
        self.progress = widgets.IntProgress(value=0, min=0, max=1)
        self.progress_label = widgets.Label()
        self.fetch_button.on_click(lambda _b: self.start())
        self.cancel_button.on_click(lambda _b: self.cancel())
        self.run_row = widgets.HBox(
            [self.fetch_button, self.cancel_button, self.cache, self.progress, self.progress_label]
        )
        self.message = widgets.HTML()

    def _build_results(self, rows: int) -> None:
        self.summary = widgets.HTML("<i>Fetch to see calls.</i>")
        self.sort_by = widgets.Dropdown(options=["created"], description="Sort by", style=_WIDE)
        self.ascending = widgets.ToggleButton(value=False, description="descending", icon="sort")
        self.ascending.observe(
            lambda c: setattr(
                self.ascending, "description", "ascending" if c["new"] else "descending"
            ),
            names="value",
        )
        self.rows = widgets.BoundedIntText(value=rows, min=1, max=100_000, description="Rows")
        self.table = widgets.HTML()
        for control in (self.sort_by, self.ascending, self.rows):
            control.observe(lambda _c: self._render_table(), names="value")
        self.chart_outputs = {title: widgets.Output() for title in CHARTS}
        self.charts = widgets.Tab(list(self.chart_outputs.values()), titles=tuple(CHARTS))
        self.failures_table = widgets.HTML("<i>No failures.</i>")
        self.failures_box = widgets.Accordion([self.failures_table], titles=("Failures",))
        self.failures_box.selected_index = None
        self.export_dir = widgets.Text(
            description="Folder", placeholder="the notebook's folder", style=_WIDE
        )
        self.export_csv_button = widgets.Button(description="Export CSV", icon="download")
        self.export_parquet_button = widgets.Button(description="Export Parquet", icon="download")
        self.export_csv_button.on_click(lambda _b: self._export_clicked("csv"))
        self.export_parquet_button.on_click(lambda _b: self._export_clicked("parquet"))
        # An Output (not an HTML widget): Jupyter resolves relative links in outputs against
        # the notebook's folder, so the link downloads the file through the server.
        self.export_links = widgets.Output()
        self.results = widgets.VBox(
            [
                self.summary,
                widgets.HBox([self.sort_by, self.ascending, self.rows]),
                self.table,
                self.charts,
                self.failures_box,
                widgets.HBox([self.export_dir, self.export_csv_button, self.export_parquet_button]),
                self.export_links,
            ]
        )

    # -- connection -----------------------------------------------------------------------------

    def _take_token(self, change: dict[str, Any]) -> None:
        """Move a typed token out of the Password widget, so no widget state ever holds it."""
        value = str(change["new"] or "")
        if not value:
            return
        self._token = value.strip()
        self.auth_token.value = ""
        self.token_status.value = "token set ✓" if self._token else "no token set"
        self._built = None

    def _connection_changed(self, _change: object = None) -> None:
        self._built = None
        api = self.source.value == "api"
        for control in (self.account_sid, self.auth_token, self.base_url):
            control.disabled = not api
        if api:
            self.connection_status.value = ""
        elif self._sandbox is None:
            self.connection_status.value = (
                f"A local sandbox ({self._sandbox_calls} seeded calls) starts on Fetch."
            )

    def _connect(self) -> Client:
        """Return the client to fetch with: the one given, the sandbox's, or the form's."""
        if self._client is not None:
            return self._client
        if self._built is not None:
            return self._built
        if self.source.value == "sandbox":
            if self._sandbox is None:
                from . import sandbox  # deferred: only a sandbox user needs the server

                self.progress_label.value = "starting the sandbox…"
                self._sandbox = sandbox.start(
                    calls=self._sandbox_calls, seed=self._sandbox_seed, now=DEMO_NOW
                )
                self.connection_status.value = (
                    f"Sandbox running at <code>{html.escape(self._sandbox.url)}</code> "
                    f"({len(self._sandbox.call_sids)} calls, clock frozen at {DEMO_NOW})."
                )
            self._built = self._sandbox.client()
        else:
            self._built = Client(
                account_sid=self.account_sid.value,
                auth_token=self._token,
                base_url=self.base_url.value.strip() or DEFAULT_BASE_URL,
            )
        return self._built

    # -- what to fetch --------------------------------------------------------------------------

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

    def _job(self) -> _Job:
        if self.query.selected_index != 1:
            return _Job("history", filters=self.filters())
        sids, invalid = parse_sid_list(self.sids.value)
        if not sids:
            raise InvalidRequestError("No valid call SID to fetch: paste some into the box.")
        failures = []
        for sid in invalid:
            try:
                validate_call_sid(sid)
            except InvalidRequestError as exc:
                failures.append({"call_sid": sid, "error": type(exc).__name__, "message": str(exc)})
        return _Job("sids", sids=sids, invalid=failures)

    # -- fetching -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether a fetch is in progress."""
        return self._running

    @property
    def failures(self) -> pd.DataFrame:
        """The calls the last fetch could not get (``call_sid``, ``error``, ``message``)."""
        listed = [] if self.frame is None else self.frame.attrs.get("failures", [])
        return pd.DataFrame(listed, columns=["call_sid", "error", "message"])

    def start(self) -> threading.Thread | None:
        """Start a fetch in a background thread (what the Fetch button does) and return it."""
        with self._lock:
            if self._running:
                return None
            try:
                job = self._job()
            except ApifonicaError as exc:
                self._show_error(exc)
                return None
            self._begin()
            self._thread = threading.Thread(
                target=self._work, args=(job,), name="apifonica-explorer", daemon=True
            )
        self._thread.start()
        return self._thread

    def fetch(self) -> pd.DataFrame:
        """Fetch as the Fetch button does, but in this thread; return the DataFrame.

        Errors are shown in the form and raised. After a :meth:`cancel` from another thread
        the partial frame is returned (``df.attrs["partial"]`` is True).
        """
        with self._lock:
            if self._running:
                raise InvalidRequestError("A fetch is already running: cancel() it or wait().")
            try:
                job = self._job()
            except ApifonicaError as exc:
                self._show_error(exc)
                raise
            self._begin()
        error = self._work(job)
        if error is not None:
            raise error
        assert self.frame is not None
        return self.frame

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a background fetch to end; return True when none is running."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self._running

    def cancel(self) -> None:
        """Stop the running fetch at the next page or chunk; what was fetched is kept."""
        if self._running:
            self._cancel.set()
            self.cancel_button.disabled = True
            self.progress_label.value = "cancelling…"

    def _begin(self) -> None:
        self._running = True
        self._cancel = threading.Event()
        self._last_progress = 0.0
        self.fetch_button.disabled = True
        self.cancel_button.disabled = False
        self.message.value = ""
        self.progress.bar_style = "info"
        self.progress.value = 0
        self.progress_label.value = "starting…"

    def _work(self, job: _Job) -> BaseException | None:
        """Run one fetch and show its outcome; never raises (the error is returned)."""
        started = time.perf_counter()
        try:
            client = self._connect()
            limit = job.filters.get("max_calls") if job.kind == "history" else len(job.sids)
            watched = WatchedClient(
                client,
                cancel=self._cancel,
                on_progress=lambda done, total: self._progress(done, total or limit),
                chunk_size=self._chunk_size,
            )
            df = fetch_frame(
                watched,
                sids=job.sids if job.kind == "sids" else None,
                filters=job.filters,
                workers=self._workers,
                cache=self.cache.value,
            )
            df.attrs["failures"] = job.invalid + watched.failures
            df.attrs["partial"] = watched.cancelled
            note = ""
            if watched.cancelled:
                note = f"partial: cancelled after {watched.done:,} calls were read"
                if watched.skipped:
                    note += f"; {len(watched.skipped):,} SIDs were not fetched"
            self.frame = df
            self._show_results(df, note)
            self.progress.bar_style = "warning" if watched.cancelled else "success"
            if not watched.cancelled:  # the total is known now: a full bar
                self.progress.max = max(watched.done, 1)
            self.progress.value = min(watched.done, self.progress.max)
            hits = int(df.attrs.get("cache", {}).get("hits") or 0)
            self.progress_label.value = (
                f"{'cancelled' if watched.cancelled else 'done'}: {len(df):,} calls "
                f"in {time.perf_counter() - started:.1f} s"
                + (f" ({hits:,} from the local cache)" if hits else "")
            )
            return None
        except Exception as exc:  # shown in the form: a notebook user never sees a traceback
            self._show_error(exc)
            return exc
        finally:
            self._running = False
            self.fetch_button.disabled = False
            self.cancel_button.disabled = True

    def _progress(self, done: int, total: int | None) -> None:
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

    def _show_error(self, exc: BaseException) -> None:
        if isinstance(exc, ApifonicaError):
            text = str(exc)
        else:
            text = f"Unexpected {type(exc).__name__}: {exc} (this is a bug in apifonica_nb)"
        if self._token:
            text = text.replace(self._token, "***")
        self.message.value = (
            f'<div class="apifonica-error"><b>Fetch failed.</b> {html.escape(text)}</div>'
        )
        self.progress.bar_style = "danger"
        self.progress_label.value = "failed"

    # -- results --------------------------------------------------------------------------------

    def _show_results(self, df: pd.DataFrame, note: str) -> None:
        failures = df.attrs.get("failures", [])
        self.summary.value = summary_html(summarize(df, len(failures)), note=note)
        columns = list(df.columns)
        keep = self.sort_by.value if self.sort_by.value in columns else None
        self._quiet_table = True  # new options reset the value: render once, at the end
        try:
            self.sort_by.options = columns
            self.sort_by.value = keep or ("created" if "created" in columns else columns[0])
        finally:
            self._quiet_table = False
        self._render_table()
        for title, build in CHARTS.items():
            try:
                output = figure_output(build(df))
            except Exception as exc:  # one broken chart must not hide the others
                output = html_output(f"<i>Chart unavailable: {html.escape(str(exc))}</i>")
            self.chart_outputs[title].outputs = (output,)
        self.failures_table.value = failures_html(failures)
        self.failures_box.set_title(0, f"Failures ({len(failures):,})")

    def _render_table(self) -> None:
        if self.frame is not None and not self._quiet_table:
            self.table.value = table_html(
                self.frame,
                sort_by=self.sort_by.value,
                ascending=self.ascending.value,
                rows=self.rows.value,
            )

    def export(
        self, fmt: ExportFormat = "csv", folder: str | os.PathLike[str] | None = None
    ) -> Path:
        """Write the current frame to a CSV or Parquet file and add a download link to the form.

        ``folder`` defaults to the form's Folder field, then to the working directory.
        """
        if self.frame is None:
            raise InvalidRequestError("Nothing to export yet: fetch some calls first.")
        path = export_frame(self.frame, fmt, folder or self.export_dir.value.strip())
        self.exports.append(path)
        self.export_links.outputs = (
            *self.export_links.outputs[-3:],
            html_output(f"{fmt.upper()}: {export_link_html(path)}"),
        )
        return path

    def _export_clicked(self, fmt: ExportFormat) -> None:
        try:
            self.export(fmt)
        except (ApifonicaError, OSError, ValueError) as exc:
            self.message.value = (
                f'<div class="apifonica-error"><b>Export failed.</b> {html.escape(str(exc))}</div>'
            )

    # -- display and lifetime -------------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        rows = "no frame" if self.frame is None else f"{len(self.frame)} calls"
        return f"CallExplorer(client={self._client!r}, {rows})"

    def close(self) -> None:
        """Cancel a running fetch, stop the sandbox this explorer started, close its widgets."""
        self.cancel()
        self.wait(30)
        if self._sandbox is not None:
            self._sandbox.stop()
            self._sandbox = None
        # Every control is an attribute, shown or not (with a client, the credential fields
        # are never shown); containers are reached through the tree.
        owned = [w for w in vars(self).values() if isinstance(w, widgets.Widget)]
        for widget in [*owned, *self.chart_outputs.values()]:
            _close_tree(widget)


def _close_tree(widget: widgets.Widget) -> None:
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    widget.close()
