"""Private building blocks of the call explorer (:mod:`apifonica_nb.widgets`).

Everything here is plain Python with no widget in sight, so it is tested directly: parsing a
pasted SID list, the summary numbers, the escaped HTML tables, the exports, the plotly
mimebundle for an ``Output`` widget, and a watched view of a :class:`~apifonica_nb.Client`
that lets the explorer count progress and cancel inside the fetch verbs themselves.
"""

from __future__ import annotations

import html
import json
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import quote

import pandas as pd
import plotly.io as pio

from .client import PAGE_LIMIT, CallBatch, Client, validate_call_sid
from .errors import FetchFailuresWarning, InvalidRequestError
from .fetch import fetch_calls, fetch_history

# Separators people paste between SIDs: newlines, spaces, tabs, commas, semicolons.
_SEPARATORS = re.compile(r"[\s,;]+")
# Quotes and brackets around an item, as in a pasted Python list or a quoted CSV column.
_WRAPPERS = "\"'`[](){}"

ExportFormat = Literal["csv", "parquet"]


def parse_sid_list(text: str) -> tuple[list[str], list[str]]:
    """Split pasted call SIDs into ``(valid, invalid)``, each in first-seen order.

    Items may be separated by newlines, spaces, commas or semicolons, and wrapped in quotes or
    brackets (a pasted Python list works). Blank items and repeats are dropped; an item that
    :func:`~apifonica_nb.client.validate_call_sid` refuses (``../x``, 5,000 characters, ...)
    goes to ``invalid`` once.

    >>> parse_sid_list("cal1, cal2\\ncal1  ../x")
    (['cal1', 'cal2'], ['../x'])
    """
    valid: list[str] = []
    invalid: list[str] = []
    seen: set[str] = set()
    for raw in _SEPARATORS.split(text):
        item = raw.strip(_WRAPPERS)
        if not item or item in seen:
            continue
        seen.add(item)
        try:
            valid.append(validate_call_sid(item))
        except InvalidRequestError:
            invalid.append(item)
    return valid, invalid


def shorten(text: str, limit: int = 40) -> str:
    """Cut ``text`` to ``limit`` characters with an ellipsis, for messages about user input."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- summary ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """The numbers of the explorer's summary line."""

    calls: int
    total_cost_eur: float
    #: Finished calls (final status) and, of those, the ones answered (``completed``).
    finished: int
    answered: int
    failures: int

    @property
    def answer_rate(self) -> float | None:
        """Answered calls as a share of finished calls, or None when none has finished."""
        return self.answered / self.finished if self.finished else None


def summarize(df: pd.DataFrame, failures: int = 0) -> Summary:
    """Compute the summary numbers of a call frame (vectorised)."""
    finished = df["is_final"].fillna(False).astype(bool)
    answered = (df["status"].astype("str") == "completed") & finished
    return Summary(
        calls=len(df),
        total_cost_eur=float(df["cost_eur"].sum(skipna=True)),
        finished=int(finished.sum()),
        answered=int(answered.sum()),
        failures=failures,
    )


def summary_html(summary: Summary, *, note: str = "") -> str:
    """Render the summary line; ``note`` (already plain text) says e.g. that a fetch was cut."""
    rate = summary.answer_rate
    parts = [
        f"<b>{summary.calls:,}</b> calls",
        f"total cost <b>{summary.total_cost_eur:,.2f} EUR</b>",
        (
            f"answer rate <b>{rate:.1%}</b> ({summary.answered:,} of {summary.finished:,} "
            "finished calls)"
            if rate is not None
            else "answer rate <b>n/a</b> (no finished calls)"
        ),
        f"<b>{summary.failures:,}</b> failures",
    ]
    text = " · ".join(parts)
    if note:
        text += f' <span class="apifonica-partial">⚠ {html.escape(note)}</span>'
    return f'<div class="apifonica-summary">{text}</div>'


# -- tables -------------------------------------------------------------------------------------


#: Styles of the explorer's tables, scoped to the explorer (an HTML widget in its tree).
CSS = """<style>
.apifonica-explorer table.apifonica-calls, .apifonica-explorer table.apifonica-fail {
  border-collapse: collapse; font-size: var(--jp-ui-font-size1, 12px); }
.apifonica-explorer table.apifonica-calls th, .apifonica-explorer table.apifonica-calls td,
.apifonica-explorer table.apifonica-fail th, .apifonica-explorer table.apifonica-fail td {
  white-space: nowrap; padding: 1px 8px; line-height: 1.5; text-align: left;
  border-bottom: 1px solid var(--jp-border-color2, #e0e0e0); }
.apifonica-explorer table.apifonica-fail td { white-space: normal; }
.apifonica-explorer table thead th { position: sticky; top: 0;
  background: var(--jp-layout-color1, #fff); }
.apifonica-explorer .apifonica-partial { color: var(--jp-warn-color1, #e65100); }
.apifonica-explorer .apifonica-error { color: var(--jp-error-color1, #c62828); }
</style>"""

