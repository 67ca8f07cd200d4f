"""Calls in progress over time: :func:`apifonica_nb.charts.concurrency`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ..summary import concurrency as count_concurrency
from ..summary import lazy_frame
from ._buckets import coarsen, find_focus, freq_word
from ._data import column_or_na, wall_clock, zone_label
from ._layout import TEMPLATE, empty_figure, join_subtitle, time_axis, titled
from ._lazy import lazy_focus

_PHASE_WORDS = {"talk": "answered calls, started→ended", "call": "all calls, created→ended"}


def concurrency(
    df: Any, *, freq: str = "min", tz: str | None = None, phase: str = "talk"
) -> go.Figure:
    """Draw concurrent calls per ``freq`` bucket: the peak (line) and the Erlangs (area).

    The numbers are :func:`apifonica_nb.concurrency`'s: ``peak`` is the most calls in
    progress at one moment of the bucket, ``erlangs`` the mean number in progress (the
    traffic). Too fine a ``freq`` for the period shown is coarsened, and the title says so.

    ``df`` may be a lazy frame (``ap.cache.scan()``, Polars, Spark, ...): the period shown is
    found in the engine and the frame goes to :func:`apifonica_nb.concurrency` as it is.

    >>> concurrency(df, freq="15min", tz="Europe/Helsinki")  # doctest: +SKIP
    """
    title = "Concurrent calls"
    name = "started" if phase == "talk" else "created"
    lf = lazy_frame(df)
    if lf is not None:  # the focus in the engine; the numbers from summary.concurrency
        times, focus = lazy_focus(lf, name, tz)
        if times.n == 0:
            return empty_figure(title, "No calls in progress to count")
        span = times.span
    else:
        start = column_or_na(df, name)
        if not start.notna().any():
            return empty_figure(title, "No calls in progress to count")
        wall = wall_clock(start.dropna(), tz)
        focus = find_focus(wall)
        span = (focus.end - focus.start) if focus else (wall.max() - wall.min())
    used = coarsen(freq, span)
    if not _fixed(used):  # weeks and months have no fixed length to count Erlangs over
        used = "D"
    table = count_concurrency(df, freq=used, tz=tz, phase=phase)
    if table.empty:
        return empty_figure(title, "No calls in progress to count")
    width = pd.Timedelta(seconds=table.attrs["bucket_seconds"])
    # Buckets without a call in progress are not rows: draw them as 0 between the others.
    periods = wall_clock(table["period"], tz)
    low, high = periods.min(), periods.max()
    if focus is not None:
        low, high = max(low, focus.start.floor(width)), min(high, focus.end)
    grid = pd.date_range(low, high, freq=width)
    shown = pd.Series(table.index, index=periods.to_numpy())
    rows = shown.reindex(grid).to_numpy()
    have = ~pd.isna(rows)
    index = rows[have].astype(np.int64)
    peak = np.zeros(len(grid), dtype=np.int64)
    erlangs = np.zeros(len(grid))
    peak[have] = table["peak"].to_numpy()[index]
    erlangs[have] = table["erlangs"].to_numpy()[index]
    word = freq_word(used)
    note = f" (per-{freq_word(freq)} buckets coarsened)" if used != freq else ""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            name="Erlangs (mean in progress)",
            x=grid,
            y=erlangs,
            mode="lines",
            line={"shape": "hv", "width": 0, "color": "#6baed6"},
            fill="tozeroy",
            hovertemplate="%{y:,.2f} Erlangs<extra>%{x}</extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            name="peak (most at once)",
            x=grid,
            y=peak,
            mode="lines",
            line={"shape": "hv", "width": 1.5, "color": "#08306b"},
            hovertemplate="peak %{y} calls<extra>%{x}</extra>",
        )
    )
    top = table.iloc[int(np.argmax(table["peak"].to_numpy()))]
    when = wall_clock(pd.Series([top["period"]]), tz).iloc[0]
    busiest = float(table["erlangs"].max())
    fig.update_layout(
        title=titled(
            f"Concurrent calls per {word}{note}",
            join_subtitle(
                _PHASE_WORDS[phase],
                f"peak {int(top['peak'])} at once ({when:%Y-%m-%d %H:%M})",
                f"busiest {word}: {busiest:,.2f} Erlangs",
                focus.note() if focus else "",
            ),
        ),
        template=TEMPLATE,
        xaxis=time_axis(f"{word} ({zone_label(tz)})", focus),
        yaxis={"title": "calls in progress", "rangemode": "tozero"},
        legend={"traceorder": "normal"},
        meta={"freq": used, "phase": phase},
    )
    return fig


def _fixed(freq: str) -> bool:
    try:
        pd.tseries.frequencies.to_offset(freq).nanos  # noqa: B018 (calendar offsets raise)
    except ValueError:
        return False
    return True
