"""The call explorer: an ipywidgets form to fetch calls, read them, chart them and export them.

::

    from apifonica_nb.widgets import CallExplorer

    explorer = CallExplorer()  # credentials from APIFONICA_*, or the bundled sandbox
    explorer                   # the form; Fetch runs in the background
    explorer.frame             # the last DataFrame fetched

Every control is a public attribute, so the form works from plain Python too (set widget
values, call :meth:`CallExplorer.fetch`, read ``explorer.summary.value``).

:class:`CallExplorer` owns one object per part of the form, each in its module:
``_connection`` (the account, or a sandbox), ``_query`` (history filters or pasted SIDs),
``_run`` (Fetch, Cancel, progress), ``_results`` (summary, table, the tabs of
:data:`CHARTS`, failures), ``_table`` (the interactive table: itables' DataTables widget),
``_detail`` (the selected call: fields, status meaning, legs, recording, Watch) and
``_export``; ``_statuses`` is the status checkboxes; ``_player`` plays a recording; ``_job``
runs one fetch at a time, in the background or not, and ``_fetching``
calls the fetch verbs with on_progress= and cancel=. ``_html`` and ``_sids`` are the plain functions
underneath (markup, parsing a pasted list); the summary numbers come from
:mod:`apifonica_nb.summary`.
"""

from __future__ import annotations

from ._explorer import CallExplorer
from ._player import RecordingPlayer, recording_player
from ._results import CHARTS, ChartTab
from ._sids import parse_sid_list

__all__ = [
    "CHARTS",
    "CallExplorer",
    "ChartTab",
    "RecordingPlayer",
    "parse_sid_list",
    "recording_player",
]
