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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import pandas as pd
import plotly.io as pio

from .client import PAGE_LIMIT, CallBatch, Client, validate_call_sid
from .errors import InvalidRequestError

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


_BOX = (
    '<div style="max-height: 22em; overflow: auto; border: 1px solid var(--jp-border-color2, '
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


class WatchedClient:
    """Delegate to a :class:`Client`, reporting progress and stopping cleanly when cancelled.

    The explorer hands this to :func:`~apifonica_nb.fetch_history` and
    :func:`~apifonica_nb.fetch_calls`, so the frames it shows are built by the very same code as
    the verbs' (same filters, same dtypes, same cache use). History: after a cancel the page in
    hand is finished (the API pages ``PAGE_LIMIT`` calls) and no further page is requested.
    SID lists: fetched in chunks through :meth:`Client.get_calls`, checking for a cancel
    between chunks; failures are kept here rather than returned, so ``fetch_calls`` never warns
    from the explorer's background thread (the explorer shows them in its failures table).
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
        #: Calls read (records received plus SIDs that failed).
        self.done = 0
        self.failures: list[dict[str, Any]] = []
        #: True when a cancel cut the fetch short.
        self.cancelled = False
        #: SIDs never asked for because of a cancel.
        self.skipped = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def __repr__(self) -> str:
        return f"WatchedClient({self._client!r})"

    def iter_calls(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Yield the history like :meth:`Client.iter_calls`, stopping at a page end on cancel."""
        inner = self._client.iter_calls(**filters)
        try:
            for record in inner:
                self.done += 1
                self._on_progress(self.done, None)
                yield record
                if self._cancel.is_set() and self.done % PAGE_LIMIT == 0:
                    self.cancelled = True
                    return
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
        sids = list(call_sids)
        records: list[dict[str, Any]] = []

        def arrived(record: dict[str, Any]) -> None:
            if on_record is not None:
                on_record(record)
            self.done += 1
            self._on_progress(self.done, len(sids))

        for start in range(0, len(sids), self._chunk_size):
            if self._cancel.is_set():
                self.cancelled = True
                self.skipped = len(sids) - start
                break
            chunk = sids[start : start + self._chunk_size]
            batch = self._client.get_calls(
                chunk, workers=workers, progress=False, on_record=arrived
            )
            records.extend(batch.records)
            self.failures.extend(batch.failures)
            self.done += len(batch.failures)
            self._on_progress(self.done, len(sids))
        return CallBatch(records, [])