_TABLE_FIRST = (
    "created",
    "call_sid",
    "status",
    "direction",
    "channel",
    "from",
    "to",
    "destination_country",
    "duration",
    "talk_seconds",
    "cost_eur",
    "tag",
)
_BOX = (
    '<div style="max-height: 20em; overflow: auto; border: 1px solid var(--jp-border-color2, '
    '#ddd)">{}</div>'
)


def table_html(df: pd.DataFrame, *, sort_by: str | None, ascending: bool, rows: int) -> str:
    """Render the first ``rows`` rows of ``df`` sorted by ``sort_by`` as escaped HTML."""
    if df.empty:
        return "<i>No calls match.</i>"
    view = df
    if sort_by is not None and sort_by in df.columns:
        # A stable sort keeps the API's order (newest first) among equal values.
        view = df.sort_values(sort_by, ascending=ascending, kind="stable", na_position="last")
    shown = view.head(max(rows, 0))
    # What happened and what it cost first; the identifiers and raw fields after.
    first = [c for c in _TABLE_FIRST if c in shown.columns]
    shown = shown[first + [c for c in shown.columns if c not in first]]
    table = shown.to_html(index=False, escape=True, na_rep="", border=0, classes="apifonica-calls")
    order = "ascending" if ascending else "descending"
    by = f", sorted by {html.escape(str(sort_by))} ({order})" if view is not df else ""
    caption = f"<small>First {len(shown):,} of {len(df):,} rows{by}.</small>"
    return caption + _BOX.format(table)


def failures_html(failures: list[dict[str, Any]]) -> str:
    """Render the failures (``call_sid``, ``error``, ``message``) as an escaped HTML table."""
    if not failures:
        return "<i>No failures.</i>"
    frame = pd.DataFrame(failures, columns=["call_sid", "error", "message"])
    table = frame.to_html(index=False, escape=True, na_rep="", border=0, classes="apifonica-fail")
    return _BOX.format(table)


# -- charts -------------------------------------------------------------------------------------


def figure_output(fig: Any) -> dict[str, Any]:
    """Return the ``Output`` widget output that shows ``fig`` through plotly's mime renderer.

    Setting ``Output.outputs`` to this needs no kernel and no display hook, and JupyterLab
    renders it with the jupyterlab-plotly extension (plotly.js is not re-sent per figure, as a
    ``FigureWidget`` would re-send its 5 MB front-end module in every widget's state).
    """
    data = json.loads(pio.to_json(fig, validate=False, remove_uids=False))
    data["config"] = {"responsive": True, "displaylogo": False}
    title = fig.layout.title.text or "figure"
    return {
        "output_type": "display_data",
        "data": {
            "application/vnd.plotly.v1+json": data,
            "text/plain": f"<plotly figure: {title}>",
        },
        "metadata": {},
    }


def html_output(markup: str) -> dict[str, Any]:
    """Return an ``Output`` widget output holding ``markup`` as HTML (links resolved by Jupyter)."""
    return {
        "output_type": "display_data",
        "data": {"text/html": markup, "text/plain": re.sub(r"<[^>]+>", "", markup)},
        "metadata": {},
    }


# -- export -------------------------------------------------------------------------------------


def export_frame(df: pd.DataFrame, fmt: ExportFormat, folder: str | os.PathLike[str] = "") -> Path:
    """Write ``df`` to a new timestamped CSV or Parquet file in ``folder`` and return its path.

    ``folder`` defaults to the working directory (the notebook's, in Jupyter) and is created if
    missing. Parquet goes through pyarrow and keeps every dtype (categories, nullable integers,
    UTC datetimes); CSV is plain text for spreadsheets.
    """
    if fmt not in ("csv", "parquet"):
        raise InvalidRequestError(f"export format must be 'csv' or 'parquet', got {fmt!r}")
    target = Path(folder or ".").expanduser().resolve()
    target.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = target / f"calls-{stamp}.{fmt}"
    n = 1
    while path.exists():  # two exports in one second must not overwrite each other
        n += 1
        path = target / f"calls-{stamp}-{n}.{fmt}"
    if fmt == "csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, engine="pyarrow", index=False)
    return path


def export_link_html(path: Path, *, cwd: Path | None = None) -> str:
    """Render a download link to ``path`` relative to ``cwd`` (the notebook), and the full path.

    Jupyter resolves a relative link in an output against the notebook's folder and serves the
    file; the absolute path is there for files outside the notebook's folder.
    """
    base = (cwd or Path.cwd()).resolve()
    rel = Path(os.path.relpath(path, base)).as_posix()
    href = html.escape(quote(rel), quote=True)
    return (
        f'<a href="{href}" download>{html.escape(path.name)}</a> '
        f"<small>({html.escape(str(path))})</small>"
    )


# -- a watched client ---------------------------------------------------------------------------


class FetchCancelled(Exception):
    """Raised inside a fetch verb when the user cancels; the explorer catches it."""


