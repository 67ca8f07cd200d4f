"""The explorer's call table: itables' DataTables widget (search, sort, pages, one row selected).

itables bundles DataTables in its widget's module (no CDN: it works offline and on Binder).
The cells are the report's formatting (:func:`~._html.table_frame`), as text whose units are
in the headers, so DataTables still sorts the numbers as numbers. Selecting a row calls
``on_select`` with that call as a one-row frame of the full call frame (every column).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import pandas as pd
from itables.widget import ITable

from ._html import table_frame
from ._part import Part

__all__ = ["MAX_TABLE_ROWS", "CallTable"]

#: The most calls the table holds: its data is widget state sent to the browser (about
#: 200 bytes a call). Beyond it the caption says so; the frame and the exports have them all.
MAX_TABLE_ROWS = 10_000


class CallTable(Part):
    """An interactive table of a call frame; ``on_select(call)`` hears the selected row."""

    def __init__(
        self,
        *,
        page_length: int = 10,
        max_rows: int = MAX_TABLE_ROWS,
        on_select: Callable[[pd.DataFrame | None], None] | None = None,
    ) -> None:
        self._page_length = page_length
        self._max_rows = max_rows
        self._frame: pd.DataFrame | None = None
        self.on_select = on_select
        self.caption = widgets.HTML()
        empty, _ = table_frame(pd.DataFrame({"call_sid": pd.Series([], dtype="str")}))
        self.table = ITable(empty, **self._options([]))
        self.table.observe(self._selected, names="selected_rows")

    def _options(self, numeric: list[int]) -> dict[str, Any]:
        options: dict[str, Any] = {
            "select": {"style": "single"},
            "selected_rows": [],
            "showIndex": False,
            "maxBytes": 0,  # never itables' downsampling (it drops rows from the middle)
            "pageLength": self._page_length,
            "classes": "display compact nowrap cell-border",
        }
        if numeric:
            options["columnDefs"] = [{"className": "dt-right", "targets": numeric}]
        return options

    def show(self, df: pd.DataFrame) -> None:
        """Show the calls of ``df`` (the first :data:`MAX_TABLE_ROWS`), nothing selected."""
        shown = df.head(self._max_rows).reset_index(drop=True)
        self._frame = shown
        text, numeric = table_frame(shown)
        self.table.update(text, **self._options(numeric))
        if df.empty:
            self.caption.value = "<i>No calls match.</i>"
        elif len(shown) < len(df):
            self.caption.value = (
                f"<small>The table holds the first {len(shown):,} of {len(df):,} calls "
                "(search and sort apply to those; the frame and the exports have them "
                "all). Select a row to investigate that call.</small>"
            )
        else:
            self.caption.value = (
                f"<small>{len(df):,} calls. Search, sort by a header, select a row to "
                "investigate that call.</small>"
            )
        self._selected()

    def selected(self) -> pd.DataFrame | None:
        """Return the selected call as a one-row frame (every column), or ``None``."""
        rows = list(self.table.selected_rows or [])
        if self._frame is None or not rows or not 0 <= rows[0] < len(self._frame):
            return None
        return self._frame.iloc[[rows[0]]].reset_index(drop=True)

    def select(self, call_sid: str) -> bool:
        """Select the row of ``call_sid``; return whether the table holds it."""
        if self._frame is None:
            return False
        hits = (self._frame["call_sid"] == call_sid).fillna(False).to_numpy().nonzero()[0]
        if not len(hits):
            return False
        self.table.selected_rows = [int(hits[0])]
        return True

    def _selected(self, _change: object = None) -> None:
        if self.on_select is not None:
            self.on_select(self.selected())
