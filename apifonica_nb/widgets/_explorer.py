"""The call explorer: a form to fetch calls, read them, chart them and export them."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pandas as pd

from ..client import Client
from ..errors import ApifonicaError, InvalidRequestError
from ._connection import ConnectionForm
from ._detail import DetailPane
from ._export import ExportFormat, ExportPanel
from ._fetching import fetch as fetch_verbs
from ._html import CSS
from ._job import FetchJob, FetchRequest
from ._part import close_tree
from ._query import QueryForm
from ._results import CHARTS, ChartTab, ResultsView
from ._run import RunControls

__all__ = ["CallExplorer"]


class CallExplorer:
    """An ipywidgets form to fetch calls, with a summary, a table, charts and exports.

    ``client`` connects it to an account (the connection section then just says so);
    without one, the form asks for credentials (prefilled from ``APIFONICA_*``) or starts
    the bundled sandbox. ``rows`` is the table's page length; ``workers`` is the
    fetch verbs' ``workers=`` (a cancel stops them within a second). ``tabs`` are the result
    tabs (default :data:`~apifonica_nb.widgets.CHARTS`; each a
    :class:`~apifonica_nb.widgets.ChartTab`, drawn when first shown). ``dashboard=True`` suits
    a Voila page: exports go to the notebook's folder, with no Folder field and no server path.

    Every control is a public attribute (``since``, ``status``, ``sids``, ``fetch_button``,
    ``summary``, ``table``, ...), so the form works from plain Python too.

    >>> explorer = CallExplorer(client=ap.connect())
    >>> explorer.since.value = datetime.date(2026, 10, 1)
    >>> df = explorer.fetch()  # what the Fetch button does, but blocking
    """

    def __init__(
        self,
        client: Client | None = None,
        *,
        rows: int = 10,
        workers: int = 8,
        sandbox_calls: int = 500,
        sandbox_seed: int = 7,
        tabs: Sequence[ChartTab] = CHARTS,
        dashboard: bool = False,
    ) -> None:
        self._client = client
        self._workers = workers
        self._connection = ConnectionForm(
            client, sandbox_calls=sandbox_calls, sandbox_seed=sandbox_seed
        )
        self._query = QueryForm()
        self._run = RunControls(self._query.cache)
        self._export = ExportPanel(folder_field=not dashboard)
        self._detail = DetailPane(
            lambda: self._connection.client(say=self._run.say),
            on_watch=lambda on: self._run.watching(on, fetching=self._job.running),
        )
        self._results = ResultsView(
            rows, footer=self._export.children, tabs=tabs, detail=self._detail.pane
        )
        self._results.calls.on_select = self._detail.show
        self._job = FetchJob(self._work)
        #: The last DataFrame fetched (``None`` before the first fetch).
        self.frame: pd.DataFrame | None = None
        #: Paths of the files exported so far.
        self.exports: list[Path] = self._export.exports
        self._expose_controls()
        self._run.fetch_button.on_click(lambda _b: self.start())
        self._run.cancel_button.on_click(lambda _b: self.cancel())
        self._export.export_csv_button.on_click(lambda _b: self._export_clicked("csv"))
        self._export.export_parquet_button.on_click(lambda _b: self._export_clicked("parquet"))
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

    def _expose_controls(self) -> None:
        """Make the parts' controls attributes of the explorer, where scripts find them."""
        connection, query, run = self._connection, self._query, self._run
        results, export = self._results, self._export
        self.source = connection.source
        self.account_sid = connection.account_sid
        self.auth_token = connection.auth_token
        self.token_status = connection.token_status
        self.base_url = connection.base_url
        self.connection_status = connection.connection_status
        self.connection = connection.connection
        self.since = query.since
        self.until = query.until
        self.status = query.status
        self.direction = query.direction
        self.channel = query.channel
        self.tag = query.tag
        self.max_calls = query.max_calls
        self.cache = query.cache
        self.sids = query.sids
        self.sids_status = query.sids_status
        self.query = query.query
        self.fetch_button = run.fetch_button
        self.cancel_button = run.cancel_button
        self.progress = run.progress
        self.progress_label = run.progress_label
        self.run_row = run.run_row
        self.message = run.message
        self.summary = results.summary
        self.table = results.table
        self.detail = self._detail.pane
        self.detail_title = self._detail.title
        self.detail_fields = self._detail.fields
        self.status_meaning = self._detail.meaning
        self.legs = self._detail.legs
        self.recording = self._detail.recording
        self.watch_button = self._detail.watch_button
        self.watch_view = self._detail.watch_view
        self.chart_outputs = results.chart_outputs
        self.charts = results.charts
        self.failures_table = results.failures_table
        self.failures_box = results.failures_box
        self.results = results.results
        self.export_dir = export.export_dir
        self.export_csv_button = export.export_csv_button
        self.export_parquet_button = export.export_parquet_button
        self.export_links = export.export_links

    # -- fetching -------------------------------------------------------------------------------

    def filters(self) -> dict[str, Any]:
        """Return the history filters of the form as ``fetch_history`` keyword arguments."""
        return self._query.filters()

    @property
    def running(self) -> bool:
        """Whether a fetch is in progress."""
        return self._job.running

    @property
    def failures(self) -> pd.DataFrame:
        """The calls the last fetch could not get (``call_sid``, ``error``, ``message``)."""
        listed = [] if self.frame is None else self.frame.attrs.get("failures", [])
        return pd.DataFrame(listed, columns=["call_sid", "error", "message"])

    def start(self) -> threading.Thread | None:
        """Start a fetch in a background thread (what the Fetch button does) and return it."""
        try:
            return self._job.start(self._prepare)
        except ApifonicaError:  # shown in the form by _prepare
            return None

    def fetch(self) -> pd.DataFrame:
        """Fetch as the Fetch button does, but in this thread; return the DataFrame.

        Errors are shown in the form and raised. After a :meth:`cancel` from another thread
        the partial frame is returned (``df.attrs["partial"]`` is True).
        """
        error = self._job.run(self._prepare)
        if error is not None:
            raise error
        assert self.frame is not None
        return self.frame

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a fetch, and the detail pane's legs and watch; True when none is running."""
        return self._job.wait(timeout) and self._detail.wait(timeout)

    def cancel(self) -> None:
        """Stop the running fetch or watch (within a second); what was fetched is kept."""
        if self._job.cancel() | self._detail.cancel():
            self._run.cancelling()

    # -- investigating one call -----------------------------------------------------------------

    def select(self, call_sid: str) -> bool:
        """Select the row of ``call_sid`` and show it in the detail pane, as a click does."""
        return self._results.calls.select(call_sid)

    @property
    def selected(self) -> pd.DataFrame | None:
        """The call shown in the detail pane, as a one-row frame (``None``: no row selected)."""
        return self._results.calls.selected()

    def watch(self) -> threading.Thread | None:
        """Watch the selected call until final, in the background (the Watch button)."""
        return self._detail.start_watch()

    def _prepare(self) -> FetchRequest:
        try:
            request = self._query.request()
        except ApifonicaError as exc:
            self._show_error(exc)
            raise
        self._run.begin()
        return request

    def _work(self, request: FetchRequest, cancel: threading.Event) -> BaseException | None:
        """Run one fetch and show its outcome; never raises (the error is returned)."""
        started = time.perf_counter()
        try:
            fetched = fetch_verbs(
                self._connection.client(say=self._run.say),
                request,
                cancel=cancel,
                on_progress=self._run.update,
                workers=self._workers,
            )
            self.frame = fetched.frame
            self._results.show(fetched.frame, fetched.note)
            self._run.finish(fetched, time.perf_counter() - started)
            return None
        except Exception as exc:  # shown in the form: a notebook user never sees a traceback
            self._show_error(exc)
            return exc
        finally:
            self._run.idle()

    def _show_error(self, exc: BaseException) -> None:
        if isinstance(exc, ApifonicaError):
            text = str(exc)
        else:
            text = f"Unexpected {type(exc).__name__}: {exc} (this is a bug in apifonica_nb)"
        self._run.failed("Fetch", self._connection.mask(text))

    # -- export ---------------------------------------------------------------------------------

    def export(
        self, fmt: ExportFormat = "csv", folder: str | os.PathLike[str] | None = None
    ) -> Path:
        """Write the current frame to a CSV or Parquet file and add a download link to the form.

        ``folder`` defaults to the form's Folder field, then to the working directory.
        """
        if self.frame is None:
            raise InvalidRequestError("Nothing to export yet: fetch some calls first.")
        return self._export.export(self.frame, fmt, folder or "")

    def _export_clicked(self, fmt: ExportFormat) -> None:
        try:
            self.export(fmt)
        except (ApifonicaError, OSError, ValueError) as exc:
            self._run.error("Export", str(exc))

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
        parts = (self._connection, self._query, self._run, self._results, self._detail)
        for part in (*parts, self._export):
            part.close()
        close_tree(self.widget)