class WatchedClient:
    """Delegate to a :class:`Client`, reporting progress and stopping cleanly when cancelled.

    The explorer hands this to :func:`~apifonica_nb.fetch_history` and
    :func:`~apifonica_nb.fetch_calls`, so the frames it shows are built by the very same code as
    the verbs' (same filters, dtypes and cache use).

    History: after a cancel the page in hand is finished (the API pages ``PAGE_LIMIT`` calls),
    then :class:`FetchCancelled` is raised *inside* ``fetch_history``, so it keeps the pages
    already read in the cache but never takes the cut listing for a complete one; the records
    read are in :attr:`records` (rebuild the frame with :class:`ReplayClient`).

    SID lists: fetched in chunks through :meth:`Client.get_calls`, checking for a cancel
    between chunks. SIDs skipped by a cancel are returned as failures (``fetch_calls`` must know
    every SID it did not get) but kept apart in :attr:`skipped`; real failures are in
    :attr:`failures`.
    """

    def __init__(
        self,
        client: Client,
        *,
        cancel: threading.Event,
        on_progress: Callable[[int, int | None], None],
        chunk_size: int = 40,
    ) -> None:
        self._client = client
        self._cancel = cancel
        self._on_progress = on_progress
        self._chunk_size = max(1, chunk_size)
        #: Calls read: records received plus SIDs that failed.
        self.done = 0
        #: History records read so far, in the order the API listed them.
        self.records: list[dict[str, Any]] = []
        self.failures: list[dict[str, Any]] = []
        #: SIDs never asked for because of a cancel.
        self.skipped: list[str] = []
        #: True when a cancel cut the fetch short.
        self.cancelled = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def __repr__(self) -> str:
        return f"WatchedClient({self._client!r})"

    def iter_calls(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Yield the history like :meth:`Client.iter_calls`; on cancel, end the page and raise."""
        inner = self._client.iter_calls(**filters)
        try:
            for record in inner:
                self.records.append(record)
                self.done += 1
                self._on_progress(self.done, None)
                yield record
                if self._cancel.is_set() and self.done % PAGE_LIMIT == 0:
                    self.cancelled = True
                    raise FetchCancelled(f"cancelled after {self.done} calls")
        finally:
            close = getattr(inner, "close", None)  # a generator: release its connection now
            if close is not None:
                close()

    def get_calls(
        self,
        call_sids: Iterable[object],
        *,
        workers: int = 8,
        progress: bool = True,
        on_record: Callable[[dict[str, Any]], None] | None = None,
    ) -> CallBatch:
        """Fetch like :meth:`Client.get_calls`, a chunk at a time, stopping between chunks."""
        sids = list(dict.fromkeys(call_sids))  # get_calls fetches a repeated SID once
        records: list[dict[str, Any]] = []

        def arrived(record: dict[str, Any]) -> None:
            if on_record is not None:
                on_record(record)
            self.done += 1
            self._on_progress(self.done, len(sids))

        for start in range(0, len(sids), self._chunk_size):
            if self._cancel.is_set():
                self.cancelled = True
                self.skipped = [str(s) for s in sids[start:]]
                break
            batch = self._client.get_calls(
                sids[start : start + self._chunk_size],
                workers=workers,
                progress=False,
                on_record=arrived,
            )
            records.extend(batch.records)
            self.failures.extend(batch.failures)
            self.done += len(batch.failures)
            self._on_progress(self.done, len(sids))
        skipped = [
            {"call_sid": sid, "error": "Cancelled", "message": "not fetched: cancelled"}
            for sid in self.skipped
        ]
        return CallBatch(records, self.failures + skipped)


class ReplayClient:
    """Serve recorded history records as the history, so ``fetch_history`` can rebuild a frame
    from what a cancelled fetch had read (with ``cache=False``: nothing is listed again)."""

    def __init__(self, client: Client | WatchedClient, records: list[dict[str, Any]]) -> None:
        self._client = client
        self._records = records

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def iter_calls(self, **_filters: Any) -> Iterator[dict[str, Any]]:
        """Yield the recorded records (they were listed with the same filters)."""
        return iter(self._records)


def fetch_frame(
    watched: WatchedClient,
    *,
    sids: list[str] | None,
    filters: dict[str, Any],
    workers: int,
    cache: bool | Literal["refresh"],
) -> pd.DataFrame:
    """Fetch ``sids`` (or the history with ``filters``) through the verbs themselves.

    So the explorer's frame is the one code would get. After a cancel, the history frame is
    rebuilt from the records read, by ``fetch_history``'s own rules.
    """
    # The explorer lists failures itself; the verbs' warning about them would be printed under
    # whichever cell runs when its thread finishes. Only warnings attributed to this module are
    # ignored (the verbs warn at their caller, stacklevel=3).
    warnings.filterwarnings(
        "ignore", category=FetchFailuresWarning, module=re.escape(__name__) + r"\Z"
    )
    as_client = cast(Client, watched)
    if sids is not None:
        return fetch_calls(sids, client=as_client, workers=workers, progress=False, cache=cache)
    try:
        return fetch_history(client=as_client, progress=False, cache=cache, **filters)
    except FetchCancelled:
        # cache=False: the cut listing must never be recorded as the whole history.
        replay = cast(Client, ReplayClient(watched, watched.records))
        return fetch_history(client=replay, progress=False, cache=False, **filters)
