"""The legs of one forwarded call on one time axis: setup and talk phases, coloured by status."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

from ..errors import InvalidRequestError
from ..summary import lazy_frame
from ._colors import STATUS_COLORS, status_color
from ._data import MS, column_or_na, escape_text, wall_clock, zone_label
from ._layout import TEMPLATE, empty_figure, titled
from ._lazy import collect_rows

__all__ = ["call_legs"]

_SETUP_COLOR = STATUS_COLORS["ringing"]


#: A lazy frame is collected only when it is this small (a call and its legs).
MAX_LEGS = 1_000


def _collect_family(family: Any) -> pd.DataFrame:
    lf = lazy_frame(family)
    assert lf is not None
    rows = collect_rows(lf, MAX_LEGS + 1)
    if len(rows) > MAX_LEGS:
        raise InvalidRequestError(
            f"call_legs draws one call's legs, but this lazy frame has more than {MAX_LEGS:,} "
            "rows; pass ap.call_family(call_sid, client=client), or filter the frame to one "
            "family (e.g. by parent_call_sid) first"
        )
    return rows


def call_legs(family: Any, *, tz: str | None = None) -> go.Figure:
    """Draw each leg of a call family (:func:`apifonica_nb.call_family`) as one bar on a time axis.

    A leg's bar has its **setup** (created -> started, or -> ended when never answered) in the
    ``ringing`` colour, and its **talk** (started -> ended) in the colour of its status, the
    same colours as every other chart. A leg still in progress ends at its ``updated`` time.
    The parent comes first; the asked call is marked with ``◀``. ``tz`` shows wall-clock time
    in that zone. Any call frame works (a leg without ``role`` is shown by its SID only).

    A lazy frame is collected when it holds at most 1,000 rows (a family); a larger one is
    refused with :class:`~apifonica_nb.errors.InvalidRequestError`.

    >>> ap.charts.call_legs(ap.call_family("cal…", client=client))  # doctest: +SKIP
    """
    title = "Legs of the call"
    if lazy_frame(family) is not None:
        family = _collect_family(family)
    created = column_or_na(family, "created")
    if not len(family) or not created.notna().any():
        return empty_figure(title, "No legs with a creation time to draw")
    df = family[created.notna()]
    start = wall_clock(df["created"], tz)
    answered = wall_clock(column_or_na(df, "started").astype("datetime64[us, UTC]"), tz)
    finish = wall_clock(column_or_na(df, "ended").astype("datetime64[us, UTC]"), tz)
    finish = finish.fillna(
        wall_clock(column_or_na(df, "updated").astype("datetime64[us, UTC]"), tz)
    )
    finish = finish.fillna(start)
    setup_end = answered.fillna(finish)
    role = column_or_na(df, "role").astype("str").fillna("")
    asked = column_or_na(df, "asked").fillna(False).astype(bool)
    sid = df["call_sid"].astype("str").fillna("–")
    label = role.where(role == "", role + " ") + sid.str.slice(0, 11) + "…"
    label = label.where(~asked, label + " ◀")
    status = column_or_na(df, "status").astype("str").fillna("unknown")
    hover = (
        "<b>"
        + escape_text(sid)
        + "</b><br>"
        + escape_text(status)
        + " · "
        + escape_text(column_or_na(df, "direction"))
        + " "
        + escape_text(column_or_na(df, "to"))
    )
    fig = go.Figure()
    setup_ms = (setup_end - start).dt.total_seconds() * MS
    fig.add_bar(
        name="setup",
        y=label,
        x=setup_ms,
        base=start,
        orientation="h",
        marker_color=_SETUP_COLOR,
        hovertext=hover + "<br>setup " + (setup_ms / MS).round(0).astype("str") + " s",
        hoverinfo="text",
    )
    talk = answered.notna()
    for name in dict.fromkeys(status[talk]):
        rows = talk & (status == name)
        talk_ms = (finish[rows] - answered[rows]).dt.total_seconds() * MS
        fig.add_bar(
            name=f"talk ({name})",
            y=label[rows],
            x=talk_ms,
            base=answered[rows],
            orientation="h",
            marker_color=status_color(name),
            hovertext=hover[rows] + "<br>talk " + (talk_ms / MS).round(0).astype("str") + " s",
            hoverinfo="text",
        )
    unanswered = ~talk
    for name in dict.fromkeys(status[unanswered]):
        rows = unanswered & (status == name)
        fig.add_scatter(
            name=f"ended ({name})",
            y=label[rows],
            x=finish[rows],
            mode="markers",
            marker={"color": status_color(name), "symbol": "x", "size": 12},
            hovertext=hover[rows],
            hoverinfo="text",
        )
    fig.update_layout(
        template=TEMPLATE,
        title=titled(title, f"{len(df)} {'leg' if len(df) == 1 else 'legs'} · setup, then talk"),
        barmode="overlay",
        xaxis={"type": "date", "title": f"time ({zone_label(tz)})"},
        yaxis={"autorange": "reversed", "title": ""},
        height=max(280, 200 + 40 * len(df)),
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"},
    )
    return fig
