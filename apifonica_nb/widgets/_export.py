"""Exports of the explorer's frame: timestamped CSV/Parquet files and their download links."""

from __future__ import annotations

import html
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import ipywidgets as widgets
import pandas as pd

from ..errors import InvalidRequestError
from ._html import html_output
from ._part import WIDE, Part

__all__ = ["ExportFormat", "ExportPanel", "export_frame", "export_link_html"]

ExportFormat = Literal["csv", "parquet"]


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
    """Render a download link to ``path`` relative to ``cwd`` (the notebook's folder).

    Jupyter (and Voila) resolve a relative link in an output against the notebook's folder and
    serve the file. The server's path is shown only for a file outside that folder, which no
    link can reach: then it says where the file is.
    """
    base = (cwd or Path.cwd()).resolve()
    rel = Path(os.path.relpath(path, base)).as_posix()
    href = html.escape(quote(rel), quote=True)
    link = f'<a href="{href}" download>{html.escape(path.name)}</a>'
    if rel.startswith("../"):
        return f"{link} <small>(outside the notebook's folder: {html.escape(str(path))})</small>"
    return link


class ExportPanel(Part):
    """The export row: a folder field, a button per format, and the links to what was written.

    ``folder_field=False`` leaves the field out (a dashboard: files go next to the notebook,
    where the links can serve them).
    """

    def __init__(self, *, folder_field: bool = True) -> None:
        self.export_dir = widgets.Text(
            description="Folder", placeholder="the notebook's folder", style=WIDE
        )
        self.export_csv_button = widgets.Button(description="Export CSV", icon="download")
        self.export_parquet_button = widgets.Button(description="Export Parquet", icon="download")
        # An Output (not an HTML widget): Jupyter resolves relative links in outputs against
        # the notebook's folder, so the link downloads the file through the server.
        self.export_links = widgets.Output()
        #: Paths of the files exported so far.
        self.exports: list[Path] = []
        row = [self.export_csv_button, self.export_parquet_button]
        self.children: list[widgets.Widget] = [
            widgets.HBox([self.export_dir, *row] if folder_field else row),
            self.export_links,
        ]

    def export(self, df: pd.DataFrame, fmt: ExportFormat, folder: str | os.PathLike[str]) -> Path:
        """Write ``df`` (into ``folder``, else the Folder field) and show a link to the file."""
        path = export_frame(df, fmt, folder or self.export_dir.value.strip())
        self.exports.append(path)
        self.export_links.outputs = (
            *self.export_links.outputs[-3:],
            html_output(f"{fmt.upper()}: {export_link_html(path)}"),
        )
        return path
